"""A contract step does not destroy data an earlier step flagged, in any run,
until someone acknowledges the flag.

The project copy gets two revisions on top of 001: 900 flags the users that have
no first name (as 009 flags addresses it cannot convert), 901 declares that it
destroys them (as 011 drops the old text column). Every ``upgrade head`` must
stop between them while the flag is open (it lives in the ledger, not in the
memory of one run), unless told ``-x acknowledge=901``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa

from tests.helpers import (
    Project,
    current_revision,
    failed,
    ok,
    upgrade_to_users,
    wait_for,
    write_revision,
)

LIST_THEM = "SELECT id, email FROM users WHERE first_name IS NULL"

DESTROYING_REVISION = '''"""drop the users without a first name"""

from alembic import op

revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None

destroys_flagged = {{"users.first_name": {query!r}}}


def upgrade() -> None:
    op.execute("DELETE FROM users WHERE first_name IS NULL")


def downgrade() -> None:
    pass
'''


def flagging_and_destroying(project: Project, engine: sa.Engine, nameless: int) -> None:
    upgrade_to_users(project, engine, rows=50)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE users SET first_name = NULL WHERE id IN"
                " (SELECT id FROM users ORDER BY email LIMIT :n)"
            ),
            {"n": nameless},
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
    write_destroying(project, rev="901", down="900")


def write_destroying(project: Project, *, rev: str, down: str) -> None:
    (project.path / "alembic" / "versions" / f"{rev}_destroy.py").write_text(
        DESTROYING_REVISION.format(query=LIST_THEM, rev=rev, down=down)
    )


def users(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM users")).scalar_one())


def test_one_run_stops_before_destroying_what_it_flagged(
    project: Project, engine: sa.Engine
) -> None:
    flagging_and_destroying(project, engine, nameless=3)
    message = failed(project.alembic("upgrade", "head"))

    assert (
        "Stopped before upgrade 900 -> 901, drop the users without a first name: "
        "that revision destroys data flagged for review, and nobody has "
        "acknowledged the flag yet" in message
    ), message
    assert "  3 user(s) without a first name (flagged by revision 900 at " in message
    assert f"    list them: {LIST_THEM}" in message
    assert (
        "The database is at revision 900: every migration before 901 is "
        "committed, and 901 has not started." in message
    )
    assert "-x acknowledge=901" in message
    assert "migrationkit acknowledge 901" in message
    assert current_revision(project).startswith("900")
    assert users(engine) == 50

    # The flag outlives the run: the same command stops again.
    again = failed(project.alembic("upgrade", "head"))
    assert "Stopped before upgrade 900 -> 901" in again
    assert current_revision(project).startswith("900")
    assert users(engine) == 50

    ok(project.alembic("-x", "acknowledge=901", "upgrade", "head"))
    assert current_revision(project).startswith("901")
    assert users(engine) == 47


def test_an_acknowledged_contract_step_runs_in_the_same_run(
    project: Project, engine: sa.Engine
) -> None:
    flagging_and_destroying(project, engine, nameless=2)
    result = ok(project.alembic("-x", "acknowledge=901", "upgrade", "head"))
    assert "going ahead: acknowledged with -x acknowledge=901" in result.stderr
    assert current_revision(project).startswith("901")
    assert users(engine) == 48


def test_nothing_flagged_nothing_to_acknowledge(
    project: Project, engine: sa.Engine
) -> None:
    flagging_and_destroying(project, engine, nameless=0)
    ok(project.alembic("upgrade", "head"))
    assert current_revision(project).startswith("901")
    assert users(engine) == 50


def test_a_flag_survives_a_lock_timeout_and_stops_the_rerun(
    project: Project, engine: sa.Engine
) -> None:
    """Issue 15's scenario: flags at one step, a lock timeout at the next, and the
    rerun of the very same command must still stop before the destroying step."""
    flagging_and_destroying(project, engine, nameless=4)
    (project.path / "alembic" / "versions" / "901_destroy.py").unlink()
    write_revision(
        project,
        rev="901",
        down="900",
        upgrade='op.execute("ALTER TABLE users ADD COLUMN note text")',
    )
    write_destroying(project, rev="902", down="901")
    command = ("-x", "lock_timeout=200ms", "-x", "lock_retries=1", "upgrade", "head")
    with engine.connect() as reader:
        reader.execute(sa.text("LOCK TABLE users IN ACCESS SHARE MODE"))
        timed_out = failed(project.alembic(*command))
        reader.rollback()
    assert "could not get a lock" in timed_out, timed_out
    assert current_revision(project).startswith("900")

    stopped = failed(project.alembic(*command))
    assert "Stopped before upgrade 901 -> 902" in stopped, stopped
    assert "  4 user(s) without a first name (flagged by revision 900 at " in stopped
    assert current_revision(project).startswith("901")
    assert users(engine) == 50

    # Another machine (another checkout of the project) is stopped too.
    copy = shutil.copytree(project.path, project.path.parent / "elsewhere")
    elsewhere = Project(Path(copy), project.database_url)
    assert "Stopped before upgrade 901 -> 902" in failed(elsewhere.alembic(*command))
    assert users(engine) == 50

    ok(project.alembic("-x", "acknowledge=902", *command))
    assert current_revision(project).startswith("902")
    assert users(engine) == 46


def test_a_flag_survives_a_killed_deployer(project: Project, engine: sa.Engine) -> None:
    """kill -9 of the alembic process during the step after the flagging one, its
    server session ended too (pg_terminate_backend): the rerun still stops."""
    flagging_and_destroying(project, engine, nameless=2)
    (project.path / "alembic" / "versions" / "901_destroy.py").unlink()
    write_revision(
        project,
        rev="901",
        down="900",
        upgrade="""
            from alembic import context

            if context.get_x_argument(as_dictionary=True).get("slow"):
                op.execute("SELECT pg_sleep(600)")
        """,
    )
    write_destroying(project, rev="902", down="901")
    deployer = project.popen_alembic("-x", "slow=1", "upgrade", "head")
    try:
        wait_for(lambda: sleeping(engine) is not None, what="901 to be running")
    finally:
        deployer.kill()
        deployer.communicate()
    pid = sleeping(engine)
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    wait_for(lambda: sleeping(engine) is None, what="the session to end")
    assert current_revision(project).startswith("900")

    stopped = failed(project.alembic("upgrade", "head"))
    assert "Stopped before upgrade 901 -> 902" in stopped, stopped
    assert current_revision(project).startswith("901")
    assert users(engine) == 50


def sleeping(engine: sa.Engine) -> int | None:
    """The server process of a migration sleeping in 901, if there is one."""
    with engine.connect() as conn:
        pid = conn.scalar(
            sa.text(
                "SELECT pid FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)'"
                " AND datname = current_database()"
            )
        )
    return int(pid) if pid is not None else None
