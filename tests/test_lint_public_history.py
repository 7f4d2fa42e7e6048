"""Lint's false alarm on a large public history, kept away by a test.

docs/prove.md ("A public history") records what lint said about CKAN's 109
revisions. One finding was no hazard: revision 064 adds a NOT NULL column with
``DEFAULT LOCALTIMESTAMP``, which squawk takes for a volatile default (a table
rewrite). LOCALTIMESTAMP is stable: PostgreSQL 11+ evaluates it once and stores
it in the catalog. A volatile default is still reported.

Offline, lint marks a finding on a table that an earlier revision of the linted
history created ("harmless if that revision is not deployed yet"). CKAN renames
tables (``op.rename_table``: ``resource_revision``, ``member``), and the marker
used to be lost at the rename; the table keeps its creator under its new name.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.config import Config

from migrationkit.lint import lint_project
from migrationkit.settings import Settings

REVISIONS = {
    "001": ("None", "op.create_table('dashboard', sa.Column('id', sa.Integer))"),
    "002": (
        "'001'",
        (
            "op.add_column('dashboard', sa.Column('sent', sa.DateTime(),"
            " server_default=sa.text('{default}'), nullable=False))"
        ),
    ),
}

REVISION = '''"""{revision}"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = {down}
branch_labels = None
depends_on = None


def upgrade() -> None:
    {upgrade}


def downgrade() -> None:
    pass
'''

ENV = """
from alembic import context

from migrationkit.runtime import run_migrations

run_migrations(context, target_metadata=None)
"""


RENAMED = {
    "001": ("None", "op.create_table('package_resource', sa.Column('id', sa.Integer))"),
    "002": ("'001'", "op.rename_table('package_resource', 'resource')"),
    "003": ("'002'", "op.create_index('ix_resource_id', 'resource', ['id'])"),
    "004": ("'003'", "op.create_index('ix_elsewhere_id', 'elsewhere', ['id'])"),
}


def write_project(
    folder: Path,
    *,
    default: str = "",
    revisions: dict[str, tuple[str, str]] = REVISIONS,
) -> Config:
    versions = folder / "migrations" / "versions"
    versions.mkdir(parents=True)
    for revision, (down, upgrade) in revisions.items():
        (versions / f"{revision}.py").write_text(
            REVISION.format(
                revision=revision, down=down, upgrade=upgrade.format(default=default)
            )
        )
    (folder / "migrations" / "env.py").write_text(ENV)
    (folder / "alembic.ini").write_text(
        "[alembic]\nscript_location = %(here)s/migrations\n"
        "sqlalchemy.url = postgresql+psycopg://lint@localhost/lint\n"
    )
    return Config(str(folder / "alembic.ini"))


@pytest.mark.parametrize(
    ("default", "rewrites"),
    [
        ("LOCALTIMESTAMP", False),
        ("CURRENT_DATE", False),
        ("clock_timestamp()", True),
    ],
)
def test_a_stable_default_is_not_a_rewrite(
    tmp_path: Path, default: str, rewrites: bool
) -> None:
    report = lint_project(write_project(tmp_path, default=default), settings=Settings())
    codes = {f.code for f in report.findings if f.revision == "002"}
    assert ("adding-field-with-default" in codes) is rewrites, codes


def test_a_renamed_table_keeps_the_revision_that_created_it(tmp_path: Path) -> None:
    """003 indexes the table 001 created and 002 renamed: marked as created
    earlier in the history; 004's table, created nowhere in it, is not."""
    report = lint_project(
        write_project(tmp_path, revisions=RENAMED), settings=Settings()
    )
    indexed = {
        f.revision: f
        for f in report.findings
        if f.code == "require-concurrent-index-creation"
    }
    assert set(indexed) == {"003", "004"}, [f.code for f in report.findings]
    origin = indexed["003"].table_origin
    assert origin is not None, indexed["003"]
    assert origin.startswith("resource is created by revision 001, earlier in the")
    assert indexed["004"].table_origin is None
