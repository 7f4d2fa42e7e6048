"""prove honours the project's Alembic settings, each shown on a tiny project.

Issue 16: a proof that ignores how a project configured Alembic either misses
what the project's real database would show (objects in a second schema,
revisions in a second folder, a second history) or raises alarms the project
never has (a custom version table left behind, batch operations). Each test
writes a small project of its own into ``tmp_path``, with one leaky downgrade
where the setting decides whether the proof can see it, and proves it
in-process on a scratch database of its own.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config

from migrationkit.prove import ProofReport, Prover
from migrationkit.prove.scratch import ScratchServer

REVISION = '''"""{message}

Revision ID: {revision}
Revises: {down}
"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = {down_revision}
branch_labels = {branch_labels}
depends_on = None


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''

ENV = """
from alembic import context

from {module} import metadata

from migrationkit.runtime import run_migrations

run_migrations(context, target_metadata=metadata, {options})
"""

NO_MODELS = "import sqlalchemy as sa\n\nmetadata = sa.MetaData()\n"


@dataclass(frozen=True, kw_only=True)
class Rev:
    """One revision file: where it goes, and what its two functions do."""

    revision: str
    down: str | None
    upgrade: tuple[str, ...]
    downgrade: tuple[str, ...]
    folder: str = "migrations/versions"
    branch_label: str | None = None

    def source(self) -> str:
        return REVISION.format(
            message=f"revision {self.revision}",
            revision=self.revision,
            down=self.down or "",
            down_revision=repr(self.down),
            branch_labels=repr((self.branch_label,) if self.branch_label else None),
            upgrade=_body(self.upgrade),
            downgrade=_body(self.downgrade),
        )


def _body(lines: tuple[str, ...]) -> str:
    return "\n".join(f"    {line}" for line in lines) or "    pass"


def write_project(
    folder: Path,
    revisions: list[Rev],
    *,
    models: str = NO_MODELS,
    options: str = "",
    ini: str = "",
    pyproject: str = "",
) -> Config:
    """A project with these revisions, env.py wired with ``run_migrations``."""
    module = f"models_{uuid.uuid4().hex}"  # a module name no other test imported
    (folder / "migrations").mkdir(parents=True)
    for rev in revisions:
        versions = folder / rev.folder
        versions.mkdir(parents=True, exist_ok=True)
        (versions / f"{rev.revision}.py").write_text(rev.source())
    (folder / f"{module}.py").write_text(models)
    (folder / "migrations" / "env.py").write_text(
        ENV.format(module=module, options=options)
    )
    (folder / "alembic.ini").write_text(
        "[alembic]\nscript_location = %(here)s/migrations\n"
        "prepend_sys_path = %(here)s\npath_separator = os\n" + ini
    )
    (folder / "pyproject.toml").write_text(pyproject)
    return Config(str(folder / "alembic.ini"))


def prove(config: Config, scratch: ScratchServer) -> ProofReport:
    prover = Prover(config, scratch=scratch)
    try:
        return prover.run()
    finally:
        prover.close()


def failed(report: ProofReport) -> dict[str, list[str]]:
    """Each failed check's code -> the revisions it failed on ('' for none)."""
    found: dict[str, list[str]] = {}
    for finding in report.findings:
        found.setdefault(finding.code, []).append(finding.revision or "")
    return found


