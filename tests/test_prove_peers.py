"""The peer tier: pytest-alembic's examples, proven by ``migrationkit prove``.

Every example of pytest-alembic's ``examples/`` folder (see
tests/examples/peers/README.md: the commit, the licence, what was wired) runs
through the command line's entry point in-process (a subprocess each would spend
most of the tier's time importing), in its own folder, each on scratch databases
of its own, and its outcome is compared with ``PEERS``: pass or fail,
the codes of the checks that failed, and those that did not run. Each entry also
says what pytest-alembic's own suite asserts of the example and how the two
verdicts compare:

* ``agrees``: the same verdict;
* ``prove finds more``: pytest-alembic passes, prove fails on a real defect of
  the example that pytest-alembic's checks (or the ones the example runs) do not
  look at; the entry names it;
* ``undecidable``: the verdicts cannot be compared here; the entry says why.

There is no fourth kind: a miss or a false alarm is a bug of prove to fix, not an
entry. docs/prove.md mirrors the table; a test keeps the two in step.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa
from alembic.config import Config

from migrationkit.cli.main import main
from migrationkit.prove import DataHook, Prover
from migrationkit.prove.scratch import ScratchServer
from migrationkit.testing.server import TestServer
from tests.helpers import run_module

pytestmark = pytest.mark.slow  # the peer tier: every pytest-alembic example proven

PEERS_DIR = Path(__file__).resolve().parent / "examples" / "peers"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "prove.md"
HOOKS = ("--hooks", "hooks.py:DATA_HOOKS")
"""The example's ``before_revision_data`` (its conftest.py), as data hooks."""


class Verdict(StrEnum):
    AGREES = "agrees"
    FINDS_MORE = "prove finds more"
    UNDECIDABLE = "undecidable"


@dataclass(frozen=True, kw_only=True)
class Peer:
    pytest_alembic: bool | None
    """What pytest-alembic's tests/test_runner.py asserts: passes, fails, or
    nothing (None: its suite does not run the example)."""
    passes: bool
    failed: frozenset[str] = frozenset()
    """Codes of the checks expected to fail."""
    unrun: frozenset[str] = frozenset()
    """Codes of the checks expected not to run (a skip nobody asked for)."""
    args: tuple[str, ...] = ()
    configs: tuple[str, ...] = ("alembic.ini",)
    verdict: Verdict = Verdict.AGREES
    why: str = "as pytest-alembic"

    def prove_text(self) -> str:
        """``pass``, or ``fail: models, round-trip; models not run``."""
        if self.passes:
            return "pass"
        parts = [", ".join(sorted(self.failed))] if self.failed else []
        parts += [f"{code} not run" for code in sorted(self.unrun)]
        return "fail: " + "; ".join(parts)

    def pytest_alembic_text(self) -> str:
        return {True: "pass", False: "fail", None: "not run"}[self.pytest_alembic]


def _passes(why: str = "as pytest-alembic", **kwargs: object) -> Peer:
    return Peer(pytest_alembic=True, passes=True, why=why, **kwargs)  # type: ignore[arg-type]


_SERVER_DEFAULT_9 = (
    "a column's server default 9 is in the database and not in the models (the "
    "application inserting without it gets 9 in production, NULL on a database "
    "built from the models); pytest-alembic compares through autogenerate, which "
    "leaves server defaults out by default"
)

