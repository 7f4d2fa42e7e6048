"""Autogenerate, rewriter on, against each naive revision of benchmarks/naive/.

For a naive revision (what plain autogenerate, or an obvious hand edit, wrote),
the project is migrated with its safe history to the revision before, the models
are set back to what they said then plus the one change that produced the
revision, and ``alembic revision --autogenerate`` writes a revision. Where the
change is one autogenerate can finish (004-006, 007's new table, and 003 and 009
whose model change is none), the revision must lint clean and upgrade, and the
catalog it leaves must equal (prove's catalog diff) the catalog of a second
database migrated by the project's own safe revision. Where it cannot, the
outcome is asserted as what it is: 008's rewriting type change (and 010's
switch, which autogenerate reads as that same change, never as a rename) is
refused with the plan; the data step behind 003, made as one model change, is the
skeleton lint fails on; 011's contract is a plain ``drop_column`` lint fails on
until acknowledged. The models for 009-011 follow the plan the refusal gives
(expand, backfill, switch, contract). docs/autogenerate.md lists the outcomes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from migrationkit.database import DatabaseTarget
from migrationkit.prove import diff_snapshots, take_snapshot
from migrationkit.prove.catalog import CatalogSnapshot
from migrationkit.prove.kinds import KINDS
from migrationkit.testing.server import TestServer
from tests.helpers import REPO, Project, copy_project, failed, ok

NAIVE = REPO / "benchmarks" / "naive" / "versions"
USERNAME = (
    "username: Mapped[str] = mapped_column(String(50), unique=True, nullable=False)"
)
IP_INET = "ip_address: Mapped[IpAddress | None] = mapped_column(INET)"
IP_TEXT = "ip_address: Mapped[IpAddress | None] = mapped_column(Text)"

Edit = Callable[[Path], None]
"""A change to a copy of the project's models."""


def username(*, unique: bool, nullable: bool) -> Edit:
    """The users model as it stood: ``username`` with these two properties."""

    def edit(project: Path) -> None:
        path = project / "models" / "user.py"
        line = (
            f"username: Mapped[str | None] = mapped_column(String(50), "
            f"unique={unique}, nullable={nullable})"
        )
        text = path.read_text()
        assert USERNAME in text
        path.write_text(text.replace(USERNAME, line))

    return edit


def login_events_as_in_006(project: Path) -> None:
    """Revision 006 created ``ip_address`` as text (008-011 made it inet)."""
    path = project / "models" / "login_event.py"
    text = path.read_text()
    assert IP_INET in text
    path.write_text(
        text.replace(IP_INET, IP_TEXT).replace(
            "from sqlalchemy import ", "from sqlalchemy import Text, "
        )
    )


def login_events_expanded(project: Path) -> None:
    """After 008: the text column, and the INET one beside it (the plan's expand)."""
    login_events_as_in_006(project)
    path = project / "models" / "login_event.py"
    path.write_text(
        path.read_text().replace(
            IP_TEXT,
            IP_TEXT
            + "\n    ip_address_inet: Mapped[IpAddress | None] = mapped_column(INET)",
        )
    )


def login_events_switched(project: Path) -> None:
    """After 010: ``ip_address`` is the INET column, the old text kept beside it."""
    path = project / "models" / "login_event.py"
    text = path.read_text()
    assert IP_INET in text
    text = text.replace(
        IP_INET,
        IP_INET + "\n    ip_address_text: Mapped[str | None] = mapped_column(Text)",
    )
    path.write_text(
        text.replace("from sqlalchemy import ", "from sqlalchemy import Text, ")
    )


def only_models(*names: str) -> Edit:
    def edit(project: Path) -> None:
        imports = "".join(
            f"from models.{module} import {cls}\n"
            for module, cls in (name.split(":") for name in names)
        )
        (project / "models" / "__init__.py").write_text(
            "from models.base import Base\n" + imports
        )

    return edit


USERS_ONLY = only_models("user:User")
UP_TO_006 = only_models("user:User", "login_event:LoginEvent")
ALL_MODELS = only_models("user:User", "login_event:LoginEvent", "plan:Plan")

SAME_CATALOG: dict[str, tuple[tuple[Edit, ...], str | None]] = {
    # naive revision: (the models as they stood with its change, the call that
    # must be written, spaces left out; None: no operation, the work is data)
    "003": ((USERS_ONLY, username(unique=False, nullable=True)), None),
    "004": (
        (USERS_ONLY, username(unique=True, nullable=True)),
        "op.add_unique_constraint_using_index(",
    ),
    "005": ((USERS_ONLY, username(unique=True, nullable=False)), "op.add_not_null("),
    "006": ((UP_TO_006, login_events_as_in_006), "op.add_foreign_key_not_valid("),
    "007": ((ALL_MODELS, login_events_as_in_006), 'op.create_table("plans"'),
    "009": ((ALL_MODELS, login_events_expanded), None),
}
"""Naive revisions whose model change autogenerates to the safe revision's catalog."""


def project_at(path: Path, database: DatabaseTarget, *, last: str) -> Project:
    """A copy of the project whose history ends at revision ``last``, migrated."""
    project = Project(copy_project(path), database.secret_url())
    for revision in (project.path / "alembic" / "versions").glob("*.py"):
        if revision.name.split("_", 1)[0] > last:
            revision.unlink()
    ok(project.alembic("upgrade", "head"))
    return project


