"""A production process loads what it runs, not the whole toolkit.

The service (``main.py``) and ``verify_migration.py`` use migrationkit's library
(settings, database, runtime, verify); the command line, the linter, the test
harness and the embedded server stay unloaded. Checked in a fresh interpreter,
since this test process has imported everything already.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import migrationkit

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


def test_every_public_name_resolves_and_is_documented() -> None:
    api = (ROOT / "docs" / "api.md").read_text()
    for name in migrationkit.__all__:
        assert getattr(migrationkit, name) is not None
        assert f"`{name}`" in api, f"migrationkit.{name} is not in docs/api.md"
    for package in ("runtime", "ops", "verify", "prove", "lint", "testing"):
        module = importlib.import_module(f"migrationkit.{package}")
        for name in module.__all__:
            assert hasattr(module, name), f"migrationkit.{package}.{name}"
        assert f"`migrationkit.{package}`" in api
    # Public though not a package: the pooler helper adopters test through.
    pooler = importlib.import_module("migrationkit.testing.pgbouncer")
    for name in (
        "PgBouncer",
        "LoginRole",
        "login_role",
        "pgbouncer_binary",
        "free_port",
    ):
        assert hasattr(pooler, name), f"migrationkit.testing.pgbouncer.{name}"
        assert f"`{name}`" in api
    assert "`migrationkit.testing.pgbouncer`" in api


PUBLIC_MODULES = {
    "migrationkit",
    "migrationkit.runtime",
    "migrationkit.ops",
    "migrationkit.verify",
    "migrationkit.prove",
    "migrationkit.lint",
    "migrationkit.testing",
    "migrationkit.command",
    "migrationkit.pg",
    "migrationkit.errors",
}
APPLICATION_CODE = [
    "alembic/env.py",
    "main.py",
    "verify_migration.py",
    "models",
    "service",
]


def test_the_application_imports_only_the_public_api() -> None:
    files = [
        path
        for entry in APPLICATION_CODE
        for path in (
            sorted((ROOT / entry).rglob("*.py"))
            if (ROOT / entry).is_dir()
            else [ROOT / entry]
        )
    ]
    private = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            private += [
                f"{path.relative_to(ROOT)}: {name}"
                for name in names
                if name.startswith("migrationkit") and name not in PUBLIC_MODULES
            ]
    assert private == []
