"""Batched backfills on a real PostgreSQL: results, commits, resumption, progress."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from migrationkit.database import DatabaseTarget
from migrationkit.errors import MigrationKitError
from migrationkit.ops.backfill import (
    BackfillReport,
    Throttle,
    backfill_in_batches,
    run_backfill,
)

ROWS = 3_000


@pytest.fixture
def items(engine: sa.Engine) -> sa.Engine:
    """``items``: ROWS rows whose ``label`` is still to be filled in."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE items (id bigint PRIMARY KEY, label text,"
                " touched int NOT NULL DEFAULT 0)"
            )
        )
        conn.execute(
            sa.text("INSERT INTO items (id) SELECT g FROM generate_series(1, :n) g"),
            {"n": ROWS},
        )
    return engine


SET_LABEL = "label = 'item-' || id, touched = touched + 1"


def check_all_done_once(engine: sa.Engine) -> None:
    """Every row has its value, and no row was updated twice."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT count(*) FILTER (WHERE label = 'item-' || id) AS right,"
                "       count(*) FILTER (WHERE touched = 1) AS once,"
                "       count(*) AS total FROM items"
            )
        ).one()
    assert (row.right, row.once, row.total) == (ROWS, ROWS, ROWS)


def test_backfill_updates_every_pending_row_in_committed_batches(
    items: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    with items.connect() as conn:
        updated = backfill_in_batches(
            table="items",
            set_sql=SET_LABEL,
            pending_sql="label IS NULL",
            batch_size=400,
            strategy="keyset",
            target_batch_seconds=None,
            connection=conn,
        )
        assert not conn.in_transaction()
    assert updated == ROWS
    check_all_done_once(items)
    with items.connect() as conn:
        # One committed transaction per batch: each stamped its rows' xmin.
        transactions = conn.execute(
            sa.text("SELECT count(DISTINCT xmin::text) FROM items")
        ).scalar_one()
    assert transactions == -(-ROWS // 400)
    err = capsys.readouterr().err
    assert f"migrationkit: backfill items: {ROWS:,} rows updated in" in err


def test_a_second_run_finds_nothing_to_do(
    items: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    with items.connect() as conn:
        for expected in (ROWS, 0):
            updated = backfill_in_batches(
                table="items",
                set_sql=SET_LABEL,
                pending_sql="label IS NULL",
                connection=conn,
            )
            assert updated == expected
    check_all_done_once(items)
    assert "backfill items: 0 rows updated" in capsys.readouterr().err


def test_rows_left_pending_by_their_update_are_passed_over_not_looped_on(
    items: sa.Engine,
) -> None:
    with items.connect() as conn:
        updated = backfill_in_batches(
            table="items",
            set_sql="touched = touched + 1",  # label stays NULL: still "pending"
            pending_sql="label IS NULL",
            batch_size=700,
            strategy="keyset",
            connection=conn,
        )
        touched = conn.execute(
            sa.text("SELECT count(*) FROM items WHERE touched = 1")
        ).scalar_one()
    assert updated == touched == ROWS


def test_a_bad_batch_size_is_refused(items: sa.Engine) -> None:
    with items.connect() as conn, pytest.raises(MigrationKitError, match="batch_size"):
        backfill_in_batches(
            table="items",
            set_sql=SET_LABEL,
            pending_sql="true",
            batch_size=0,
            connection=conn,
        )


def test_an_unknown_table_is_refused(engine: sa.Engine) -> None:
    with engine.connect() as conn, pytest.raises(MigrationKitError, match="no such"):
        backfill_in_batches(
            table="nothing_here", set_sql="x = 1", pending_sql="true", connection=conn
        )


KILLABLE_BACKFILL = textwrap.dedent(
    """
    import os
    import sqlalchemy as sa
    from migrationkit.ops.backfill import backfill_in_batches

    engine = sa.create_engine(os.environ["BACKFILL_URL"])
    with engine.connect() as conn:
        backfill_in_batches(
            table="items",
            set_sql="label = 'item-' || id, touched = touched + 1",
            pending_sql="label IS NULL",
            batch_size=200,
            pause_seconds=0.25,
            strategy="keyset",
            target_batch_seconds=None,
            connection=conn,
        )
    """
)


def test_a_killed_backfill_resumes_and_loses_no_rows(
    items: sa.Engine, database: DatabaseTarget
) -> None:
    env = dict(os.environ)

    env["BACKFILL_URL"] = database.secret_url().reveal()
    process = subprocess.Popen(
        [sys.executable, "-c", KILLABLE_BACKFILL],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    done = 0
    with items.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        while done < 1_800 and time.monotonic() < deadline:
            done = conn.execute(
                sa.text("SELECT count(*) FROM items WHERE label IS NOT NULL")
            ).scalar_one()
            time.sleep(0.02)
    process.send_signal(signal.SIGKILL)  # no cleanup, no goodbye: a real crash
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL, stderr

    with items.connect() as conn:
        survived = conn.execute(
            sa.text("SELECT count(*) FROM items WHERE label IS NOT NULL")
        ).scalar_one()
        # Whole batches only: what was committed stayed, nothing half-done.
        assert 1_800 <= survived < ROWS
        assert survived % 200 == 0
        # The progress display showed the estimate and the rate on the way.
        assert f"/{ROWS:,} rows" in stderr
        assert "rows/s" in stderr

        resumed = backfill_in_batches(
            table="items",
            set_sql=SET_LABEL,
            pending_sql="label IS NULL",
            batch_size=500,
            connection=conn,
        )
    assert resumed == ROWS - survived
    check_all_done_once(items)


def test_schema_names_the_table_whatever_the_search_path(items: sa.Engine) -> None:
    """``items`` exists in public (first on the search path) and in ``other``."""
    with items.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA other"))
        conn.execute(sa.text("CREATE TABLE other.items (LIKE public.items)"))
        conn.execute(sa.text("INSERT INTO other.items (id, touched) VALUES (1, 0)"))
    with items.connect() as conn:
        updated = backfill_in_batches(
            table="items",
            schema="other",
            set_sql=SET_LABEL,
            pending_sql="label IS NULL",
            connection=conn,
        )
        assert updated == 1
        pending_here = conn.execute(
            sa.text("SELECT count(*) FROM public.items WHERE label IS NULL")
        ).scalar_one()
        assert pending_here == ROWS
        with pytest.raises(MigrationKitError, match="no such table in schema 'nope'"):
            backfill_in_batches(
                table="items",
                schema="nope",
                set_sql=SET_LABEL,
                pending_sql="true",
                connection=conn,
            )


# ------------------------------------------------ ctid ranges, pace, throttle


def backfill_report(engine: sa.Engine, **options: object) -> BackfillReport:
    with engine.connect() as conn:
        report = run_backfill(
            conn,
            table="items",
            set_sql=SET_LABEL,
            pending_sql="label IS NULL",
            **options,
        )
        assert not conn.in_transaction()
    return report


def test_ctid_ranges_are_the_default_and_commit_each_batch(items: sa.Engine) -> None:
    report = backfill_report(items, batch_size=300, target_batch_seconds=None)
    assert report.strategy == "ctid"
    assert report.updated == ROWS
    check_all_done_once(items)
    with items.connect() as conn:
        transactions = conn.execute(
            sa.text("SELECT count(DISTINCT xmin::text) FROM items")
        ).scalar_one()
    # Every batch that found rows committed on its own (ranges past the
    # original rows find none and stamp nothing).
    assert 1 < transactions <= report.batches


def test_keyset_when_asked_and_where_ctid_ranges_cannot_serve(
    items: sa.Engine,
) -> None:
    assert backfill_report(items, strategy="keyset").strategy == "keyset"
    check_all_done_once(items)
    with items.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE parted (id bigint, label text) PARTITION BY RANGE (id);"
                " CREATE TABLE parted_low PARTITION OF parted FOR VALUES FROM (0)"
                " TO (500); CREATE TABLE parted_high PARTITION OF parted"
                " FOR VALUES FROM (500) TO (1000);"
                " INSERT INTO parted SELECT g FROM generate_series(0, 999) g"
            )
        )
    with items.connect() as conn:
        options: dict[str, object] = {
            "table": "parted",
            "set_sql": "label = 'p' || id",
            "pending_sql": "label IS NULL",
        }
        report = run_backfill(conn, **options)
        assert (report.strategy, report.updated) == ("keyset", 1_000)
        with pytest.raises(MigrationKitError, match="strategy='keyset'"):
            run_backfill(conn, strategy="ctid", **options)


class WritesDuringThePass:
    """A checkpoint (the ledger seam) that also lets the application write rows
    while the pass runs, on another connection, after the first batch."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.saved: list[tuple[int, int]] = []
        self.cleared = False

    def load(self, label: str) -> tuple[int, int] | None:
        return None

    def save(self, label: str, *, next_page: int, end_page: int) -> None:
        if not self.saved:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "INSERT INTO items (id) SELECT g FROM generate_series("
                        "CAST(:a AS int), CAST(:b AS int)) g"
                    ),
                    {"a": ROWS + 1, "b": ROWS + 500},
                )
        self.saved.append((next_page, end_page))

    def clear(self, label: str) -> None:
        self.cleared = True


