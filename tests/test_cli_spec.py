"""The command line is built from ``migrationkit.command``'s verbs, in-process.

Each command's help is its verb's docstring, each option's default is the verb's
own, and a verb parameter the command line does not declare stops the parser
from being built: the library and the command line cannot drift apart. A small
verb written here shows the rules the builder follows (positional, ``--flag``,
``--no-flag``, conversion, the Config loaded only when the verb is called).
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from alembic.config import Config

from migrationkit import command
from migrationkit.cli.main import COMMANDS, build_parser, main
from migrationkit.cli.spec import Call, Command, Flag, Param, summary
from migrationkit.settings import Settings

VERBS = [entry for entry in COMMANDS if isinstance(entry, Command)]


def subparser(
    parser: argparse.ArgumentParser, words: Sequence[str]
) -> argparse.ArgumentParser:
    for word in words:
        (action,) = [
            a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
        ]
        parser = action.choices[word]
    return parser


def help_line(parser: argparse.ArgumentParser, words: Sequence[str]) -> str:
    """The one-line help the parent lists for ``words`` (what the README shows)."""
    parent = subparser(parser, words[:-1])
    (action,) = [
        a for a in parent._actions if isinstance(a, argparse._SubParsersAction)
    ]
    (choice,) = [c for c in action._choices_actions if c.dest == words[-1]]
    return choice.help or ""


@pytest.mark.parametrize("entry", VERBS, ids=lambda c: " ".join(c.words))
def test_help_and_defaults_are_the_verbs_own(entry: Command) -> None:
    parser = build_parser()
    assert help_line(parser, entry.words) == summary(entry.verb)
    assert entry.verb.__module__ == "migrationkit.command"
    own = subparser(parser, entry.words)
    signature = inspect.signature(entry.verb)
    by_dest = {action.dest: action for action in own._actions}
    for param in (o for o in entry.options if isinstance(o, Param)):
        default = signature.parameters[param.name].default
        if default is inspect.Parameter.empty or "default" in param.options:
            continue
        assert by_dest[param.name].default == default, (entry.words, param.name)


def test_the_verbs_summary_is_its_docstrings_first_paragraph() -> None:
    assert summary(command.db_status) == (
        "Say whether the embedded server runs, and where."
    )
    assert summary(command.restore) == (
        "Restore a backup into the database (refuses a non-empty one)."
    )


# -- the rules, on a verb of this test's own ----------------------------------------

greetings: list[dict[str, Any]] = []


def greet(
    config: Config | None,
    *,
    settings: Settings,
    name: str,
    times: int = 1,
    shout: bool = False,
    polite: bool = True,
    where: Path | None = None,
) -> str:
    """Greet someone ``times`` times.

    The rest of the docstring is the description ``--help`` shows.
    """
    greetings.append(
        {
            "config": config,
            "settings": settings,
            "name": name,
            "times": times,
            "shout": shout,
            "polite": polite,
            "where": where,
        }
    )
    return name


def show_greeting(args: argparse.Namespace, call: Call) -> int:
    text = ("please, " if args.style == "kind" else "") + call()
    print(text.upper() if args.loud else text)
    return 0


GREET = Command(
    words=("greet",),
    verb=greet,
    show=show_greeting,
    options=(
        Param(name="name", help="whom to greet"),
        Param(name="times", help="how often", options={"type": int}),
        Param(name="shout", help="louder"),
        Param(name="polite", help="skip the courtesies"),
        Param(
            name="where",
            help="a folder, made absolute",
            options={"type": Path},
            convert=lambda value, _config: None if value is None else value.resolve(),
        ),
        Flag(
            flags=("--loud",),
            help="print in capitals",
            options={"action": "store_true"},
        ),
        Flag(flags=("--style",), help="how", options={"default": "plain"}),
    ),
)


def test_options_follow_the_signature(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no alembic.ini here: a Config | None verb gets None
    greetings.clear()
    parser = build_parser((GREET,))
    usage = subparser(parser, ["greet"]).format_usage()
    for shown in ("--times TIMES", "--shout", "--no-polite", "--where WHERE", "name"):
        assert shown in usage
    assert "Greet someone `times` times." in (
        subparser(parser, ["greet"]).description or ""
    )

    args = parser.parse_args(["greet", "ada", "--times", "3", "--no-polite"])
    settings = Settings.from_environ()
    assert args.handler(args, settings) == 0
    assert capsys.readouterr().out == "ada\n"
    assert greetings == [
        {
            "config": None,
            "settings": settings,
            "name": "ada",
            "times": 3,
            "shout": False,
            "polite": False,
            "where": None,
        }
    ]

    greetings.clear()
    args = parser.parse_args(
        ["greet", "bo", "--where", ".", "--loud", "--style", "kind"]
    )
    assert args.handler(args, settings) == 0
    assert capsys.readouterr().out == "PLEASE, BO\n"
    assert greetings[0]["where"] == tmp_path.resolve()
    assert greetings[0]["times"] == 1
    assert greetings[0]["polite"] is True


def test_a_verb_parameter_the_command_line_forgets_is_an_error() -> None:
    forgetful = Command(
        words=("greet",),
        verb=greet,
        show=show_greeting,
        options=(Param(name="name", help="whom to greet"),),
    )
    with pytest.raises(TypeError, match="greet takes polite, shout, times, where"):
        build_parser((forgetful,))


def test_an_option_for_a_parameter_the_verb_lacks_is_an_error() -> None:
    stale = Command(
        words=("greet",),
        verb=greet,
        show=show_greeting,
        options=(*GREET.options, Param(name="colour", help="gone")),
    )
    with pytest.raises(TypeError, match="declares 'colour', which greet does not take"):
        build_parser((stale,))


def test_a_verb_without_a_docstring_has_no_help_to_give() -> None:
    def bare(config: Config | None, *, settings: Settings) -> None:
        return None

    with pytest.raises(TypeError, match="has no docstring"):
        build_parser((Command(words=("bare",), verb=bare, show=show_greeting),))


def test_lint_rules_needs_no_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--rules`` never calls the verb, so no alembic.ini is read."""
    assert main(["-c", str(tmp_path / "missing.ini"), "lint", "--rules"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("MK000 (migrationkit, error)")
    assert "MK101" in out


def test_a_verb_that_needs_a_project_says_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.ini"
    assert main(["-c", str(missing), "lint"]) == 1
    assert capsys.readouterr().err == (
        f"FAILED: No Alembic configuration at {missing}: run this in the folder "
        "that holds your project's alembic.ini, or pass it with -c/--config.\n"
    )


# -- db url on a server that is not running ------------------------------------------


def test_url_of_a_stopped_server_prints_nothing_and_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No URL is better than a guessed one: the socket folder is made anew at each
    start. stdout stays empty, so ``psql "$(migrationkit db url)"`` fails at once."""
    pgdata = tmp_path / "pgdata"
    monkeypatch.setenv("MIGRATIONKIT_PGDATA", str(pgdata))
    monkeypatch.chdir(tmp_path)
    assert main(["db", "url"]) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("The embedded server is stopped, so its database has no URL")
    assert "`migrationkit db url --start` starts it and prints the URL" in err
    assert "FAILED" not in err
    assert command.db_url(None, settings=Settings.from_environ()) is None
    assert not pgdata.exists(), "asking for a URL must not prepare a server"
