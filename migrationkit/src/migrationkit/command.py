"""One function per command: the library behind the ``migrationkit`` command line.

As in Alembic's ``command.py``, each verb takes the project's Alembic ``Config``
first and returns plain data; the command line (``migrationkit.cli``) only parses
arguments, calls one of these and prints the result. Expected failures raise a
``MigrationKitError`` with a message written for people.

The command line is built from these functions: the first paragraph of a verb's
docstring is its command's one-line help (and its row in the README's command
table), the rest its description, and its keyword parameters are the command's
options (``migrationkit.cli.spec``). So that paragraph is written for both
readers, and a new parameter needs its option declared there.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL

from migrationkit import database
from migrationkit.database import configured_url
from migrationkit.errors import DatabaseConnectionError, MigrationKitError
from migrationkit.runtime.migrate import SETTINGS_ATTRIBUTE, settings_for
from migrationkit.settings import DEFAULT_DATABASE, Settings
from migrationkit.verify.checks import ModelCheck, run_checks, unreachable_report
from migrationkit.verify.result import VerificationReport

if TYPE_CHECKING:
    # The db, lint and prove verbs import their machinery when called: the
    # service and verify_migration.py use this module for load_config and verify,
    # and a production process should load only what it runs.
    from datetime import datetime

    from migrationkit.backup import BackupResult, RestoreResult
    from migrationkit.backup.archive import ProgressReport
    from migrationkit.devserver.server import (
        DestroyReport,
        EmbeddedPostgres,
        ServerStatus,
    )
    from migrationkit.ledger.table import LedgerEntry
    from migrationkit.lint import LintReport
    from migrationkit.prove import DataHook, ProofReport


def load_config(path: str | os.PathLike[str]) -> Config:
    """Alembic's Config for ``path``, refusing a missing file with a clear reason.

    Alembic itself accepts a missing file and fails later with a puzzling
    "No 'script_location' key found".
    """
    ini = Path(path)
    if not ini.is_file():
        raise MigrationKitError(
            f"No Alembic configuration at {ini}: run this in the folder that holds "
            "your project's alembic.ini, or pass it with -c/--config."
        )
    return Config(str(ini))


# ---------------------------------------------------------------- db verbs


def embedded_server(config: Config | None, *, settings: Settings) -> EmbeddedPostgres:
    """The project's embedded server (its files: MIGRATIONKIT_PGDATA or .pgdata/)."""
    return database.embedded_server(settings=settings, config=config)


@dataclass(frozen=True, kw_only=True)
class StartResult:
    """What ``db start`` did."""

    started: bool
    data_dir: Path
    url: URL


def db_start(
    config: Config | None,
    *,
    settings: Settings,
    database: str = DEFAULT_DATABASE,
) -> StartResult:
    """Start the embedded server and create its database.

    The server starts only if it is not running already (any command that needs
    it also starts it on first use); ``database`` is created if missing.
    """
    server = embedded_server(config, settings=settings)
    started = server.ensure_running()
    url = server.ensure_database(database)
    return StartResult(started=started, data_dir=server.data_dir, url=url)


def db_stop(config: Config | None, *, settings: Settings) -> tuple[bool, Path]:
    """Stop the embedded server; its data stays.

    Returns whether it was running, and its data folder.
    """
    server = embedded_server(config, settings=settings)
    return server.stop(), server.data_dir


def db_destroy(config: Config | None, *, settings: Settings) -> DestroyReport:
    """Stop the embedded server and delete it, its data and its system account.

    That is its cluster (all its data) and everything it made on the machine: its
    socket folder, its files in .pgdata/, the ACL entries it added and, when run
    as root, its system account. The next command that needs a database creates
    a new one.
    """
    return embedded_server(config, settings=settings).destroy()


def db_status(config: Config | None, *, settings: Settings) -> ServerStatus:
    """Say whether the embedded server runs, and where.

    The command line exits 3 when it does not, as ``pg_ctl status`` does.
    """
    return embedded_server(config, settings=settings).status()


def db_url(
    config: Config | None,
    *,
    settings: Settings,
    database: str = DEFAULT_DATABASE,
    start: bool = False,
) -> URL | None:
    """The URL of a database on the embedded server, for psql and other libpq tools.

    None when the server is stopped, unless ``start``: its URL names the socket
    folder the server makes anew at each start, so a stopped server has no URL
    yet, and saying one would be a guess. ``start`` starts it first (and creates
    ``database``), as ``db start`` does.
    """
    server = embedded_server(config, settings=settings)
    if start:
        server.ensure_running()
        return server.ensure_database(database)
    if not server.status().running:
        return None
    return server.url(database)


