"""The safe operations, run by a real ``alembic upgrade`` on a real PostgreSQL.

Each test writes a revision into a private copy of the project (on top of 001,
the users table), fills the table with a couple of thousand rows and runs Alembic's
command line, as a deployer would (in the test process: ``Project.alembic``).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from migrationkit.ops.backfill import DEFAULT_BATCH_SIZE
from tests.helpers import (
    USERS_ROWS,
    Project,
    current_revision,
    failed,
    index_state,
    ok,
    only_first_revision,
    upgrade_to_users,
    write_revision,
)

# ------------------------------------------------------------------ scenario


def constraints(engine: sa.Engine, table: str) -> dict[str, tuple[str, bool]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT conname, contype::text AS kind, convalidated FROM pg_constraint"
                " WHERE conrelid = to_regclass(:table)"
            ),
            {"table": table},
        ).all()
    return {row.conname: (row.kind, row.convalidated) for row in rows}


def column_not_null(engine: sa.Engine, table: str, column: str) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(
                sa.text(
                    "SELECT attnotnull FROM pg_attribute"
                    " WHERE attrelid = to_regclass(:table) AND attname = :column"
                ),
                {"table": table, "column": column},
            ).scalar_one()
        )


def scalar(engine: sa.Engine, sql: str) -> object:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar_one()


# ------------------------------------------------------------------- indexes


def test_create_index_concurrently_builds_a_valid_index_outside_a_transaction(
    project: Project, engine: sa.Engine
) -> None:
    upgrade_to_users(project, engine)
    write_revision(
        project,
        rev="900",
        down="001",
        upgrade='create_index_concurrently("ix_users_first_name", "users", '
        '["first_name"], where="is_active")',
        downgrade='drop_index_concurrently("ix_users_first_name", table_name="users")',
    )
    # PostgreSQL refuses CREATE INDEX CONCURRENTLY inside a transaction block, so
    # a successful online run proves the statement ran concurrently and outside
    # the migration's transaction; the offline script shows the exact SQL.
    ok(project.alembic("upgrade", "head"))
    state = index_state(engine, "ix_users_first_name")
    assert state is not None
    assert state.valid
    with engine.connect() as conn:
        definition = conn.execute(
            sa.text("SELECT pg_get_indexdef(to_regclass('ix_users_first_name'))")
        ).scalar_one()
    assert "WHERE is_active" in definition

    sql = ok(project.alembic("upgrade", "001:900", "--sql")).stdout
    assert "COMMIT;" in sql
    assert "CREATE INDEX CONCURRENTLY ix_users_first_name ON users" in sql

    ok(project.alembic("downgrade", "001"))
    assert index_state(engine, "ix_users_first_name") is None
    # dropping again (IF EXISTS) is harmless
    ok(project.alembic("upgrade", "head"))
    ok(project.alembic("downgrade", "001"))


def test_an_existing_valid_index_is_kept(project: Project, engine: sa.Engine) -> None:
    upgrade_to_users(project, engine)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE INDEX ix_users_first_name ON users (first_name)"))
    before = index_state(engine, "ix_users_first_name")
    write_revision(
        project,
        rev="900",
        down="001",
        upgrade='create_index_concurrently("ix_users_first_name", "users", '
        '["first_name"])',
    )
    result = ok(project.alembic("upgrade", "head"))
    assert "exists and is valid" in result.stderr
    assert index_state(engine, "ix_users_first_name") == before


def test_a_failed_unique_build_explains_the_duplicates_and_leaves_nothing_behind(
    project: Project, engine: sa.Engine
) -> None:
    upgrade_to_users(project, engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE users SET first_name = 'twin' WHERE email < 'user2'")
        )
    write_revision(
        project,
        rev="900",
        down="001",
        upgrade='create_index_concurrently("uq_users_first_name", "users", '
        '["first_name"], unique=True)',
    )
    message = failed(project.alembic("upgrade", "head"))
    assert "duplicate values" in message
    assert "(first_name)=(twin)" in message
    assert "Resolve the duplicates" in message
    assert index_state(engine, "uq_users_first_name") is None
    assert current_revision(project).startswith("001")


def test_an_invalid_index_left_behind_is_dropped_and_rebuilt(
    project: Project, engine: sa.Engine
) -> None:
    upgrade_to_users(project, engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE users SET first_name = 'twin' WHERE email < 'user2'")
        )
    # A real INVALID index: a concurrent unique build that fails on duplicates.
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(
            sa.text(
                "CREATE UNIQUE INDEX CONCURRENTLY uq_users_first_name"
                " ON users (first_name)"
            )
        )
    leftover = index_state(engine, "uq_users_first_name")
    assert leftover is not None
    assert not leftover.valid

    with engine.begin() as conn:  # the data is fixed
        conn.execute(sa.text("UPDATE users SET first_name = email"))
    write_revision(
        project,
        rev="900",
        down="001",
        upgrade='create_index_concurrently("uq_users_first_name", "users", '
        '["first_name"], unique=True)',
    )
    result = ok(project.alembic("upgrade", "head"))
    assert "is INVALID" in result.stderr
    rebuilt = index_state(engine, "uq_users_first_name")
    assert rebuilt is not None
    assert rebuilt.valid
    assert rebuilt.is_unique
    assert rebuilt.oid != leftover.oid


# ------------------------------------------------------------------ NOT NULL


def test_add_not_null_sets_not_null_and_removes_its_helper_check(
    project: Project, engine: sa.Engine
) -> None:
    upgrade_to_users(project, engine)
    write_revision(
        project, rev="900", down="001", upgrade='add_not_null("users", "first_name")'
    )
    write_revision(  # a rerun of the same step is harmless
        project, rev="901", down="900", upgrade='add_not_null("users", "first_name")'
    )
    result = ok(project.alembic("upgrade", "head"))
    assert "already NOT NULL" in result.stderr
    assert column_not_null(engine, "users", "first_name")
    assert all(kind != "c" for kind, _ in constraints(engine, "users").values())
    with engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, is_active)"
                " VALUES (gen_random_uuid(), 'x@example.com', true)"
            )
        )


def test_add_not_null_refuses_while_nulls_remain(
    project: Project, engine: sa.Engine
) -> None:
    upgrade_to_users(project, engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE users SET first_name = NULL WHERE email LIKE 'user1_@%'")
        )
        nulls = conn.execute(
            sa.text("SELECT count(*) FROM users WHERE first_name IS NULL")
        ).scalar_one()
    write_revision(
        project, rev="900", down="001", upgrade='add_not_null("users", "first_name")'
    )
    message = failed(project.alembic("upgrade", "head"))
    assert f"users.first_name NOT NULL: {nulls} row(s) still hold NULL" in message
    assert "run the migration again" in message
    assert not column_not_null(engine, "users", "first_name")
    assert all(kind != "c" for kind, _ in constraints(engine, "users").values())
    assert current_revision(project).startswith("001")

    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE users SET first_name = 'n/a' WHERE first_name IS NULL")
        )
    ok(project.alembic("upgrade", "head"))
    assert column_not_null(engine, "users", "first_name")


def test_add_not_null_column_adds_backfills_and_constrains(
    project: Project, engine: sa.Engine
) -> None:
    upgrade_to_users(project, engine)
    write_revision(
        project,
        rev="900",
        down="001",
        upgrade="""
            add_not_null_column(
                "users",
                sa.Column("handle", sa.String(100), nullable=False),
                backfill_sql="split_part(email, '@', 1)",
                batch_size=700,
            )
        """,
        downgrade='op.drop_column("users", "handle")',
    )
    result = ok(project.alembic("upgrade", "head"))
    assert f"backfill users.handle: {USERS_ROWS:,} rows updated" in result.stderr
    assert column_not_null(engine, "users", "handle")
    mismatched = scalar(
        engine, "SELECT count(*) FROM users WHERE handle <> split_part(email, '@', 1)"
    )
    assert mismatched == 0
    ok(project.alembic("downgrade", "001"))


# -------------------------------------------------------- foreign keys, unique


ORDERS = """
    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("user_id", sa.UUID, nullable=True),
    )
    op.execute("INSERT INTO orders (id, user_id) SELECT g, id FROM"
               " (SELECT id, row_number() OVER () AS g FROM users LIMIT 500) AS u")