PEERS: dict[str, Peer] = {
    "alternative_script_location": _passes(),
    "ambiguous_downgrade_history": _passes(
        "as pytest-alembic: ten revisions merging three ways, walked one revision "
        "at a time from a database holding exactly each one's ancestors"
    ),
    "async_sqlalchemy": _passes(
        "as pytest-alembic; env.py wired with run_migrations, so the harness's "
        "connection is used and the example's async engine (a test fixture's "
        "choice) is not needed"
    ),
    "async_sqlalchemy_native": _passes(
        "as pytest-alembic (wired as async_sqlalchemy); its before_revision_data "
        "as a data hook",
        args=HOOKS,
    ),
    "basic_revision_upgrade_data": _passes(
        "as pytest-alembic; its before_revision_data as a data hook, which "
        "revision bbbbbbbbbbbb asserts on",
        args=HOOKS,
    ),
    "branched_history": Peer(
        pytest_alembic=True,
        passes=False,
        failed=frozenset({"single-head"}),
        unrun=frozenset({"models"}),
        verdict=Verdict.FINDS_MORE,
        why=(
            "the history forks into two heads, which pytest-alembic's own "
            "single_head_revision test reports too: the example leaves that test "
            "out (setup.cfg), prove has no switch to; with no one head, the "
            "models check does not run"
        ),
    ),
    "branched_history_before_upgrade_data": Peer(
        pytest_alembic=True,
        passes=False,
        failed=frozenset({"round-trip"}),
        args=HOOKS,
        verdict=Verdict.FINDS_MORE,
        why=(
            "revision bbbbbbbbbbbb adds foo.created_at and its downgrade does "
            "nothing: the column is left behind and upgrading again fails; "
            "pytest-alembic only goes down, never up again"
        ),
    ),
    "branched_history_with_mergepoint": Peer(
        pytest_alembic=True,
        passes=False,
        failed=frozenset({"round-trip"}),
        verdict=Verdict.FINDS_MORE,
        why="the same no-op downgrade of bbbbbbbbbbbb as above",
    ),
    "complex_revision_upgrade_data": Peer(
        pytest_alembic=True,
        passes=False,
        failed=frozenset({"round-trip", "models"}),
        args=HOOKS,
        verdict=Verdict.FINDS_MORE,
        why=(
            "data hooks carry their rows forward (cccccccccccc reads rows put in "
            "before bbbbbbbbbbbb); bbbbbbbbbbbb's downgrade does nothing (bar.foo_id "
            "left behind), and the migrations create bar without the primary key "
            "and sequence the models declare, which autogenerate does not compare"
        ),
    ),
    "consistency_doesnt_roundtrip": Peer(
        pytest_alembic=False, passes=False, failed=frozenset({"round-trip"})
    ),
    "default_env_script": Peer(
        pytest_alembic=None,
        passes=False,
        failed=frozenset({"upgrade"}),
        unrun=frozenset({"models"}),
        verdict=Verdict.UNDECIDABLE,
        why=(
            "pytest-alembic's suite asserts nothing of it (it has no env.py, ours "
            "is wired); revision bbbbbbbbbbbb executes a plain string, which "
            "SQLAlchemy 2 refuses, so head is not reached"
        ),
    ),
    "default_script_location": _passes(
        "as pytest-alembic; its alembic.ini names no script_location (pytest-"
        "alembic defaults to migrations/), ours names it, as Alembic requires"
    ),
    "downgrade_leaves_no_trace_failure": Peer(
        pytest_alembic=False,
        passes=False,
        failed=frozenset({"round-trip"}),
        args=("--no-models",),
        why=(
            "as pytest-alembic: the downgrade renames foo to bar instead of "
            "dropping it; its setup.cfg leaves out the models test, --no-models "
            "is the same choice (with models, prove reports table ignore, truly)"
        ),
    ),
    "downgrade_leaves_no_trace_success": _passes(),
    "empty_history": _passes(),
    "experimental_all_models_register": _passes(),
    "experimental_all_models_register_async": _passes(
        "as pytest-alembic (wired as async_sqlalchemy); its before_revision_data "
        "as a data hook",
        args=HOOKS,
    ),
    "experimental_all_models_register_automatic": _passes(),
    "experimental_all_models_register_failure": Peer(
        pytest_alembic=False,
        passes=False,
        failed=frozenset({"models"}),
        why=(
            "as pytest-alembic: models/bar.py is never imported; the models "
            "check imports every module of the models' package and names table bar"
        ),
    ),
    "experimental_all_models_register_metadata": Peer(
        pytest_alembic=True,
        passes=False,
        failed=frozenset({"models"}),
        verdict=Verdict.FINDS_MORE,
        why=(
            "the metadata is empty and the migrations create foo; the example "
            "runs only the all-models-register test, and pytest-alembic's "
            "model_definitions_match_ddl would fail the same way"
        ),
    ),
    "experimental_all_models_register_namespace_package": _passes(),
    "experimental_all_models_register_no_metadata": Peer(
        pytest_alembic=False,
        passes=False,
        unrun=frozenset({"models"}),
        why=(
            "as pytest-alembic (no MetaData): env.py sets no target_metadata, so "
            "the models check cannot run and says so"
        ),
    ),
    "experimental_all_models_register_offline": _passes(),
    "failing_downgrade": Peer(
        pytest_alembic=False,
        passes=False,
        failed=frozenset({"round-trip", "offline", "models"}),
        why=(
            "as pytest-alembic (the downgrade raises); the same raise stops its "
            "--sql rendering, and foo_id's server default 9 is missing from the "
            "models"
        ),
    ),
    "generate_revision": _passes(
        "its setup.cfg leaves out the models test; --no-models is the same "
        "choice (with models, prove reports table foo missing, truly)",
        args=("--no-models",),
    ),
    "manual_alembic_config": _passes(),
    "migrate_down_before": _passes(),
    "migrate_up_before": _passes(),
    "migrate_up_to": _passes(),
    "minimum_downgrade_revision": Peer(
        pytest_alembic=True,
        passes=False,
        failed=frozenset({"models"}),
        verdict=Verdict.FINDS_MORE,
        why=(
            "minimum_downgrade_revision is honoured (pyproject.toml); "
            + _SERVER_DEFAULT_9
        ),
    ),
    "multiple_schemata": _passes(
        "as pytest-alembic: two histories, each proven with its own alembic.ini",
        configs=("alembic.ini", "alembic2.ini"),
    ),
    "no_data": _passes(),
    "process_revision_directives": Peer(
        pytest_alembic=False,
        passes=True,
        verdict=Verdict.UNDECIDABLE,
        why=(
            "the failure is the example's fixture raising inside pytest-alembic's "
            "own autogenerate call; nothing in the history or the models is "
            "wrong, and prove does not autogenerate"
        ),
    ),
    "pytest_alembic_tests_path": _passes(),
    "schema_revision_data": _passes(
        "as pytest-alembic; its before_revision_data (schema meow) as a data hook",
        args=HOOKS,
    ),
    "skip_revision": _passes("as pytest-alembic: skip_revisions in pyproject.toml"),
    "unimplemented_downgrade_warning": Peer(
        pytest_alembic=True,
        passes=False,
        failed=frozenset({"models"}),
        verdict=Verdict.FINDS_MORE,
        why=(
            "the NotImplementedError downgrade is irreversible (a skip, as "
            "pytest-alembic's warning); " + _SERVER_DEFAULT_9
        ),
    ),
    "version_table_schema": _passes(
        "as pytest-alembic: version_table_schema honoured; the schema its fixture "
        "creates is the setup key in pyproject.toml"
    ),
}

