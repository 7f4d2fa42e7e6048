"""A PostgreSQL tokenizer and statement splitter: what the extra checks read.

The checks squawk lacks decide on the structure of a statement (its keywords,
the table it names, whether a WHERE is bounded by a LIMIT subquery), never on a
regular expression over raw text. So the rendered SQL is cut into tokens the way
PostgreSQL's lexer does it: quoted identifiers, string literals (``'...'``,
``E'...'``, dollar quoting ``$tag$...$tag$``), nested ``/* */`` comments and
``--`` comments, numbers, operators; each token knows its parenthesis depth.
Statements end at a ``;`` outside any of those.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    WORD = "word"
    """A keyword or unquoted identifier; ``value`` is lower-cased."""
    IDENT = "ident"
    """A double-quoted identifier; ``value`` is its exact name."""
    STRING = "string"
    NUMBER = "number"
    PARAM = "param"
    """``$1`` or ``%(name)s``."""
    PUNCT = "punct"
    COMMENT = "comment"


@dataclass(frozen=True)
class Token:
    kind: Kind
    value: str
    start: int
    depth: int

    def is_word(self, *words: str) -> bool:
        return self.kind is Kind.WORD and self.value in words


@dataclass(frozen=True)
class Statement:
    """One SQL statement: its text, where it starts, its tokens (no comments)."""

    text: str
    start: int
    tokens: tuple[Token, ...]
    comments: tuple[str, ...] = field(default=())
    """The comments written right before it (text without ``--``/``/* */``)."""

    def words(self, count: int) -> tuple[str, ...]:
        """The first ``count`` tokens' values (words lower-cased)."""
        return tuple(token.value for token in self.tokens[:count])

    def starts_with(self, *words: str) -> bool:
        """Whether the statement begins with these keywords, in order."""
        return self.words(len(words)) == words

    def find(self, word: str, *, start: int = 0, depth: int | None = 0) -> int | None:
        """Index of the first token ``word`` at ``depth`` (any depth: None)."""
        for index in range(start, len(self.tokens)):
            token = self.tokens[index]
            if token.is_word(word) and (depth is None or token.depth == depth):
                return index
        return None

    def has(self, word: str, *, depth: int | None = 0) -> bool:
        return self.find(word, depth=depth) is not None

    def name_at(self, index: int) -> str | None:
        """The (possibly schema-qualified) object name starting at ``index``."""
        parts: list[str] = []
        position = index
        while position < len(self.tokens):
            token = self.tokens[position]
            if token.kind not in (Kind.WORD, Kind.IDENT):
                break
            parts.append(token.value)
            following = self.tokens[position + 1 : position + 2]
            if not following or following[0].value != ".":
                break
            position += 2
        return ".".join(parts) if parts else None

    @property
    def line_count(self) -> int:
        return self.text.count("\n") + 1


_OPERATOR_CHARS = set("+-*/<>=~!@#%^&|`?")
_PUNCT_CHARS = set("(),;[]:.")


def tokenize(sql: str) -> Iterator[Token]:
    """PostgreSQL tokens of ``sql``, comments included, whitespace left out."""
    position = 0
    depth = 0
    while position < len(sql):
        if sql[position].isspace():
            position += 1
            continue
        kind, end = _scan(sql, position)
        text = sql[position:end]
        if kind is Kind.PUNCT and text == "(":
            yield Token(kind, text, position, depth)
            depth += 1
        else:
            if kind is Kind.PUNCT and text == ")":
                depth = max(0, depth - 1)
            yield Token(kind, _value(kind, text), position, depth)
        position = end


def _scan(sql: str, position: int) -> tuple[Kind, int]:
    """The kind of the token starting at ``position``, and where it ends."""
    for scanner in _SCANNERS:
        found = scanner(sql, position)
        if found is not None:
            return found
    end = position
    while end < len(sql) and sql[end] in _OPERATOR_CHARS:
        if sql.startswith(("--", "/*"), end) and end > position:
            break
        end += 1
    return Kind.PUNCT, max(end, position + 1)


def _scan_comment(sql: str, position: int) -> tuple[Kind, int] | None:
    if sql.startswith("--", position):
        end = sql.find("\n", position)
        return Kind.COMMENT, len(sql) if end < 0 else end
    if sql.startswith("/*", position):
        return Kind.COMMENT, _block_comment_end(sql, position)
    return None


def _scan_string(sql: str, position: int) -> tuple[Kind, int] | None:
    char = sql[position]
    if char == "'":
        return Kind.STRING, _quoted_end(sql, position, "'", backslash=False)
    if char in "eEbBxXnN" and sql.startswith("'", position + 1):
        escapes = char in "eE"
        return Kind.STRING, _quoted_end(sql, position + 1, "'", backslash=escapes)
    if char == '"':
        return Kind.IDENT, _quoted_end(sql, position, '"', backslash=False)
    return None