"""


def test_foreign_key_is_added_not_valid_then_validated(
    project: Project, engine: sa.Engine
) -> None:
    upgrade_to_users(project, engine)
    write_revision(
        project,
        rev="900",
        down="001",
        upgrade=ORDERS
        + """
    add_foreign_key_not_valid(
        "fk_orders_user_id_users", "orders", "users", ["user_id"], ["id"],
        ondelete="CASCADE",
    )
    add_foreign_key_not_valid(  # idempotent
        "fk_orders_user_id_users", "orders", "users", ["user_id"], ["id"],
    )
""",
        downgrade='op.drop_table("orders")',
    )
    result = ok(project.alembic("upgrade", "head"))
    assert "foreign key fk_orders_user_id_users on orders exists" in result.stderr
    assert constraints(engine, "orders")["fk_orders_user_id_users"] == ("f", True)
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM users WHERE id IN (SELECT user_id FROM orders)")
        )
    assert scalar(engine, "SELECT count(*) FROM orders") == 0  # ON DELETE CASCADE
    ok(project.alembic("downgrade", "001"))


def test_foreign_key_with_orphans_stays_not_valid_with_a_clear_error(
    project: Project, engine: sa.Engine
) -> None:
    upgrade_to_users(project, engine)
    write_revision(
        project,
        rev="900",
        down="001",
        upgrade=ORDERS
        + """
    op.execute("INSERT INTO orders VALUES (100000, gen_random_uuid())")
    add_foreign_key_not_valid(
        "fk_orders_user_id_users", "orders", "users", ["user_id"], ["id"]
    )
