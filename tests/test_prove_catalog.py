"""The catalog snapshot and its diff, on a real database (fast: no migrations).

Every object kind the harness compares is created, read back by one snapshot and
found under its qualified name; what PostgreSQL or an extension owns is left out;
a diff names each added, removed and changed object the way a reviewer would.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from migrationkit.prove import VersionTable, diff_snapshots, take_snapshot
from migrationkit.prove.catalog import CatalogSnapshot
from migrationkit.prove.kinds import KINDS

EVERY_KIND = """
CREATE SCHEMA shop;
CREATE EXTENSION citext;
CREATE TYPE shop.status AS ENUM ('draft', 'live');
CREATE DOMAIN shop.positive AS integer CHECK (VALUE > 0);
CREATE SEQUENCE shop.order_numbers START 100;
CREATE TABLE shop.items (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text COLLATE "C" NOT NULL DEFAULT 'unnamed',
    email citext,
    status shop.status,
    price shop.positive,
    doubled integer GENERATED ALWAYS AS (price * 2) STORED
);
ALTER TABLE shop.items ADD CONSTRAINT ck_items_name CHECK (name <> '') NOT VALID;
CREATE INDEX ix_items_name ON shop.items (name);
CREATE VIEW shop.live_items AS SELECT id, name FROM shop.items WHERE status = 'live';
CREATE MATERIALIZED VIEW shop.item_count AS SELECT count(*) AS n FROM shop.items;
CREATE FUNCTION shop.touch() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN RETURN NEW; END $$;
CREATE PROCEDURE shop.noop() LANGUAGE sql AS $$ SELECT 1 $$;
CREATE TRIGGER touch BEFORE UPDATE ON shop.items
    FOR EACH ROW EXECUTE FUNCTION shop.touch();
ALTER TABLE shop.items ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone ON shop.items USING (true);
COMMENT ON TABLE shop.items IS 'what we sell';
COMMENT ON COLUMN shop.items.name IS 'shown to customers';
CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES ('0042');
"""


@pytest.fixture
def connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    with engine.connect() as conn:
        yield conn


def build(connection: sa.Connection, sql: str) -> CatalogSnapshot:
    with connection.begin():
        connection.exec_driver_sql(sql)
    return take_snapshot(connection, version_table=VersionTable())


def test_an_empty_database_has_only_its_public_schema(
    connection: sa.Connection,
) -> None:
    snapshot = take_snapshot(connection)
    assert {kind: dict(found) for kind, found in snapshot.objects.items() if found} == {
        "schemas": {"public": {}}
    }


def test_every_kind_is_read_under_its_qualified_name(
    connection: sa.Connection,
) -> None:
    objects = build(connection, EVERY_KIND).objects
    assert {kind.name for kind in KINDS} <= set(objects)
    assert set(objects["schemas"]) == {"public", "shop"}
    assert objects["extensions"]["citext"]["schema"] == "public"
    assert objects["types"]["shop.status"]["values"] == ["draft", "live"]
    assert objects["types"]["shop.positive"]["checks"] == ["CHECK ((VALUE > 0))"]
    assert objects["sequences"]["shop.order_numbers"]["start"] == 100
    assert objects["sequences"]["shop.items_id_seq"]["owned by"] == (
        "shop.items.id (identity)"
    )
    name = objects["columns"]["shop.items.name"]
    assert name == {
        "type": "text",
        "nullable": False,
        "default": "'unnamed'::text",
        "collation": "C",
    }
    assert objects["columns"]["shop.items.id"]["identity"] == "always"
    assert objects["columns"]["shop.items.doubled"]["generated"] == (
        "((price)::integer * 2)"
    )
    check = objects["constraints"]["shop.items.ck_items_name"]
    assert check == {
        "type": "check",
        "definition": "CHECK ((name <> ''::text)) NOT VALID",
        "valid": False,
    }
    assert objects["indexes"]["shop.ix_items_name"] == {
        "definition": "CREATE INDEX ix_items_name ON shop.items USING btree (name)",
        "valid": True,
    }
    assert objects["views"]["shop.item_count"]["kind"] == "materialized view"
    assert "shop.live_items" in objects["views"]
    assert objects["functions"]["shop.noop()"]["kind"] == "procedure"
    assert "shop.touch()" in objects["functions"]
    assert "shop.items.touch" in objects["triggers"]
    assert "shop.items.everyone" in objects["policies"]
    assert objects["tables"]["shop.items"]["row security"] is True
    assert objects["comments"]["table shop.items"] == {"text": "what we sell"}
    assert "column shop.items.name" in objects["comments"]
    # the version table is compared by its rows only
    assert objects["version rows"] == {"0042": {}}
    assert not any("alembic_version" in key for key in objects["tables"])
    assert not any("alembic_version" in key for key in objects["indexes"])
    # what the extension installed is the extension's, not ours
    assert not any("citext" in key for key in objects["functions"])
    assert not any(key.endswith(".citext") for key in objects["types"])


def test_the_diff_names_added_removed_and_changed_objects(
    connection: sa.Connection,
) -> None:
    before = build(
        connection,
        "CREATE TYPE mood AS ENUM ('sad', 'happy');"
        "CREATE TABLE notes (body text DEFAULT 'x');"
        "CREATE FUNCTION old_one() RETURNS int LANGUAGE sql AS 'SELECT 1';",
    )
    after = build(
        connection,
        "ALTER TYPE mood ADD VALUE 'calm' BEFORE 'happy';"
        "ALTER TABLE notes ALTER COLUMN body SET DEFAULT 'y';"
        "DROP FUNCTION old_one();"
        "CREATE INDEX ix_notes_body ON notes (body);",
    )
    diff = diff_snapshots(before, after)
    assert diff.summary() == "1 added, 1 removed, 2 changed"
    lines = diff.lines(before="old", after="new")
    assert lines[0] == (
        "+ added: index public.ix_notes_body: "
        "CREATE INDEX ix_notes_body ON public.notes USING btree (body)"
    )
    assert lines[1].startswith("- removed: function public.old_one(): ")
    assert "~ changed: column public.notes.body" in lines
    assert "    default: 'x'::text (old) -> 'y'::text (new)" in lines
    assert "~ changed: enum type public.mood" in lines
    assert (
        '    values: ["sad", "happy"] (old) -> ["sad", "calm", "happy"] (new)' in lines
    )
    assert not diff_snapshots(after, after)


def test_a_dropped_table_is_one_line_with_its_parts(
    connection: sa.Connection,
) -> None:
    before = build(connection, "SELECT 1")
    after = build(
        connection,
        "CREATE TABLE tags (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
        " label text NOT NULL UNIQUE)",
    )
    diff = diff_snapshots(before, after)
    assert diff.summary() == "1 added"
    assert diff.lines(added="left behind") == [
        (
            "+ left behind: table public.tags with its 2 columns, 4 constraints, "
            "2 indexes, 1 sequence"
        )
    ]
