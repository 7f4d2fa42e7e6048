"""Lint's false alarm on a large public history, kept away by a test.

docs/prove.md ("A public history") records what lint said about CKAN's 109
revisions. One finding was no hazard: revision 064 adds a NOT NULL column with
``DEFAULT LOCALTIMESTAMP``, which squawk takes for a volatile default (a table
rewrite). LOCALTIMESTAMP is stable: PostgreSQL 11+ evaluates it once and stores
it in the catalog. A volatile default is still reported.
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


def write_project(folder: Path, *, default: str) -> Config:
    versions = folder / "migrations" / "versions"
    versions.mkdir(parents=True)
    for revision, (down, upgrade) in REVISIONS.items():
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
