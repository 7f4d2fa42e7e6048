"""``migrationkit prove``: parse, call ``command.prove``, print the report."""

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

from migrationkit import command
from migrationkit.database import project_dir
from migrationkit.errors import MigrationKitError
from migrationkit.prove import CHECKS, DataHook
from migrationkit.settings import Settings

EXIT_OK = 0
EXIT_FAILED = 1

DESCRIPTION = """\
Prove the project's migration history on scratch databases of its own (created
on the server the project uses and dropped afterwards; the project's own
database is never touched). Exit status 1 if any check fails.

Checks:
""" + "\n".join(f"  {check.code:<12} {check.title}" for check in CHECKS)

EPILOG = """\
Data hooks are Python: --hooks names a sequence of migrationkit.prove.DataHook,
as MODULE:NAME or path/to/file.py:NAME (the project's folder is on sys.path).

exit status: 0 every check passed, 1 a check failed or the proof could not run,
2 bad arguments.
"""


def add_prove(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "prove",
        help="prove the migration history: up, down, up again, models, --sql",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--hooks",
        action="append",
        default=[],
        metavar="MODULE:NAME",
        help="data hooks to run (repeatable)",
    )
    parser.add_argument(
        "--no-models", action="store_true", help="leave out the models check"
    )
    parser.add_argument(
        "--no-offline", action="store_true", help="leave out the --sql rendering"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show Alembic's log and the migrations' progress lines",
    )
    parser.set_defaults(handler=_prove)


def _prove(args: argparse.Namespace, settings: Settings) -> int:
    config = command.load_config(args.config)
    hooks = [
        hook
        for spec in args.hooks
        for hook in load_hooks(spec, root=project_dir(config))
    ]
    with _quiet(enabled=not args.verbose):
        report = command.prove(
            config,
            settings=settings,
            hooks=hooks,
            models=not args.no_models,
            offline=not args.no_offline,
        )
    print(report.render(), end="")
    return EXIT_OK if report.ok else EXIT_FAILED


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
