"""The README is a promise: every command it shows exists and parses as written.

The same holds for the longer sections in docs/.

What the commands *do* is tested where the behaviour lives (Alembic commands in
test_alembic_commands.py, the embedded server in test_embedded.py, ...); here the
README itself is read: every ``migrationkit`` command is documented, and every
``alembic``/``migrationkit`` line in its shell blocks is accepted by the real
argument parser, so a renamed flag or a typo in the README fails the suite.
"""

from __future__ import annotations

import argparse
import re
import shlex

import pytest
from alembic.config import CommandLine

from migrationkit.cli.main import build_parser
from migrationkit.cli.reference import markdown_table
from tests.helpers import REPO

README = (REPO / "README.md").read_text()
DOCS = [README, *(path.read_text() for path in sorted((REPO / "docs").glob("*.md")))]


def shell_lines() -> list[str]:
    """Every command line in the ```bash blocks of the README and docs/ (comments
    dropped), and every inline ``uv run ...`` command of their prose and tables."""
    text = "\n".join(DOCS)
    lines: list[str] = re.findall(r"`(uv run [^`]+)`", text)
    for block in re.findall(r"```(?:bash|sh|console)\n(.*?)```", text, re.DOTALL):
        joined = block.replace("\\\n", " ")
        for raw in joined.splitlines():
            line = raw.split(" # ", 1)[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def words_after(line: str, program: str) -> list[str] | None:
    """The arguments given to ``program`` on ``line``, or None if it is not run."""
    try:
        words = shlex.split(line)
    except ValueError:
        return None
    for index, word in enumerate(words):
        if word == program and words[index - 1 : index] in ([], ["run"], ["--"]):
            rest = words[index + 1 :]
            for stop in ("&&", "|", ">", ";", "2>&1"):
                if stop in rest:
                    rest = rest[: rest.index(stop)]
            return rest
    return None


def all_commands() -> list[tuple[str, ...]]:
    """Every (sub)command of the migrationkit parser, found by walking it."""
    found: list[tuple[str, ...]] = []

    def walk(words: tuple[str, ...], parser: argparse.ArgumentParser) -> None:
        children = [
            action
            for action in parser._actions
            if isinstance(action, argparse._SubParsersAction)
        ]
        if words and not children:
            found.append(words)
        for action in children:
            for name, child in action.choices.items():
                walk((*words, name), child)

    walk((), build_parser())
    return found


@pytest.mark.parametrize("words", all_commands(), ids=" ".join)
def test_every_command_is_documented(words: tuple[str, ...]) -> None:
    assert f"migrationkit {' '.join(words)}" in README, (
        f"`migrationkit {' '.join(words)}` is not in the README"
    )


def test_readme_migrationkit_lines_parse() -> None:
    parser = build_parser()
    seen = 0
    for line in shell_lines():
        args = words_after(line, "migrationkit")
        if args is None or "--help" in args:
            continue
        seen += 1
        try:
            parser.parse_args(args)
        except SystemExit:
            pytest.fail(f"the README's `{line}` does not parse")
    assert seen, "the README shows no migrationkit command"


def test_readme_alembic_lines_parse() -> None:
    parser = CommandLine(prog="alembic").parser
    seen = 0
    for line in shell_lines():
        args = words_after(line, "alembic")
        if args is None:
            continue
        seen += 1
        placeholders = [("x" if re.fullmatch(r"<[^>]+>", a) else a) for a in args]
        try:
            parser.parse_args(placeholders)
        except SystemExit:
            pytest.fail(f"the README's `{line}` does not parse")
    assert seen >= 10, "the README should show the guide's Alembic commands"


def test_the_command_table_is_the_parsers_own_help() -> None:
    """The README's table of commands is generated from ``--help``; a command
    added, renamed or re-described without pasting it again fails here."""
    start = README.index("<!-- made by `uv run python -m migrationkit.cli.reference`")
    table = README[README.index("\n", start) + 1 : README.index("<!-- end of the")]
    assert table == markdown_table(), (
        "the README's command table differs from the parser's help; paste the "
        "output of `uv run python -m migrationkit.cli.reference` between its "
        "markers:\n" + markdown_table()
    )
