"""Live mode: grade findings by the real size of their table; follow revisions
that cannot be rendered offline, without changing the database.

Sizes come from the catalog (``pg_class.reltuples`` and ``relpages``: the
planner's row estimate and the table's pages), read with ACCESS SHARE on nothing
but the catalog. A finding of a rule whose harm grows with the table becomes a
note on a table under both thresholds (or one that does not exist yet) and an
error on a larger one.

Following a revision runs its ``upgrade()`` on a session made read-only
(``SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY``, with short
``lock_timeout`` and ``statement_timeout``): its reads (``SELECT``) run for real,
so Python code that decides from query results takes the path production would;
every other statement is recorded for the lint and replaced by a statement that
does nothing. A revision whose code needs the results of its own writes cannot be
followed, and says so (MK108).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.environment import EnvironmentContext
from alembic.script import Script, ScriptDirectory

from migrationkit.database import (
    DatabaseTarget,
    UrlSource,
    connect,
    create_engine,
    resolve_database,
)
from migrationkit.lint.anatomy import anatomy
from migrationkit.lint.config import LintConfig
from migrationkit.lint.findings import Finding
from migrationkit.lint.render import Recorder, RenderedRevision, failing_line
from migrationkit.lint.rules import Severity
from migrationkit.lint.sql import split_statements
from migrationkit.settings import Settings
from migrationkit.urls import parse_database_url

READ_ONLY_SESSION = (
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    "SET lock_timeout = '200ms'",
    "SET statement_timeout = '10s'",
)
"""Every transaction of the following session is read-only; no read queues."""
DOES_NOTHING = "SELECT 1 WHERE false"
NOT_NULL_FROM_CHECK_SINCE = 12
"""The PostgreSQL release whose SET NOT NULL trusts a validated CHECK (no scan)."""
_PYFORMAT = re.compile(r"%\((\w+)\)s")


@dataclass(frozen=True)
class TableSize:
    rows: int
    """``reltuples``; -1 when the table was never analyzed."""
    pages: int

    def describe(self) -> str:
        rows = f"~{self.rows:,} rows" if self.rows >= 0 else "never analyzed"
        return f"{rows}, {self.pages:,} pages of 8 kB"


@dataclass(kw_only=True)
class LiveDatabase:
    target: DatabaseTarget
    engine: sa.Engine
    connection: sa.Connection
    lint_config: LintConfig
    server_version: str
    _sizes: dict[str, TableSize | None] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        config: Config,
        *,
        settings: Settings,
        url: str | None,
        lint_config: LintConfig,
    ) -> LiveDatabase:
        """Connect to ``url``, else to the database the usual rules pick."""
        if url is not None:
            target = DatabaseTarget(
                parse_database_url(url, origin="--database"), UrlSource.ENVIRONMENT
            )
        else:
            target = resolve_database(settings=settings, config=config)
        engine = create_engine(target, settings=settings)
        connection = connect(engine, target)
        _make_read_only(connection)
        version = connection.dialect.server_version_info or (0,)
        return cls(
            target=target,
            engine=engine,
            connection=connection,
            lint_config=lint_config,
            server_version=".".join(str(part) for part in version[:2]),
        )

    def describe(self) -> str:
        return self.target.masked

    def close(self) -> None:
        self.connection.close()
        self.engine.dispose()

    # ------------------------------------------------------------ sizes

    def size(self, table: str) -> TableSize | None:
        """The table's size from the catalog; None when it does not exist."""
        if table not in self._sizes:
            row = self.connection.execute(
                sa.text(
                    "SELECT reltuples::bigint AS rows, relpages AS pages"
                    " FROM pg_class WHERE oid = to_regclass(:name)"
                ),
                {"name": table},
            ).first()
            self.connection.rollback()
            self._sizes[table] = (
                None if row is None else TableSize(int(row.rows), int(row.pages))
            )
        return self._sizes[table]

    def is_large(self, size: TableSize) -> bool:
        return (
            size.rows >= self.lint_config.large_table_rows
            or size.pages >= self.lint_config.large_table_pages
        )

    def grade(self, findings: list[Finding]) -> list[Finding]:
        """Findings whose harm grows with the table: a note if small, else an error."""
        graded: list[Finding] = []
        for finding in findings:
            if not finding.rule.scales_with_table or finding.table is None:
                graded.append(finding)
                continue
            proof = self.not_null_proof(finding)
            if proof is not None:
                graded.append(finding.graded(Severity.NOTE, table_size=proof))
                continue
            size = self.size(finding.table)
            if size is None:
                graded.append(
                    finding.graded(
                        Severity.NOTE,
                        table_size=(
                            f"{finding.table} does not exist in {self.describe()} "
                            "yet: created empty by an earlier revision"
                        ),
                    )
                )
                continue
            severity = Severity.ERROR if self.is_large(size) else Severity.NOTE
            limit = (
                f"large: at least {self.lint_config.large_table_rows:,} rows or "
                f"{self.lint_config.large_table_pages:,} pages"
                if severity is Severity.ERROR
                else "small: under the thresholds"
            )
            graded.append(
                finding.graded(
                    severity, table_size=f"{finding.table}: {size.describe()} ({limit})"
                )
            )
        return graded

    def not_null_proof(self, finding: Finding) -> str | None:
        """Why a SET NOT NULL finding scans nothing on this database, or None.

        The column is NOT NULL already, or a validated ``CHECK (col IS NOT
        NULL)`` proves it (PostgreSQL 12+ then sets NOT NULL without a scan).
        """
        if finding.column is None or finding.table is None:
            return None
        row = self.connection.execute(
            sa.text(
                "SELECT a.attnotnull AS not_null, EXISTS (SELECT 1 FROM pg_constraint c"
                " WHERE c.conrelid = a.attrelid AND c.contype = 'c' AND c.convalidated"
                " AND pg_get_constraintdef(c.oid) ="
                " format('CHECK ((%I IS NOT NULL))', a.attname)) AS proven"
                " FROM pg_attribute a WHERE a.attrelid = to_regclass(:table)"
                " AND a.attname = :column AND NOT a.attisdropped"
            ),
            {"table": finding.table, "column": finding.column},
        ).first()
        self.connection.rollback()
        where = f"{finding.table}.{finding.column} in {self.describe()}"
        if row is None:
            return None
        if row.not_null:
            return f"{where} is already NOT NULL: nothing to scan"
        if row.proven and self.server_version_major >= NOT_NULL_FROM_CHECK_SINCE:
            return f"{where} is proven by a validated CHECK: no scan on PostgreSQL 12+"
        return None

    @property
    def server_version_major(self) -> int:
        return int(self.server_version.split(".", 1)[0] or 0)

    # ----------------------------------------------------------- follow

    def follow(
        self, config: Config, script: Script, *, offline: RenderedRevision
    ) -> RenderedRevision:
        """Run ``script``'s upgrade() with reads real and writes recorded."""
        rendered = RenderedRevision(
            script=script,
            path=Path(script.path),
            mode="live",
            uses_run_migrations=offline.uses_run_migrations,
        )
        recorder = Recorder(rendered)
        connection = connect(self.engine, self.target)
        _make_read_only(connection)
        try:
            with _recording(connection, recorder):
                _run_upgrade(config, script, connection)
        except Exception as exc:  # noqa: BLE001 - any failure of the revision is a finding
            rendered.error = f"{type(exc).__name__}: {exc}"
            rendered.error_line = failing_line(exc, recorder)
        finally:
            connection.rollback()
            connection.close()
        return rendered


