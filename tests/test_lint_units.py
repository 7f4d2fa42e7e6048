"""The lint's parts on their own: tokenizer, statement anatomy, type narrowing,
suppression comments. Pure functions: no database, no squawk."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrationkit.lint.anatomy import anatomy
from migrationkit.lint.column_types import catalog_only, narrowing
from migrationkit.lint.sql import Kind, split_statements
from migrationkit.lint.suppress import read_suppressions
from migrationkit.lint.walk import timeout_is_off


def test_semicolons_inside_quotes_and_comments_do_not_split() -> None:
    sql = (
        "CREATE FUNCTION f() RETURNS trigger AS $body$ BEGIN x := 1; END $body$;\n"
        "SELECT 'a;b', E'it\\'s;', \"odd;name\" /* c; /* nested; */ */;\n"
        "-- a comment; with a semicolon\n"
        "UPDATE t SET a = 1"
    )
    statements = split_statements(sql)
    assert [s.words(1) for s in statements] == [("create",), ("select",), ("update",)]
    assert statements[2].comments == ("a comment; with a semicolon",)
    kinds = [token.kind for token in statements[1].tokens]
    assert kinds.count(Kind.STRING) == 2
    assert Kind.IDENT in kinds


def test_depth_tracks_parentheses() -> None:
    (statement,) = split_statements(
        "UPDATE t SET a = 1 WHERE id IN (SELECT id FROM t LIMIT 10)"
    )
    limit = statement.find("limit", depth=None)
    assert limit is not None
    assert statement.tokens[limit].depth == 1
    assert statement.find("limit") is None


@pytest.mark.parametrize(
    ("sql", "kind", "table"),
    [
        (
            "ALTER TABLE ONLY public.users ADD COLUMN x int",
            "alter_table",
            "public.users",
        ),
        (
            'CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON "Users" (a)',
            "create_index",
            "Users",
        ),
        ("DROP INDEX CONCURRENTLY IF EXISTS ix_a", "drop_index", "ix_a"),
        ("DELETE FROM ONLY events WHERE id = 1", "delete", "events"),
        ("CREATE TEMP TABLE scratch AS SELECT 1", "create_table", "scratch"),
        ("START TRANSACTION", "begin", None),
        ("END", "commit", None),
        ("LOCK TABLE users IN ACCESS EXCLUSIVE MODE", "lock", "users"),
    ],
)
def test_anatomy(sql: str, kind: str, table: str | None) -> None:
    (statement,) = split_statements(sql)
    found = anatomy(statement)
    assert (found.kind, found.table) == (kind, table)


@pytest.mark.parametrize(
    ("sql", "value", "local"),
    [
        ("SET lock_timeout = 0", "0", False),
        ("SET LOCAL lock_timeout TO '2s'", "2s", True),
        ("SET SESSION lock_timeout = '500ms'", "500ms", False),
        ("RESET lock_timeout", None, False),
        ("RESET ALL", None, False),
        ("SET lock_timeout TO DEFAULT", None, False),
        ("SELECT set_config('lock_timeout', '1s', true)", "1s", True),
    ],
)
def test_lock_timeout_changes(sql: str, value: str | None, local: bool) -> None:
    (statement,) = split_statements(sql)
    setting = anatomy(statement).lock_timeout
    assert setting is not None
    assert (setting.value, setting.local) == (value, local)


def test_other_settings_are_not_lock_timeout() -> None:
    (statement,) = split_statements("SET statement_timeout = 0")
    assert anatomy(statement).lock_timeout is None


@pytest.mark.parametrize(
    ("value", "off"),
    [("0", True), ("0ms", True), ("'0'", True), ("2s", False), ("2000", False)],
)
def test_timeout_is_off(value: str, off: bool) -> None:
    assert timeout_is_off(value) is off


@pytest.mark.parametrize(
    ("old", "new", "narrows"),
    [
        ("VARCHAR(50)", "varchar(100)", False),
        ("VARCHAR(255)", "varchar(50)", True),
        ("VARCHAR(50)", "text", False),
        ("TEXT", "varchar(20)", True),
        ("INTEGER", "bigint", False),
        ("BIGINT", "integer", True),
        ("NUMERIC(10, 2)", "numeric(12,2)", False),
        ("NUMERIC(10, 2)", "numeric(10,0)", True),
        ("TEXT", "inet", True),
        (None, "text", False),
        (None, "integer", True),
    ],
)
def test_narrowing(old: str | None, new: str, narrows: bool) -> None:
    assert (narrowing(old, new) is not None) is narrows


def test_suppressions(tmp_path: Path) -> None:
    revision = tmp_path / "r.py"
    revision.write_text(
        "# migrationkit-lint: allow-revision renaming-column -- the switch step\n"
        "def upgrade():\n"
        "    # migrationkit-lint: allow MK104, ban-drop-column -- contract step\n"
        "    # (more words about it)\n"
        "    drop()\n"
        "    x = '# migrationkit-lint: allow MK101 -- inside a string'\n"
        "    y()  # migrationkit-lint: allow MK101\n"
        "    # migrationkit-lint: allow NOPE -- why\n"
        "    z()\n"
    )
    found = read_suppressions(revision)
    assert found.reason_for("renaming-column", ()) == "the switch step"
    whole = "contract step (more words about it)"  # the reason's next comment line
    assert found.reason_for("MK104", (5,)) == whole
    assert found.reason_for("ban-drop-column", (9, 5)) == whole
    assert found.reason_for("MK104", (9,)) is None
    assert found.reason_for("MK101", (6,)) is None
    problems = {problem.line: problem.problem for problem in found.problems}
    assert "gives no reason" in problems[7]
    assert "unknown rule code(s): NOPE" in problems[8]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("VARCHAR(100)", "VARCHAR(200)", True),
        ("VARCHAR(100)", "TEXT", True),
        ("TEXT", "VARCHAR", True),
        ("character varying(5)", "VARCHAR(5)", True),
        ("INTEGER", "INTEGER", True),
        ("int4", "INTEGER", True),
        ("NUMERIC(10, 2)", "NUMERIC(12, 2)", True),
        ("NUMERIC(10, 2)", "NUMERIC", True),
        ("TIMESTAMP(3) WITH TIME ZONE", "TIMESTAMP WITH TIME ZONE", True),
        ("TIMESTAMP(3) WITHOUT TIME ZONE", "TIMESTAMP(6) WITHOUT TIME ZONE", True),
        ("TEXT", "VARCHAR(100)", False),
        ("VARCHAR(200)", "VARCHAR(100)", False),
        ("NUMERIC(10, 2)", "NUMERIC(12, 3)", False),
        ("INTEGER", "BIGINT", False),
        ("CHAR(5)", "TEXT", False),
        ("TIMESTAMP WITHOUT TIME ZONE", "TIMESTAMP WITH TIME ZONE", False),
        (None, "TEXT", False),
    ],
)
def test_catalog_only(old: str | None, new: str, expected: bool) -> None:
    assert catalog_only(old, new) is expected
    if expected:
        assert narrowing(old, new) is None
