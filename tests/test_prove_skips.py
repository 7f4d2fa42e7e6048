"""A check that did not run says so, and fails the proof unless it was asked for.

Issue 16's silent failures: a models check skipped (head unreachable, two heads)
printed as ``ok``; a models-stage crash lost every other finding; an env.py that
cannot work was blamed on every revision. Each test builds a small project in its
own folder (the ``good`` example's two revisions, changed in one way) and proves
it in-process on a scratch database of its own.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from alembic.config import Config

from migrationkit.prove import ProofReport, Prover
from migrationkit.prove.report import Skip
from migrationkit.prove.scratch import ScratchServer
from migrationkit.testing.prove_tests import assert_proven

SHARED = Path(__file__).resolve().parent / "examples" / "prove" / "shared"

MODELS = """
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(sa.Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    quantity: Mapped[int] = mapped_column(server_default="0")


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(sa.Identity(), primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(50))
"""

ENV = """
from alembic import context

from {module} import Base

from migrationkit.runtime import run_migrations

run_migrations(context, target_metadata=Base.metadata)
"""

THIRD = '''"""third

Revision ID: 003
Revises: 002
"""

from alembic import op

revision = "003"
down_revision = "002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    {upgrade}


def downgrade() -> None:
    {downgrade}
'''


def project(
    folder: Path,
    *,
    models: str = MODELS,
    env: str = ENV,
    third: tuple[str, str] | None = None,
    pyproject: str = "",
) -> Config:
    """A project with the two shared revisions (and a third); its Config."""
    module = f"models_{uuid.uuid4().hex}"  # a module name no other test imported
    versions = folder / "migrations" / "versions"
    versions.mkdir(parents=True)
    for revision in (*SHARED.glob("items/*.py"), *SHARED.glob("tags/*.py")):
        shutil.copy(revision, versions / revision.name)
    if third is not None:
        upgrade, downgrade = third
        (versions / "003_third.py").write_text(
            THIRD.format(upgrade=upgrade, downgrade=downgrade)
        )
    (folder / f"{module}.py").write_text(models)
    (folder / "migrations" / "env.py").write_text(env.format(module=module))
    (folder / "alembic.ini").write_text(
        "[alembic]\nscript_location = %(here)s/migrations\n"
        "prepend_sys_path = %(here)s\npath_separator = os\n"
    )
    (folder / "pyproject.toml").write_text(pyproject)
    return Config(str(folder / "alembic.ini"))


def prove(config: Config, scratch: ScratchServer) -> ProofReport:
    prover = Prover(config, scratch=scratch)
    try:
        return prover.run()
    finally:
        prover.close()


def test_models_skipped_when_head_is_unreachable_fails_the_proof(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    config = project(
        tmp_path,
        third=('op.execute("SELECT * FROM nowhere")', 'op.execute("SELECT 1")'),
    )
    report = prove(config, scratch)
    assert not report.ok
    models = [s for s in report.skipped if s.code == "models"]
    assert len(models) == 1
    assert not models[0].asked
    assert "cannot be reached" in models[0].reason
    text = report.render()
    assert "ok  models" not in text
    assert "SKIPPED [models]" in text
    assert "not allowed" in report.summary()


def test_models_crash_is_its_own_failure_and_keeps_the_other_findings(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    """Two models declaring one index name: create_all fails in the models stage."""
    clashing = MODELS + (
        '\nsa.Index("ix_clash", Item.name)\nsa.Index("ix_clash", Tag.label)\n'
    )
    config = project(
        tmp_path,
        models=clashing,
        third=(
            'op.execute("CREATE SEQUENCE IF NOT EXISTS leftover")',
            'op.execute("SELECT 1")',
        ),
    )
    report = prove(config, scratch)
    by_code = {f.code: f for f in report.findings}
    assert "crashed" in by_code["models"].verdict
    assert "round-trip" in by_code, report.render()  # 003's leftover sequence
    assert "leftover" in by_code["round-trip"].render()


def test_an_env_py_that_cannot_import_is_reported_once(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    config = project(tmp_path, env="from no_such_models import Base\n")
    report = prove(config, scratch)
    assert not report.ok
    assert [f.code for f in report.findings] == ["env"]
    assert "ModuleNotFoundError" in report.findings[0].verdict
    assert "no_such_models" in report.render()


def test_a_downgrade_raising_not_implemented_is_irreversible_not_failed(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    config = project(
        tmp_path, third=('op.execute("SELECT 1")', "raise NotImplementedError")
    )
    report = prove(config, scratch)
    assert report.ok, report.render()
    (skip,) = [s for s in report.skipped if s.code == "round-trip"]
    assert skip.revision == "003"
    assert skip.asked
    assert "NotImplementedError" in skip.reason
    assert "SKIPPED [round-trip] revision 003" in report.render()


def test_declared_exceptions_in_pyproject(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    """As pytest-alembic's skip_revision and minimum_downgrade_revision examples."""
    config = project(
        tmp_path,
        third=('raise ValueError("never run")', 'raise ValueError("never run")'),
        pyproject=(
            "[tool.migrationkit.prove]\n"
            'skip_revisions = ["003"]\n'
            'minimum_downgrade_revision = "001"\n'
            'setup = ["CREATE SCHEMA prerequisite"]\n'
        ),
    )
    report = prove(config, scratch)
    assert report.ok, report.render()
    skipped = {(s.code, s.revision) for s in report.skipped}
    assert ("round-trip", "003") in skipped
    assert ("round-trip", "001") in skipped
    assert ("round-trip", "002") not in skipped
    assert all(s.asked for s in report.skipped)


def test_an_empty_history_passes_and_still_reports_drift(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    config = project(tmp_path)
    for revision in (tmp_path / "migrations" / "versions").glob("*.py"):
        revision.unlink()
    report = prove(config, scratch)
    assert [f.code for f in report.findings] == ["models"]
    assert "in the models, missing from the database" in report.render()


def test_the_plugin_fails_a_skip_nobody_asked_for_and_skips_a_declared_one() -> None:
    """pytest's skip is not a pass, and an unasked skip is not even a skip."""
    unasked = Skip(code="models", reason="head cannot be reached")
    with pytest.raises(pytest.fail.Exception, match="head cannot be reached"):
        assert_proven([unasked])
    declared = Skip(
        code="round-trip", revision="003", reason="irreversible", asked=True
    )
    with pytest.raises(pytest.skip.Exception, match="irreversible"):
        assert_proven([declared])
