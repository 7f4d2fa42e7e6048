"""The command table of the README, made from the parser's own help.

    uv run python -m migrationkit.cli.reference

prints one Markdown row per command, its one-line ``help``, so the parser is
the one source of what each command does: a project's test compares its README
with this output (this repository's ``tests/test_docs.py`` does), and a new or
renamed command fails it until the table is pasted again.
"""

from __future__ import annotations

import argparse

from migrationkit.cli.main import PROG, build_parser


def command_rows(
    parser: argparse.ArgumentParser | None = None,
) -> list[tuple[str, str]]:
    """``(command line, one-line help)`` for every leaf command, in parser order."""
    rows: list[tuple[str, str]] = []

    def walk(words: tuple[str, ...], current: argparse.ArgumentParser) -> None:
        for action in current._actions:
            if not isinstance(action, argparse._SubParsersAction):
                continue
            helps = {
                choice.dest: choice.help or "" for choice in action._choices_actions
            }
            for name, child in action.choices.items():
                has_children = any(
                    isinstance(a, argparse._SubParsersAction) for a in child._actions
                )
                if has_children:
                    walk((*words, name), child)
                else:
                    rows.append((" ".join((PROG, *words, name)), helps.get(name, "")))

    walk((), parser or build_parser())
    return rows


def markdown_table(parser: argparse.ArgumentParser | None = None) -> str:
    """The rows as a Markdown table."""
    lines = ["| command | what it does |", "| --- | --- |"]
    lines += [
        f"| `{command}` | {help_text} |" for command, help_text in command_rows(parser)
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