def test_ctid_pass_visits_only_the_pages_that_existed_when_it_started(
    items: sa.Engine,
) -> None:
    checkpoint = WritesDuringThePass(items)
    report = backfill_report(
        items, batch_size=200, target_batch_seconds=None, checkpoint=checkpoint
    )
    assert checkpoint.cleared
    assert len({end for _, end in checkpoint.saved}) == 1  # the bound never moved
    assert [page for page, _ in checkpoint.saved] == sorted(
        page for page, _ in checkpoint.saved
    )
    # The pass did the rows that existed; the application's 500, written past
    # its last page while it ran and still pending, were found by the sweep
    # after it, so the backfill ends with nothing pending.
    assert report.updated - report.swept == ROWS
    assert report.swept == 500
    with items.connect() as conn:
        pending = conn.execute(
            sa.text("SELECT count(*) FROM items WHERE label IS NULL")
        ).scalar_one()
    assert pending == 0


class UpdatesDuringThePass(WritesDuringThePass):
    """Updates rows the pass has already gone by, so their new versions land on
    other pages: the pass cannot see them again."""

    def save(self, label: str, *, next_page: int, end_page: int) -> None:
        if not self.saved:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "UPDATE items SET label = NULL, touched = touched + 1"
                        " WHERE id <= 100"
                    )
                )
        self.saved.append((next_page, end_page))


