"""prove's models check judges only what the models can say (issue 18, section 2).

Each test writes a miniature Alembic project into its own folder (models under a
module name of its own, since the proof imports them in-process), proves it with
the library on scratch databases, and asserts on the findings. The false alarms:
row-level security, an enum type (and a sequence) only a function uses, a table
env.py's ``include_object``/``include_name`` leaves out, an object the project
declares database-only. The control: a NOT NULL planted in a model is still a
finding, and a downgrade that forgets row security still fails the full-catalog
round trip.
"""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest
from alembic.config import Config

from migrationkit.prove import ProofReport, Prover
from migrationkit.prove.scratch import ScratchServer

ITEMS = """\
CREATE TABLE items (id bigint PRIMARY KEY, name text)
"""

MODELS = '''\
"""A miniature project's models (written by tests/test_prove_models.py)."""

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(
        sa.BigInteger, primary_key=True, autoincrement=False
    )
    name: Mapped[str | None] = mapped_column(sa.Text)
'''

REVISION = '''\
"""{message}"""

from alembic import op

revision = "{revision}"
down_revision = {parent!r}


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''


def _body(statements: list[str]) -> str:
    if not statements:
        return "    pass"
    return "\n".join(f"    op.execute({sql!r})" for sql in statements)


def project(
    root: Path,
    *,
    upgrade: list[str],
    downgrade: list[str],
    models: str = MODELS,
    env_extra: str = "",
    options: str = "",
    pyproject: str | None = None,
) -> Config:
    """A project: 001 creates ``items`` (as the models say), 002 does ``upgrade``."""
    module = f"prove_models_{uuid.uuid4().hex[:10]}"
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "alembic.ini").write_text(
        "[alembic]\n"
        "script_location = %(here)s/migrations\n"
        "prepend_sys_path = %(here)s\n"
        "path_separator = os\n"
    )
    (root / f"{module}.py").write_text(models)
    (root / "migrations" / "env.py").write_text(
        f'"""The miniature project\'s environment."""\n\n'
        "from alembic import context\n"
        f"from {module} import Base\n\n"
        "from migrationkit.runtime import run_migrations\n"
        f"{textwrap.dedent(env_extra)}\n"
        f"run_migrations(context, target_metadata=Base.metadata{options})\n"
    )
    (versions / "001_items.py").write_text(
        REVISION.format(
            message="create items",
            revision="001",
            parent=None,
            upgrade=_body([ITEMS]),
            downgrade=_body(["DROP TABLE items"]),
        )
    )
    (versions / "002_database_side.py").write_text(
        REVISION.format(
            message="what the database has and the models cannot say",
            revision="002",
            parent="001",
            upgrade=_body(upgrade),
            downgrade=_body(downgrade),
        )
    )
    if pyproject is not None:
        (root / "pyproject.toml").write_text(pyproject)
    return Config(str(root / "alembic.ini"))


def prove(config: Config, scratch: ScratchServer) -> ProofReport:
    prover = Prover(config, scratch=scratch)
    try:
        return prover.run(offline=False)
    finally:
        prover.close()


def failures(report: ProofReport) -> str:
    return "\n".join(finding.render() for finding in report.findings)


RLS = [
    "ALTER TABLE items ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE items FORCE ROW LEVEL SECURITY",
    "CREATE POLICY items_named ON items USING (name IS NOT NULL)",
]
RLS_UNDONE = [
    "DROP POLICY items_named ON items",
    "ALTER TABLE items NO FORCE ROW LEVEL SECURITY",
    "ALTER TABLE items DISABLE ROW LEVEL SECURITY",
]

LEGACY = "CREATE TABLE legacy_audit (id bigint PRIMARY KEY, note text NOT NULL)"
LEGACY_INDEX = "CREATE INDEX ix_legacy_audit_note ON legacy_audit (note)"


def test_row_level_security_is_not_a_models_finding(
    tmp_path: Path, scratch: ScratchServer
) -> None:
    report = prove(project(tmp_path, upgrade=RLS, downgrade=RLS_UNDONE), scratch)
    assert report.ok, failures(report)
    assert report.findings == ()


def test_row_level_security_still_counts_in_the_round_trip(
    tmp_path: Path, scratch: ScratchServer
) -> None:
    """The full-catalog comparison keeps seeing what the models check leaves out."""
    report = prove(project(tmp_path, upgrade=RLS, downgrade=RLS_UNDONE[:1]), scratch)
    assert [(f.code, f.revision) for f in report.findings] == [("round-trip", "002")]
    text = failures(report)
    assert "~ changed: table public.items" in text
    assert "row security" in text


def test_enum_type_and_sequence_only_a_function_uses_are_not_findings(
    tmp_path: Path, scratch: ScratchServer
) -> None:
    upgrade = [
        "CREATE TYPE job_state AS ENUM ('queued', 'running', 'done')",
        "CREATE SEQUENCE job_numbers",
        (
            "CREATE FUNCTION next_job(state job_state) RETURNS bigint LANGUAGE sql"
            " AS $$ SELECT nextval('job_numbers') $$"
        ),
    ]
    downgrade = [
        "DROP FUNCTION next_job(job_state)",
        "DROP SEQUENCE job_numbers",
        "DROP TYPE job_state",
    ]
    report = prove(project(tmp_path, upgrade=upgrade, downgrade=downgrade), scratch)
    assert report.ok, failures(report)


def test_enum_type_a_column_uses_is_still_compared(
    tmp_path: Path, scratch: ScratchServer
) -> None:
    """A type some column uses is the models' business: its column says so."""
    upgrade = [
        "CREATE TYPE item_state AS ENUM ('new', 'old')",
        "ALTER TABLE items ADD COLUMN state item_state",
    ]
    downgrade = ["ALTER TABLE items DROP COLUMN state", "DROP TYPE item_state"]
    report = prove(project(tmp_path, upgrade=upgrade, downgrade=downgrade), scratch)
    assert [(f.code, f.revision) for f in report.findings] == [("models", "002")]
    text = failures(report)
    assert "in the database, not in the models: enum type public.item_state" in text
    assert "column public.items.state" in text


@pytest.mark.parametrize(
    ("env_extra", "option"),
    [
        (
            """
            def include_object(obj, name, type_, reflected, compare_to):
                return not (type_ == "table" and name == "legacy_audit")
            """,
            ", include_object=include_object",
        ),
        (
            """
            def include_name(name, type_, parent_names):
                return not (type_ == "table" and name == "legacy_audit")
            """,
            ", include_name=include_name",
        ),
    ],
    ids=["include_object", "include_name"],
)
def test_a_table_env_py_leaves_out_of_autogenerate_is_not_compared(
    tmp_path: Path, scratch: ScratchServer, env_extra: str, option: str
) -> None:
    config = project(
        tmp_path,
        upgrade=[LEGACY, LEGACY_INDEX],
        downgrade=["DROP TABLE legacy_audit"],
        env_extra=env_extra,
        options=option,
    )
    report = prove(config, scratch)
    assert report.ok, failures(report)


def test_an_object_the_project_declares_database_only(
    tmp_path: Path, scratch: ScratchServer
) -> None:
    upgrade = [LEGACY, LEGACY_INDEX]
    downgrade = ["DROP TABLE legacy_audit"]
    undeclared = prove(
        project(tmp_path / "undeclared", upgrade=upgrade, downgrade=downgrade), scratch
    )
    text = failures(undeclared)
    assert [(f.code, f.revision) for f in undeclared.findings] == [("models", "002")]
    assert "in the database, not in the models: table public.legacy_audit" in text
    assert 'database_only = ["table public.legacy_audit"]' in text  # the way out

    declared = prove(
        project(
            tmp_path / "declared",
            upgrade=upgrade,
            downgrade=downgrade,
            pyproject=(
                "[tool.migrationkit.prove]\n"
                'database_only = ["table public.legacy_audit"]\n'
            ),
        ),
        scratch,
    )
    assert declared.ok, failures(declared)


def test_a_not_null_planted_in_the_model_is_still_a_finding(
    tmp_path: Path, scratch: ScratchServer
) -> None:
    """Every scope at once (RLS, a filter, a declaration): real drift still fails."""
    planted = MODELS.replace(
        "name: Mapped[str | None] = mapped_column(sa.Text)",
        "name: Mapped[str] = mapped_column(sa.Text, nullable=False)",
    )
    config = project(
        tmp_path,
        upgrade=[*RLS, LEGACY],
        downgrade=[*RLS_UNDONE, "DROP TABLE legacy_audit"],
        models=planted,
        env_extra="""
            def include_object(obj, name, type_, reflected, compare_to):
                return name != "nothing_by_this_name"
            """,
        options=", include_object=include_object",
        pyproject=(
            '[tool.migrationkit.prove]\ndatabase_only = ["table public.legacy_audit"]\n'
        ),
    )
    report = prove(config, scratch)
    assert [(f.code, f.revision) for f in report.findings] == [("models", "002")]
    text = failures(report)
    assert "~ changed: column public.items.name" in text
    assert "nullable: true (database) -> false (models)" in text
    assert "row security" not in text
    assert "legacy_audit" not in text


def test_database_only_must_be_a_list_of_strings(
    tmp_path: Path, scratch: ScratchServer
) -> None:
    config = project(
        tmp_path,
        upgrade=[],
        downgrade=[],
        pyproject='[tool.migrationkit.prove]\ndatabase_only = "table public.x"\n',
    )
    with pytest.raises(Exception, match="database_only must be a list of strings"):
        prove(config, scratch)
