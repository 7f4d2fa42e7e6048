"""The harness on miniature projects, each broken in one way (tests/examples/prove).

Most run in-process through the library (``Prover``), the fast tier; a few run
``migrationkit prove`` in a subprocess, where the exit code and the printed
report are what is tested. Every example is a real Alembic project: alembic.ini,
an env.py calling ``run_migrations``, its models and its revisions.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from migrationkit.database import DatabaseTarget
from migrationkit.prove import DataHook, ProofReport, Prover
from migrationkit.prove.scratch import PREFIX, ScratchServer
from migrationkit.testing.server import TestServer
from tests.helpers import run_module

pytestmark = pytest.mark.slow  # the corpus: every leaky example proven

EXAMPLES = Path(__file__).resolve().parent / "examples" / "prove"


def prove(
    example: str, scratch: ScratchServer, hooks: Sequence[DataHook] = ()
) -> ProofReport:
    config = Config(str(EXAMPLES / example / "alembic.ini"))
    prover = Prover(config, scratch=scratch, hooks=hooks)
    try:
        return prover.run()
    finally:
        prover.close()


def example_hooks(example: str) -> Sequence[DataHook]:
    path = EXAMPLES / example / f"{example}_hooks.py"
    spec = importlib.util.spec_from_file_location(f"{example}_hooks", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    hooks: Sequence[DataHook] = module.HOOKS
    return hooks


def run_prove(
    example: str, server: TestServer, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return run_module(
        "migrationkit",
        "prove",
        *args,
        cwd=EXAMPLES / example,
        database_url=server.admin.url.render_as_string(hide_password=False),
        pgdata=tmp_path / "unused-pgdata",
        timeout=180,
    )


def codes(report: ProofReport) -> list[tuple[str, str | None]]:
    return [(f.code, f.revision) for f in report.findings]


# ----------------------------------------------------------------- in-process


def test_downgrades_that_leave_objects_behind_are_named(
    scratch: ScratchServer,
) -> None:
    report = prove("leftovers", scratch)
    assert codes(report) == [
        ("round-trip", rev) for rev in ("002", "003", "004", "005")
    ]
    left = {f.revision: f.render() for f in report.findings}
    expected = {
        "002": "left behind by the downgrade: index public.ix_items_name: "
        "CREATE INDEX ix_items_name ON public.items USING btree (name)",
        "003": "left behind by the downgrade: function public.item_count(): "
        "CREATE OR REPLACE FUNCTION public.item_count()",
        "004": "left behind by the downgrade: enum type public.item_status: "
        "values draft, published",
        "005": "left behind by the downgrade: sequence public.item_numbers",
    }
    for revision, line in expected.items():
        assert line in left[revision], left[revision]
        # idempotent upgrades: only the catalog comparison sees these
        assert "upgrading again then fails" not in left[revision]
    assert "ALTER TABLE items DROP COLUMN status" in left["004"]


def test_a_check_constraint_drifted_from_the_model(scratch: ScratchServer) -> None:
    report = prove("check_drift", scratch)
    assert codes(report) == [("models", "002")]
    text = report.findings[0].render()
    assert "~ changed: constraint public.items.ck_items_price_cents" in text
    assert (
        "definition: CHECK ((price_cents > 0)) (database) -> "
        "CHECK ((price_cents >= 0)) (models)"
    ) in text


def test_a_server_default_drifted_from_the_model(scratch: ScratchServer) -> None:
    report = prove("default_drift", scratch)
    assert codes(report) == [("models", "001")]
    text = report.findings[0].render()
    assert "~ changed: column public.items.quantity" in text
    assert "default: 0 (database) -> 1 (models)" in text


def test_an_enum_value_missing_from_the_database(scratch: ScratchServer) -> None:
    report = prove("enum_drift", scratch)
    assert codes(report) == [("models", "002")]
    assert (
        'values: ["draft", "published"] (database) -> '
        '["draft", "published", "archived"] (models)'
    ) in report.findings[0].render()


def test_a_revision_that_reads_the_database_in_sql_mode(
    scratch: ScratchServer,
) -> None:
    """--sql cannot render a read: a skip naming the line, not a failure."""
    report = prove("offline_failure", scratch)
    assert report.ok, [f.render() for f in report.findings]
    [skip] = [s for s in report.skipped if s.code == "offline"]
    assert skip.revision == "002"
    text = skip.render()
    assert "the upgrade reads the database (002_cap_quantities.py line 20:" in text
    assert "'MockConnection' object has no attribute 'scalar'" in text
    assert "context.is_offline_mode()" in text


def test_a_data_migration_that_loses_rows(scratch: ScratchServer) -> None:
    assert prove("data_loss", scratch).ok, "without data, nothing shows the loss"
    report = prove("data_loss", scratch, example_hooks("data_loss"))
    assert codes(report) == [("data", "002")]
    assert report.findings[0].verdict == (
        "data hook items_with_and_without_price / every_item_is_a_product failed "
        "after upgrading to, revision 002 (items become products): "
        "20 items became 15 products"
    )


def test_the_harness_drops_every_database_it_made(
    scratch: ScratchServer, server: TestServer
) -> None:
    assert prove("good", scratch).ok
    engine = server.engine()
    try:
        with engine.connect() as conn:
            left = conn.scalars(
                sa.text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                {"p": f"{PREFIX}_{scratch.run_id}_%"},
            ).all()
    finally:
        engine.dispose()
    assert left == []


def test_hooks_for_a_revision_the_history_lacks_are_refused(
    scratch: ScratchServer,
) -> None:
    config = Config(str(EXAMPLES / "good" / "alembic.ini"))
    with pytest.raises(Exception, match="Data hooks name revision\\(s\\) 999"):
        Prover(config, scratch=scratch, hooks=[DataHook(revision="999")])


# ------------------------------------------------------------------ command line


def test_cli_passes_a_good_history(server: TestServer, tmp_path: Path) -> None:
    result = run_prove("good", server, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 revision(s) on PostgreSQL" in result.stdout
    assert "all 8 checks passed" in result.stdout
    assert "  ok  round-trip   up, down, up again" in result.stdout
    assert not (tmp_path / "unused-pgdata").exists()


def test_cli_fails_a_downgrade_that_does_nothing(
    server: TestServer, tmp_path: Path
) -> None:
    result = run_prove("downgrade_does_nothing", server, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "1 of 8 checks failed" in out
    assert (
        "FAILED [round-trip] revision 002 (create tags): its downgrade does not "
        "restore the catalog (1 added); upgrading again then fails"
    ) in out
    assert (
        "+ left behind by the downgrade: table public.tags with its 2 columns"
    ) in out
    assert 'relation "tags" already exists (SQLSTATE 42P07)' in out
    assert "Traceback" not in result.stderr


def test_cli_fails_two_heads(server: TestServer, tmp_path: Path) -> None:
    result = run_prove("two_heads", server, tmp_path, "--no-offline")
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "FAILED [single-head] the history has 2 heads: 002 (create tags), "
        "003 (item notes)"
    ) in result.stdout
    assert "alembic merge heads" in result.stdout


def test_cli_runs_data_hooks(server: TestServer, tmp_path: Path) -> None:
    result = run_prove(
        "data_loss", server, tmp_path, "--hooks", "data_loss_hooks.py:HOOKS"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED [data] data hook" in result.stdout
    assert "20 items became 15 products" in result.stdout


def test_cli_refuses_hooks_it_cannot_load(server: TestServer, tmp_path: Path) -> None:
    result = run_prove("good", server, tmp_path, "--hooks", "nowhere.py:HOOKS")
    assert result.returncode == 1
    assert result.stderr.startswith("FAILED: --hooks 'nowhere.py:HOOKS': cannot load")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("example", ["check_drift", "enum_drift"])
def test_alembic_check_misses_what_the_models_check_finds(
    example: str,
    database: DatabaseTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The drifts above are invisible to autogenerate, so to `alembic check`."""
    url = database.url.render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", url)
    config = Config(str(EXAMPLES / example / "alembic.ini"))
    command.upgrade(config, "head")
    command.check(config)  # raises if autogenerate saw a difference


