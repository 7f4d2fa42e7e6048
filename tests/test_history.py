"""The project's own history: proven by migrationkit's harness, then with data.

Every revision, found by walking the history, is proven by the harness, which
migrationkit's pytest plugin collects under ``tests/conftest.py``
(``migrationkit_prove`` in pyproject.toml): one head; upgrade from its parent; up,
down, up again restoring the full catalog; renders with --sql; the models match
the head. The data migrations 003, 007 and 009 are proven on data by the data
hooks of ``DATA_HOOKS`` below (their rows stay for the revisions after them, so
011 is acknowledged first), which ``tests/conftest.py`` hands to the plugin and
``migrationkit prove --hooks tests/test_history.py:DATA_HOOKS`` runs too.

The tests here follow particular revisions through scenarios: applied
in-process through Alembic's command API where many steps are needed (fast), and
through the ``alembic`` command line where the command line itself is the point
(``check``, an interrupted run).
"""

from __future__ import annotations

import argparse
import io
import signal
import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from migrationkit.ledger.access import acknowledge_flags
from migrationkit.ledger.table import LedgerTable
from migrationkit.prove import DataHook
from tests.helpers import REPO, Project

USERS = 3_000
EVENTS = 600
# Text as the old application wrote it, and what INET makes of it (None: invalid).
IP_TEXTS: dict[str | None, str | None] = {
    "192.168.1.10": "192.168.1.10",
    "2001:DB8::1": "2001:db8::1",
    "10.0.0.0/8": "10.0.0.0/8",
    "not-an-ip": None,
    "10.0.0.300": None,
    "": None,
    None: None,
}
NAMES = ["ann", "Bob", "carol.lee", "D-Dave", "eve+tag", "frank_1"]


# ------------------------------------------------------------------- helpers


@pytest.fixture
def alembic_config(project: Project, monkeypatch: pytest.MonkeyPatch) -> Config:
    """An in-process Alembic Config for the private project copy and its database."""
    assert project.database_url is not None
    monkeypatch.setenv("DATABASE_URL", project.database_url.reveal())
    monkeypatch.chdir(project.path)
    config = Config(str(project.path / "alembic.ini"))
    # These tests load data that an expand step flags for review; the contract
    # steps that destroy it are acknowledged (test_contract_acknowledgement.py
    # shows the stop itself).
    contracts = [
        revision.revision
        for revision in ScriptDirectory.from_config(config).walk_revisions()
        if getattr(revision.module, "destroys_flagged", None)
    ]
    config.cmd_opts = argparse.Namespace(
        x=["backfill_batch_size=700", f"acknowledge={','.join(contracts)}"]
    )
    return config


def run_ok(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    result = project.alembic(*args)
    assert result.returncode == 0, (
        f"alembic {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    )
    return result


def emails() -> list[str]:
    """Emails whose local parts repeat across domains, in mixed case, some long."""
    out = [
        f"{NAMES[i % len(NAMES)]}{i % 400}@{'ABC'[i % 3]}{i}.example"
        for i in range(USERS - 6)
    ]
    long_local = "x" * 60
    out += [
        f"{long_local}@one.example",
        f"{long_local.upper()}@two.example",
        "@nobody.example",  # no local part at all: becomes "user"
        "user@somebody.example",
        "Ann0@caps.example",  # same local part as ann0@A0.example once lower-cased
        "solo@only.example",
    ]
    return out


def load_users(engine: sa.Engine) -> None:
    rows = [{"id": uuid.uuid4(), "email": email} for email in emails()]
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, is_active) VALUES (:id, :email, true)"
            ),
            rows,
        )


def load_login_events(engine: sa.Engine) -> None:
    texts = list(IP_TEXTS)
    with engine.begin() as conn:
        user_ids = conn.scalars(
            sa.text("SELECT id FROM users ORDER BY email LIMIT 100")
        ).all()
        conn.execute(
            sa.text("INSERT INTO login_events (user_id, ip_address) VALUES (:u, :ip)"),
            [
                {"u": user_ids[i % len(user_ids)], "ip": texts[i % len(texts)]}
                for i in range(EVENTS)
            ],
        )