def test_rows_moved_by_the_application_during_a_ctid_pass_are_swept(
    items: sa.Engine,
) -> None:
    """The application updates rows the pass has done (back to pending, as an
    old release writing without the new column would): the ctid pass cannot
    find their new versions, the sweep after it does."""
    checkpoint = UpdatesDuringThePass(items)
    report = backfill_report(
        items, batch_size=200, target_batch_seconds=None, checkpoint=checkpoint
    )
    assert report.strategy == "ctid"
    assert report.swept >= 1
    with items.connect() as conn:
        pending = conn.execute(
            sa.text("SELECT count(*) FROM items WHERE label IS NULL")
        ).scalar_one()
    assert pending == 0


def test_batches_grow_towards_the_target_duration(items: sa.Engine) -> None:
    fixed = backfill_report(items, batch_size=20, target_batch_seconds=None)
    with items.begin() as conn:
        conn.execute(sa.text("UPDATE items SET label = NULL, touched = 0"))
    adapted = backfill_report(items, batch_size=20, target_batch_seconds=0.5)
    assert adapted.updated == fixed.updated == ROWS
    assert adapted.batches < fixed.batches / 2


def test_a_slow_probe_throttles_the_backfill(items: sa.Engine) -> None:
    patient = Throttle(probe_limit_seconds=10, lock_wait_limit_seconds=10)
    fast = backfill_report(
        items, batch_size=300, target_batch_seconds=None, throttle=patient
    )
    assert fast.throttled == 0
    with items.begin() as conn:
        conn.execute(sa.text("UPDATE items SET label = NULL, touched = 0"))
    slow_probe = Throttle(
        probe_sql="SELECT pg_sleep(0.03)",
        probe_limit_seconds=0.02,
        pause_seconds=0.02,
        max_pause_seconds=0.1,
    )
    slow = backfill_report(
        items, batch_size=300, target_batch_seconds=None, throttle=slow_probe
    )
    assert slow.updated == ROWS
    assert slow.throttled >= slow.batches - 1 > 0
    assert set(slow.reasons) == {"probe"}
    assert slow.seconds >= slow.throttled_seconds > 0
    assert slow.seconds > fast.seconds