RUNS = [(name, ini) for name, peer in sorted(PEERS.items()) for ini in peer.configs]


UNWIRED = PEERS_DIR / "unwired"
"""no_data's alembic.ini and env.py as published, for pytest-alembic: not wired."""


def test_every_peer_example_has_an_expected_outcome() -> None:
    on_disk = {p.name for p in PEERS_DIR.iterdir() if p.is_dir()} - {UNWIRED.name}
    assert on_disk == set(PEERS)


def test_each_verdict_matches_the_outcomes_it_compares() -> None:
    for name, peer in PEERS.items():
        if peer.verdict is Verdict.AGREES:
            assert peer.passes == peer.pytest_alembic, name
        elif peer.verdict is Verdict.FINDS_MORE:
            assert peer.pytest_alembic, name
            assert not peer.passes, name
        assert peer.passes == (not peer.failed and not peer.unrun), name
        assert peer.why, name


def test_the_docs_table_is_the_peers_table() -> None:
    """docs/prove.md's peer table: one row per example, as PEERS says."""
    section = DOCS.read_text().split("## Peer tier", 1)[1].split("\n## ", 1)[0]
    rows = {
        cells[0].strip("` "): [cell.strip() for cell in cells[1:4]]
        for line in section.splitlines()
        if line.startswith("| `")
        for cells in [line.strip("|").split("|")]
    }
    assert rows == {
        name: [peer.pytest_alembic_text(), peer.prove_text(), str(peer.verdict)]
        for name, peer in PEERS.items()
    }
    tally = Counter(peer.verdict for peer in PEERS.values())
    assert (
        f"Tally: {tally[Verdict.AGREES]} agree, {tally[Verdict.FINDS_MORE]} where "
        f"prove finds more, {tally[Verdict.UNDECIDABLE]} undecidable; no miss, no "
        "false\nalarm."
    ) in section


