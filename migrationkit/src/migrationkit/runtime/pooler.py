"""Refuse to migrate through a transaction pooler, before any lock is taken.

A migration needs one server session for its whole run: the session advisory
lock that keeps concurrent runs apart, ``lock_timeout`` and the other session
settings, and temporary tables all belong to one server process. A pooler in
transaction mode (Neon's pooled endpoint, PgBouncer with ``pool_mode =
transaction``) lends a server process per transaction instead. Measured through
PgBouncer 1.18 in that mode, concurrent ``upgrade head`` runs applied a revision
twice, left the advisory lock held on a pooled server process for ten minutes,
set ``lock_timeout`` on one process while the DDL ran on another, and lost a
temporary table between two transactions.

Two checks, both before the lock:

* **by name**, before connecting: a host that ``migrationkit.hosted.POOLER_HOSTS``
  knows as a pooled endpoint (Neon's ``-pooler`` hosts);
* **by behaviour**, after connecting: when the server process id the connection
  announced at start-up (the protocol's BackendKeyData) is not the one
  ``pg_backend_pid()`` reports, something sits in between, so a second connection
  is opened and both ask ``pg_backend_pid()`` in turn, each question its own
  transaction. On the server itself, or through a pooler in session mode, each
  client keeps one server process for its life and two clients never share one.
  A transaction pooler hands the same process to both clients (it reuses the
  most recently released one by default) or several processes to one client
  (with ``server_round_robin``). Either is proof; the check needs no admin access
  to the pooler and no configuration. A direct connection costs one query.

The refusal names ``DATABASE_URL_DIRECT``: migrations use the direct connection
string while the application keeps the pooled one.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from migrationkit.database import DatabaseTarget, UrlSource, connect
from migrationkit.errors import TransactionPoolerError
from migrationkit.hosted import PoolerHost, pooler_host

log = logging.getLogger(__name__)

_PROBE_ORDER = "tottot"
"""Whose turn it is to ask (this connection, the other one), after this
connection's first question: enough to catch both of PgBouncer's reuse orders."""


def refuse_pooler_host(target: DatabaseTarget) -> None:
    """Refuse a URL whose host name is a known pooled endpoint (no connection)."""
    rule = pooler_host(target.url)
    if rule is not None:
        raise TransactionPoolerError(refusal(target, evidence=rule.sign, hint=rule))


def refuse_transaction_pooler(
    connection: sa.Connection, target: DatabaseTarget
) -> None:
    """Refuse a connection that goes through a transaction pooler.

    Leaves ``connection`` outside any transaction, as the migration lock wants it.
    """
    refuse_pooler_host(target)
    evidence = transaction_pooling_evidence(connection, target)
    if evidence is not None:
        raise TransactionPoolerError(refusal(target, evidence=evidence))


def transaction_pooling_evidence(
    connection: sa.Connection, target: DatabaseTarget
) -> str | None:
    """What shows that transactions on ``target`` are pooled, or None."""
    first = _server_pid(connection)
    announced = _announced_pid(connection)
    if announced == first:
        return None  # the server itself answered the start-up: nothing in between
    log.debug(
        "the connection announced server process %s but runs in %s: checking "
        "whether a pooler in between keeps sessions",
        announced,
        first,
    )
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
    log.info(
        "%s goes through a proxy or pooler that keeps one server session per "
        "client (session mode): migrating through it is safe",
        target.masked,
    )
    return None


def refusal(
    target: DatabaseTarget, *, evidence: str, hint: PoolerHost | None = None
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
    verdict = (
        "Refusing to migrate through a transaction pooler: "
        f"{target.describe()} {evidence}."
    )
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
    return f"{verdict}\n\n{why}\n\n{what}"


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