@pytest.fixture
def waiting_writer(items: sa.Engine) -> Iterator[None]:
    """Another session waits on a row lock of ``items`` for the whole test."""
    holder = items.connect()
    holder.execute(sa.text("UPDATE items SET touched = touched WHERE id = 1"))
    waiter_done = threading.Event()

    def wait() -> None:
        with items.connect() as conn:
            conn.execute(sa.text("UPDATE items SET touched = touched WHERE id = 1"))
            conn.rollback()
        waiter_done.set()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    with items.connect() as conn:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            waiting = conn.execute(
                sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted")
            ).scalar_one()
            conn.rollback()
            if waiting:
                break
            time.sleep(0.01)
        assert waiting, "the second session never waited"
    try:
        yield
    finally:
        holder.rollback()
        holder.close()
        thread.join(timeout=30)
        assert waiter_done.is_set()


def test_lock_waits_throttle_the_backfill(
    items: sa.Engine, waiting_writer: None
) -> None:
    throttle = Throttle(
        lock_wait_limit_seconds=0.001, pause_seconds=0.01, max_pause_seconds=0.02
    )
    with items.connect() as conn:
        report = run_backfill(
            conn,
            table="items",
            set_sql=SET_LABEL,
            pending_sql="label IS NULL AND id > 1",  # leaves the locked row alone
            batch_size=300,
            target_batch_seconds=None,
            throttle=throttle,
        )
    assert report.updated == ROWS - 1
    assert report.reasons.get("lock-wait", 0) >= report.batches - 1 > 0


KILLABLE_CTID_BACKFILL = textwrap.dedent(
    """
    import os
    import sqlalchemy as sa
    from migrationkit.ops.backfill import backfill_in_batches

    engine = sa.create_engine(os.environ["BACKFILL_URL"])
    with engine.connect() as conn:
        conn.execute(sa.text("SET application_name = 'killable_backfill'"))
        conn.commit()
        backfill_in_batches(
            table="items",
            set_sql="label = 'item-' || id, touched = touched + 1",
            pending_sql="label IS NULL",
            batch_size=200,
            target_batch_seconds=None,
            strategy="ctid",
            connection=conn,
        )
    """
)


