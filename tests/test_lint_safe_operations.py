"""``lint --rules`` lists the registered safe operations, read from the registry
(``migrationkit.ops.safety``), so a new operation shows up without a second list."""

from __future__ import annotations

import pytest
from alembic.operations import MigrateOperation

from migrationkit.cli.main import main
from migrationkit.ops.safety import _SAFE, safe_operation


def _listed(out: str) -> list[str]:
    _, _, tail = out.partition("Safe operations")
    return [line.strip() for line in tail.splitlines()[1:] if line.startswith("    ")]


def test_rules_list_every_shipped_safe_operation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["lint", "--rules"]) == 0
    listed = _listed(capsys.readouterr().out)
    assert "op.create_index_concurrently" in listed
    assert "op.backfill_in_batches" in listed
    assert listed == sorted(listed)
    assert "op.create_index" not in listed


def test_an_operation_registered_later_is_listed_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @safe_operation("probe_safe_thing")
    class ProbeOp(MigrateOperation):
        pass

    try:
        assert main(["lint", "--rules"]) == 0
        assert "op.probe_safe_thing" in _listed(capsys.readouterr().out)
    finally:
        del _SAFE[ProbeOp]
