"""Migrate only where one server process serves the whole run; stop if it does not.

A migration needs one server session for its whole run: the session advisory
lock that keeps concurrent runs apart and temporary tables belong to one server
process. A pooler in transaction mode (Neon's pooled endpoint, PgBouncer with
``pool_mode = transaction``) lends a server process per transaction instead.
Measured through PgBouncer 1.18 in that mode, concurrent runs applied a revision
twice, left the advisory lock and ``lock_timeout`` on a pooled server process
that other clients used for minutes, and lost a temporary table between two
transactions.

Watching the connection cannot prove that an intermediary keeps sessions: an
idle transaction pooler hands the same server process back every time and looks
exactly like session mode (under shared load a behaviour probe was fooled 3 times
in 164). So the decision is made by construction (``refuse_transaction_pooler``):

* **the server itself**: the server process id the connection announced at
  start-up (the protocol's BackendKeyData) is the one ``pg_backend_pid()``
  reports. Nothing sits in between, nothing can share the session. PgBouncer
  (in every pool mode) and Neon's proxy announce a random id of their own, so
  they never pass for the server;
* **an intermediary said to keep sessions**: an endpoint known by name
  (``migrationkit.hosted.SESSION_HOSTS``: Neon's direct host) or declared by
  the operator (``MIGRATIONKIT_POOLER=session`` or ``-x pooler=session``, for
  PgBouncer in session mode). The behaviour probe still runs and refuses what
  it sees pooled;
* **anything else is refused**, with a message naming ``DATABASE_URL_DIRECT``
  and the declaration. So is a host known as a pooled endpoint
  (``migrationkit.hosted.POOLER_HOSTS``), before connecting.

Belt and braces for a declaration that is wrong (``ServerProcessPin``): on a
connection that is not the server itself, every transaction of the run starts
by checking that it runs in the server process that holds the migration lock,
and stops before doing anything if not; the timeouts it needs are set for that
transaction only (``set_config(..., true)``, as ``SET LOCAL``), so none outlives
it on a server process that others may use. When a transaction lands elsewhere
the run stops, releases the lock where it is held if it can reach that process,
and says what may remain.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from migrationkit.database import DatabaseTarget, UrlSource, connect
from migrationkit.errors import MigrationKitError, TransactionPoolerError
from migrationkit.hosted import PoolerHost, pooler_host, session_host

log = logging.getLogger(__name__)

_PROBE_ORDER = "tottot"
"""Whose turn it is to ask (this connection, the other one), after this
connection's first question: enough to catch both of PgBouncer's reuse orders."""

SESSION_POOLER = "session"
"""The one value of ``MIGRATIONKIT_POOLER`` / ``-x pooler``: the intermediary
between migrationkit and the server keeps one server session per client."""

DECLARATION = "MIGRATIONKIT_POOLER=session (or -x pooler=session)"

RELEASE_ATTEMPTS_S = 5.0
"""How long a run that strayed keeps trying to reach the lock's server process."""


def parse_pooler(raw: str, *, name: str) -> bool:
    """True for a declared session pooler; ``""`` declares nothing."""
    value = raw.strip().lower()
    if value in ("", SESSION_POOLER):
        return value == SESSION_POOLER
    raise MigrationKitError(
        f"{name}={raw!r} is not understood: the only value is {SESSION_POOLER!r}, "
        "for a pooler in session mode (one server session per client for its "
        "whole life). A transaction pooler cannot be migrated through: use "
        "DATABASE_URL_DIRECT."
    )


@dataclass(frozen=True, kw_only=True)
class Route:
    """How the migration's connection reaches the server, as far as is known."""

    direct: bool
    """True only when the connection is proven to be the server's own."""
    why: str


def refuse_pooler_host(target: DatabaseTarget) -> None:
    """Refuse a URL whose host name is a known pooled endpoint (no connection)."""
    rule = pooler_host(target.url)
    if rule is not None:
        raise TransactionPoolerError(refusal(target, evidence=rule.sign, hint=rule))


