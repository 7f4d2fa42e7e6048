"""Suppressions written in a revision: per statement or per revision, with a reason.

::

    # migrationkit-lint: allow MK104 -- nothing reads ip_address_text since 010
    op.drop_column("login_events", "ip_address_text")

    # migrationkit-lint: allow-revision renaming-column -- the switch renames on purpose

``allow`` covers the statements written by the call on the next code line (or on
its own line, as a trailing comment), including those a helper function of the
revision writes when called from there. ``allow-revision`` covers the whole
revision. The reason after ``--`` is required: a suppression without one, or with
an unknown rule code, is itself a finding (MK000). A reason may go on over the
comment lines right below it (each alone on its line): they are part of it, and
``--show-allowed`` prints it whole. Comments are read with Python's own
tokenizer, so a ``#`` inside a string is never taken for one.
"""

from __future__ import annotations

import io
import tokenize
from dataclasses import dataclass
from pathlib import Path

from migrationkit.lint.rules import is_known

PREFIX = "migrationkit-lint:"
STATEMENT = "allow"
REVISION = "allow-revision"


@dataclass(frozen=True)
class Suppression:
    codes: frozenset[str]
    reason: str
    line: int
    """The comment's line."""
    applies_to: int | None
    """The code line it covers; None for the whole revision."""


@dataclass(frozen=True)
class BadSuppression:
    line: int
    problem: str


@dataclass(frozen=True)
class Suppressions:
    items: tuple[Suppression, ...]
    problems: tuple[BadSuppression, ...]

    def reason_for(self, code: str, lines: tuple[int, ...]) -> str | None:
        """The reason a finding of ``code`` from ``lines`` is allowed, or None."""
        for item in self.items:
            if code not in item.codes:
                continue
            if item.applies_to is None or item.applies_to in lines:
                return item.reason
        return None


def read_suppressions(path: Path) -> Suppressions:
    """Every ``# migrationkit-lint:`` comment of the revision file at ``path``."""
    source = path.read_text(encoding="utf-8")
    items: list[Suppression] = []
    problems: list[BadSuppression] = []
    code_lines: set[int] = set()
    skip = {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENCODING,
        tokenize.ENDMARKER,
    }
    comments: list[tuple[int, str, bool]] = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            trailing = token.start[0] in code_lines
            comments.append((token.start[0], token.string, trailing))
        elif token.type not in skip:
            code_lines.add(token.start[0])
    ordered_code = sorted(code_lines)
    for position, (line, text, trailing) in enumerate(comments):
        body = text.lstrip("#").strip()
        if not body.startswith(PREFIX):
            continue
        body += _continuation(comments[position + 1 :], after=line)
        parsed = _parse(body[len(PREFIX) :].strip(), line=line)
        if isinstance(parsed, BadSuppression):
            problems.append(parsed)
            continue
        kind, codes, reason = parsed
        target: int | None = None
        if kind == STATEMENT:
            target = (
                line if trailing else next((n for n in ordered_code if n > line), None)
            )
            if target is None:
                problems.append(BadSuppression(line, "no code follows it to allow"))
                continue
        items.append(Suppression(codes, reason, line, target))
    return Suppressions(tuple(items), tuple(problems))


def _continuation(following: list[tuple[int, str, bool]], *, after: int) -> str:
    """The reason's next lines: comments right below it, each alone on its line."""
    text = ""
    expected = after + 1
    for line, comment, trailing in following:
        body = comment.lstrip("#").strip()
        if line != expected or trailing or not body or body.startswith(PREFIX):
            break
        text += " " + body
        expected += 1
    return text


def _parse(text: str, *, line: int) -> tuple[str, frozenset[str], str] | BadSuppression:
    text = text.split(" #", 1)[0]
    head, separator, reason = text.partition("--")
    words = head.replace(",", " ").split()
    if not words or words[0] not in (STATEMENT, REVISION):
        return BadSuppression(
            line,
            f"expected `{PREFIX} {STATEMENT} CODE -- reason` or "
            f"`{PREFIX} {REVISION} CODE -- reason`",
        )
    codes = frozenset(words[1:])
    if not codes:
        return BadSuppression(line, "names no rule code to allow")
    unknown = sorted(code for code in codes if not is_known(code))
    if unknown:
        return BadSuppression(line, f"unknown rule code(s): {', '.join(unknown)}")
    if not separator or not reason.strip():
        return BadSuppression(
            line, "gives no reason: write `-- <why this is safe here>` after the codes"
        )
    return words[0], codes, reason.strip()