""",
    )
    message = failed(project.alembic("upgrade", "head"))
    assert "'fk_orders_user_id_users' on 'orders' cannot be validated" in message
    assert "is not present in table" in message
    # The NOT VALID constraint was committed before the validation (by design):
    # it already guards new rows, and a rerun only validates it.
    assert constraints(engine, "orders")["fk_orders_user_id_users"] == ("f", False)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM orders WHERE id = 100000"))
    write_revision(  # the fixed revision a developer would ship
        project,
        rev="900",
        down="001",
        upgrade="""
    add_foreign_key_not_valid(
        "fk_orders_user_id_users", "orders", "users", ["user_id"], ["id"]
    )
""",
    )
    ok(project.alembic("upgrade", "head"))
    assert constraints(engine, "orders")["fk_orders_user_id_users"] == ("f", True)


def test_unique_constraint_is_made_from_a_concurrently_built_index(
    project: Project, engine: sa.Engine
) -> None:
    upgrade_to_users(project, engine)
    write_revision(
        project,
        rev="900",
        down="001",
        upgrade="""
            for _ in range(2):  # the second call finds the constraint
                add_unique_constraint_using_index(
                    "uq_users_first_name", "users", ["first_name"]
                )
        """,
        downgrade='op.drop_constraint("uq_users_first_name", "users", type_="unique")',
    )
    result = ok(project.alembic("upgrade", "head"))
    assert "constraint uq_users_first_name on users exists" in result.stderr
    assert constraints(engine, "users")["uq_users_first_name"] == ("u", True)
    with engine.connect() as conn:
        backing = conn.execute(
            sa.text(
                "SELECT conindid::regclass::text FROM pg_constraint"
                " WHERE conname = 'uq_users_first_name'"
            )
        ).scalar_one()
    assert backing == "uq_users_first_name"
    ok(project.alembic("downgrade", "001"))
    assert index_state(engine, "uq_users_first_name") is None


def test_offline_sql_shows_every_step_in_order(project: Project) -> None:
    """``alembic upgrade --sql`` renders the safe operations for review."""
    only_first_revision(project)
    write_revision(
        project,
        rev="900",
        down="001",
        upgrade="""
            add_not_null("users", "first_name")
            add_unique_constraint_using_index(
                "uq_users_first_name", "users", ["first_name"]
            )
            add_foreign_key_not_valid(
                "fk_users_id_users", "users", "users", ["id"], ["id"]
            )
            backfill_in_batches(
                table="users", set_sql="first_name = 'x'", pending_sql="first_name = ''"
            )
        """,
    )
    sql = ok(project.alembic("upgrade", "001:900", "--sql")).stdout
    steps = [
        "CHECK (first_name IS NOT NULL) NOT VALID;",
        "COMMIT;",
        "ALTER TABLE users VALIDATE CONSTRAINT ck_users_first_name_not_null_tmp;",
        "ALTER TABLE users ALTER COLUMN first_name SET NOT NULL;",
        "ALTER TABLE users DROP CONSTRAINT ck_users_first_name_not_null_tmp;",
        "CREATE UNIQUE INDEX CONCURRENTLY uq_users_first_name ON users (first_name);",
        "ADD CONSTRAINT uq_users_first_name UNIQUE USING INDEX uq_users_first_name;",
        "FOREIGN KEY(id) REFERENCES users (id) NOT VALID;",
        "ALTER TABLE users VALIDATE CONSTRAINT fk_users_id_users;",
        f"-- migrationkit: backfill users runs in batches of {DEFAULT_BATCH_SIZE}",
        "UPDATE users SET first_name = 'x' WHERE (first_name = '');",
    ]
    position = 0
    for step in steps:
        found = sql.find(step, position)
        assert found >= 0, f"{step!r} missing after position {position}:\n{sql}"
        position = found + len(step)


def test_add_not_null_finishes_after_a_crash_left_its_helper_check(
    project: Project, engine: sa.Engine
) -> None:
    upgrade_to_users(project, engine)
    with engine.begin() as conn:  # as if a run died right after ADD ... NOT VALID
        conn.execute(
            sa.text(
                "ALTER TABLE users ADD CONSTRAINT ck_users_first_name_not_null_tmp"
                " CHECK (first_name IS NOT NULL) NOT VALID"
            )
        )
    write_revision(
        project, rev="900", down="001", upgrade='add_not_null("users", "first_name")'
    )
    ok(project.alembic("upgrade", "head"))
    assert column_not_null(engine, "users", "first_name")
    assert "ck_users_first_name_not_null_tmp" not in constraints(engine, "users")


# ------------------------------------------------- schema=, and op.<operation>


SECOND_SCHEMA = """
    CREATE SCHEMA other;
    CREATE TABLE other.users (LIKE public.users INCLUDING DEFAULTS);
    ALTER TABLE other.users ADD PRIMARY KEY (id);
    INSERT INTO other.users SELECT * FROM public.users;
    CREATE TABLE other.orders (id bigint PRIMARY KEY, user_id uuid, note text);
    INSERT INTO other.orders SELECT row_number() OVER (), id FROM other.users;
    CREATE INDEX ix_users_first_name ON public.users (first_name);
