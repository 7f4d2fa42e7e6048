"""What a command is made of, and the parser built from it.

As Alembic's command line is read off ``alembic.command``, each ``migrationkit``
command is one verb of ``migrationkit.command`` plus how to print its result:

- its one-line help (the README's command table, the list under ``--help``) is
  the first paragraph of the verb's docstring, and its description the rest of
  that docstring, or the command's own ``details`` when they say more for the
  command line (the rule list of ``lint``, the option syntax of ``prove``);
- its options are the verb's keyword parameters, each declared once as a
  :class:`Param` with the help it shows. The argparse default and action come
  from the signature (a parameter without a default is a positional argument,
  ``False`` a ``--flag``, ``True`` a ``--no-flag``), so the parser cannot
  disagree with the library; a parameter left undeclared is an error when the
  parser is built, so a new one cannot be forgotten;
- options that shape the output only (``--json``, ``--format``) are
  :class:`Flag`; the verb never sees them.

The verb's first parameter is the project's Alembic ``Config``: loaded from
``-c/--config`` when the verb is called (``Config | None`` verbs, the ``db``
ones, also run without an alembic.ini), so an option such as ``lint --rules``
that never calls the verb needs no project.
"""

from __future__ import annotations

import argparse
import inspect
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.config import Config

from migrationkit import command as commands
from migrationkit.settings import Settings

Call = Callable[..., Any]
"""The verb with the project's Config, the settings and the parsed options bound;
``show`` passes what else it needs (``progress=...``) as keywords."""

Show = Callable[[argparse.Namespace, Call], int]
"""Calls the verb (or not: ``lint --rules``), prints, returns the exit status."""

Handler = Callable[[argparse.Namespace, Settings], int]

Parents = dict[tuple[str, ...], "argparse._SubParsersAction[argparse.ArgumentParser]"]
"""The subcommand list under each group of words (``()`` is the top level)."""

SUPPLIED_BY_THE_RUNNER = ("settings",)


@dataclass(frozen=True, kw_only=True)
class Param:
    """A keyword parameter of the verb, offered on the command line.

    ``flags`` default to ``--name-with-dashes`` (``--no-name`` for a parameter
    whose default is True); ``options`` are further argparse keywords (metavar,
    type, choices); ``convert`` turns the parsed value into what the verb takes,
    given the project's Config (``--hooks`` names become data hooks); ``group``
    names a set of mutually exclusive options.
    """

    name: str
    help: str
    flags: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    convert: Callable[[Any, Config | None], Any] | None = None
    group: str | None = None


@dataclass(frozen=True, kw_only=True)
class Flag:
    """An option of the command alone: it shapes the output, the verb never sees it."""

    flags: tuple[str, ...]
    help: str
    options: Mapping[str, Any] = field(default_factory=dict)
    group: str | None = None


@dataclass(frozen=True, kw_only=True)
class Command:
    """One command line: its words, the verb it calls, and how it prints."""

    words: tuple[str, ...]
    verb: Callable[..., Any]
    show: Show
    options: tuple[Param | Flag, ...] = ()
    supplied: tuple[str, ...] = ()
    """Parameters ``show`` passes itself (a progress callback, the --debug flag)."""
    details: str = ""
    """The description after the one-line help, when the docstring's rest is
    written for Python callers rather than for the command line."""
    epilog: str = ""


@dataclass(frozen=True, kw_only=True)
class Group:
    """Words that group commands (``db``); it runs nothing itself."""

    words: tuple[str, ...]
    help: str
    details: str
    epilog: str = ""


def summary(verb: Callable[..., Any]) -> str:
    """The first paragraph of the verb's docstring, on one line: its help."""
    return _plain(" ".join(_docstring(verb).split("\n\n", 1)[0].split()))


def description(command: Command) -> str:
    """The one-line help, then the details (or the rest of the docstring)."""
    rest = command.details or _docstring(command.verb).partition("\n\n")[2]
    return _plain(f"{summary(command.verb)}\n\n{rest}".rstrip() + "\n")


def epilog(*, database: bool, statuses: Mapping[int, str]) -> str:
    """How the database is chosen (when the command uses one) and the exit
    statuses, in the same words for every command: ``statuses`` adds to or
    rewords the ones every command has."""
    everyone = {
        0: "success",
        1: "failure (one `FAILED:` paragraph says why; --debug for the traceback)",
        2: "bad arguments",
        130: "interrupted (Ctrl-C)",
    }
    meanings = dict(sorted({**everyone, **statuses}.items()))
    lines = [DATABASE_NOTE] if database else []
    lines.append(
        "exit status: "
        + ", ".join(f"{code} {what}" for code, what in meanings.items())
        + "."
    )
    return "\n\n".join(textwrap.fill(line, width=79) for line in lines) + "\n"