def leaky_function(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """An upgrade that creates a function, a downgrade that forgets it."""
    create = (
        f"op.execute('CREATE OR REPLACE FUNCTION {name}() RETURNS int "
        "LANGUAGE sql AS $$ SELECT 1 $$')"
    )
    return (create,), ("pass",)


# ------------------------------------------------------------- include_schemas

BILLING_MODELS = """
import sqlalchemy as sa

metadata = sa.MetaData()

sa.Table(
    "invoices",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("total", sa.Numeric(10, 2), nullable=False),
    {extra}
    schema="billing",
)
"""

BILLING = Rev(
    revision="b001",
    down=None,
    upgrade=(
        "op.execute('CREATE SCHEMA billing')",
        (
            "op.create_table('invoices',"
            " sa.Column('id', sa.Integer, primary_key=True, autoincrement=False),"
            " sa.Column('total', sa.Numeric(10, 2), nullable=False),"
            " schema='billing')"
        ),
    ),
    downgrade=(
        "op.drop_table('invoices', schema='billing')",
        "op.execute('DROP SCHEMA billing')",
    ),
)


def test_include_schemas_second_schema_leaky_downgrade_is_caught(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    """A function left behind in schema billing fails the round trip, named."""
    upgrade, downgrade = leaky_function("billing.invoice_count")
    leaky = Rev(revision="b002", down="b001", upgrade=upgrade, downgrade=downgrade)
    config = write_project(
        tmp_path,
        [BILLING, leaky],
        models=BILLING_MODELS.format(extra=""),
        options="include_schemas=True",
    )
    report = prove(config, scratch)
    assert failed(report) == {"round-trip": ["b002"]}, report.render()
    assert "billing.invoice_count" in report.render()


def test_include_schemas_models_in_a_second_schema_are_compared(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    """Models matching billing.invoices pass; a column only in the models fails."""
    matching = write_project(
        tmp_path / "matching",
        [BILLING],
        models=BILLING_MODELS.format(extra=""),
        options="include_schemas=True",
    )
    report = prove(matching, scratch)
    assert report.ok, report.render()
    assert "models" not in {s.code for s in report.skipped}
    drifted = write_project(
        tmp_path / "drifted",
        [BILLING],
        models=BILLING_MODELS.format(extra='sa.Column("note", sa.Text),'),
        options="include_schemas=True",
    )
    report = prove(drifted, scratch)
    assert failed(report) == {"models": ["b001"]}, report.render()
    assert "billing.invoices.note" in report.render()


# ----------------------------------------------------------- version_locations


def test_every_version_location_is_walked(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    """Revisions in a second folder are proven; its leaky downgrade is caught."""
    upgrade, downgrade = leaky_function("second_folder_fn")
    config = write_project(
        tmp_path,
        [
            Rev(revision="v001", down=None, upgrade=("pass",), downgrade=("pass",)),
            Rev(
                revision="v002",
                down="v001",
                upgrade=upgrade,
                downgrade=downgrade,
                folder="more_versions",
            ),
            Rev(revision="v003", down="v002", upgrade=("pass",), downgrade=("pass",)),
        ],
        ini=(
            "version_locations = %(here)s/migrations/versions"
            f"{os.pathsep}%(here)s/more_versions\n"
        ),
    )
    report = prove(config, scratch)
    assert report.revisions == 3
    assert failed(report) == {"round-trip": ["v002"]}, report.render()
    assert "second_folder_fn" in report.render()


# ------------------------------------------------------------- render_as_batch


def test_render_as_batch_raises_no_false_alarm(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    """Batch operations (as autogenerate writes them with render_as_batch) prove."""
    models = """
import sqlalchemy as sa

metadata = sa.MetaData()

sa.Table(
    "notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("pinned", sa.Boolean, server_default=sa.false(), nullable=False),
)
"""
    config = write_project(
        tmp_path,
        [
            Rev(
                revision="n001",
                down=None,
                upgrade=(
                    (
                        "op.create_table('notes',"
                        " sa.Column('id', sa.Integer, primary_key=True,"
                        " autoincrement=False),"
                        " sa.Column('body', sa.String(50), nullable=True))"
                    ),
                ),
                downgrade=("op.drop_table('notes')",),
            ),
            Rev(
                revision="n002",
                down="n001",
                upgrade=(
                    "with op.batch_alter_table('notes') as batch:",
                    (
                        "    batch.add_column(sa.Column('pinned', sa.Boolean(),"
                        " server_default=sa.false(), nullable=False))"
                    ),
                    (
                        "    batch.alter_column('body', existing_type=sa.String(50),"
                        " type_=sa.Text(), nullable=False)"
                    ),
                ),
                downgrade=(
                    "with op.batch_alter_table('notes') as batch:",
                    (
                        "    batch.alter_column('body', existing_type=sa.Text(),"
                        " type_=sa.String(50), nullable=True)"
                    ),
                    "    batch.drop_column('pinned')",
                ),
            ),
        ],
        models=models,
        options="render_as_batch=True",
    )
    report = prove(config, scratch)
    assert report.ok, report.render()
    assert {s.code for s in report.skipped} == {"data"}  # nothing else left out


# ------------------------------------------- version_table, version_table_schema


def test_custom_version_table_in_its_own_schema_is_left_out_and_compared(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    """meta.schema_history is Alembic's, not a leftover; a real leftover still is."""
    upgrade, downgrade = leaky_function("forgotten")
    config = write_project(
        tmp_path,
        [
            Rev(
                revision="t001",
                down=None,
                upgrade=("op.create_table('t', sa.Column('id', sa.Integer))",),
                downgrade=("op.drop_table('t')",),
            ),
            Rev(revision="t002", down="t001", upgrade=upgrade, downgrade=downgrade),
        ],
        models=(
            "import sqlalchemy as sa\n\nmetadata = sa.MetaData()\n"
            "sa.Table('t', metadata, sa.Column('id', sa.Integer))\n"
        ),
        options="version_table='schema_history', version_table_schema='meta'",
        pyproject='[tool.migrationkit.prove]\nsetup = ["CREATE SCHEMA meta"]\n',
    )
    report = prove(config, scratch)
    assert failed(report) == {"round-trip": ["t002"]}, report.render()
    (finding,) = report.findings
    assert "(1 added)" in finding.verdict  # the function, not the version table
    assert "function public.forgotten()" in finding.render()


# ------------------------------------------------- several histories, one project

AUDIT_MODELS = """
import sqlalchemy as sa

metadata = sa.MetaData()

sa.Table("items", metadata, sa.Column("id", sa.Integer, primary_key=True))
sa.Table("audit_log", metadata, sa.Column("id", sa.Integer, primary_key=True))
"""


def two_histories(*, labelled: bool, leaky: bool) -> list[Rev]:
    """Two bases, each its own history: items (2 revisions) and audit (2)."""
    upgrade, downgrade = leaky_function("audit_fn") if leaky else (("pass",), ("pass",))
    return [
        Rev(
            revision="i001",
            down=None,
            upgrade=(
                (
                    "op.create_table('items', sa.Column('id', sa.Integer,"
                    " primary_key=True))"
                ),
            ),
            downgrade=("op.drop_table('items')",),
            branch_label="items" if labelled else None,
        ),
        Rev(revision="i002", down="i001", upgrade=("pass",), downgrade=("pass",)),
        Rev(
            revision="a001",
            down=None,
            upgrade=(
                (
                    "op.create_table('audit_log', sa.Column('id', sa.Integer,"
                    " primary_key=True))"
                ),
            ),
            downgrade=("op.drop_table('audit_log')",),
            branch_label="audit" if labelled else None,
        ),
        Rev(revision="a002", down="a001", upgrade=upgrade, downgrade=downgrade),
    ]


def test_independent_histories_are_each_walked_and_compared_at_all_heads(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    """Alembic's multiple bases: each labelled history proven, models at heads."""
    config = write_project(
        tmp_path, two_histories(labelled=True, leaky=True), models=AUDIT_MODELS
    )
    report = prove(config, scratch)
    assert report.revisions == 4
    assert failed(report) == {"round-trip": ["a002"]}, report.render()
    assert "audit_fn" in report.render()
    assert "models" not in {s.code for s in report.skipped}, report.render()


def test_independent_histories_without_drift_pass(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    config = write_project(
        tmp_path, two_histories(labelled=True, leaky=False), models=AUDIT_MODELS
    )
    report = prove(config, scratch)
    assert report.ok, report.render()


def test_unlabelled_second_base_is_still_a_second_head(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    """Without branch labels nothing says the second history is on purpose."""
    config = write_project(
        tmp_path, two_histories(labelled=False, leaky=False), models=AUDIT_MODELS
    )
    report = prove(config, scratch)
    assert "single-head" in failed(report), report.render()
    assert "branch label" in report.render()


def test_independent_histories_models_missing_one_history_table_fail(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    """The models are compared with both heads: audit_log must be declared."""
    items_only = AUDIT_MODELS.replace(
        'sa.Table("audit_log", metadata, sa.Column("id", sa.Integer, '
        "primary_key=True))",
        "",
    )
    assert items_only != AUDIT_MODELS
    config = write_project(
        tmp_path, two_histories(labelled=True, leaky=False), models=items_only
    )
    report = prove(config, scratch)
    assert set(failed(report)) == {"models"}, report.render()
    assert "table public.audit_log" in report.render()
