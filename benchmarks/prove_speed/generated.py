"""A generated Alembic project with a long history, for timing the harnesses.

Each revision does what real revisions do: revision ``n`` creates table ``t<n>``
with an identity key, a column with a server default, a CHECK constraint and an
index; every fifth one also adds an enum type and a column using it to the
previous table. The models match the head, so every check of both harnesses
passes and what is timed is the work, not the reporting of failures.

With ``leaky_every=k``, every k-th revision also creates a function its
downgrade forgets to drop (``CREATE OR REPLACE``, so upgrading again succeeds):
a failing history, where each leak costs prove a fresh start after the round
trip. pytest-alembic passes it (its up/down test only asks whether each step
runs, and autogenerate does not see functions); prove fails exactly those
revisions' round trips, and every other check passes.
"""

from __future__ import annotations

from pathlib import Path

_INI = """\
[alembic]
script_location = %(here)s/migrations
prepend_sys_path = %(here)s
path_separator = os
"""

_ENV = """\
from alembic import context

from generated_models import Base

from migrationkit.runtime import run_migrations

run_migrations(context, target_metadata=Base.metadata)
"""

_REVISION = '''\
"""create t{n}"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "{rev}"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "t{n}",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("name", sa.String(50), server_default="", nullable=False),
        sa.Column("qty", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("qty >= 0", name="ck_t{n}_qty"),
    )
    op.create_index("ix_t{n}_name", "t{n}", ["name"])
{enum_up}{leak}

def downgrade() -> None:
{enum_down}    op.drop_index("ix_t{n}_name", table_name="t{n}")
    op.drop_table("t{n}")
'''

_ENUM_UP = """\
    kind = postgresql.ENUM("a", "b", "c", name="kind{n}")
    kind.create(op.get_bind())
    op.add_column("t{prev}", sa.Column("kind", kind, nullable=True))
"""

_ENUM_DOWN = """\
    op.drop_column("t{prev}", "kind")
    postgresql.ENUM(name="kind{n}").drop(op.get_bind())
"""

_MODEL = """

class T{n}(Base):
    __tablename__ = "t{n}"
    __table_args__ = (sa.CheckConstraint("qty >= 0", name="ck_t{n}_qty"),)

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(50), server_default="", index=True)
    qty: Mapped[int] = mapped_column(server_default="0")
{kind}"""

_KIND = """\
    kind: Mapped[str | None] = mapped_column(
        sa.Enum("a", "b", "c", name="kind{n}")
    )
"""


_LEAK = """\
    op.execute(
        "CREATE OR REPLACE FUNCTION f{n}() RETURNS integer LANGUAGE sql AS 'SELECT {n}'"
    )
"""


def has_enum(n: int) -> bool:
    """Revision ``n`` adds an enum column to table ``n - 1``."""
    return n > 1 and n % 5 == 0


def leaks(n: int, *, leaky_every: int) -> bool:
    """Revision ``n``'s downgrade leaves its function behind."""
    return leaky_every > 0 and n % leaky_every == 0


def write_project(folder: Path, *, revisions: int, leaky_every: int = 0) -> Path:
    """Write the project into ``folder``; returns its alembic.ini."""
    versions = folder / "migrations" / "versions"
    versions.mkdir(parents=True)
    (folder / "alembic.ini").write_text(_INI)
    (folder / "migrations" / "env.py").write_text(_ENV)
    models = [
        "import sqlalchemy as sa",
        "from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column",
        "",
        "",
        "class Base(DeclarativeBase):",
        "    pass",
    ]
    for n in range(1, revisions + 1):
        enum = has_enum(n)
        (versions / f"r{n:04d}.py").write_text(
            _REVISION.format(
                n=n,
                rev=f"r{n:04d}",
                down=f"r{n - 1:04d}" if n > 1 else None,
                enum_up=_ENUM_UP.format(n=n, prev=n - 1) if enum else "",
                enum_down=_ENUM_DOWN.format(n=n, prev=n - 1) if enum else "",
                leak=_LEAK.format(n=n) if leaks(n, leaky_every=leaky_every) else "",
            )
        )
        kind = _KIND.format(n=n + 1) if has_enum(n + 1) and n < revisions else ""
        models.append(_MODEL.format(n=n, kind=kind).rstrip("\n"))
    (folder / "generated_models.py").write_text("\n".join(models) + "\n")
    return folder / "alembic.ini"
