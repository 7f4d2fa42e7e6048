"""The migration ledger against a real PostgreSQL: rows, chain, edits, history.

Each test migrates a private copy of the project (or of its first revision plus
revisions written here), then reads the ledger through the library and the
command line. Nothing depends on the project's revision list: expected rows are
derived from its ScriptDirectory.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from migrationkit import __version__, command
from migrationkit.ledger.provenance import file_sha256
from migrationkit.ledger.state import unrecorded_walk
from migrationkit.ledger.table import LedgerEntry, chain_breaks
from migrationkit.settings import Settings
from tests.helpers import (
    Project,
    Service,
    failed,
    ok,
    upgrade_to_users,
    wait_for,
    write_revision,
)

LEDGER = "alembic_version_ledger"


def config(project: Project) -> Config:
    return Config(str(project.path / "alembic.ini"))


def settings(project: Project) -> Settings:
    assert project.database_url is not None
    return Settings(database_url=project.database_url)


def history(
    project: Project, *, revision: str | None = None, until: datetime | None = None
) -> list[LedgerEntry]:
    return command.history(
        config(project), settings=settings(project), revision=revision, until=until
    )


def ledger_check(project: Project) -> tuple[bool, str]:
    report = command.verify(config(project), settings=settings(project))
    check = next(c for c in report.checks if c.name == "ledger")
    return check.ok, "\n".join([check.summary, *check.details, check.fix or ""])


def mk(project: Project, *args: str) -> str:
    done = ok(project.call("-m", "migrationkit", *args))
    return done.stdout


def test_every_step_is_one_chained_row_with_its_file_hash(
    project: Project, engine: sa.Engine
) -> None:
    script = ScriptDirectory.from_config(config(project))
    in_order = [rev.revision for rev in reversed(list(script.walk_revisions()))]
    started = datetime.now(UTC)
    ok(project.alembic("upgrade", "head"))
    ok(project.alembic("downgrade", "-1"))

    entries = history(project)
    assert [(e.kind, e.revision) for e in entries] == [
        *[("applied", rev) for rev in in_order],
        ("reverted", in_order[-1]),
    ]
    assert chain_breaks(entries) == []
    assert entries[0].previous_hash is None
    for entry in entries:
        found = script.get_revision(entry.revision)
        assert found is not None
        assert entry.file_sha256 == file_sha256(found.path)
        assert entry.started_at is not None
        assert entry.started_at >= started
        assert entry.duration_seconds is not None
        assert entry.duration_seconds >= 0
        assert entry.finished_at >= entry.started_at
        assert entry.lock_retries == 0
        assert entry.os_user
        assert entry.host
        assert entry.database_user
        assert entry.migrationkit_version == __version__
    # The ledger is not part of the models: autogenerate leaves it out.
    ok(project.alembic("upgrade", "head"))
    ok(project.alembic("check"))
    assert ledger_check(project)[0], ledger_check(project)[1]


def test_rows_of_a_backfill_and_where_a_resumed_one_resumes(
    project: Project, engine: sa.Engine
) -> None:
    upgrade_to_users(project, engine, rows=500)
    write_revision(
        project,
        rev="900",
        down="001",
        upgrade="""
            from alembic import context

            op.execute("ALTER TABLE users ADD COLUMN IF NOT EXISTS note text")
            backfill_in_batches(
                table="users",
                set_sql="note = email",
                pending_sql="note IS NULL",
                batch_size=100,
                label="users.note",
            )
            if context.get_x_argument(as_dictionary=True).get("fail_after_backfill"):
                raise RuntimeError("stopped on purpose after the backfill")
        """,
    )
    interrupted = project.alembic("-x", "fail_after_backfill=1", "upgrade", "head")
    assert interrupted.returncode != 0
    assert "stopped on purpose" in interrupted.stdout + interrupted.stderr
    assert [e.revision for e in history(project, revision="900")] == []

    resumed = ok(project.alembic("upgrade", "head"))
    assert re.search(
        r"upgrade 900 resumes: users\.note had 500 row\(s\) committed by ",
        resumed.stderr,
    ), resumed.stderr
    (applied,) = history(project, revision="900")
    assert applied.kind == "applied"
    assert applied.rows_changed == 500
    assert applied.detail == {"progress": {"users.note": 500}}
    with engine.connect() as conn:
        left = conn.scalar(sa.text(f"SELECT count(*) FROM {LEDGER}_progress"))
    assert left == 0


def test_lock_retries_of_a_real_lock_wait_are_recorded(
    project: Project, engine: sa.Engine, tmp_path: Path
) -> None:
    """A step that timed out on a lock twice, then ran, says so in its ledger row."""
    upgrade_to_users(project, engine, rows=10)
    write_revision(
        project,
        rev="900",
        down="001",
        upgrade='op.execute("ALTER TABLE users ADD COLUMN note text")',
    )
    log = tmp_path / "upgrade.log"
    guards = ("-x", "lock_timeout=100ms", "-x", "lock_retries=30")
    with engine.connect() as holder, log.open("w") as sink:
        holder.execute(sa.text("SELECT count(*) FROM users"))  # ACCESS SHARE, held
        upgrade = subprocess.Popen(
            [sys.executable, "-m", "alembic", *guards, "upgrade", "head"],
            cwd=project.path,
            env=project.env(),
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_for(
                lambda: "Retry 2 of" in log.read_text() or upgrade.poll() is not None,
                what="two lock timeouts of revision 900",
            )
        finally:
            holder.rollback()
        assert upgrade.wait(timeout=120) == 0, log.read_text()
    (applied,) = history(project, revision="900")
    assert applied.kind == "applied"
    assert applied.lock_retries >= 2, log.read_text()
    shown = mk(project, "history", "--revision", "900", "--json")
    assert json.loads(shown)[0]["lock_retries"] == applied.lock_retries


def test_an_edited_applied_revision_stops_upgrade_until_accepted(
    project: Project, engine: sa.Engine
) -> None:
    upgrade_to_users(project, engine, rows=1)
    first = next((project.path / "alembic" / "versions").glob("001_*.py"))
    was = file_sha256(first)
    first.write_text(first.read_text() + "\n# edited after it was applied\n")
    now = file_sha256(first)
    write_revision(project, rev="900", down="001", upgrade="pass")

    message = failed(project.alembic("upgrade", "head"))
    assert "Refusing to migrate: applied revision file(s) changed" in message
    assert "  001: applied 20" in message
    assert f"from sha256 {was}, the file now has sha256 {now}" in message
    assert "-x accept_edited=001" in message
    assert ok(project.alembic("current")).stdout.startswith("001")

    healthy, text = ledger_check(project)
    assert not healthy
    assert "revision 001 was edited after it was applied" in text
    assert f"sha256 then {was}, now {now}" in text
    verified = project.call("verify_migration.py")
    assert verified.returncode == 1
    assert "revision 001 was edited after it was applied" in verified.stdout

    ok(project.alembic("-x", "accept_edited=001", "upgrade", "head"))
    accepted = [e for e in history(project) if e.kind == "accepted_edit"]
    assert [(e.revision, e.file_sha256, e.detail) for e in accepted] == [
        ("001", now, {"was_sha256": was})
    ]
    assert ledger_check(project)[0]
    ok(project.alembic("upgrade", "head"))


def test_verify_reports_a_gone_file_and_a_broken_chain(
    project: Project, engine: sa.Engine
) -> None:
    upgrade_to_users(project, engine, rows=1)
    write_revision(project, rev="900", down="001", upgrade="pass")
    write_revision(project, rev="901", down="900", upgrade="pass")
    ok(project.alembic("upgrade", "head"))
    assert ledger_check(project)[0]

    with engine.begin() as conn:
        conn.execute(
            sa.text(f"UPDATE {LEDGER} SET lock_retries = 7 WHERE revision = '900'")
        )
    healthy, text = ledger_check(project)
    assert not healthy
    assert "(applied 900) was changed after it was written" in text

    with engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {LEDGER} WHERE revision = '900'"))
    healthy, text = ledger_check(project)
    assert "(applied 901) does not link to the row before it" in text

    ok(project.alembic("downgrade", "001"))
    (project.path / "alembic" / "versions" / "901_test.py").unlink()
    ok(project.alembic("stamp", "900"))
    (project.path / "alembic" / "versions" / "900_test.py").unlink()
    healthy, text = ledger_check(project)
    assert not healthy
    assert re.search(r"revision 900, applied \S+, has no file any more", text), text


def test_a_database_migrated_before_the_ledger_is_adopted(
    project: Project, engine: sa.Engine
) -> None:
    upgrade_to_users(project, engine, rows=1)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {LEDGER}, {LEDGER}_progress"))
    ok_now, text = ledger_check(project)
    assert ok_now
    assert "empty" in text
    write_revision(project, rev="900", down="001", upgrade="pass")
    ok(project.alembic("upgrade", "head"))
    assert [(e.kind, e.revision) for e in history(project)] == [("applied", "900")]


def test_history_filters_json_and_the_flag_commands(
    project: Project, engine: sa.Engine
) -> None:
    upgrade_to_users(project, engine, rows=20)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE users SET first_name = NULL WHERE email LIKE 'user1%'")
        )
    write_revision(
        project,
        rev="900",
        down="001",
        upgrade="""
            from migrationkit.ops import flag_for_review

            nameless = op.get_bind().scalar(
                sa.text("SELECT count(*) FROM users WHERE first_name IS NULL")
            )
            flag_for_review(
                "users.first_name", rows=nameless, what="user(s) without a first name"
            )
        """,
    )
    (project.path / "alembic" / "versions" / "901_destroy.py").write_text(
        '"""destroy"""\n\nfrom alembic import op\n\nrevision = "901"\n'
        'down_revision = "900"\nbranch_labels = None\ndepends_on = None\n\n'
        'destroys_flagged = ("users.first_name",)\n\n\n'
        "def upgrade() -> None:\n"
        '    op.execute("DELETE FROM users WHERE first_name IS NULL")\n\n\n'
        "def downgrade() -> None:\n    pass\n"
    )
    failed(project.alembic("upgrade", "head"))

    listed = mk(project, "flags")
    assert re.search(
        r"flag \d+: 11 user\(s\) without a first name \(topic users.first_name, "
        r"flagged by revision 900 at ",
        listed,
    ), listed
    healthy, text = ledger_check(project)
    assert not healthy
    assert "open review flag" in text
    assert "11 user(s)" in text

    said = mk(project, "acknowledge", "901")
    assert re.match(r"Acknowledged flag\(s\) \d+ for revision 901, by \S+ at ", said)
    assert mk(project, "flags").strip() == "No open review flag."
    nothing = project.call("-m", "migrationkit", "acknowledge", "901")
    assert nothing.returncode == 1
    assert "FAILED: No open review flag is destroyed by revision 901" in nothing.stderr
    ok(project.alembic("upgrade", "head"))

    table = mk(project, "history")
    assert table.splitlines()[0].split()[:4] == ["id", "when", "(UTC)", "kind"]
    kinds = [line.split()[3] for line in table.splitlines()[1:]]
    assert kinds == ["applied", "flag", "applied", "acknowledged", "applied"]
    rows = json.loads(mk(project, "history", "--json", "--revision", "901"))
    assert [(r["kind"], r["revision"]) for r in rows] == [
        ("acknowledged", "901"),
        ("applied", "901"),
    ]
    assert rows[0]["detail"]["how"] == "migrationkit acknowledge"
    assert rows[0]["os_user"]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert json.loads(mk(project, "history", "--json", "--since", future)) == []
    assert len(history(project, until=datetime.now(UTC))) == 5


def test_health_names_an_open_flag_and_keeps_serving(
    project: Project, engine: sa.Engine, services: Callable[..., Service]
) -> None:
    upgrade_to_users(project, engine, rows=5)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE users SET first_name = NULL"))
    write_revision(
        project,
        rev="900",
        down="001",
        upgrade="""
            from migrationkit.ops import flag_for_review

            flag_for_review("users.first_name", rows=5, what="user(s) without a name")
        """,
    )
    ok(project.alembic("upgrade", "head"))
    health = services(project).wait_until_answering().request("GET", "/health")
    assert health.status == 200
    assert health.body["status"] == "ok"
    assert re.fullmatch(
        r"at head 900; open review flag \d+: 5 user\(s\) without a name "
        r"\(flagged by revision 900 at \S+\)",
        health.body["detail"],
    ), health.body


def test_prove_finds_the_walk_in_the_ledger(project: Project) -> None:
    """prove's up, down, up of every revision leaves its three rows (checked as
    part of its round-trip), and a walk with a row missing is named."""
    report = command.prove(config(project), settings=settings(project), offline=False)
    assert report.ok, [f.verdict for f in report.findings]
    applied = LedgerEntry(kind="applied", revision="900", finished_at=datetime.now(UTC))
    walk = [
        applied,
        replace(applied, kind="reverted"),
        replace(applied, file_sha256="x"),
    ]
    assert (
        unrecorded_walk([replace(e, file_sha256="x") for e in walk], revision="900")
        is None
    )
    assert unrecorded_walk(walk[1:], revision="900") == (
        "expected rows applied, reverted, applied, found reverted, applied"
    )
    assert unrecorded_walk(walk, revision="900") == "a row has no file hash"