def refuse_transaction_pooler(
    connection: sa.Connection, target: DatabaseTarget, *, session_declared: bool
) -> Route:
    """The route of ``connection``, or a refusal if it may pool transactions.

    Leaves ``connection`` outside any transaction, as the migration lock wants it.
    """
    refuse_pooler_host(target)
    first = _server_pid(connection)
    announced = _announced_pid(connection)
    if announced == first:
        return Route(direct=True, why="the server itself")
    known = session_host(target.url)
    if known is None and not session_declared:
        raise TransactionPoolerError(
            refusal(
                target,
                evidence=(
                    "is not the database server itself: the connection announced "
                    f"server process {announced} at start-up but runs in server "
                    f"process {first}, so a pooler or proxy sits in between, and "
                    "nothing says it keeps one server session per client"
                ),
                undecided=True,
            )
        )
    why = known.sign if known is not None else f"declared by {DECLARATION}"
    log.debug(
        "the connection announced server process %s but runs in %s: %s; checking "
        "that it does not pool transactions",
        announced,
        first,
        why,
    )
    evidence = transaction_pooling_evidence(connection, target, first=first)
    if evidence is not None:
        raise TransactionPoolerError(refusal(target, evidence=evidence))
    log.info(
        "%s goes through an intermediary that keeps one server session per "
        "client (%s): every transaction of the run checks its server process",
        target.masked,
        why,
    )
    return Route(direct=False, why=why)


def transaction_pooling_evidence(
    connection: sa.Connection, target: DatabaseTarget, *, first: int | None = None
) -> str | None:
    """What shows that transactions on ``target`` are pooled, or None.

    None proves nothing: an idle transaction pooler behaves like a session
    pooler here. Only a positive answer is a verdict.
    """
    first = _server_pid(connection) if first is None else first
    if _announced_pid(connection) == first:
        return None  # the server itself answered the start-up: nothing in between
    other = connect(connection.engine, target)
    try:
        if other.connection.dbapi_connection is connection.connection.dbapi_connection:
            return None  # one shared driver connection (a StaticPool): no pooler
        seen: dict[str, list[int]] = {"t": [first], "o": []}
        for who in _PROBE_ORDER:
            seen[who].append(_server_pid(connection if who == "t" else other))
    finally:
        other.close()
    mine, theirs = set(seen["t"]), set(seen["o"])
    if len(mine) > 1:
        pids = ", ".join(str(pid) for pid in sorted(mine))
        return (
            "is served by a pooler: one connection's consecutive transactions ran "
            f"in different server processes (pids {pids})"
        )
    if shared := mine & theirs:
        return (
            "is served by a pooler: two client connections' transactions ran in "
            f"the same server process (pid {min(shared)})"
        )
    return None


def refusal(
    target: DatabaseTarget,
    *,
    evidence: str,
    hint: PoolerHost | None = None,
    undecided: bool = False,
) -> str:
    """The message: what was refused, why it matters, what to run instead."""
    direct = (
        hint.direct
        if hint is not None
        else (
            "with PgBouncer, the server's own host and port; on Neon, the connection "
            "string without -pooler in the host"
        )
    )
    if target.source is UrlSource.ENVIRONMENT_DIRECT:
        fix = (
            f"point DATABASE_URL_DIRECT at the database server itself ({direct}), "
            "not at the pooler"
        )
    else:
        fix = (
            f"set DATABASE_URL_DIRECT to the direct connection string ({direct}) "
            "and run the command again; the application keeps using the pooled "
            "DATABASE_URL"
        )
    if undecided:
        fix += (
            f". If it is a pooler in session mode (PgBouncer's pool_mode = "
            f"session), say so with {DECLARATION}"
        )
        verdict = "Refusing to migrate through a pooler that may pool transactions"
    else:
        verdict = "Refusing to migrate through a transaction pooler"
    why = (
        "A migration needs one server session for its whole run: the session "
        "advisory lock that keeps concurrent migrations apart, lock_timeout and "
        "temporary tables belong to one server process, and a transaction pooler "
        "lends a different one to each transaction. The lock would protect "
        "nothing and the timeouts would land on other clients."
    )
    what = (
        f"What to do: {fix}. Nothing was changed: no lock was taken and no "
        "migration ran."
    )
    return f"{verdict}: {target.describe()} {evidence}.\n\n{why}\n\n{what}"