def test_a_killed_ctid_backfill_resumes_and_loses_no_rows(
    items: sa.Engine, database: DatabaseTarget
) -> None:
    with items.connect() as conn:
        page_of = {
            row.id: int(row.page)
            for row in conn.execute(
                sa.text("SELECT id, (ctid::text::point)[0] AS page FROM items")
            )
        }
    chosen = 2_000  # the row the held lock stops the backfill at
    holder = items.connect()
    holder.execute(
        sa.text("SELECT 1 FROM items WHERE id = :id FOR UPDATE"), {"id": chosen}
    )
    env = dict(os.environ)
    env["BACKFILL_URL"] = database.secret_url().reveal()
    process = subprocess.Popen(
        [sys.executable, "-c", KILLABLE_CTID_BACKFILL],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with items.connect() as conn:
            deadline = time.monotonic() + 60
            stuck = False
            while not stuck and time.monotonic() < deadline:
                stuck = bool(
                    conn.execute(
                        sa.text(
                            "SELECT count(*) FROM pg_stat_activity"
                            " WHERE application_name = 'killable_backfill'"
                            " AND wait_event_type = 'Lock'"
                        )
                    ).scalar_one()
                )
                conn.rollback()
                time.sleep(0.01)
            assert stuck, "the backfill never reached the locked row"
        process.send_signal(signal.SIGKILL)  # a real crash, mid-batch
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL, stderr
    finally:
        holder.rollback()
        holder.close()

    with items.connect() as conn:
        done = {
            row.id
            for row in conn.execute(
                sa.text("SELECT id FROM items WHERE label IS NOT NULL")
            )
        }
    # Whole batches of pages, in page order: every row on a page before the
    # blocked batch is done, none on or after the chosen row's page.
    assert done
    assert max(page_of[i] for i in done) < page_of[chosen]
    first_pending_page = min(page for i, page in page_of.items() if i not in done)
    assert all(page_of[i] < first_pending_page for i in done)
    with items.connect() as conn:
        resumed = backfill_in_batches(
            table="items",
            set_sql=SET_LABEL,
            pending_sql="label IS NULL",
            strategy="ctid",
            connection=conn,
        )
    assert resumed == ROWS - len(done)
    check_all_done_once(items)


def test_a_ctid_backfill_whose_connection_is_lost_resumes_and_loses_no_rows(
    items: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """The server ends the backfill's session mid-batch (a failover, a network
    cut, ``pg_terminate_backend``): the caller gets the error, the batch in
    flight is rolled back, every batch before it stays, and a rerun finishes."""
    chosen = 2_000  # the row the held lock stops the backfill at
    holder = items.connect()
    holder.execute(
        sa.text("SELECT 1 FROM items WHERE id = :id FOR UPDATE"), {"id": chosen}
    )
    failures: list[BaseException] = []

    def backfill() -> None:
        with items.connect() as conn:
            conn.execute(sa.text("SET application_name = 'lost_backfill'"))
            conn.commit()
            try:
                run_backfill(
                    conn,
                    table="items",
                    set_sql=SET_LABEL,
                    pending_sql="label IS NULL",
                    batch_size=200,
                    target_batch_seconds=None,
                    strategy="ctid",
                )
            except Exception as exc:  # noqa: BLE001  # judged by the test below
                failures.append(exc)

    thread = threading.Thread(target=backfill, daemon=True)
    thread.start()
    try:
        with items.connect() as conn:
            deadline = time.monotonic() + 60
            pid = None
            while pid is None and time.monotonic() < deadline:
                pid = conn.execute(
                    sa.text(
                        "SELECT pid FROM pg_stat_activity"
                        " WHERE application_name = 'lost_backfill'"
                        " AND wait_event_type = 'Lock'"
                    )
                ).scalar()
                conn.rollback()
                time.sleep(0.01)
            assert pid is not None, "the backfill never reached the locked row"
            ended = conn.execute(
                sa.text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid}
            ).scalar_one()
            conn.commit()
            assert ended
        thread.join(timeout=60)
    finally:
        holder.rollback()
        holder.close()
    assert not thread.is_alive()
    assert len(failures) == 1
    assert isinstance(failures[0], sa.exc.OperationalError), failures
    assert "interrupted after" in capsys.readouterr().err

    with items.connect() as conn:
        done = conn.execute(
            sa.text("SELECT count(*) FROM items WHERE label IS NOT NULL")
        ).scalar_one()
        chosen_done = conn.execute(
            sa.text("SELECT label IS NOT NULL FROM items WHERE id = :id"),
            {"id": chosen},
        ).scalar_one()
        assert 0 < done < ROWS
        assert not chosen_done  # its batch was rolled back with the session
        resumed = backfill_in_batches(
            table="items",
            set_sql=SET_LABEL,
            pending_sql="label IS NULL",
            strategy="ctid",
            connection=conn,
        )
    assert resumed == ROWS - done
    check_all_done_once(items)
