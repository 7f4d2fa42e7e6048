"""What stopped a migration run, told as one paragraph instead of a traceback.

``reported_failures`` wraps the online run. A database error, a lost connection
or Ctrl-C becomes a ``MigrationFailed`` (or ``MigrationInterrupted``) whose
message says what failed (the migration step and its statement), what PostgreSQL
said, the revision the database is at now (read back from the version table) and
what to do next. Alembic prints it as one ``FAILED:`` paragraph; ``--raiseerr``
still shows the traceback, with the original error chained.

A Python exception that is not a database error (a bug in a revision) is left
alone: its traceback is where the fix is.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from migrationkit.errors import MigrationFailed, MigrationInterrupted, MigrationKitError
from migrationkit.masking import mask_secrets, printable
from migrationkit.pg import (
    CONNECTION_LOST_CLASSES,
    INSUFFICIENT_PRIVILEGE,
    INVALID_PARAMETER_VALUE,
    QUERY_CANCELED,
    format_duration,
    server_message,
    sqlstate_of,
)
from migrationkit.runtime.guards import MigrationGuards
from migrationkit.runtime.plan import ResumablePlan
from migrationkit.settings import Settings

STATEMENT_SHOWN = 200
"""Characters of the failed statement shown (masked) in the message."""
PROBE_TIMEOUT = "5s"
"""How long reading the version table back may take after a failure."""


class _PrintedByAlembic(logging.Filter):
    """Drops the record ``alembic.util.messaging.err`` logs: that function prints
    the same message as ``FAILED: ...`` right after, so it would appear twice."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.funcName == "err" and record.levelno >= logging.ERROR)


def print_failures_once() -> None:
    """Install the filter (once) on Alembic's messaging logger, whatever the
    project's logging configuration says."""
    logger = logging.getLogger("alembic.util.messaging")
    if not any(isinstance(f, _PrintedByAlembic) for f in logger.filters):
        logger.addFilter(_PrintedByAlembic())


@contextmanager
def reported_failures(env: EnvironmentContext, *, settings: Settings) -> Iterator[None]:
    """Turn what stops an online run into one ``MigrationKitError`` paragraph."""
    try:
        yield
    except CommandError as exc:
        # Alembic's own (a revision id read from the version table that no
        # script defines) as well as ours: database text must not steer the
        # terminal it is printed on.
        exc.args = tuple(
            printable(arg, lines=True) if isinstance(arg, str) else arg
            for arg in exc.args
        )
        raise
    except BaseException as exc:
        failure = _translate(exc, env=env, settings=settings)
        if failure is None:
            raise
        raise failure from exc


@dataclass(frozen=True, kw_only=True)
class _Where:
    """The step that was running and the revision the database is at now."""

    step: str | None
    revision: str | None
    revision_note: str
    partway: bool = False
    """The step had committed steps of its own (autocommit blocks) before it
    stopped: those stay, beyond the revision the version table names."""

    @property
    def what(self) -> str:
        return f"Migration {self.step}" if self.step else "The migration run"

    @property
    def resume(self) -> str:
        finish = (
            ", and finishes the interrupted migration, whose steps skip what is "
            "already done"
            if self.partway
            else ""
        )
        if self.revision is None:
            return (
                "run the same command again; it resumes from the last completed "
                f"migration{finish}"
            )
        return f"run the same command again; it resumes from {self.revision}{finish}"

    @property
    def kept(self) -> str:
        """What stays of the interrupted step, said truly ("" when nothing)."""
        if not self.partway:
            return ""
        return (
            ", but the steps it ran outside a transaction (a concurrent index "
            "build, backfill batches) and had finished stay committed"
        )


def _translate(
    exc: BaseException, *, env: EnvironmentContext, settings: Settings
) -> MigrationKitError | None:
    if not isinstance(exc, (Exception, KeyboardInterrupt)):
        return None  # SystemExit and the like go their way
    chain = _chain(exc)
    context = _context(env)
    if any(isinstance(e, KeyboardInterrupt) for e in chain):
        return _interrupted(_where(context))
    # A revision's own exception (even one raised while handling a database
    # error) is the revision's message: only SQLAlchemy's errors are translated.
    db_errors = [e for e in chain if isinstance(e, DBAPIError)]
    if not isinstance(exc, SQLAlchemyError) or not db_errors:
        return None
    # The first to happen; later ones arose while handling it.
    return _database_failure(db_errors[-1], context=context, env=env, settings=settings)