def libpq_url(url: URL) -> str:
    """``url`` as psql and other libpq tools take it: no ``+driver``, no password.

    ``postgresql://postgres@/development?host=/path/to/socket&port=5432``
    """
    user = quote(url.username or "", safe="")
    host = quote(url.host or "", safe="")
    port = f":{url.port}" if url.port else ""
    authority = f"{user}@{host}{port}" if user else f"{host}{port}"
    query = "&".join(
        f"{quote(key, safe='')}={quote(str(value), safe='/')}"
        for key, value in sorted(url.query.items())
        if key != "password"
    )
    database = quote(url.database or "", safe="")
    return f"postgresql://{authority}/{database}" + (f"?{query}" if query else "")


# ------------------------------------------------------------------ verify


def verify(
    config: Config,
    *,
    settings: Settings | None = None,
    model_checks: Sequence[ModelCheck] = (),
    debug: bool = False,
) -> VerificationReport:
    """Check the database against the models and the migration history.

    The models and the database are the ones the project's own ``env.py`` gives:
    it is run as ``alembic current`` runs it (nothing is migrated, the version
    table is not created), and the checks use the connection and the
    ``target_metadata`` it configures. Works with any env.py, whether it calls
    ``migrationkit.runtime.run_migrations`` or not. An unreachable database is a
    report with a failed connectivity check, unless ``debug`` asks for the
    exception itself (and its traceback).
    """
    if settings is not None:
        config.attributes[SETTINGS_ATTRIBUTE] = settings
    settings = settings_for(config)
    script = ScriptDirectory.from_config(config)
    reports: list[VerificationReport] = []

    def inspect(_heads: Any, context: MigrationContext) -> list[Any]:
        connection = context.connection
        if connection is None:  # pragma: no cover - env.py ran offline
            raise MigrationKitError("verify needs a live database, not --sql mode.")
        metadata = context.opts.get("target_metadata")
        if metadata is None:
            raise MigrationKitError(
                "env.py sets no target_metadata, so there are no models to verify "
                "against: set target_metadata = Base.metadata in env.py."
            )
        reports.append(
            run_checks(
                connection,
                config=config,
                script=script,
                metadata=metadata,
                model_checks=model_checks,
                settings=settings,
            )
        )
        return []

    try:
        with EnvironmentContext(config, script, fn=inspect, dont_mutate=True):
            script.run_env()
    except DatabaseConnectionError as exc:
        if debug:
            raise
        return unreachable_report(
            exc, target=configured_url(settings=settings, config=config)
        )
    if not reports:
        raise MigrationKitError(
            "env.py finished without running the migration context, so nothing "
            "was verified. Does it call context.run_migrations()?"
        )
    return reports[0]


# -------------------------------------------------------------------- lint


def lint(
    config: Config,
    *,
    settings: Settings | None = None,
    since_revision: str | None = None,
    since_git: str | None = None,
    versions: str | None = None,
    live: bool = False,
    database_url: str | None = None,
    pg_version: str | None = None,
) -> LintReport:
    """Review the lock safety of the revisions (squawk plus more checks).

    All revisions, or those after ``since_revision``, or those whose files
    changed since the git ref ``since_git``; ``versions`` lints the revisions
    of another folder instead of the project's. Offline unless ``live`` or
    ``database_url``: then findings are graded by the real size of their table,
    and nothing in the database is changed. See ``migrationkit.lint``.
    """
    from migrationkit.lint import Selection, lint_project  # noqa: PLC0415

    if versions is not None:
        config.set_main_option("version_locations", versions.replace("%", "%%"))
    return lint_project(
        config,
        settings=settings if settings is not None else settings_for(config),
        selection=Selection(after=since_revision, git_ref=since_git),
        live=live,
        database_url=database_url,
        pg_version=pg_version,
    )


# ------------------------------------------------------------------- prove