def expected_usernames(rows: Sequence[Any]) -> dict[uuid.UUID, str]:
    """003's rule, written independently: the smallest id keeps the local part."""
    groups: dict[str, list[uuid.UUID]] = defaultdict(list)
    for user_id, email in rows:
        local = email.split("@", 1)[0].lower()[:50] or "user"
        groups[local].append(user_id)
    expected = {}
    for local, ids in groups.items():
        first, *others = sorted(ids, key=str)
        expected[first] = local
        for other in others:
            expected[other] = f"{local[:41]}_{other.hex[:8]}"
    return expected


def tables(engine: sa.Engine) -> set[str]:
    """The project's tables: not the version table, nor the ledger beside it."""
    return set(sa.inspect(engine).get_table_names()) - {
        "alembic_version",
        "alembic_version_ledger",
        "alembic_version_ledger_progress",
    }


def columns(engine: sa.Engine, table: str) -> dict[str, str]:
    return {c["name"]: str(c["type"]) for c in sa.inspect(engine).get_columns(table)}


def current(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        version: str | None = conn.scalar(
            sa.text("SELECT version_num FROM alembic_version")
        )
    return version


def usernames(engine: sa.Engine) -> dict[uuid.UUID, str | None]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT id, username FROM users")).all())


# ---------------------------------------------------------------- data hooks


def users_with_emails(connection: sa.Connection) -> list[tuple[uuid.UUID, str]]:
    """At 002: users whose local parts collide, as 003's backfill finds them."""
    rows = [(uuid.uuid4(), email) for email in emails()]
    connection.execute(
        sa.text("INSERT INTO users (id, email, is_active) VALUES (:id, :email, true)"),
        [{"id": user_id, "email": email} for user_id, email in rows],
    )
    return rows


def usernames_derived_from_emails(
    connection: sa.Connection, rows: list[tuple[uuid.UUID, str]]
) -> None:
    got: dict[uuid.UUID, str] = dict(
        connection.execute(sa.text("SELECT id, username FROM users")).all()
    )
    expected = expected_usernames(rows)
    wrong = [user_id for user_id, name in expected.items() if got.get(user_id) != name]
    assert not wrong, (
        f"{len(wrong)} of {len(rows)} users got a wrong username, for example "
        f"{got.get(wrong[0])!r} instead of {expected[wrong[0]]!r}"
    )
    assert len(set(got.values())) == len(rows), "usernames are not unique"


def plans_are_seeded(connection: sa.Connection, _: object) -> None:
    plans: dict[str, int] = dict(
        connection.execute(sa.text("SELECT code, monthly_price_cents FROM plans")).all()
    )
    assert plans == {"free": 0, "pro": 1200, "team": 4900}, plans


def events_written_before_008(connection: sa.Connection) -> dict[str | None, int]:
    """At 008: login events whose INET column is still empty, as 009 finds them."""
    connection.execute(
        sa.text(
            "INSERT INTO users (id, email, username, is_active)"
            " SELECT gen_random_uuid(), 'u' || g || '@example.org', 'u' || g, true"
            " FROM generate_series(1, 50) AS g"
        )
    )
    texts = list(IP_TEXTS)
    connection.execute(
        sa.text(
            "INSERT INTO login_events (user_id, ip_address)"
            " SELECT (SELECT id FROM users ORDER BY email LIMIT 1), :ip"
        ),
        [{"ip": texts[i % len(texts)]} for i in range(EVENTS)],
    )
    # 008's trigger converted them on INSERT; rows from before 008 have nothing.
    connection.execute(sa.text("UPDATE login_events SET ip_address_inet = NULL"))
    expected: dict[str | None, int] = defaultdict(int)
    for i in range(EVENTS):
        expected[IP_TEXTS[texts[i % len(texts)]]] += 1
    return dict(expected)


def addresses_converted(
    connection: sa.Connection, expected: dict[str | None, int]
) -> None:
    converted: dict[str | None, int] = dict(
        connection.execute(
            sa.text(
                "SELECT abbrev(ip_address_inet), count(*) FROM login_events GROUP BY 1"
            )
        ).all()
    )
    assert converted == expected, f"converted {converted}, expected {expected}"


def flagged_addresses_acknowledged(connection: sa.Connection) -> None:
    """At 010: 009 flagged the addresses it could not convert, and 011 would
    destroy them; the proof's rows reach 011 as a deploy's would, so it needs
    what an operator does first: `migrationkit acknowledge 011`."""
    script = ScriptDirectory.from_config(Config(str(REPO / "alembic.ini")))
    acknowledge_flags(connection, LedgerTable.beside(), script=script, revision="011")


DATA_HOOKS = (
    DataHook(
        revision="003",
        before=users_with_emails,
        after=usernames_derived_from_emails,
    ),
    DataHook(revision="007", after=plans_are_seeded),
    DataHook(
        revision="009",
        before=events_written_before_008,
        after=addresses_converted,
    ),
    DataHook(revision="011", before=flagged_addresses_acknowledged),
)


# --------------------------------------------------------------------- tests


def test_usernames_are_unique_and_derived_from_emails(
    alembic_config: Config, engine: sa.Engine
) -> None:
    command.upgrade(alembic_config, "001")
    load_users(engine)
    command.upgrade(alembic_config, "head")

    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, email FROM users")).all()
        uniques = conn.scalars(
            sa.text(
                "SELECT conname FROM pg_constraint"
                " WHERE conrelid = 'users'::regclass AND contype = 'u'"
            )
        ).all()
        not_null = conn.scalar(
            sa.text(
                "SELECT attnotnull FROM pg_attribute"
                " WHERE attrelid = 'users'::regclass AND attname = 'username'"
            )
        )
    got = usernames(engine)
    assert got == expected_usernames(rows)
    assert len(set(got.values())) == USERS
    assert all(name and len(name) <= 50 for name in got.values())
    assert "uq_users_username" in uniques
    assert not_null is True
    # leftovers of the backfill are gone
    assert tables(engine) == {"users", "login_events", "plans"}


def test_login_event_addresses_become_inet_and_the_text_column_goes(
    alembic_config: Config, engine: sa.Engine
) -> None:
    command.upgrade(alembic_config, "001")
    load_users(engine)
    command.upgrade(alembic_config, "006")
    load_login_events(engine)
    command.upgrade(alembic_config, "head")

    assert columns(engine, "login_events")["ip_address"] == "INET"
    assert set(columns(engine, "login_events")) == {
        "id",
        "user_id",
        "occurred_at",
        "ip_address",
    }
    with engine.connect() as conn:
        converted = conn.execute(
            sa.text("SELECT abbrev(ip_address), count(*) FROM login_events GROUP BY 1")
        ).all()
        triggers = conn.scalars(
            sa.text(
                "SELECT tgname FROM pg_trigger"
                " WHERE tgrelid = 'login_events'::regclass AND NOT tgisinternal"
            )
        ).all()
        plans = conn.execute(
            sa.text("SELECT code, monthly_price_cents FROM plans ORDER BY code")
        ).all()
        got: dict[str | None, int] = dict(converted)
        assert dict(plans) == {"free": 0, "pro": 1200, "team": 4900}
    texts = list(IP_TEXTS)
    expected: dict[str | None, int] = defaultdict(int)
    for i in range(EVENTS):  # as load_login_events cycles through them
        expected[IP_TEXTS[texts[i % len(texts)]]] += 1
    assert got == dict(expected)
    assert triggers == []


def test_triggers_keep_both_columns_in_step_during_the_type_change(
    alembic_config: Config, engine: sa.Engine
) -> None:
    command.upgrade(alembic_config, "001")
    load_users(engine)
    command.upgrade(alembic_config, "008")
    with engine.begin() as conn:
        user_id = conn.scalar(sa.text("SELECT id FROM users LIMIT 1"))
        # the old application writes text; a bad value must not fail its INSERT
        conn.execute(
            sa.text(
                "INSERT INTO login_events (user_id, ip_address)"
                " VALUES (:u, '172.16.0.5'), (:u, 'garbage')"
            ),
            {"u": user_id},
        )
        synced = conn.execute(
            sa.text("SELECT ip_address, abbrev(ip_address_inet) FROM login_events")
        ).all()
        assert dict(synced) == {"172.16.0.5": "172.16.0.5", "garbage": None}

    command.upgrade(alembic_config, "010")
    with engine.begin() as conn:
        # the new application writes INET; the old column follows for a rollback
        conn.execute(
            sa.text(
                "INSERT INTO login_events (user_id, ip_address)"
                " VALUES (:u, '2001:db8::7')"
            ),
            {"u": user_id},
        )
    command.downgrade(alembic_config, "009")
    with engine.connect() as conn:
        texts = set(conn.scalars(sa.text("SELECT ip_address FROM login_events")))
    assert texts == {"172.16.0.5", "garbage", "2001:db8::7"}

    command.upgrade(alembic_config, "head")
    command.downgrade(alembic_config, "010")  # 011's downgrade refills the text
    with engine.connect() as conn:
        pairs = conn.execute(
            sa.text("SELECT ip_address_text, abbrev(ip_address) FROM login_events")
        ).all()
    assert set(pairs) == {
        ("172.16.0.5", "172.16.0.5"),
        (None, None),  # 'garbage' was never an address: lost at the contract
        ("2001:db8::7", "2001:db8::7"),
    }


def test_upgrade_downgrade_base_upgrade_from_the_command_line(
    project: Project, alembic_config: Config, engine: sa.Engine
) -> None:
    command.upgrade(alembic_config, "001")
    load_users(engine)
    command.upgrade(alembic_config, "006")
    load_login_events(engine)

    stopped = project.alembic("upgrade", "head")
    assert stopped.returncode != 0
    assert "login event(s) keep ip_address NULL" in stopped.stderr
    assert "destroys data flagged for review, and nobody has acknowledged" in (
        stopped.stdout
    )
    # The flag outlives the run: a new run stops too, until acknowledged.
    again = project.alembic("upgrade", "head")
    assert "nobody has acknowledged the flag yet" in again.stdout, again.stdout
    assert alembic_config.cmd_opts is not None
    acknowledge = next(a for a in alembic_config.cmd_opts.x if a.startswith("ack"))
    run_ok(project, "-x", acknowledge, "upgrade", "head")
    check = run_ok(project, "check")
    assert "No new upgrade operations detected" in check.stdout + check.stderr
    run_ok(project, "downgrade", "base")
    assert tables(engine) == set()
    run_ok(project, "upgrade", "head")
    command.check(alembic_config)  # raises if the models and the database differ


def test_readme_targets_exist(alembic_config: Config, engine: sa.Engine) -> None:
    """The README's `upgrade +2`, `history -r-3:current` and `downgrade 003`."""
    script = ScriptDirectory.from_config(alembic_config)
    history = [r.revision for r in reversed(list(script.walk_revisions()))]
    command.upgrade(alembic_config, "+2")
    assert current(engine) == history[1]
    command.upgrade(alembic_config, "head")
    alembic_config.stdout = io.StringIO()
    command.history(alembic_config, rev_range="-3:current")
    shown = alembic_config.stdout.getvalue()
    assert f"{history[-2]} -> {history[-1]} (head)" in shown
    # three steps back, both ends included: four revisions
    assert f"{history[-5]} -> {history[-4]}" in shown
    assert f"{history[-6]} -> {history[-5]}" not in shown
    assert "003" in history  # the README's example of a named revision
    command.downgrade(alembic_config, "003")
    assert current(engine) == "003"


def test_not_null_step_explains_users_created_without_username(
    project: Project, alembic_config: Config, engine: sa.Engine
) -> None:
    command.upgrade(alembic_config, "001")
    load_users(engine)
    command.upgrade(alembic_config, "004")
    with engine.begin() as conn:  # an application that does not set username yet
        conn.execute(
            sa.text("INSERT INTO users (id, email, is_active) VALUES (:id, :e, true)"),
            {"id": uuid.uuid4(), "e": "late@new.example"},
        )
    failed = project.alembic("upgrade", "005")
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "FAILED: 1 user(s) have no username" in output
    assert "Traceback" not in output
    assert current(engine) == "004"

    # the way out the message gives works
    command.downgrade(alembic_config, "002")
    command.upgrade(alembic_config, "head")
    assert None not in usernames(engine).values()


def test_interrupted_username_backfill_resumes_where_it_stopped(
    project: Project, alembic_config: Config, engine: sa.Engine
) -> None:
    """Ctrl-C in the middle of 003's backfill, at a point chosen, not raced.

    The test holds a row lock on the 550th user in key order, so batches of 100
    commit rows 1-500 and the sixth batch waits on that row (with no lock_timeout)
    until the interrupt: exactly five batches are kept, whatever the machine's
    speed. Key order needs the keyset strategy, asked for by name (the default,
    ctid ranges, batches by page: tests/test_backfill.py resumes that one).
    """
    command.upgrade(alembic_config, "001")
    load_users(engine)
    command.upgrade(alembic_config, "002")

    with engine.connect() as holder:
        # Only that row: a FOR UPDATE over ORDER BY ... OFFSET would lock every
        # row the OFFSET skips as well.
        holder.execute(
            sa.text(
                "SELECT id FROM users WHERE id ="
                " (SELECT id FROM users ORDER BY id OFFSET 549 LIMIT 1) FOR UPDATE"
            )
        ).one()
        proc = project.popen_alembic(
            "-x",
            "backfill_batch_size=100",
            "-x",
            "backfill_strategy=keyset",
            "-x",
            "lock_timeout=0",
            "upgrade",
            "003",
        )
        try:
            waiting = False
            deadline = time.monotonic() + 120
            while not waiting and time.monotonic() < deadline:
                assert proc.poll() is None, "the backfill ended before it was blocked"
                time.sleep(0.05)
                # Asked on a connection of its own: pg_stat_activity is read
                # once per transaction, and the holder's stays open.
                with engine.connect() as watcher:
                    waiting = bool(
                        watcher.execute(
                            sa.text(
                                "SELECT count(*) FROM pg_stat_activity"
                                " WHERE datname = current_database()"
                                "   AND application_name = 'migrationkit'"
                                "   AND wait_event_type = 'Lock'"
                            )
                        ).scalar_one()
                    )
            assert waiting, "the backfill never reached the locked row"
            proc.send_signal(signal.SIGINT)  # Ctrl-C
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        holder.rollback()
    assert proc.returncode != 0
    assert "interrupted" in stderr.lower(), stderr
    assert "Traceback" not in stderr, stderr

    assert current(engine) == "002"
    with engine.connect() as conn:
        kept: dict[uuid.UUID, str] = dict(
            conn.execute(
                sa.text("SELECT id, xmin::text FROM users WHERE username IS NOT NULL")
            ).all()
        )
        rows = conn.execute(sa.text("SELECT id, email FROM users")).all()
    assert len(kept) == 500  # five whole batches, committed; the sixth rolled back

    alembic_config.cmd_opts = argparse.Namespace(x=["backfill_batch_size=100"])
    command.upgrade(alembic_config, "003")
    assert current(engine) == "003"
    with engine.connect() as conn:
        after: dict[uuid.UUID, str] = dict(
            conn.execute(sa.text("SELECT id, xmin::text FROM users")).all()
        )
    # the rerun only wrote the rows still pending; the kept rows were not touched
    assert {user_id: after[user_id] for user_id in kept} == kept
    assert usernames(engine) == expected_usernames(rows)


def test_revision_files_are_lessons() -> None:
    """Every revision after 001 explains itself: what, why safe, naive, downgrade."""
    versions = Path(__file__).resolve().parent.parent / "alembic" / "versions"
    config = Config()
    config.set_main_option("script_location", str(versions.parent))
    script = ScriptDirectory.from_config(config)
    for revision in script.walk_revisions():
        if revision.revision == "001":
            continue
        doc = revision.module.__doc__ or ""
        for part in ("Lesson:", "naive", "Downgrade"):
            assert part in doc, f"{revision.revision} has no {part!r} in its docstring"