def schema(server: TestServer, database: DatabaseTarget) -> CatalogSnapshot:
    engine = server.engine(database)
    try:
        with engine.connect() as connection:
            snapshot = take_snapshot(connection)
    finally:
        engine.dispose()
    return snapshot.only({kind.name for kind in KINDS})


def safe_schema(server: TestServer, tmp_path: Path, *, last: str) -> CatalogSnapshot:
    """The catalog the project's own safe history leaves at revision ``last``."""
    with server.fresh_database() as safe_database:
        project_at(tmp_path / "safe", safe_database, last=last)
        return schema(server, safe_database)


def autogenerate(project: Project, edits: tuple[Edit, ...]) -> Path:
    """Apply ``edits`` to the models and autogenerate; the revision written."""
    for edit in edits:
        edit(project.path)
    ok(project.alembic("revision", "--autogenerate", "-m", "autogenerated"))
    return next(
        path
        for path in (project.path / "alembic" / "versions").glob("*.py")
        if path.name.endswith("_autogenerated.py")
    )


def lint_since(project: Project, before: str) -> subprocess.CompletedProcess[str]:
    return project.call(
        "-m", "migrationkit", "-c", "alembic.ini", "lint", "--since-revision", before
    )


def upgrade_body(text: str) -> str:
    return text[text.index("def upgrade()") : text.index("def downgrade()")]


def previous(naive: str) -> str:
    return f"{int(naive) - 1:03d}"


@pytest.mark.parametrize("naive", sorted(SAME_CATALOG))
def test_autogenerated_revision_lints_clean_and_matches_the_safe_one(
    naive: str, tmp_path: Path, server: TestServer, database: DatabaseTarget
) -> None:
    assert any(NAIVE.glob(f"{naive}_naive_*.py"))
    before = previous(naive)
    edits, expected_call = SAME_CATALOG[naive]
    project = project_at(tmp_path / "autogenerated", database, last=before)
    text = autogenerate(project, edits).read_text()
    linted = lint_since(project, before)
    assert linted.returncode == 0, text + linted.stdout + linted.stderr
    if expected_call is None:  # the models say nothing new: the work is data
        assert "op." not in upgrade_body(text), text
    else:  # as written, after the project's formatting hook
        assert expected_call in "".join(text.split()), text
    ok(project.alembic("upgrade", "head"))
    expected = safe_schema(server, tmp_path, last=naive)
    diff = diff_snapshots(expected, schema(server, database))
    assert not diff, text + "\n".join(diff.lines())


@pytest.mark.parametrize(
    ("naive", "edits"),
    [
        ("008", (ALL_MODELS,)),  # the model's INET, the change naive 008 makes
        ("010", (ALL_MODELS, login_events_switched)),  # the switch's renames
    ],
)
def test_rewriting_type_change_is_refused_with_the_plan(
    naive: str, edits: tuple[Edit, ...], tmp_path: Path, database: DatabaseTarget
) -> None:
    assert any(NAIVE.glob(f"{naive}_naive_*.py"))
    project = project_at(tmp_path / "project", database, last=previous(naive))
    versions = project.path / "alembic" / "versions"
    before = set(versions.glob("*.py"))
    for edit in edits:
        edit(project.path)
    message = failed(project.alembic("revision", "--autogenerate", "-m", naive))
    assert "No revision written" in message
    assert "login_events.ip_address: TEXT -> INET" in message
    for step in ("1. expand", "2. backfill", "3. switch", "4. contract"):
        assert step in message
    assert set(versions.glob("*.py")) == before


def test_data_step_of_003_in_one_model_change_is_the_skeleton(
    tmp_path: Path, database: DatabaseTarget
) -> None:
    """002-005 as one model change (a required username at once): the plan that
    003's backfill belongs to, as the skeleton lint fails on."""
    project = project_at(tmp_path / "project", database, last="001")
    text = autogenerate(project, (USERS_ONLY,)).read_text()
    assert "# TODO(migrationkit): users.username is added NOT NULL" in text
    assert "op.backfill_in_batches(table='users'" in text
    linted = lint_since(project, "001")
    assert linted.returncode == 1, linted.stdout + linted.stderr
    assert "adding-required-field" in linted.stdout


def test_contract_of_011_is_a_drop_lint_fails_until_acknowledged(
    tmp_path: Path, server: TestServer, database: DatabaseTarget
) -> None:
    """The contract's model change (``ip_address_text`` gone) is a plain drop:
    lint wants the acknowledgement only a person can give, and the reverse
    trigger 010 made (no model declares it) is left for the hand to drop."""
    project = project_at(tmp_path / "project", database, last="010")
    written = autogenerate(project, (ALL_MODELS,))
    text = written.read_text()
    drop = '    op.drop_column("login_events", "ip_address_text")'
    assert drop in upgrade_body(text)
    linted = lint_since(project, "010")
    assert linted.returncode == 1, linted.stdout + linted.stderr
    assert "MK104" in linted.stdout
    written.write_text(
        text.replace(
            drop, "    # migrationkit-lint: allow MK104 -- no release reads it\n" + drop
        )
    )
    ok(lint_since(project, "010"))
    ok(project.alembic("upgrade", "head"))
    expected = safe_schema(server, tmp_path, last="011")
    diff = diff_snapshots(expected, schema(server, database))
    assert not diff.removed, "\n".join(diff.lines())
    assert not diff.changed, "\n".join(diff.lines())
    assert sorted(obj.kind for obj in diff.added) == ["functions", "triggers"]
