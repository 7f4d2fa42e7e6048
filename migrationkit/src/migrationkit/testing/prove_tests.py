"""The proof as pytest tests, collected by the plugin when a project enables it.

``migrationkit_prove = true`` in the pytest settings (or ``--migrationkit-prove``)
makes the plugin collect this module's tests under the project's
``tests/conftest.py`` (the ``migrationkit_prove_path`` option): nothing to import.

The two per-revision tests run once per revision (the plugin parametrizes
``migrationkit_revision``), each in databases of its own, so pytest-xdist spreads
them over its workers. A failure reads like ``migrationkit prove``'s report.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from migrationkit.prove import Prover
from migrationkit.prove.report import Outcome, split


def assert_proven(outcomes: Sequence[Outcome]) -> None:
    """Fail the test with the findings' report, skip it, or pass.

    A check that did not run never passes: a skip the project asked for (a
    declared irreversible revision, say) is a pytest skip with its reason; one
    nobody asked for (two heads, a head that cannot be reached) fails the test.
    """
    findings, skips = split(outcomes)
    unasked = [skip for skip in skips if not skip.asked]
    if findings or unasked:
        pytest.fail(
            "\n\n".join(
                [*(f.render() for f in findings), *(s.render() for s in unasked)]
            ),
            pytrace=False,
        )
    if skips:
        pytest.skip("; ".join(skip.render() for skip in skips))


def test_history_has_one_head(migrationkit_prover: Prover) -> None:
    """Exactly one head: `alembic upgrade head` refuses several."""
    assert_proven(migrationkit_prover.single_head())


def test_revision_round_trip(
    migrationkit_prover: Prover, migrationkit_revision: str
) -> None:
    """Upgrades from its parent; up, down, up again restores the whole catalog."""
    assert_proven(migrationkit_prover.revision(migrationkit_revision))


def test_revision_renders_offline(
    migrationkit_prover: Prover, migrationkit_revision: str
) -> None:
    """Renders as SQL (--sql) on its own, up and down."""
    assert_proven(migrationkit_prover.offline(migrationkit_revision))


def test_models_match_head(migrationkit_prover: Prover) -> None:
    """The models build the catalog the migrations build."""
    assert_proven(migrationkit_prover.models())
