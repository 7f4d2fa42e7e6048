"""A production process loads what it runs, not the whole toolkit.

The service (``main.py``) and ``verify_migration.py`` use migrationkit's library
(settings, database, runtime, verify); the command line, the linter, the test
harness and the embedded server stay unloaded. Checked in a fresh interpreter,
since this test process has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOT_FOR_PRODUCTION = ("migrationkit.cli", "migrationkit.lint", "migrationkit.prove")


def loaded_modules(module: str) -> list[str]:
    probe = (
        f"import json, sys; import {module}; "
        "print(json.dumps(sorted(m for m in sys.modules "
        "if m.startswith('migrationkit'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    modules: list[str] = json.loads(result.stdout)
    return modules


@pytest.mark.parametrize("module", ["main", "verify_migration", "service.app"])
def test_production_entry_points_load_no_cli_lint_prove_or_devserver(
    module: str,
) -> None:
    modules = loaded_modules(module)
    assert "migrationkit.runtime" in modules or "migrationkit.database" in modules
    unwanted = [
        name
        for name in modules
        if name.startswith((*NOT_FOR_PRODUCTION, "migrationkit.devserver"))
    ]
    assert unwanted == [], f"importing {module} loads {unwanted}"
