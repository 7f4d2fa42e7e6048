"""Secrets that never render, and the masking of every text that might hold one.

Two defences, because one is not enough:

* ``Secret`` holds a password (or a whole URL that may hold one). Its ``repr``,
  ``str`` and ``format`` say ``***``, so no ``Settings(...)`` repr, dataclass repr,
  pytest traceback argument or log line can show the value. Only ``reveal()``
  returns it, and only the connect call (``migrationkit.database``) and the hand-off
  of a URL to a child process call it.
* ``mask_secrets`` scrubs free text (a driver's error, a server message, a blocking
  session's query) of anything shaped like a password: ``user:password@`` in URLs,
  ``password=...`` in libpq keyword strings and URL queries, ``PASSWORD '...'`` in
  SQL, and the value of every ``Secret`` made in this process (as CI systems mask
  the secrets they were given, wherever they turn up in a log).
"""

from __future__ import annotations

import re
import threading
from urllib.parse import quote

MASK = "***"

_SHORTEST_REMEMBERED = 4
"""Shorter values are masked by shape only: replacing every ``ab`` in a message
would hide more than it protects."""

# ``scheme://user:password@``. The password ends at the last ``@`` of the URL: an
# unencoded ``@`` or ``/`` inside it (a common mistake) must not leave its tail
# visible as a host or database name.
_URL_PASSWORD = re.compile(r"(?P<head>://[^:/@\s]*:)(?P<password>\S*)(?P<tail>@)")
# ``password=...`` in a libpq keyword string or a URL query, ``PGPASSWORD=...`` in
# an environment listing, ``'password': '...'`` in a dict's repr; quoted values
# may hold spaces (libpq's ``password='Leak Me'``).
_KEY_PASSWORD = re.compile(
    r"""(?ix)
    (?P<head>\w*password['"]?\s*[=:]\s*)
    (?P<value>'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s&,;)}\]]+)
    """
)
# SQL: ``CREATE/ALTER ROLE ... [ENCRYPTED] PASSWORD 'x'``, with any comments or
# spaces before the value and any of PostgreSQL's string forms (``E'..\'..'``,
# ``U&'...'``, ``$$x$$``). The text may be cut short (pg_stat_activity truncates
# queries), so the closing quote is optional.
_SQL_PASSWORD = re.compile(
    r"""(?ix)
    (?P<head>\bpassword(?:\s|/\*.*?\*/|--[^\n]*\n)+)
    (?P<value>
        E'(?:[^'\\]|\\.|'')*'?
      | (?:U&)?'(?:[^']|'')*'?
      | \$(?P<tag>\w*)\$.*?(?:\$(?P=tag)\$|$)
    )
    """
)
# Characters that steer a terminal (ESC, BEL, the C1 controls, bidirectional
# overrides) and must not reach one from a database's text.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_LINES = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
)

_remembered: set[str] = set()
_remembered_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()


class Secret:
    """A value that no ``repr``, ``str``, f-string or traceback local renders.

    ``reveal()`` is the one way back to the value; keep its callers few and
    obvious (connecting, handing a URL to a child process).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str, *, remember_value: bool = True) -> None:
        """``remember_value=False`` for a whole URL: its password is remembered on
        its own when the URL is parsed, and the URL's text is never shown."""
        self._value = value
        if remember_value:
            remember(value)

    def reveal(self) -> str:
        """The value itself: only for the call that must send it somewhere."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, format_spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


def remember(value: str | None) -> None:
    """Mask ``value`` in every later ``mask_secrets`` result of this process.

    Its percent-encoded form is remembered too, as it appears inside URLs.
    """
    global _remembered_pattern  # noqa: PLW0603 - one process-wide set, like a CI's mask list
    if not value or len(value) < _SHORTEST_REMEMBERED:
        return
    forms = {value, quote(value, safe="")}
    with _lock:
        if forms <= _remembered:
            return
        _remembered.update(forms)
        # Longest first, so a value is masked whole before any part of it; whole
        # tokens only, so a password "postgres" does not mangle "postgresql://".
        alternatives = "|".join(
            re.escape(form) for form in sorted(_remembered, key=len, reverse=True)
        )
        _remembered_pattern = re.compile(rf"(?<![\w%])(?:{alternatives})(?![\w])")


def mask_secrets(text: str, *secrets: str | Secret | None) -> str:
    """``text`` with passwords replaced by ``***``: by shape, remembered, or given."""
    masked = _URL_PASSWORD.sub(
        lambda m: f"{m['head']}{MASK}{m['tail']}" if m["password"] else m[0], text
    )
    masked = _KEY_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", masked)
    masked = _SQL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", masked)
    pattern = _remembered_pattern
    if pattern is not None:
        masked = pattern.sub(MASK, masked)
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value:
            masked = masked.replace(value, MASK)
    return masked


def printable(text: str, *, lines: bool = False) -> str:
    """``text`` with control characters written as escapes (ESC as ``\\x1b``).

    For everything read from a database and shown to people (a lock holder's
    query, a revision id in the version table): such text must not ring the
    terminal, move its cursor or rewrite what was printed before. ``lines=True``
    keeps newlines and tabs, for a message of several lines.
    """
    pattern = _CONTROL_BUT_LINES if lines else _CONTROL
    return pattern.sub(lambda m: _escape(m[0]), text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