DATABASE_NOTE = (
    "The database is DATABASE_URL_DIRECT if set, else DATABASE_URL, else "
    "sqlalchemy.url in alembic.ini, else the embedded PostgreSQL server kept in "
    ".pgdata/ beside alembic.ini (MIGRATIONKIT_PGDATA moves it). Passwords are "
    "never printed."
)


def add_group(parents: Parents, group: Group) -> None:
    """Add ``group`` below its parent words; its commands are added under it."""
    parser = parents[group.words[:-1]].add_parser(
        group.words[-1],
        help=group.help,
        description=f"{group.help}\n\n{group.details}".rstrip() + "\n",
        epilog=group.epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parents[group.words] = parser.add_subparsers(
        dest="_".join(group.words) + "_command", required=True, metavar="ACTION"
    )


def add_command(parents: Parents, command: Command) -> None:
    """Add ``command`` below its parent words, its options from the verb's signature."""
    parser: argparse.ArgumentParser = parents[command.words[:-1]].add_parser(
        command.words[-1],
        help=summary(command.verb),
        description=description(command),
        epilog=command.epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parameters = _keyword_parameters(command.verb)
    groups: dict[str, Any] = {}
    for option in command.options:
        target: Any = parser
        if option.group is not None:
            if option.group not in groups:
                groups[option.group] = parser.add_mutually_exclusive_group()
            target = groups[option.group]
        if isinstance(option, Flag):
            target.add_argument(*option.flags, help=option.help, **option.options)
            continue
        if option.name not in parameters:
            raise TypeError(
                f"{_where(command)} declares {option.name!r}, which "
                f"{command.verb.__name__} does not take"
            )
        flags, settings = _argument(option, parameters[option.name])
        target.add_argument(*flags, help=option.help, **settings)
    declared = {o.name for o in command.options if isinstance(o, Param)}
    undeclared = set(parameters) - declared - {*command.supplied}
    undeclared -= set(SUPPLIED_BY_THE_RUNNER)
    if undeclared:
        raise TypeError(
            f"{_where(command)}: {command.verb.__name__} takes "
            f"{', '.join(sorted(undeclared))}, which the command neither offers "
            "(Param) nor supplies (supplied=...)"
        )
    parser.set_defaults(handler=_handler(command))


def _argument(
    param: Param, parameter: inspect.Parameter
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The argparse flags and keywords of ``param``, from the verb's signature."""
    settings = dict(param.options)
    if parameter.default is inspect.Parameter.empty:
        return (param.name,), settings
    dashed = param.name.replace("_", "-")
    flags = param.flags or (f"--{dashed}",)
    settings["dest"] = param.name
    if parameter.default is False:
        settings.setdefault("action", "store_true")
    elif parameter.default is True:
        flags = param.flags or (f"--no-{dashed}",)
        settings.setdefault("action", "store_false")
    settings.setdefault("default", parameter.default)
    return flags, settings


def _handler(command: Command) -> Handler:
    """Parsed arguments -> the verb called through ``show`` -> an exit status."""
    params = [o for o in command.options if isinstance(o, Param)]

    def handle(args: argparse.Namespace, settings: Settings) -> int:
        def call(**supplied: Any) -> Any:
            config = _config(command.verb, Path(args.config))
            values = {
                param.name: (
                    param.convert(getattr(args, param.name), config)
                    if param.convert is not None
                    else getattr(args, param.name)
                )
                for param in params
            }
            return command.verb(config, settings=settings, **values, **supplied)

        return command.show(args, call)

    return handle


def _config(verb: Callable[..., Any], path: Path) -> Config | None:
    """The project's Config; for a verb that takes ``Config | None``, None when
    there is no alembic.ini (the db commands work without a project)."""
    first = next(iter(inspect.signature(verb).parameters.values()))
    optional = "None" in str(first.annotation)
    if optional and not path.is_file():
        return None
    return commands.load_config(path)


def _keyword_parameters(verb: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """The verb's parameters after the Config."""
    return dict(list(inspect.signature(verb).parameters.items())[1:])


def _docstring(verb: Callable[..., Any]) -> str:
    doc = inspect.getdoc(verb)
    if not doc:
        raise TypeError(f"{verb.__qualname__} has no docstring to take its help from")
    return doc


def _plain(text: str) -> str:
    """Docstring markup as a terminal shows it: ``x`` becomes `x`."""
    return text.replace("``", "`")


def _where(command: Command) -> str:
    return "`migrationkit " + " ".join(command.words) + "`"
