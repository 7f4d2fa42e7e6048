"""When a batched backfill backs off: what the application, or a standby, would feel.

Between batches the backfill asks one catalog question (and, if given, times the
application's own probe query):

* the probe took longer than ``probe_limit_seconds``, or a session of this
  database has waited on a lock longer than ``lock_wait_limit_seconds``: the
  application is hurting *now*. The backfill sleeps once (doubling from
  ``pause_seconds`` up to ``max_pause_seconds`` while it keeps happening) and
  halves its next batch, then goes on: a lock wait it did not cause must not
  stop it for good.
* a standby's replay is more than ``replay_lag_limit_seconds`` behind
  (``pg_stat_replication.replay_lag`` on the primary): every further batch only
  adds to what the standby must replay, so the backfill *waits*, re-reading the
  lag after each pause and saying so on its progress line, until the standby is
  back under the limit. A standby whose replay is paused holds the backfill
  until it is resumed (or the backfill is interrupted: it resumes safely).

``replay_lag`` is the primary's measure, from the standby's replies: a standby
reports what it replayed every ``wal_receiver_status_interval`` (10 s by
default) when no new WAL reaches it, and the last lag measured stays shown
until two replies in a row say everything is replayed. A standby whose
``replay_lsn`` has reached the primary's current position is therefore counted
as not lagging, whatever ``replay_lag`` still shows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import sqlalchemy as sa

from migrationkit.progress import Progress

TID_RANGE_SCAN_SINCE = 140_000
"""``server_version_num`` from which ``ctid`` ranges are read by a TID range scan
(and from which ``pg_locks.waitstart`` exists)."""


@dataclass(frozen=True, kw_only=True)
class Throttle:
    """When the backfill backs off: what the application would feel.

    Between batches ``probe_sql`` (a cheap query; pass one your application
    runs) is timed, and one catalog read finds the longest current lock wait
    in this database and the standbys' replay lag (``pg_stat_replication``,
    NULL without a standby or without ``pg_monitor``). Over the probe or lock
    limit, the backfill sleeps (doubling from ``pause_seconds`` up to
    ``max_pause_seconds``) and halves its next batch; over the lag limit, it
    waits until the standby is back under it.
    """

    probe_sql: str | None = None
    """None: the catalog read itself is the probe (one statement per batch)."""
    probe_limit_seconds: float = 0.05
    lock_wait_limit_seconds: float = 0.05
    replay_lag_limit_seconds: float = 5.0
    pause_seconds: float = 0.05
    max_pause_seconds: float = 2.0


@dataclass(kw_only=True)
class BackfillReport:
    """What a backfill did, for benchmarks and logs."""

    strategy: Literal["ctid", "keyset"]
    updated: int = 0
    batches: int = 0
    seconds: float = 0.0
    longest_batch_seconds: float = 0.0
    batch_seconds: float = 0.0
    """Time in the batches' statements and commits, all together (a ctid pass's
    only: the sweep after it is timed as a whole in ``sweep_seconds``)."""
    check_seconds: float = 0.0
    """Time in the checks between batches (probe, catalog read, commit); a
    ctid pass's only, as for ``batch_seconds``."""
    throttled: int = 0
    """Checks between batches that found pressure (each is followed by a pause)."""
    throttled_seconds: float = 0.0
    """Time spent pausing for pressure, waits for a lagging standby included."""
    reasons: dict[str, int] = field(default_factory=dict)
    """Throttled checks by kind: ``probe``, ``lock-wait``, ``replay-lag``."""
    longest_replay_lag_seconds: float = 0.0
    """The largest replay lag over the limit the backfill saw (0: never over)."""
    swept: int = 0
    """Rows a ctid pass left pending, found and done by the sweep after it."""
    sweep_seconds: float = 0.0
    """Time spent in the sweep after a ctid pass (its scan included)."""

    def throttle_summary(self) -> str:
        """``throttled 3x (1.2s: replay-lag 2, probe 1)``, or "" when never."""
        if not self.throttled:
            return ""
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.reasons.items()))
        return f"throttled {self.throttled}x ({self.throttled_seconds:.1f}s: {kinds})"


