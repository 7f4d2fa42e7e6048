"""Pieces of a column type change done in steps (expand, backfill, switch, contract).

``ALTER COLUMN ... TYPE`` rewrites the table under ACCESS EXCLUSIVE and aborts on
the first value that does not convert. Done in steps instead, a new column is kept
in step with the old one by a row trigger while old rows are converted in batches.
Two pieces are shared by those steps and by their downgrades, and must be written
the same way each time (a round trip compares function bodies to the character):

``create_lenient_cast``
    A function ``name(text) RETURNS <type>`` that converts what converts and
    returns NULL for the rest, so a bad string never fails an application's
    INSERT. On PostgreSQL 16 and newer it asks ``pg_input_is_valid()`` first (no
    error raised, no subtransaction); on 15 and older, which lack it, it tries the
    cast in a block with an EXCEPTION clause, and every call of that block is a
    subtransaction: cheap (no transaction id is used, since it writes nothing),
    but a real cost per row on a big backfill. The choice is made at run time, so
    one definition serves every server, renders offline, and speeds up by itself
    after a ``pg_upgrade`` to 16.
``create_sync_trigger``
    A ``BEFORE INSERT OR UPDATE OF <column>`` row trigger and its function running
    one assignment. Creating it takes SHARE ROW EXCLUSIVE on the table (writes
    wait, reads do not) for a catalog change only.
"""

from __future__ import annotations

from alembic import op

from migrationkit.pg import qualified_name


def lenient_cast_definition(name: str, *, to_type: str, schema: str | None) -> str:
    """The ``CREATE FUNCTION`` statement of ``create_lenient_cast``."""
    function = qualified_name(name, schema=schema)
    literal = to_type.replace("'", "''")
    return (
        f"CREATE FUNCTION {function}(value text) RETURNS {to_type}\n"
        "LANGUAGE plpgsql STABLE STRICT AS $$\n"
        "BEGIN\n"
        "    IF current_setting('server_version_num')::integer >= 160000 THEN\n"
        f"        IF pg_input_is_valid(value, '{literal}') THEN\n"
        f"            RETURN value::{to_type};\n"
        "        END IF;\n"
        "        RETURN NULL;\n"
        "    END IF;\n"
        "    BEGIN\n"
        f"        RETURN value::{to_type};\n"
        "    EXCEPTION WHEN data_exception THEN\n"
        "        RETURN NULL;\n"
        "    END;\n"
        "END\n"
        "$$"
    )


def create_lenient_cast(name: str, *, to_type: str, schema: str | None = None) -> None:
    """Create ``name(text)``: the value as ``to_type``, or NULL if it is not one.

    Catalog-only (no table lock). See the module docstring for what it costs on
    PostgreSQL 15.
    """
    op.execute(lenient_cast_definition(name, to_type=to_type, schema=schema))


def drop_lenient_cast(name: str, *, schema: str | None = None) -> None:
    """Drop ``name(text)`` (catalog-only)."""
    op.execute(f"DROP FUNCTION IF EXISTS {qualified_name(name, schema=schema)}(text)")


def create_sync_trigger(
    name: str,
    *,
    table: str,
    column: str,
    assignment: str,
    schema: str | None = None,
) -> None:
    """A row trigger ``name`` running ``assignment`` whenever ``column`` is written.

    ``assignment`` is PL/pgSQL on ``NEW``, e.g. ``NEW.b := abbrev(NEW.a);``.
    Takes SHARE ROW EXCLUSIVE on ``table`` for the catalog update only.
    """
    function = qualified_name(name, schema=schema)
    op.execute(
        f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n    {assignment}\n    RETURN NEW;\nEND\n$$"
    )
    op.execute(
        f"CREATE TRIGGER {qualified_name(name, schema=None)}"
        f" BEFORE INSERT OR UPDATE OF {qualified_name(column, schema=None)}"
        f" ON {qualified_name(table, schema=schema)}"
        f" FOR EACH ROW EXECUTE FUNCTION {function}()"
    )


def drop_sync_trigger(name: str, *, table: str, schema: str | None = None) -> None:
    """Drop the row trigger ``name`` and its function (brief table lock)."""
    op.execute(
        f"DROP TRIGGER IF EXISTS {qualified_name(name, schema=None)}"
        f" ON {qualified_name(table, schema=schema)}"
    )
    op.execute(f"DROP FUNCTION IF EXISTS {qualified_name(name, schema=schema)}()")
