"""Database URLs: parsed strictly, and described without ever echoing their text.

A URL that cannot be parsed cannot be masked either: nobody knows where its
password starts and ends. So a refusal never quotes the value it refuses; it says
what shape it found (a libpq keyword string, a missing ``//``, a port that is not a
number, more than one ``@``) and what shape is expected.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from migrationkit.errors import DatabaseUrlError
from migrationkit.masking import mask_secrets

EXPECTED = "postgresql://user:password@host:port/database"
_NOT_SHOWN = "(the value is not shown: it may hold a password)"
_ENCODE = (
    "a password containing '@', ':', '/', '?' or '#' must be percent-encoded "
    "('@' as %40, ':' as %3A, '/' as %2F, '?' as %3F, '#' as %23)"
)
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://")
_POSTGRES_SCHEME = re.compile(
    r"^(?P<scheme>postgres(?:ql)?(?:\+\w+)?)(?P<after>:/|//|:)"
)
_KEYWORD_STRING = re.compile(r"^\s*\w+\s*=")
_KEYWORD = re.compile(r"(?:^|\s)(?P<key>\w+)\s*=")
_LIBPQ_KEYWORDS = frozenset(
    [
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "password",
        "passfile",
        "require_auth",
        "channel_binding",
        "connect_timeout",
        "client_encoding",
        "options",
        "application_name",
        "sslmode",
        "sslcert",
        "sslkey",
        "sslrootcert",
        "target_session_attrs",
        "service",
    ]
)
"""Keys named in a refusal; anything else might be a fragment of a quoted value."""


def mask_url(url: URL | str) -> str:
    """Render a URL for people: the password, if any, becomes ``***``."""
    if isinstance(url, URL):
        return mask_secrets(url.render_as_string(hide_password=True))
    return mask_secrets(url)


def parse_database_url(raw: str, *, origin: str) -> URL:
    """Turn a configured URL into a SQLAlchemy URL, or explain why it cannot be used.

    ``postgres://`` (Heroku, Neon, many PaaS) and ``postgresql://`` are both
    accepted; with SQLAlchemy 2.1 a bare ``postgresql://`` already means psycopg 3,
    and an explicit ``+driver`` is kept as given. A ``?password=`` moves into the
    URL's password, which SQLAlchemy never renders.
    """
    text = raw.strip()
    shape = _SCHEME.match(text)
    if shape is None:
        raise _unparsable(origin, _describe_schemeless(text))
    if text.startswith(("postgres://", "postgres+")):
        text = "postgresql" + text[len("postgres") :]
    rest = text[text.index("://") + 3 :]
    if rest.count("@") > 1:
        # SQLAlchemy ends the password at the first "@"; the rest of it would be
        # taken for the host, the database name or the query (an "@" then a "?"
        # in the password), and shown as such later.
        raise _more_than_one_at(origin, rest)
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise _unparsable(origin, _describe_authority(rest)) from None
    if url.get_backend_name() == "driver" and origin.endswith("alembic.ini"):
        # `alembic init` writes sqlalchemy.url = driver://user:pass@localhost/dbname
        raise DatabaseUrlError(
            f"{origin} is still the placeholder `alembic init` writes "
            f"({mask_url(url)}). Remove or comment out that line to use "
            "DATABASE_URL or, without it, the embedded server; or write your "
            f"PostgreSQL URL there: {EXPECTED}"
        )
    if url.get_backend_name() != "postgresql":
        raise DatabaseUrlError(
            f"{origin} names a {url.get_backend_name()!r} database "
            f"({mask_url(url)}); this project supports PostgreSQL only: use {EXPECTED}"
        )
    _check_driver_known(url, origin=origin)
    if not url.database:
        raise DatabaseUrlError(
            f"{origin} names no database ({mask_url(url)}): "
            "add it after the host, as in postgresql://user@host:5432/mydb"
        )
    if url.port is not None and not 0 < url.port < 65536:
        raise DatabaseUrlError(f"{origin} has port {url.port}, outside 1-65535.")
    return password_out_of_query(url)


def with_driver(url: URL) -> URL:
    """``url`` naming psycopg 3 when it names no driver (``postgresql://``).

    SQLAlchemy 2.1 picks psycopg 3 for a bare ``postgresql://`` by itself; 2.0
    picks psycopg2, which migrationkit does not depend on. URLs are shown to
    people as they were written; only the engine gets the explicit driver.
    """
    if url.drivername == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    return url


def password_out_of_query(url: URL) -> URL:
    """Move ``?password=`` into the URL's password (libpq's rule: the query wins).

    SQLAlchemy hides a URL's password in every rendering, but not a query value.
    """
    in_query = url.query.get("password")
    if in_query is None:
        return url
    password = in_query if isinstance(in_query, str) else in_query[-1]
    return url.difference_update_query(["password"]).set(password=password)


def _check_driver_known(url: URL, *, origin: str) -> None:
    try:
        url.get_dialect()
    except NoSuchModuleError:
        raise DatabaseUrlError(
            f"{origin} asks for the driver {url.get_driver_name()!r} "
            f"({url.drivername}://), which SQLAlchemy does not know. Use "
            "postgresql:// (psycopg 3), or postgresql+psycopg://."
        ) from None


def _unparsable(origin: str, reason: str) -> DatabaseUrlError:
    return DatabaseUrlError(
        f"{origin} is not a valid database URL: {reason}. Expected {EXPECTED} "
        f"{_NOT_SHOWN}."
    )


def _more_than_one_at(origin: str, rest: str) -> DatabaseUrlError:
    return DatabaseUrlError(
        f"{origin} has {rest.count('@')} '@' characters where one separates the "
        f"user and password from the host: {_ENCODE} {_NOT_SHOWN}."
    )


def _describe_schemeless(text: str) -> str:
    """What a value without ``scheme://`` looks like, in words that show none of it."""
    if not text:
        return "it is empty"
    if _KEYWORD_STRING.match(text):
        found = [m["key"] for m in _KEYWORD.finditer(text)]
        keys = ", ".join(dict.fromkeys(k for k in found if k in _LIBPQ_KEYWORDS))
        return f"it is a libpq keyword string (keys: {keys or 'none known'}), not a URL"
    postgres = _POSTGRES_SCHEME.match(text)
    if postgres is None:
        return "it does not start with a scheme such as postgresql://"
    scheme, after = postgres["scheme"], postgres["after"]
    if after == "//":
        return f"the ':' after {scheme!r} is missing ({scheme}:// is expected)"
    if after == ":/":
        return f"{scheme + ':/'!r} has one slash where two are expected"
    return f"{scheme + ':'!r} is not followed by '//'"


def _describe_authority(rest: str) -> str:
    """Why SQLAlchemy refused what follows ``://``, named by part, not shown."""
    host_part = re.split(r"[/?]", rest.rsplit("@", 1)[-1], maxsplit=1)[0]
    if not host_part.startswith("[") and ":" in host_part:
        port = host_part.rsplit(":", 1)[1]
        if not port.isdigit():
            return "the part after the host's ':' is not a port number"
    return "SQLAlchemy cannot split it into user, password, host, port and database"