def test_an_engine_handed_in_is_migrated(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """pytest-alembic hands its engine to env.py; run_migrations must use it."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("MIGRATIONKIT_PGDATA", str(tmp_path / "must-not-start"))
    config = Config(str(EXAMPLES / "good" / "alembic.ini"))
    config.attributes["connection"] = engine
    command.upgrade(config, "head")
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert {"items", "tags", "alembic_version"} <= tables
    assert not (tmp_path / "must-not-start").exists()


def copy_example(example: str, destination: Path) -> Path:
    """A copy of ``example`` beside a copy of the revisions it shares (../shared)."""
    for source, target in (
        (example, destination),
        ("shared", destination.parent / "shared"),
    ):
        shutil.copytree(
            EXAMPLES / source, target, ignore=shutil.ignore_patterns("__pycache__")
        )
    return destination


def add_revision(project: Path, *, rev: str, down: str, upgrade: str) -> None:
    parents = tuple(down.split(",")) if "," in down else down
    versions = project / "migrations" / "versions"
    versions.mkdir(exist_ok=True)  # "good" has revisions in ../shared only
    (versions / f"{rev}_added.py").write_text(
        f'"""added {rev}"""\n\n'
        "from alembic import op\n\n"
        f"revision = {rev!r}\n"
        f"down_revision = {parents!r}\n"
        "branch_labels = None\n"
        "depends_on = None\n\n\n"
        f"def upgrade() -> None:\n    {upgrade}\n\n\n"
        "def downgrade() -> None:\n    pass\n"
    )


def test_a_merged_history_is_walked_branch_by_branch(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    project = copy_example("two_heads", tmp_path / "merged")
    add_revision(project, rev="004", down="002,003", upgrade="pass")
    config = Config(str(project / "alembic.ini"))
    prover = Prover(config, scratch=scratch)
    try:
        report = prover.run()
    finally:
        prover.close()
    assert report.ok, report.render()
    assert report.revisions == 4


def test_a_revision_that_fails_to_upgrade_and_those_after_it(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    project = copy_example("good", tmp_path / "broken")
    add_revision(
        project, rev="003", down="002", upgrade='op.execute("ALTER TABLE nowhere")'
    )
    add_revision(project, rev="004", down="003", upgrade="pass")
    config = Config(str(project / "alembic.ini"))
    prover = Prover(config, scratch=scratch)
    try:
        report = prover.run()
    finally:
        prover.close()
    assert codes(report) == [("upgrade", "003"), ("upgrade", "004")]
    failed, unreached = report.findings
    assert failed.verdict.startswith(
        "revision 003 (added 003) fails to upgrade from 002: "
    ), failed.verdict
    assert "syntax error at end of input (SQLSTATE 42601)" in failed.verdict
    assert "ALTER TABLE nowhere" in failed.render()
    assert unreached.verdict == (
        "revision 004 (added 004) was not reached: " + failed.verdict
    )