"""


def test_operations_use_the_schema_they_are_given_not_the_search_path(
    project: Project, engine: sa.Engine
) -> None:
    """public.users (first on the search path) has an index of the same name and
    a nullable first_name: neither may be taken for other.users'."""
    upgrade_to_users(project, engine)
    with engine.begin() as conn:
        for statement in SECOND_SCHEMA.split(";"):
            if statement.strip():
                conn.execute(sa.text(statement))
    public_index = index_state(engine, "public.ix_users_first_name")
    write_revision(
        project,
        rev="900",
        down="001",
        upgrade="""
            for _ in range(2):  # the second round finds every step done
                create_index_concurrently(
                    "ix_users_first_name", "users", ["first_name"], schema="other"
                )
                add_not_null("users", "first_name", schema="other")
                add_unique_constraint_using_index(
                    "uq_users_email", "users", ["email"], schema="other"
                )
                add_foreign_key_not_valid(
                    "fk_orders_user_id_users", "orders", "users", ["user_id"], ["id"],
                    schema="other", referent_schema="other",
                )
                backfill_in_batches(
                    table="orders", schema="other", set_sql="note = 'seen'",
                    pending_sql="note IS NULL", batch_size=300,
                )
        """,
        downgrade="""
            drop_index_concurrently("ix_users_first_name", schema="other")
        """,
    )
    ok(project.alembic("upgrade", "head"))

    other_index = index_state(engine, "other.ix_users_first_name")
    assert other_index is not None
    assert other_index.valid
    assert index_state(engine, "public.ix_users_first_name") == public_index
    assert column_not_null(engine, "other.users", "first_name")
    assert not column_not_null(engine, "public.users", "first_name")
    assert constraints(engine, "other.users")["uq_users_email"] == ("u", True)
    assert constraints(engine, "other.orders")["fk_orders_user_id_users"] == ("f", True)
    assert "fk_orders_user_id_users" not in constraints(engine, "public.users")
    assert scalar(engine, "SELECT count(*) FROM other.orders WHERE note = 'seen'") == (
        USERS_ROWS
    )

    sql = ok(project.alembic("upgrade", "001:900", "--sql")).stdout
    assert "CREATE INDEX CONCURRENTLY ix_users_first_name ON other.users" in sql
    assert "ALTER TABLE other.users VALIDATE CONSTRAINT" in sql
    assert "UPDATE other.orders SET note = 'seen'" in sql

    ok(project.alembic("downgrade", "001"))
    assert index_state(engine, "other.ix_users_first_name") is None
    assert index_state(engine, "public.ix_users_first_name") == public_index


def test_the_safe_operations_are_alembic_operations(
    project: Project, engine: sa.Engine
) -> None:
    """``op.create_index_concurrently(...)`` and friends, online and offline."""
    upgrade_to_users(project, engine)
    write_revision(
        project,
        rev="900",
        down="001",
        upgrade="""
            op.create_index_concurrently("ix_users_first_name", "users", ["first_name"])
            op.backfill_in_batches(
                table="users", set_sql="first_name = 'n/a'",
                pending_sql="first_name IS NULL",
            )
            op.add_not_null("users", "first_name")
            op.add_unique_constraint_using_index("uq_users_email", "users", ["email"])
        """,
        downgrade="""
            op.drop_constraint("uq_users_email", "users", type_="unique")
            op.drop_index_concurrently("ix_users_first_name")
        """,
    )
    ok(project.alembic("upgrade", "head"))
    state = index_state(engine, "ix_users_first_name")
    assert state is not None
    assert state.valid
    assert column_not_null(engine, "users", "first_name")
    assert constraints(engine, "users")["uq_users_email"] == ("u", True)

    sql = ok(project.alembic("upgrade", "001:900", "--sql")).stdout
    assert "CREATE INDEX CONCURRENTLY ix_users_first_name ON users" in sql
    assert "ADD CONSTRAINT uq_users_email UNIQUE USING INDEX uq_users_email" in sql

    ok(project.alembic("downgrade", "001"))
    assert index_state(engine, "ix_users_first_name") is None