def _database_failure(
    error: DBAPIError,
    *,
    context: MigrationContext | None,
    env: EnvironmentContext,
    settings: Settings,
) -> MigrationFailed:
    error.hide_parameters = True  # --raiseerr tracebacks show no bound values
    if error.statement:
        error.statement = mask_secrets(error.statement)
    where = _where(context)
    sqlstate = sqlstate_of(error)
    said = mask_secrets(server_message(error))
    if _connection_lost(error, sqlstate):
        return _lost(error, where=where, said=said)
    if sqlstate == QUERY_CANCELED:
        return _cancelled(error, where=where, said=said, env=env, settings=settings)
    if sqlstate == INSUFFICIENT_PRIVILEGE:
        return _refused(error, where=where, said=said, context=context)
    if sqlstate == INVALID_PARAMETER_VALUE and where.step is None:
        advice = (
            "check the -x options and MIGRATIONKIT_* settings (durations such as "
            "lock_timeout=2s or statement_timeout=10min, within PostgreSQL's "
            f"limits), then {where.resume}."
        )
    else:
        advice = (
            "fix what the statement and PostgreSQL's message point at, then "
            f"{where.resume}."
        )
    return _failed(
        error,
        verdict=f"{where.what} failed: {said}",
        where=where,
        advice=advice,
    )


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception it was raised from or while handling."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not e for e in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _context(env: EnvironmentContext) -> MigrationContext | None:
    try:
        return env.get_context()
    except Exception:  # noqa: BLE001 - Alembic raises a bare Exception before configure
        return None


def _where(context: MigrationContext | None) -> _Where:
    plan = ResumablePlan.installed_on(context) if context is not None else None
    step = plan.step_in_flight() if plan is not None else None
    partway = plan is not None and step is not None and plan.committed_partway
    revision, note = _database_revision(context)
    if revision is None and step is not None:
        # The server could not be asked; each migration commits on its own, so
        # the database is where the unfinished one started.
        started = ", ".join(step.from_revisions) or "base (no revision applied)"
        return _Where(
            step=_step_text(step),
            revision=started,
            revision_note=f" (where that migration started; {note})",
            partway=partway,
        )
    return _Where(
        step=_step_text(step) if step is not None else None,
        revision=revision,
        revision_note="" if revision is not None else f" ({note})",
        partway=partway,
    )


def _step_text(step: Any) -> str:
    """``upgrade 002 -> 003, backfill usernames``: Alembic's own words for a step,
    with ``base`` where Alembic leaves a blank."""
    try:
        source = ", ".join(step.from_revisions_no_deps) or "base"
        target = ", ".join(step.to_revisions_no_deps) or "base"
    except AttributeError:  # not a revision step (a stamp, say)
        return str(step)
    doc = f", {step.doc}" if getattr(step, "doc", None) else ""
    return f"{step.name} {source} -> {target}{doc}"


def _database_revision(context: MigrationContext | None) -> tuple[str | None, str]:
    """The version table's revision(s), read on a fresh connection.

    The run's own connection may be broken or closed by now, and its session may
    be gone; a new one sees exactly what was committed.
    """
    if context is None or context.connection is None:
        return None, "no connection was made"
    schema = context.version_table_schema
    try:
        with context.connection.engine.connect() as probe:
            probe.execute(sa.text(f"SET statement_timeout = '{PROBE_TIMEOUT}'"))
            probe.execute(sa.text(f"SET lock_timeout = '{PROBE_TIMEOUT}'"))
            if not sa.inspect(probe).has_table(context.version_table, schema=schema):
                return "base (no revision applied)", ""
            table = sa.table(
                context.version_table, sa.column("version_num"), schema=schema
            )
            heads = probe.execute(sa.select(table.c.version_num)).scalars().all()
            probe.rollback()
    except (SQLAlchemyError, MigrationKitError) as exc:
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        return None, f"the version table could not be read: {mask_secrets(first)}"
    except KeyboardInterrupt:
        return None, "reading the version table was interrupted"
    return (", ".join(sorted(heads)) or "base (no revision applied)"), ""


def _connection_lost(error: DBAPIError, sqlstate: str | None) -> bool:
    if error.connection_invalidated:
        return True
    if sqlstate is not None:
        return sqlstate.startswith(CONNECTION_LOST_CLASSES)
    # libpq reports a dropped socket without a SQLSTATE.
    return isinstance(error, sa.exc.OperationalError)


def _interrupted(where: _Where) -> MigrationInterrupted:
    at = f"the database is at {_at(where)}"
    if where.step is None:
        message = f"Interrupted (Ctrl-C) before any migration ran: {at}."
    else:
        message = (
            f"Interrupted (Ctrl-C) during migration {where.step}: its open transaction "
            f"was rolled back{where.kept} and {at}. Run the same command again to "
            "resume."
        )
    return MigrationInterrupted(
        message, step=where.step, database_revision=where.revision
    )


