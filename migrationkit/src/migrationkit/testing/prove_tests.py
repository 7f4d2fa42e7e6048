"""The proof as pytest tests: import them into one of the project's test modules.

::

    from migrationkit.testing.prove_tests import (
        test_history_has_one_head,
        test_models_match_head,
        test_revision_renders_offline,
        test_revision_round_trip,
    )

The two per-revision tests run once per revision (the plugin parametrizes
``migrationkit_revision``), each in databases of its own, so pytest-xdist spreads
them over its workers. A failure reads like ``migrationkit prove``'s report.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from migrationkit.prove import Finding, Prover


def assert_proven(findings: Sequence[Finding]) -> None:
    """Fail the test with the findings' report, or pass."""
    if findings:
        pytest.fail("\n\n".join(f.render() for f in findings), pytrace=False)


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