@pytest.fixture
def adopter_environment(
    server: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The environment an adopter's shell has: DATABASE_URL names the test server,
    nothing else of ours is set; the embedded server's folder must stay unused."""
    for key in list(os.environ):
        if key.startswith(("MIGRATIONKIT_", "DATABASE_URL")):
            monkeypatch.delenv(key)
    monkeypatch.setenv(
        "DATABASE_URL", server.admin.url.render_as_string(hide_password=False)
    )
    unused = tmp_path / "unused-pgdata"
    monkeypatch.setenv("MIGRATIONKIT_PGDATA", str(unused))
    yield unused
    assert not unused.exists(), "the command fell back to the embedded server"


@pytest.mark.usefixtures("adopter_environment")
@pytest.mark.parametrize(("name", "ini"), RUNS)
def test_peer_example(
    name: str,
    ini: str,
    *,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    peer = PEERS[name]
    example = PEERS_DIR / name
    monkeypatch.chdir(example)
    with _own_modules(example):
        status = main(["-c", ini, "prove", *peer.args])
    out = capsys.readouterr()
    text = out.out + out.err
    assert status == (0 if peer.passes else 1), f"{peer.why}\n{text}"
    assert _codes(out.out, r"FAILED \[([\w-]+)\]") == set(peer.failed), text
    unrun = _codes(out.out, r"SKIPPED \[([\w-]+)\].*\(not allowed")
    assert unrun == set(peer.unrun), text
    assert not [code for code in unrun if f"ok  {code}" in out.out], text


@contextmanager
def _own_modules(example: Path) -> Iterator[None]:
    """The example's modules, imported afresh and forgotten afterwards.

    Every example calls its models module ``models`` (this repository has one
    too), so in one process each must import its own: its top-level names are
    taken out of ``sys.modules`` for the run, and what it imported from its
    folder is dropped after it, with the ``sys.path`` entries it added.
    """
    names = {
        path.stem if path.is_file() else path.name
        for path in example.iterdir()
        if (path.suffix == ".py" or path.is_dir()) and path.name != "alembic"
    }
    saved = {
        module: sys.modules.pop(module)
        for module in list(sys.modules)
        if module.split(".")[0] in names
    }
    path = list(sys.path)
    try:
        yield
    finally:
        sys.path[:] = path
        for module in list(sys.modules):
            if module.split(".")[0] in names or _inside(sys.modules[module], example):
                del sys.modules[module]
        sys.modules.update(saved)


def _inside(module: ModuleType, folder: Path) -> bool:
    where = [getattr(module, "__file__", None), *getattr(module, "__path__", [])]
    return any(w is not None and Path(w).is_relative_to(folder) for w in where)


@pytest.mark.usefixtures("adopter_environment")
def test_an_env_py_not_wired_is_one_clear_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """pytest-alembic's env.py calls ``.connect()`` on what it is handed: one
    ``FAILED [env]`` naming that line, not a failure per revision."""
    project = tmp_path / "no_data"
    shutil.copytree(PEERS_DIR / "no_data", project)
    shutil.copy(UNWIRED / "alembic.ini", project / "alembic.ini")
    shutil.copy(UNWIRED / "env.py", project / "migrations" / "env.py")
    monkeypatch.chdir(project)
    monkeypatch.syspath_prepend(str(project))  # as `python -m` puts the cwd first
    with _own_modules(project):
        status = main(["prove"])
    out = capsys.readouterr().out
    assert status == 1, out
    assert _codes(out, r"FAILED \[([\w-]+)\]") == {"env"}, out
    assert "AttributeError: 'Connection' object has no attribute 'connect'" in out, out
    assert "line 20: with connectable.connect() as connection:" in out, out
    assert _codes(out, r"SKIPPED \[([\w-]+)\].*\(not allowed") == {"upgrade"}


def _one_foo(connection: sa.Connection) -> int:
    connection.execute(sa.text("INSERT INTO foo (id) VALUES (1)"))
    return 1


def _foo_kept(connection: sa.Connection, rows: int) -> None:
    kept = connection.scalar(sa.text("SELECT count(*) FROM foo"))
    assert kept == rows, f"{rows - kept} of {rows} foo rows deleted"


def test_data_hooks_run_on_a_revision_below_the_minimum(
    server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bbbbbbbbbbbb (below minimum_downgrade_revision, so upgraded only) deletes
    every foo row: a hook around it still runs, and says so."""
    example = PEERS_DIR / "minimum_downgrade_revision"
    monkeypatch.chdir(example)
    scratch = ScratchServer(admin=server.admin, settings=server.settings)
    hooks = [DataHook(revision="bbbbbbbbbbbb", before=_one_foo, after=_foo_kept)]
    with _own_modules(example):
        prover = Prover(Config("alembic.ini"), scratch=scratch, hooks=hooks)
        try:
            report = prover.run(models=False, offline=False)
        finally:
            prover.close()
    assert [(f.code, f.revision) for f in report.findings] == [("data", "bbbbbbbbbbbb")]
    assert "1 of 1 foo rows deleted" in report.findings[0].verdict
    assert "downgrade not proven: at or below minimum_downgrade_revision" in (
        report.render()
    )


PLUGIN_RUNS: dict[str, dict[str, str]] = {
    "consistency_doesnt_roundtrip": {
        "test_history_has_one_head": "passed",
        "test_revision_round_trip[aaaaaaaaaaaa]": "failed",
        "test_revision_renders_offline[aaaaaaaaaaaa]": "passed",
        "test_models_match_head": "passed",
    },
    "basic_revision_upgrade_data": {
        "test_history_has_one_head": "passed",
        "test_revision_round_trip[aaaaaaaaaaaa]": "passed",
        "test_revision_round_trip[bbbbbbbbbbbb]": "passed",
        "test_revision_renders_offline[aaaaaaaaaaaa]": "passed",
        "test_revision_renders_offline[bbbbbbbbbbbb]": "skipped",
        "test_models_match_head": "passed",
    },
    "experimental_all_models_register_failure": {
        "test_history_has_one_head": "passed",
        "test_revision_round_trip[aaaaaaaaaaaa]": "passed",
        "test_revision_round_trip[bbbbbbbbbbbb]": "passed",
        "test_revision_renders_offline[aaaaaaaaaaaa]": "passed",
        "test_revision_renders_offline[bbbbbbbbbbbb]": "skipped",
        "test_models_match_head": "failed",
    },
}
"""Examples also proven through the pytest plugin, as a project's own suite runs
it: each test's outcome (a check skipped as asked is a pytest skip)."""

_PLUGIN_TESTS = """from migrationkit.testing.prove_tests import (
    test_history_has_one_head,
    test_models_match_head,
    test_revision_renders_offline,
    test_revision_round_trip,
)

__all__ = [
    "test_history_has_one_head",
    "test_models_match_head",
    "test_revision_renders_offline",
    "test_revision_round_trip",
]
"""
_PLUGIN_HOOKS = """import pytest
from hooks import DATA_HOOKS


@pytest.fixture(scope="session")
def migrationkit_data_hooks():
    return DATA_HOOKS
"""


@pytest.mark.parametrize("name", sorted(PLUGIN_RUNS))
def test_peer_example_through_the_pytest_plugin(
    name: str, server: TestServer, tmp_path: Path
) -> None:
    """The example's own suite, importing the plugin's tests, in a subprocess."""
    project = tmp_path / name
    shutil.copytree(PEERS_DIR / name, project)
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_migrations.py").write_text(_PLUGIN_TESTS)
    if (project / "hooks.py").exists():
        (project / "conftest.py").write_text(_PLUGIN_HOOKS)
    report = tmp_path / "report.xml"
    run_module(
        "pytest",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        "-n",
        "0",
        f"--junitxml={report}",
        cwd=project,
        database_url=server.admin.url.render_as_string(hide_password=False),
        pgdata=tmp_path / "unused-pgdata",
        timeout=180,
    )
    outcomes = {
        case.attrib["name"]: next(
            (c.tag for c in case if c.tag in {"failure", "error", "skipped"}),
            "passed",
        ).replace("failure", "failed")
        for case in ElementTree.parse(report).iter("testcase")
    }
    assert outcomes == PLUGIN_RUNS[name]


def _codes(text: str, pattern: str) -> set[str]:
    return {m.group(1) for line in text.splitlines() if (m := re.match(pattern, line))}