_PIN = "migrationkit.server_process_pin"
"""``Connection.info`` key of the pin installed on a migration's connection."""


@dataclass(kw_only=True)
class ServerProcessPin:
    """Keeps every transaction of a run in the server process holding its lock.

    Installed on a connection that is not proven to be the server itself (a
    session pooler, known or declared). On each ``begin`` of the connection it
    asks ``pg_backend_pid()`` as the transaction's first statement, through the
    driver, before anything else runs; in the same statement it sets the run's
    timeouts for that transaction only. A transaction that would run elsewhere
    is rolled back at once and the run stops (``TransactionPoolerError``).

    In an autocommit block each statement is a transaction of its own and no
    setting can be local: the timeouts are set on the session when the block
    starts and reset when it ends, each only if the statement runs in the
    holder's process (so a wrongly declared pooler never carries them to
    another one).
    """

    connection: sa.Connection
    holder: int
    """The server process that took the migration lock."""
    route: Route
    settings: dict[str, str] = field(default_factory=dict)
    """Timeouts the run needs, set afresh in each of its transactions."""
    _session_settings: bool = False
    _check_due: bool = False

    @classmethod
    def of(cls, connection: sa.Connection) -> ServerProcessPin | None:
        """The pin on ``connection``, if it has one."""
        pin = connection.info.get(_PIN)
        return pin if isinstance(pin, ServerProcessPin) else None

    def install(self) -> None:
        self.connection.info[_PIN] = self
        event.listen(self.connection, "begin", self._on_begin)
        event.listen(self.connection, "before_cursor_execute", self._on_statement)
        event.listen(self.connection, "commit", self._on_end)
        event.listen(self.connection, "rollback", self._on_end)

    def remove(self) -> None:
        if self.connection.info.get(_PIN) is self:
            del self.connection.info[_PIN]
        for name, handler in (
            ("begin", self._on_begin),
            ("before_cursor_execute", self._on_statement),
            ("commit", self._on_end),
            ("rollback", self._on_end),
        ):
            if event.contains(self.connection, name, handler):
                event.remove(self.connection, name, handler)

    def _on_begin(self, connection: sa.Connection) -> None:
        """The check waits for the transaction's first statement: a ``begin``
        listener that raises leaves SQLAlchemy unable to begin again."""
        self._check_due = True

    def _on_statement(self, connection: sa.Connection, *_: object) -> None:
        if not self._check_due:
            return
        self._check_due = False
        dbapi = connection.connection.dbapi_connection
        assert dbapi is not None
        autocommit = bool(getattr(dbapi, "autocommit", False))
        names = sorted(self.settings)
        if autocommit:
            sets = [
                "CASE WHEN pg_backend_pid() = %s THEN set_config(%s, %s, false) END"
                for _ in names
            ]
            params: list[Any] = [
                x for name in names for x in (self.holder, name, self.settings[name])
            ]
        else:
            sets = ["set_config(%s, %s, true)" for _ in names]
            params = [x for name in names for x in (name, self.settings[name])]
        pid = _first_value(
            dbapi, "SELECT " + ", ".join(["pg_backend_pid()", *sets]), params
        )
        if pid == self.holder:
            self._session_settings = autocommit and bool(names)
            return
        if not autocommit:
            dbapi.rollback()
        raise TransactionPoolerError(self.strayed(pid))

    def _on_end(self, connection: sa.Connection) -> None:
        self._check_due = False
        if not self._session_settings:
            return
        self._session_settings = False
        dbapi = connection.connection.dbapi_connection
        if dbapi is None or not getattr(dbapi, "autocommit", False):
            return
        names = sorted(self.settings)
        resets = [
            "CASE WHEN pg_backend_pid() = %s THEN set_config(%s, (SELECT reset_val "
            "FROM pg_settings WHERE name = %s), false) END"
            for _ in names
        ]
        params = [x for name in names for x in (self.holder, name, name)]
        pid = _first_value(
            dbapi, "SELECT " + ", ".join(["pg_backend_pid()", *resets]), params
        )
        if pid != self.holder:
            log.warning(
                "the timeouts set for an autocommit block could not be reset: the "
                "reset ran in server process %s, not %s, which keeps them until "
                "it ends",
                pid,
                self.holder,
            )

    def strayed(self, pid: int) -> str:
        """The verdict when a transaction would run outside the holder's process."""
        return (
            "Stopped the migration run before a transaction: it was about to run "
            f"in server process {pid}, but this run's migration lock is held by "
            f"server process {self.holder}. The connection ({self.route.why}) lends "
            "server processes per transaction, so it is a transaction pooler, not "
            "one that keeps sessions. Nothing ran in that transaction, and no "
            "timeout of this run was left on a server process (they are set per "
            "transaction)."
        )