def _lost(error: DBAPIError, *, where: _Where, said: str) -> MigrationFailed:
    during = f"during migration {where.step}" if where.step else "during the run"
    return _failed(
        error,
        verdict=f"Lost the connection to PostgreSQL {during}: {said}",
        where=where,
        advice=(
            "when the server accepts connections again (after a restart or a "
            "failover, or if an administrator ended the session on purpose), "
            f"{where.resume}."
        ),
        server_rolls_back=True,
    )


def _cancelled(
    error: DBAPIError,
    *,
    where: _Where,
    said: str,
    env: EnvironmentContext,
    settings: Settings,
) -> MigrationFailed:
    if "statement timeout" not in said:
        return _failed(
            error,
            verdict=f"{where.what} was cancelled: {said}",
            where=where,
            advice=(
                "find out who cancelled it (the server log names the session that "
                f"called pg_cancel_backend), then {where.resume}."
            ),
        )
    limit = "statement_timeout"
    with suppress(MigrationKitError):
        guards = MigrationGuards.from_x_arguments(
            env.get_x_argument(as_dictionary=True), settings=settings
        )
        limit = f"statement_timeout={format_duration(guards.statement_timeout)}"
    return _failed(
        error,
        verdict=f"{where.what} ran longer than {limit} and was cancelled",
        where=where,
        advice=(
            "allow it more time with -x statement_timeout=10min (or "
            "MIGRATIONKIT_STATEMENT_TIMEOUT; 0 turns the limit off), or make the "
            f"step cheaper, then {where.resume}."
        ),
    )


def _refused(
    error: DBAPIError,
    *,
    where: _Where,
    said: str,
    context: MigrationContext | None,
) -> MigrationFailed:
    role = None
    if context is not None and context.connection is not None:
        role = context.connection.engine.url.username
    who = f"the role {role!r}" if role else "the role migrations run as"
    owned = _MUST_BE_OWNER.search(said)
    if owned:
        # No GRANT on the object helps here: ALTER and DROP are its owner's alone.
        advice = (
            f"only the owner of {owned.group(1)} (or a member of the role that "
            f"owns it) may change it, and {who} is neither: run migrations as "
            f"that role, or make {role or 'this role'} a member of it "
            f"(GRANT <owning role> TO {role or 'this_role'}); then {where.resume}."
        )
    else:
        advice = (
            f"{who} lacks a privilege this step needs: grant it (for example "
            f"GRANT CREATE ON SCHEMA public TO {role or 'that_role'}), or run "
            f"migrations as the role that owns the schema; then {where.resume}."
        )
    return _failed(
        error, verdict=f"{where.what} was refused: {said}", where=where, advice=advice
    )


_MUST_BE_OWNER = re.compile(r"must be owner of (\w+ \S+)")
"""PostgreSQL's "must be owner of table login_events": ownership, not a grant."""


def _failed(
    error: DBAPIError,
    *,
    verdict: str,
    where: _Where,
    advice: str,
    server_rolls_back: bool = False,
) -> MigrationFailed:
    sqlstate = sqlstate_of(error)
    code = f" (SQLSTATE {sqlstate})" if sqlstate else ""
    lines = [f"{verdict.rstrip('.')}{code}."]
    statement = _statement(error)
    if statement:
        lines.append(f"Statement: {statement}")
    if where.step is not None:
        undone = (
            "The server rolls back its unfinished transaction"
            if server_rolls_back
            else "Its transaction was rolled back"
        )
        lines.append(f"{undone}{where.kept}; the database is at {_at(where)}.")
    else:
        lines.append(f"The database is at {_at(where)}.")
    lines.append(f"What to do: {advice}")
    return MigrationFailed(
        "\n".join(lines),
        sqlstate=sqlstate,
        step=where.step,
        database_revision=where.revision,
    )


def _at(where: _Where) -> str:
    if where.revision is None:
        return f"an unknown revision{where.revision_note}"
    return f"revision {where.revision}{where.revision_note}"


def _statement(error: DBAPIError) -> str | None:
    text: Any = error.statement
    if not isinstance(text, str) or not text.strip():
        return None
    flat = re.sub(r"\s+", " ", mask_secrets(text)).strip()
    if len(flat) > STATEMENT_SHOWN:
        flat = flat[: STATEMENT_SHOWN - 3] + "..."
    return flat


def database_error_message(error: DBAPIError) -> str:
    """A database error met outside a migration run, as one masked paragraph."""
    sqlstate = sqlstate_of(error)
    said = mask_secrets(server_message(error))
    code = f" (SQLSTATE {sqlstate})" if sqlstate else ""
    lost = _connection_lost(error, sqlstate)
    verdict = "Lost the connection to PostgreSQL" if lost else "PostgreSQL refused"
    lines = [f"{verdict}: {said}{code}."]
    statement = _statement(error)
    if statement:
        lines.append(f"Statement: {statement}")
    if lost:
        lines.append("What to do: run it again once the server accepts connections.")
    return "\n".join(lines)