def _make_read_only(connection: sa.Connection) -> None:
    for statement in READ_ONLY_SESSION:
        connection.exec_driver_sql(statement)
    connection.commit()


def _run_upgrade(config: Config, script: Script, connection: sa.Connection) -> None:
    directory = ScriptDirectory.from_config(config)
    with EnvironmentContext(config, directory) as environment:
        environment.configure(connection=connection, transaction_per_migration=True)
        context = environment.get_context()
        with Operations.context(context), context.begin_transaction():
            script.module.upgrade()


def is_read(sql: str) -> bool:
    """Whether ``sql`` only reads: a SELECT/SHOW/VALUES that changes nothing.

    ``set_config()`` and ``FOR UPDATE``/``FOR SHARE`` count as writes; so does a
    WITH holding an INSERT/UPDATE/DELETE/MERGE.
    """
    statements = split_statements(sql)
    if len(statements) != 1:
        return False
    statement = statements[0]
    first = statement.words(1)
    if first in (("show",), ("values",), ("explain",)):
        return not statement.has("analyze")
    if first not in (("select",), ("with",)) or anatomy(statement).lock_timeout:
        return False
    writes = ("insert", "update", "delete", "merge", "set_config", "nextval")
    if any(statement.has(word, depth=None) for word in writes):
        return False
    return not any(
        token.is_word("for")
        and index + 1 < len(statement.tokens)
        and statement.tokens[index + 1].is_word("update", "share", "no", "key")
        for index, token in enumerate(statement.tokens)
    )


def literal_sql(sql: str, parameters: Any) -> str:
    """``sql`` with psycopg's ``%(name)s`` parameters written as literals."""
    if not isinstance(parameters, Mapping) or not parameters:
        return sql
    values: Mapping[str, Any] = parameters

    def literal(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return "'" + str(value).replace("'", "''") + "'"

    return _PYFORMAT.sub(literal, sql).replace("%%", "%")


@contextmanager
def _recording(connection: sa.Connection, recorder: Recorder) -> Iterator[None]:
    """Record every write (and transaction boundary) instead of running it."""
    state = {"in_transaction": False}

    def boundary(autocommit: bool) -> None:  # noqa: FBT001 - event helper
        if autocommit and state["in_transaction"]:
            recorder.write("COMMIT;\n\n")
            state["in_transaction"] = False
        elif not autocommit and not state["in_transaction"]:
            recorder.write("BEGIN;\n\n")
            state["in_transaction"] = True

    def before_execute(
        conn: sa.Connection,
        _cursor: Any,
        statement: str,
        parameters: Any,
        _context: Any,
        _executemany: bool,  # noqa: FBT001 - SQLAlchemy's event signature
    ) -> tuple[str, Any]:
        if is_read(statement):
            return statement, parameters
        boundary(conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT")
        recorder.write(
            literal_sql(statement, parameters).rstrip().rstrip(";") + ";\n\n"
        )
        return DOES_NOTHING, {}

    def ended(_conn: sa.Connection) -> None:
        if state["in_transaction"]:
            recorder.write("COMMIT;\n\n")
            state["in_transaction"] = False

    sa.event.listen(connection, "before_cursor_execute", before_execute, retval=True)
    sa.event.listen(connection, "commit", ended)
    sa.event.listen(connection, "rollback", ended)
    try:
        yield
    finally:
        sa.event.remove(connection, "before_cursor_execute", before_execute)
        sa.event.remove(connection, "commit", ended)
        sa.event.remove(connection, "rollback", ended)
