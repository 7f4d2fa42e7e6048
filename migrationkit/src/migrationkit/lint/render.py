"""Render one revision's SQL offline, and remember which line of it wrote what.

``alembic upgrade <down>:<rev> --sql`` runs in-process through the project's own
``env.py``, with Alembic's output buffer replaced by a recorder. Each time Alembic
writes SQL the recorder looks at the Python stack: the innermost frame in the
revision file is the ``op.`` call (or helper) that produced it; an operation
registered as safe (``migrationkit.ops.safety``) being invoked marks the statement
as its own, whichever form called it; a frame of
``run_migrations`` shows that env.py runs through migrationkit (so the session has
migrationkit's ``lock_timeout``); Alembic's ``alter_column`` on the stack gives the
column's old type and nullability (``existing_type``, ``existing_nullable``), in
``batch_alter_table`` too. Nothing connects to a database.
"""

from __future__ import annotations

import inspect
import io
import logging
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from alembic import command
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.script import Script

from migrationkit import ops  # noqa: F401 - registers the safe operations
from migrationkit.errors import MigrationKitError
from migrationkit.ops.safety import safe_operation_name
from migrationkit.runtime import migrate

_RUN_MIGRATIONS = migrate.run_migrations.__code__
"""On the stack while env.py runs migrations through migrationkit."""


@dataclass(frozen=True, kw_only=True)
class Origin:
    """Where a piece of rendered SQL came from."""

    lines: tuple[int, ...] = ()
    """Lines of the revision file on the stack when it was written, innermost
    first: the ``op.`` call, then the helper calls that led to it. Empty for
    Alembic's own statements (env.py's BEGIN/COMMIT, the version table)."""
    call: str | None = None
    """The function the revision called there (``execute``, ``add_not_null``)."""
    safe_operation: str | None = None
    """The migrationkit safe operation that wrote it, if one did."""
    old_type: str | None = None
    """For ALTER COLUMN through op.alter_column: its ``existing_type``, as SQL."""
    existing_nullable: bool | None = None
    """For ALTER COLUMN through op.alter_column: its ``existing_nullable``."""

    @property
    def line(self) -> int | None:
        """The line of the call that wrote it."""
        return self.lines[0] if self.lines else None

    @property
    def from_revision(self) -> bool:
        return bool(self.lines)


@dataclass(kw_only=True)
class RenderedRevision:
    """One revision's SQL, and where each piece of it came from."""

    script: Script
    path: Path
    mode: str = "offline"
    sql: str = ""
    pieces: list[tuple[int, Origin]] = field(default_factory=list)
    """(offset in ``sql`` where a piece starts, its origin), in order."""
    error: str | None = None
    """Why rendering stopped, when it did."""
    error_line: int | None = None
    env_failed: bool = False
    """The error came from env.py (or Alembic) before any code of the revision
    ran: every revision would fail alike, so it is not the revision's finding."""
    env_where: str | None = None
    """``file:line`` of the innermost frame of env.py in the error's traceback."""
    uses_run_migrations: bool = False

    def origin_at(self, offset: int) -> Origin:
        found = Origin()
        for start, origin in self.pieces:
            if start > offset:
                break
            found = origin
        return found


class Recorder(io.StringIO):
    """Alembic's output buffer: keeps the SQL and the origin of every write."""

    def __init__(self, rendered: RenderedRevision) -> None:
        super().__init__()
        self.rendered = rendered
        self.revision_file = os.path.realpath(rendered.path)
        self._files: dict[str, bool] = {}

    def write(self, text: str) -> int:
        frame = inspect.currentframe()
        origin = self.origin(frame.f_back if frame else None)
        del frame
        self.rendered.pieces.append((len(self.rendered.sql), origin))
        self.rendered.sql += text
        return len(text)

    def is_revision_file(self, filename: str) -> bool:
        known = self._files.get(filename)
        if known is None:
            known = os.path.realpath(filename) == self.revision_file
            self._files[filename] = known
        return known

    def origin(self, frame: FrameType | None) -> Origin:
        lines: list[int] = []
        call: str | None = None
        safe: str | None = None
        column: tuple[str | None, bool | None] | None = None
        callee: FrameType | None = None
        while frame is not None:
            code = frame.f_code
            if code is _RUN_MIGRATIONS:
                self.rendered.uses_run_migrations = True
            if self.is_revision_file(code.co_filename):
                if not lines:
                    call = callee.f_code.co_name if callee is not None else None
                lines.append(frame.f_lineno)
            elif not lines:
                safe = safe_operation_name(frame.f_locals.get("operation")) or safe
                column = column or _existing_column(frame)
            callee = frame
            frame = frame.f_back
        old_type, existing_nullable = column or (None, None)
        return Origin(
            lines=tuple(lines),
            call=call,
            safe_operation=safe,
            old_type=old_type,
            existing_nullable=existing_nullable,
        )


