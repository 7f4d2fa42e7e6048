"""``migrationkit prove``: prove that a migration history goes up, down and up again.

Works on any Alembic project given its ``Config``: exactly one head; every revision
upgrades from its parent; up, down, up again leaves a full catalog snapshot as it
was; the models match the migrated head; every revision renders as SQL; data hooks
prove data migrations on data. Used by the ``migrationkit prove`` command and by
the pytest plugin (``migrationkit.testing``).
"""

from migrationkit.prove.catalog import CatalogSnapshot, VersionTable, take_snapshot
from migrationkit.prove.diff import CatalogDiff, diff_snapshots
from migrationkit.prove.hooks import DataHook
from migrationkit.prove.report import CHECKS, Finding, ProofReport
from migrationkit.prove.runner import Prover, scratch_server

__all__ = [
    "CHECKS",
    "CatalogDiff",
    "CatalogSnapshot",
    "DataHook",
    "Finding",
    "ProofReport",
    "Prover",
    "VersionTable",
    "diff_snapshots",
    "scratch_server",
    "take_snapshot",
]