_LAG = (
    # A standby that has replayed everything the primary wrote is not behind,
    # whatever stale replay_lag its last replies left (see the module's text).
    " (SELECT extract(epoch FROM max(CASE WHEN replay_lsn >= pg_current_wal_lsn()"
    "  THEN interval '0' ELSE replay_lag END)) FROM pg_stat_replication) AS lag"
)
_PRESSURE = sa.text(
    "SELECT (SELECT extract(epoch FROM max(clock_timestamp() - waitstart))"
    "   FROM pg_locks WHERE NOT granted AND waitstart IS NOT NULL"
    "   AND pid <> pg_backend_pid()) AS lock_wait," + _LAG
)
_PRESSURE_BEFORE_14 = sa.text("SELECT NULL::float AS lock_wait," + _LAG)


@dataclass(kw_only=True)
class Pacer:
    """Sizes a backfill's next batch and decides whether to back off first."""

    throttle: Throttle
    target_batch_seconds: float | None
    pause_seconds: float
    """Slept between all batches, pressure or not."""
    server_version: int
    commit: bool
    """Commit after the catalog read (the caller commits each batch itself)."""
    report: BackfillReport
    progress: Progress
    backoff: float = 0.0
    last_reason: str = ""

    def record(self, seconds: float) -> None:
        self.report.batches += 1
        self.report.batch_seconds += seconds
        self.report.longest_batch_seconds = max(
            self.report.longest_batch_seconds, seconds
        )

    def after_batch(self, connection: sa.Connection, size: int, seconds: float) -> int:
        """The next batch's size, after sleeping (or waiting) if anything hurts."""
        self.record(seconds)
        target = self.target_batch_seconds
        if target:
            factor = min(max(target / max(seconds, 1e-4), 0.5), 2.0)
            size = max(1, round(size * factor))
        reason = self.pressure(connection)
        if reason is None:
            self.backoff = 0.0
            if self.pause_seconds:
                time.sleep(self.pause_seconds)
            return size
        while reason is not None:
            self.back_off(reason)
            if not reason.startswith("replay-lag"):
                break
            # Waiting for a standby: nothing is written meanwhile, so the
            # progress line is the only sign of life; it names the lag.
            self.progress.note = f"waiting: {reason}"
            self.progress.update(self.progress.done)
            reason = self.pressure(connection)
        self.progress.note = self.note()
        return max(1, size // 2)

    def back_off(self, reason: str) -> None:
        """Count ``reason`` and sleep the next, doubled, pause."""
        throttle = self.throttle
        self.backoff = min(
            max(self.backoff * 2, throttle.pause_seconds), throttle.max_pause_seconds
        )
        self.report.throttled += 1
        self.report.throttled_seconds += self.backoff
        kind = reason.split(" ", 1)[0]
        self.report.reasons[kind] = self.report.reasons.get(kind, 0) + 1
        self.last_reason = reason
        time.sleep(max(self.backoff, self.pause_seconds))

    def pressure(self, connection: sa.Connection) -> str | None:
        """Why the application (or a standby) would feel the next batch now, or None."""
        throttle = self.throttle
        started = time.monotonic()
        if throttle.probe_sql is not None:
            connection.execute(sa.text(throttle.probe_sql)).all()
        modern = self.server_version >= TID_RANGE_SCAN_SINCE
        row = connection.execute(_PRESSURE if modern else _PRESSURE_BEFORE_14).one()
        probe = time.monotonic() - started
        if self.commit:
            connection.commit()
        self.report.check_seconds += time.monotonic() - started
        # The lag first: it is the one reason to wait rather than slow down.
        if row.lag is not None and row.lag > throttle.replay_lag_limit_seconds:
            lag = float(row.lag)
            self.report.longest_replay_lag_seconds = max(
                self.report.longest_replay_lag_seconds, lag
            )
            return (
                f"replay-lag {lag:.1f} s "
                f"(limit {throttle.replay_lag_limit_seconds:g} s)"
            )
        if probe > throttle.probe_limit_seconds:
            return f"probe {probe * 1000:.0f} ms"
        if (
            row.lock_wait is not None
            and row.lock_wait > throttle.lock_wait_limit_seconds
        ):
            return f"lock-wait {float(row.lock_wait) * 1000:.0f} ms"
        return None

    def note(self) -> str:
        """The progress line's tail: how often the backfill was held back, and why."""
        if not self.report.throttled:
            return ""
        return f"throttled {self.report.throttled}x (last: {self.last_reason})"