def release_where_held(
    connection: sa.Connection,
    *,
    pin: ServerProcessPin,
    unlock: sa.TextClause,
    key: int,
    within: float = RELEASE_ATTEMPTS_S,
) -> bool:
    """Release the lock ``key`` in the holder's process, trying for ``within`` s.

    Through a pooler each transaction may land elsewhere; only one in the
    holder's process can release a session lock. False if none got there.
    """
    pin.remove()
    if connection.in_transaction():
        connection.rollback()
    deadline = time.monotonic() + within
    while True:
        if _unlock_if_holder(connection, pin.holder, unlock=unlock, key=key):
            return True
        # This transaction stays open, keeping its server process busy, while a
        # second client asks: a pooler lends its most recently released process,
        # and after our own rollback that is ours again, never the holder's.
        released = _unlock_from_another_client(
            connection, pin.holder, unlock=unlock, key=key
        )
        connection.rollback()
        if released:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def _unlock_if_holder(
    connection: sa.Connection, holder: int, *, unlock: sa.TextClause, key: int
) -> bool:
    """Release every hold of ``key`` if this transaction runs in ``holder``;
    otherwise leave the transaction open and say False."""
    pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    if pid != holder:
        return False
    while connection.execute(unlock, {"key": key}).scalar_one():
        pass
    connection.commit()
    return True


def _unlock_from_another_client(
    connection: sa.Connection, holder: int, *, unlock: sa.TextClause, key: int
) -> bool:
    """One try through a second client of the same pooler; False when it did not
    land in ``holder`` or could not connect (the pooler may cap its clients)."""
    try:
        with connection.engine.connect() as other:
            released = _unlock_if_holder(other, holder, unlock=unlock, key=key)
            if not released:
                other.rollback()
            return released
    except sa.exc.SQLAlchemyError:
        return False


def remains_held(holder: int) -> str:
    """What to tell when the lock could not be released where it is held."""
    return (
        f"The migration lock may remain held by server process {holder}, through "
        "the pooler, until the pooler closes that server connection; other "
        "migration runs wait for it meanwhile. To end it now, on the server: "
        f"SELECT pg_terminate_backend({holder}) (a client of the pooler that is "
        "using that process at that moment loses its transaction). Temporary "
        "tables a migration made there stay with it too."
    )


def _first_value(dbapi: Any, statement: str, params: Sequence[Any]) -> int:
    """Run one statement through the driver itself (no SQLAlchemy events)."""
    cursor = dbapi.cursor()
    try:
        cursor.execute(statement, params)
        row = cursor.fetchone()
    finally:
        cursor.close()
    return int(row[0])


def _server_pid(connection: sa.Connection) -> int:
    """``pg_backend_pid()`` in a transaction of its own (the pooler's unit)."""
    pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    connection.commit()
    return int(pid)


def _announced_pid(connection: sa.Connection) -> int | None:
    """The process id the connection was told at start-up (libpq's PQbackendPID)."""
    info = getattr(connection.connection.driver_connection, "info", None)
    pid = getattr(info, "backend_pid", None)
    return pid if isinstance(pid, int) else None