def _existing_column(frame: FrameType) -> tuple[str | None, bool | None] | None:
    """``existing_type`` (as SQL) and ``existing_nullable`` of Alembic's alter_column.

    Read from the dialect implementation's ``alter_column`` frame, which both
    ``op.alter_column`` and ``batch_alter_table``'s deferred calls go through.
    """
    if frame.f_code.co_name != "alter_column":
        return None
    impl = frame.f_locals.get("self")
    if not isinstance(impl, DefaultImpl):
        return None
    existing = frame.f_locals.get("existing_type")
    old_type = (
        str(existing.compile(dialect=impl.dialect)) if existing is not None else None
    )
    nullable = frame.f_locals.get("existing_nullable")
    return old_type, nullable if isinstance(nullable, bool) else None


def upgrade_range(script: Script) -> str:
    """``<down>:<rev>``: the one step Alembic renders for this revision."""
    down = script.down_revision
    if down is None:
        return f"base:{script.revision}"
    if isinstance(down, str):
        return f"{down}:{script.revision}"
    return f"{down[0]}:{script.revision}"


@contextmanager
def _quiet_alembic() -> Iterator[None]:
    """Alembic's INFO lines for every rendered revision would bury the report."""
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(previous)


def render_offline(config: Config, script: Script) -> RenderedRevision:
    """The SQL ``upgrade <down>:<rev> --sql`` writes, with its origins.

    A revision that raises (``op.get_bind()`` has no database offline) keeps what
    it wrote before the error, and ``error`` says why it stopped.
    """
    rendered = RenderedRevision(script=script, path=Path(script.path))
    recorder = Recorder(rendered)
    saved = config.output_buffer
    config.output_buffer = recorder
    try:
        with _quiet_alembic():
            command.upgrade(config, upgrade_range(script), sql=True)
    except Exception as exc:  # noqa: BLE001 - any failure of the revision is a finding
        rendered.error = f"{type(exc).__name__}: {exc}"
        rendered.error_line = failing_line(exc, recorder)
        rendered.env_failed = not _ran_revision_code(exc, recorder)
        rendered.env_where = _env_frame(exc, config)
    finally:
        config.output_buffer = saved
    return rendered


def _ran_revision_code(exc: BaseException, recorder: Recorder) -> bool:
    """Whether the revision's own code was running when ``exc`` was raised."""
    return any(
        recorder.is_revision_file(frame.f_code.co_filename)
        for frame, _ in traceback.walk_tb(exc.__traceback__)
    )


def _env_frame(exc: BaseException, config: Config) -> str | None:
    """``env.py:<line>`` of the project's env.py in ``exc``'s traceback."""
    env = Path(config.get_main_option("script_location") or ".") / "env.py"
    where: str | None = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        filename = frame.f_code.co_filename
        if Path(filename).name == "env.py" and (
            os.path.realpath(filename) == os.path.realpath(env) or where is None
        ):
            where = f"{filename}:{lineno}"
    return where


def failing_line(exc: BaseException, recorder: Recorder) -> int | None:
    line: int | None = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if recorder.is_revision_file(frame.f_code.co_filename):
            line = lineno
    return line


class EnvFailedError(MigrationKitError):
    """The project's env.py failed before any revision's code ran."""


_HINTS = (
    (
        "Connection, url, or dialect_name is required",
        (
            "env.py's offline branch gets no database URL (sqlalchemy.url is "
            "empty and nothing else gives one). Offline rendering needs none: call "
            "migrationkit's run_migrations in env.py (it renders for PostgreSQL "
            "without a URL), or pass dialect_name='postgresql' to context.configure"
        ),
    ),
    (
        "No module named",
        (
            "env.py imports a module Python cannot find from where Alembic runs: "
            "with a src layout install the project (uv pip install -e .), or add "
            "its folder to prepend_sys_path in alembic.ini"
        ),
    ),
)


def env_failure_message(rendered: RenderedRevision) -> str:
    """One message for an env.py that fails: its error, where, and what to do."""
    where = f" at {rendered.env_where}" if rendered.env_where else ""
    hint = next(
        (text for marker, text in _HINTS if marker in str(rendered.error)), None
    )
    return (
        f"The project's env.py failed{where} while rendering revision "
        f"{rendered.script.revision} offline, before any code of the revision ran: "
        f"{str(rendered.error).rstrip('.')}. Every revision is rendered through "
        "env.py, so none was linted."
        + (f" {hint}." if hint else " Fix env.py and run the lint again.")
    )
