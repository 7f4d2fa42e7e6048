"""``migrationkit prove``: its options, its data hooks, and how its report prints."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import io
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stderr
from pathlib import Path

from alembic.config import Config

from migrationkit import command
from migrationkit.cli.spec import Call, Command, Flag, Param, epilog
from migrationkit.database import project_dir
from migrationkit.errors import MigrationKitError
from migrationkit.exits import EXIT_FAILED, EXIT_OK
from migrationkit.prove import CHECKS, DataHook

DETAILS = (
    """\
On scratch databases of its own, created on the server the project uses and
dropped afterwards; the project's own database is never touched.

Data hooks are Python: --hooks names a sequence of migrationkit.prove.DataHook,
as MODULE:NAME or path/to/file.py:NAME (the project's folder is on sys.path).

Checks:
"""
    + "\n".join(f"  {check.code:<12} {check.title}" for check in CHECKS)
    + "\n"
)


def _hooks(specs: Sequence[str], config: Config | None) -> list[DataHook]:
    """The data hooks the --hooks options name."""
    assert config is not None  # prove's verb takes a Config, never None
    root = project_dir(config)
    return [hook for spec in specs for hook in load_hooks(spec, root=root)]


def _show(args: argparse.Namespace, call: Call) -> int:
    with _quiet(enabled=not args.verbose):
        report = call()
    print(report.render(), end="")
    return EXIT_OK if report.ok else EXIT_FAILED


PROVE = Command(
    words=("prove",),
    verb=command.prove,
    show=_show,
    options=(
        Param(
            name="hooks",
            help="data hooks to run (repeatable)",
            options={"action": "append", "default": [], "metavar": "MODULE:NAME"},
            convert=_hooks,
        ),
        Param(name="models", help="leave out the models check"),
        Param(name="offline", help="leave out the --sql rendering"),
        Flag(
            flags=("-v", "--verbose"),
            help="show Alembic's log and the migrations' progress lines",
            options={"action": "store_true"},
        ),
    ),
    details=DETAILS,
    epilog=epilog(
        database=True,
        statuses={
            0: "every check passed",
            1: "a check failed or the proof could not run",
        },
    ),
)


def load_hooks(spec: str, *, root: Path) -> Sequence[DataHook]:
    """``MODULE:NAME`` or ``path/to/file.py:NAME`` -> the hooks it names."""
    where, _, name = spec.rpartition(":")
    if not where or not name:
        raise MigrationKitError(
            f"--hooks {spec!r}: expected MODULE:NAME or path/to/file.py:NAME, "
            "for example --hooks tests/test_history.py:DATA_HOOKS"
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = (
            _load_file(root / where)
            if where.endswith(".py")
            else importlib.import_module(where)
        )
    except (ImportError, OSError) as exc:
        raise MigrationKitError(
            f"--hooks {spec!r}: cannot load {where}: {exc}"
        ) from None
    hooks = getattr(module, name, None)
    if not isinstance(hooks, Sequence) or not all(
        isinstance(hook, DataHook) for hook in hooks
    ):
        raise MigrationKitError(
            f"--hooks {spec!r}: {name} in {where} is not a sequence of "
            "migrationkit.prove.DataHook"
        )
    return hooks


def _load_file(path: Path) -> object:
    spec = importlib.util.spec_from_file_location(f"_mk_hooks_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def _quiet(*, enabled: bool) -> Iterator[None]:
    """Keep Alembic's per-step INFO lines and progress lines out of the report."""
    if not enabled:
        yield
        return
    logging.disable(logging.INFO)
    try:
        with redirect_stderr(io.StringIO()):
            yield
    finally:
        logging.disable(logging.NOTSET)