def _scan_dollar(sql: str, position: int) -> tuple[Kind, int] | None:
    if sql[position] != "$":
        return None
    tag_end = _dollar_tag_end(sql, position)
    if tag_end is not None:
        tag = sql[position:tag_end]
        close = sql.find(tag, tag_end)
        return Kind.STRING, len(sql) if close < 0 else close + len(tag)
    end = position + 1
    while end < len(sql) and sql[end].isdigit():
        end += 1
    return Kind.PARAM, end


def _scan_param(sql: str, position: int) -> tuple[Kind, int] | None:
    if sql.startswith("%(", position):
        end = sql.find(")s", position)
        if end > 0:
            return Kind.PARAM, end + 2
    return None


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char in "_$" or ord(char) > 127


def _scan_word(sql: str, position: int) -> tuple[Kind, int] | None:
    char = sql[position]
    if not (char.isalpha() or char == "_" or ord(char) > 127):
        return None
    end = position + 1
    while end < len(sql) and _is_word_char(sql[end]):
        end += 1
    return Kind.WORD, end


def _scan_number(sql: str, position: int) -> tuple[Kind, int] | None:
    char = sql[position]
    if not (
        char.isdigit() or (char == "." and sql[position + 1 : position + 2].isdigit())
    ):
        return None
    end = position + 1
    while end < len(sql) and (sql[end].isalnum() or sql[end] == "."):
        end += 1
    return Kind.NUMBER, end


def _scan_punct(sql: str, position: int) -> tuple[Kind, int] | None:
    if sql[position] not in _PUNCT_CHARS:
        return None
    if sql.startswith("::", position):
        return Kind.PUNCT, position + 2
    return Kind.PUNCT, position + 1


_SCANNERS = (
    _scan_comment,
    _scan_string,
    _scan_dollar,
    _scan_param,
    _scan_word,
    _scan_number,
    _scan_punct,
)


def _value(kind: Kind, text: str) -> str:
    """What a token means: keywords lower-cased, quotes and comment marks removed."""
    if kind is Kind.WORD:
        return text.lower()
    if kind is Kind.IDENT:
        return text[1:-1].replace('""', '"')
    if kind is Kind.COMMENT:
        inner = text[2:-2] if text.startswith("/*") else text[2:]
        return inner.strip()
    if kind is Kind.STRING:
        if text.startswith("$"):
            tag_length = text.index("$", 1) + 1
            return text[tag_length:-tag_length]
        return text[text.index("'") + 1 : -1]
    return text


def split_statements(sql: str) -> list[Statement]:
    """The statements of ``sql``; each carries the comments written before it."""
    statements: list[Statement] = []
    tokens: list[Token] = []
    comments: list[str] = []
    for token in tokenize(sql):
        if token.kind is Kind.COMMENT:
            if not tokens:
                comments.append(token.value)
            continue
        if token.value == ";" and token.depth == 0:
            if tokens:
                statements.append(_statement(sql, tokens, token.start, comments))
            tokens, comments = [], []
            continue
        tokens.append(token)
    if tokens:
        statements.append(_statement(sql, tokens, len(sql), comments))
    return statements


def _statement(
    sql: str, tokens: Sequence[Token], end: int, comments: Sequence[str]
) -> Statement:
    start = tokens[0].start
    return Statement(
        text=sql[start:end].rstrip(),
        start=start,
        tokens=tuple(tokens),
        comments=tuple(comments),
    )


def _block_comment_end(sql: str, position: int) -> int:
    """End of a (nestable) ``/* */`` comment starting at ``position``."""
    nesting = 0
    while position < len(sql):
        if sql.startswith("/*", position):
            nesting += 1
            position += 2
        elif sql.startswith("*/", position):
            nesting -= 1
            position += 2
            if nesting == 0:
                return position
        else:
            position += 1
    return len(sql)


def _quoted_end(sql: str, position: int, quote: str, *, backslash: bool) -> int:
    """Index just past the closing ``quote`` (a doubled quote is part of the text)."""
    position += 1
    while position < len(sql):
        char = sql[position]
        if backslash and char == "\\":
            position += 2
            continue
        if char == quote:
            if sql.startswith(quote, position + 1):
                position += 2
                continue
            return position + 1
        position += 1
    return len(sql)


def _dollar_tag_end(sql: str, position: int) -> int | None:
    """End of a ``$tag$`` opening at ``position``, or None when it is not one."""
    index = position + 1
    while index < len(sql) and (sql[index].isalnum() or sql[index] == "_"):
        index += 1
    if (
        index < len(sql)
        and sql[index] == "$"
        and not sql[position + 1 : index].isdigit()
    ):
        tag_body = sql[position + 1 : index]
        if not tag_body or not tag_body[0].isdigit():
            return index + 1
    return None


def top_level_parts(
    statement: Statement, start: int, end: int | None
) -> list[list[Token]]:
    """Tokens ``start:end`` cut at the commas of the statement's top level."""
    parts: list[list[Token]] = [[]]
    for token in statement.tokens[start:end]:
        if token.value == "," and token.depth == 0:
            parts.append([])
        else:
            parts[-1].append(token)
    return [part for part in parts if part]
