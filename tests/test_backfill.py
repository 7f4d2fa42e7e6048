"""Batched backfills on a real PostgreSQL: results, commits, resumption, progress."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import sqlalchemy as sa

from migrationkit.database import DatabaseTarget
from migrationkit.errors import MigrationKitError
from migrationkit.ops.backfill import backfill_in_batches

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
    assert process.returncode == -signal.SIGKILL

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
