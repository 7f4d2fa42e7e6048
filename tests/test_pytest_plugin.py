"""migrationkit's pytest plugin, run in-process on miniature projects (``pytester``).

Each test lays out a tiny adopter: one of the prove examples (its alembic.ini,
env.py, models and revisions), a ``tests/conftest.py`` and the pytest settings,
then runs pytest inside this process and reads each collected test's outcome.
The inner run's server is this run's (``DATABASE_URL``); a folder that must stay
empty stands in for the embedded server, so a fallback to it would show.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

import migrationkit.autogenerate.render  # noqa: F401 - see below
from migrationkit.testing.server import TestServer

# pytester's inline runs take the modules first imported inside them back out of
# sys.modules afterwards. migrationkit.autogenerate.render registers renderers for
# migrationkit.ops' operation classes in Alembic's process-wide tables, and when
# ops stayed imported, a second import of render (by the next inline run) is
# refused ("key already exists"). Imported here, render stays imported too.

pytest_plugins = ["pytester"]

EXAMPLES = Path(__file__).resolve().parent / "examples" / "prove"
ENABLED = """
[pytest]
migrationkit_prove = true
migrationkit_config = project/alembic.ini
"""


@pytest.fixture
def adopter(
    pytester: pytest.Pytester, server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """An empty adopter on this run's server: settings and example still to come."""
    for name in ("DATABASE_URL_DIRECT", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", server.admin.secret_url().reveal())
    monkeypatch.setenv("MIGRATIONKIT_PGDATA", str(pytester.path / "must-stay-unused"))
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "conftest.py").write_text("")
    return pytester


def with_example(pytester: pytest.Pytester, example: str) -> list[str]:
    """Copy ``example`` (and the revisions it shares) in; returns its revisions."""
    shutil.copytree(EXAMPLES / example, pytester.path / "project")
    shutil.copytree(EXAMPLES / "shared", pytester.path / "shared")
    config = Config(str(pytester.path / "project" / "alembic.ini"))
    scripts = ScriptDirectory.from_config(config).walk_revisions()
    return [script.revision for script in reversed(list(scripts))]


QUIET = ("-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:pytest_alembic")
"""Plugins the inner runs do without (pytest-alembic is off in this suite too)."""


def run(pytester: pytest.Pytester, *args: str) -> pytest.HookRecorder:
    result = pytester.inline_run(*QUIET, *args)
    assert not (pytester.path / "must-stay-unused").exists()
    return result


def outcomes(result: pytest.HookRecorder) -> dict[str, str]:
    """Each test's id (after ``tests/conftest.py::migrationkit::``) and outcome."""
    return {
        report.nodeid.removeprefix("tests/conftest.py::migrationkit::"): report.outcome
        for report in result.getreports("pytest_runtest_logreport")
        if report.when == "call" or report.outcome != "passed"
    }


def proof_of(revisions: list[str]) -> dict[str, str]:
    """Every test of the proof of ``revisions``, each passed."""
    return {
        "test_history_has_one_head": "passed",
        **{f"test_revision_round_trip[{r}]": "passed" for r in revisions},
        **{f"test_revision_renders_offline[{r}]": "passed" for r in revisions},
        "test_models_match_head": "passed",
    }


def test_a_correct_history_passes_every_test_of_the_proof(
    adopter: pytest.Pytester,
) -> None:
    revisions = with_example(adopter, "good")
    adopter.makeini(ENABLED)

    result = run(adopter)

    assert result.ret == pytest.ExitCode.OK
    assert len(revisions) >= 2
    assert outcomes(result) == proof_of(revisions)
    items = result.getcalls("pytest_itemcollected")
    assert all(call.item.get_closest_marker("migrationkit") for call in items)


def test_a_leaky_downgrade_fails_the_round_trip_of_that_revision(
    adopter: pytest.Pytester,
) -> None:
    revisions = with_example(adopter, "downgrade_does_nothing")
    adopter.makeini(ENABLED)

    result = run(adopter, "-rf")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    leaky = "test_revision_round_trip[002]"
    assert outcomes(result) == {**proof_of(revisions), leaky: "failed"}
    (report,) = result.getfailures()
    assert report.nodeid == f"tests/conftest.py::migrationkit::{leaky}"
    assert "002" in report.longreprtext
    assert "tags" in report.longreprtext  # what the downgrade left behind


def test_the_project_conftest_lends_its_fixtures_to_the_proof(
    adopter: pytest.Pytester,
) -> None:
    """Overrides go in the conftest the proof is collected under; here a data
    hook that finds a wrong value fails the round trip of its revision."""
    revisions = with_example(adopter, "good")
    adopter.makeini(ENABLED)
    (adopter.path / "tests" / "conftest.py").write_text(
        "import pytest\n"
        "import sqlalchemy as sa\n"
        "from migrationkit.prove import DataHook\n\n\n"
        "def no_tags(connection, _before):\n"
        "    found = connection.scalar(sa.text('SELECT count(*) FROM tags'))\n"
        "    assert found == 1, f'{found} tags, expected 1'\n\n\n"
        "@pytest.fixture(scope='session')\n"
        "def migrationkit_data_hooks():\n"
        "    return (DataHook(revision='002', after=no_tags),)\n"
    )

    result = run(adopter)

    round_trip = "test_revision_round_trip[002]"
    assert outcomes(result) == {**proof_of(revisions), round_trip: "failed"}
    (report,) = result.getfailures()
    assert "0 tags, expected 1" in report.longreprtext


def test_without_the_option_nothing_is_collected(adopter: pytest.Pytester) -> None:
    with_example(adopter, "good")
    adopter.makeini("[pytest]\nmigrationkit_config = project/alembic.ini\n")

    off = run(adopter)
    assert off.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert off.getcalls("pytest_itemcollected") == []

    from_the_command_line = run(adopter, "--migrationkit-prove", "--collect-only")
    assert from_the_command_line.ret == pytest.ExitCode.OK
    assert len(from_the_command_line.getcalls("pytest_itemcollected")) > 0


def test_another_path_collects_there_and_a_missing_one_stops_the_run(
    adopter: pytest.Pytester,
) -> None:
    with_example(adopter, "good")
    adopter.makeini(ENABLED)
    (adopter.path / "db_tests").mkdir()
    (adopter.path / "db_tests" / "conftest.py").write_text("")

    moved = run(
        adopter, "--collect-only", "--migrationkit-prove-path", "db_tests/conftest.py"
    )
    assert moved.ret == pytest.ExitCode.OK
    nodeids = [c.item.nodeid for c in moved.getcalls("pytest_itemcollected")]
    assert nodeids
    assert all(n.startswith("db_tests/conftest.py::migrationkit::") for n in nodeids)

    missing = adopter.runpytest_inprocess(
        *QUIET, "--migrationkit-prove-path", "nowhere/conftest.py"
    )
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.fnmatch_lines(
        ["*migrationkit_prove is on, but nowhere/conftest.py*"]
    )
