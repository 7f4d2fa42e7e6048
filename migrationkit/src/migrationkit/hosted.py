"""Hosted PostgreSQL: waiting for a server that is waking up, and pooled host names.

Two facts about hosted PostgreSQL (Neon, Supabase, a database container started
alongside the application) shape how anything connects to it:

* A compute that scaled to zero wakes up on the first connection, which may take
  a few seconds or fail once; a database container may still be starting.
  ``wait_for_server`` therefore retries, with exponential backoff and jitter, for
  a bounded time (``MIGRATIONKIT_CONNECT_WAIT``, 30 s by default), each attempt
  bounded by ``connect_timeout``. A migration connects this way *before* it takes
  any lock, so wake-up time never counts against ``lock_timeout``. Failures that
  waiting cannot cure (wrong password, missing database, TLS the URL demands but
  the server lacks) end the wait at once.
* The pooled connection string of some platforms says what it is in its host
  name (``POOLER_HOSTS``): Neon's ends its first label in ``-pooler``. Knowing
  that before connecting lets a migration refuse it without waking anything (see
  ``migrationkit.runtime.pooler``). The opposite is known by name too
  (``SESSION_HOSTS``): Neon's direct endpoint is a proxy that announces a made-up
  server process id, as every proxy does, yet keeps one compute session per
  client for the client's whole life.

``sslmode`` and ``channel_binding`` in a URL reach libpq unchanged, as every
other query parameter does: ``?sslmode=require&channel_binding=require`` (what
Neon's console hands out) is honoured, and a server that cannot satisfy it is a
lasting failure, reported at once rather than retried.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError

from migrationkit.database import (
    DatabaseTarget,
    connect,
    connection_error,
    lasting_connection_failure,
)
from migrationkit.errors import DatabaseConnectionError
from migrationkit.pg import format_duration
from migrationkit.settings import Settings

log = logging.getLogger(__name__)

FIRST_CONNECT_RETRY = 0.5
"""Seconds before the second attempt; each later wait doubles, up to the ceiling."""
MAX_CONNECT_RETRY = 5.0


@dataclass(frozen=True, kw_only=True)
class PoolerHost:
    """A platform whose transaction-pooled endpoint is known by its host name."""

    provider: str
    sign: str
    """How the host name gives it away, for messages."""
    direct: str
    """Where the direct connection string is, for messages."""
    matches: Callable[[str, int | None], bool]


POOLER_HOSTS: Final = (
    PoolerHost(
        provider="Neon",
        sign="is Neon's pooled endpoint (the host's first label ends in -pooler)",
        direct="on Neon, the same connection string without -pooler in the host",
        matches=lambda host, _port: host.split(".", 1)[0].endswith("-pooler"),
    ),
    PoolerHost(
        provider="Supabase",
        sign="is Supabase's pooler in transaction mode (port 6543)",
        direct=(
            "on Supabase, the session pooler (the same host on port 5432) or the "
            "direct db.<project>.supabase.co host"
        ),
        matches=lambda host, port: (
            host.endswith(".pooler.supabase.com") and port == 6543
        ),
    ),
)
"""Pooled endpoints recognised by name: rules as data, one line each."""


@dataclass(frozen=True, kw_only=True)
class SessionHost:
    """A platform endpoint known by name to keep one server session per client."""

    provider: str
    sign: str
    """Why the endpoint may be trusted to keep sessions, for logs."""
    matches: Callable[[str, int | None], bool]


SESSION_HOSTS: Final = (
    SessionHost(
        provider="Neon",
        sign=(
            "Neon's direct endpoint (a proxy that keeps one compute session per client)"
        ),
        matches=lambda host, _port: (
            host.endswith(".neon.tech")
            and not host.split(".", 1)[0].endswith("-pooler")
        ),
    ),
    SessionHost(
        provider="Supabase",
        sign="Supabase's pooler in session mode (port 5432)",
        matches=lambda host, port: (
            host.endswith(".pooler.supabase.com") and port in (None, 5432)
        ),
    ),
)
"""Endpoints that sit between client and server yet keep sessions, by name."""


def session_host(url: URL) -> SessionHost | None:
    """The platform endpoint ``url`` names that is known to keep sessions, if any."""
    host = (url.host or "").lower().rstrip(".")
    if not host or pooler_host(url) is not None:
        return None
    return next((rule for rule in SESSION_HOSTS if rule.matches(host, url.port)), None)


def pooler_host(url: URL) -> PoolerHost | None:
    """The platform whose transaction pooler ``url`` names, if its host tells."""
    host = (url.host or "").lower().rstrip(".")
    if not host:
        return None
    return next((rule for rule in POOLER_HOSTS if rule.matches(host, url.port)), None)


def wait_for_server(
    engine: sa.Engine, target: DatabaseTarget, *, settings: Settings
) -> sa.Connection:
    """Connect, retrying for up to ``settings.connect_wait`` while nobody answers.

    Each attempt is bounded by the engine's ``connect_timeout``; the waits between
    attempts grow from 0.5 s to 5 s, each shortened by a random fraction so that
    replicas started together do not knock in step. The first failure is logged
    whole, the same failure again only at attempts 2, 4, 8, ... (a waking server
    would fill the screen otherwise), and the final error says how long it tried.
    """
    started = time.monotonic()
    said = ""
    for attempt in itertools.count(1):
        try:
            return engine.connect()
        except OperationalError as exc:
            error = connection_error(exc, target)
            waited = time.monotonic() - started
            remaining = settings.connect_wait - waited
            if lasting_connection_failure(exc) or remaining <= 0:
                raise _gave_up(error, attempts=attempt, settings=settings) from None
            delay = min(connect_retry_delay(attempt), remaining)
            if str(error) != said:  # the first failure, or a different one
                said = str(error)
                log.warning(
                    "not connected yet (attempt %d): %s; retrying in %.1fs, for up "
                    "to %s in all (MIGRATIONKIT_CONNECT_WAIT)",
                    attempt,
                    error,
                    delay,
                    _seconds(settings.connect_wait),
                )
            elif attempt & (attempt - 1) == 0:  # the same again: at 2, 4, 8, ...
                log.warning(
                    "still not connected after %d attempts in %.0fs (same error); "
                    "retrying for up to %s in all",
                    attempt,
                    waited,
                    _seconds(settings.connect_wait),
                )
            time.sleep(delay)
        except DBAPIError:
            # The driver refused the URL itself (an unknown ?option) before any
            # network traffic: not something time cures. connect() explains it.
            break
    return connect(engine, target)


def connect_retry_delay(attempt: int) -> float:
    """Exponential backoff with jitter between connection attempts."""
    ceiling = min(MAX_CONNECT_RETRY, FIRST_CONNECT_RETRY * 2.0 ** (attempt - 1))
    return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - timing, not secrets


def _gave_up(
    error: DatabaseConnectionError, *, attempts: int, settings: Settings
) -> DatabaseConnectionError:
    if attempts == 1:
        return error
    return DatabaseConnectionError(
        f"{error}\nGave up after {attempts} attempts in "
        f"{_seconds(settings.connect_wait)} (MIGRATIONKIT_CONNECT_WAIT sets how "
        "long to keep trying)."
    )


def _seconds(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole}s" if whole == seconds else format_duration(seconds)