def prove(
    config: Config,
    *,
    settings: Settings | None = None,
    hooks: Sequence[DataHook] = (),
    models: bool = True,
    offline: bool = True,
) -> ProofReport:
    """Prove the migration history: up, down, up again, models, SQL.

    On scratch databases of its own: one head; every revision upgrades from its
    parent; up, down, up again restores the full catalog; the models match the
    head; every revision renders as SQL; ``hooks`` prove data migrations on
    data. The databases are created on the server the project's rule names and
    dropped afterwards; the project's own database is never touched. See
    ``migrationkit.prove``.
    """
    from migrationkit.prove.runner import prove as prove_history  # noqa: PLC0415

    return prove_history(
        config,
        settings=settings if settings is not None else settings_for(config),
        hooks=hooks,
        models=models,
        offline=offline,
    )


# ------------------------------------------------------------------ ledger


def history(
    config: Config,
    *,
    settings: Settings | None = None,
    revision: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[LedgerEntry]:
    """Show the migration ledger: what ran, when, how long, by whom.

    Its rows, oldest first. ``revision`` keeps the rows about that revision;
    ``since`` and ``until`` bound the time the row was written. Reads only; an
    empty list when the database has no ledger yet.
    """
    from migrationkit.ledger.access import on_project_database  # noqa: PLC0415
    from migrationkit.ledger.table import read_entries  # noqa: PLC0415

    if settings is not None:
        config.attributes[SETTINGS_ATTRIBUTE] = settings
    entries = on_project_database(config, read_entries)
    return [
        entry
        for entry in entries
        if (revision is None or entry.revision == revision)
        and (since is None or entry.finished_at >= since)
        and (until is None or entry.finished_at <= until)
    ]


def flags(config: Config, *, settings: Settings | None = None) -> list[LedgerEntry]:
    """List the review flags nobody has acknowledged yet.

    Oldest first: rows a revision could not carry over and flagged
    (``flag_for_review``). A contract revision that destroys them stops every run
    until the flag is acknowledged.
    """
    from migrationkit.ledger.access import on_project_database  # noqa: PLC0415
    from migrationkit.ledger.state import open_flags  # noqa: PLC0415
    from migrationkit.ledger.table import read_entries  # noqa: PLC0415

    if settings is not None:
        config.attributes[SETTINGS_ATTRIBUTE] = settings
    return on_project_database(
        config, lambda connection, table: open_flags(read_entries(connection, table))
    )


def acknowledge(
    config: Config, *, revision: str, settings: Settings | None = None
) -> LedgerEntry | None:
    """Acknowledge the open flags a contract revision destroys.

    ``revision`` is a contract step (it declares ``destroys_flagged``); its open
    flags are acknowledged after inspecting the rows, the ledger records who and
    when, and later runs go through it (as ``-x acknowledge=REVISION`` does).
    None when no flag under its topics is open.
    """
    from migrationkit.ledger.access import (  # noqa: PLC0415
        acknowledge_flags,
        on_project_database,
    )

    if settings is not None:
        config.attributes[SETTINGS_ATTRIBUTE] = settings
    script = ScriptDirectory.from_config(config)
    return on_project_database(
        config,
        lambda connection, table: acknowledge_flags(
            connection, table, script=script, revision=revision
        ),
    )


# ------------------------------------------------------------ backup/restore


def backup(
    config: Config | None,
    *,
    settings: Settings,
    output: Path | None = None,
    progress: ProgressReport | None = None,
) -> BackupResult:
    """Back up the database with pg_dump -Fc (file mode 0600).

    With the ``pg_dump`` of the server's major version. The database is the one
    the project's rule names (``resolve_database``). ``output`` defaults to
    ``<database>-<UTC time>.dump`` in the working folder; it is created 0600 and
    never replaces a file. The backup is read back with ``pg_restore --list``
    before this returns.
    """
    from migrationkit.backup import backup_database, default_backup_name  # noqa: PLC0415

    target = database.resolve_database(settings=settings, config=config)
    path = output if output is not None else Path(default_backup_name(target))
    return backup_database(target, settings=settings, output=path, progress=progress)


def restore(
    config: Config | None,
    *,
    settings: Settings,
    path: Path,
    clean: bool = False,
) -> RestoreResult:
    """Restore a backup into the database (refuses a non-empty one).

    In one transaction. A database that already holds tables is refused unless
    ``clean``.
    """
    from migrationkit.backup import restore_database  # noqa: PLC0415

    target = database.resolve_database(settings=settings, config=config)
    return restore_database(target, settings=settings, path=path, clean=clean)
