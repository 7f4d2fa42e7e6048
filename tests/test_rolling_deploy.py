"""A rolling deploy of the history: the old release keeps reading and writing its
sign-ins at every revision, and the new one from the switch on.

During a rolling deploy the previous release keeps serving while the revisions
run one by one (expand, backfill, switch, contract), and the new release joins
it once its schema is there. These tests walk the real history one revision at
a time (``upgrade +1`` from the revision that creates ``login_events`` to head,
then ``downgrade -1`` back, the rollback half) and after every step run the very
statements each release issues, on the test server:

- the old release: ``benchmarks.deploy.release.OLD_LOGIN_EVENTS`` (the mapping
  the deploy benchmark serves), INSERT ... RETURNING, then SELECT by id and by
  address of every sign-in written so far;
- the new release: ``models.LoginEvent`` through the ORM, wherever
  ``ip_address`` is INET;
- a release that binds its text as VARCHAR (SQLAlchemy's ``Text``): accepted
  where ``ip_address`` is TEXT, refused where it is INET. That is why the old
  release binds without a cast (docs/rolling-deploy.md).

Nothing here names a revision: the walk starts where the table appears and the
expectations follow the column's type as the catalog reports it at each step.

The last test runs the rule docs/rolling-deploy.md gives for the next type change
(the old name keeps its type, the new type gets a new name) on a table of its own,
with the VARCHAR-binding release writing throughout.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg import errors as pg_errors
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from benchmarks.deploy.release import OLD_LOGIN_EVENTS, VARCHAR_LOGIN_EVENTS
from models import LoginEvent, User
from models.login_event import IpAddress
from tests.helpers import Project

# Hosts and a network, IPv4 and IPv6, each as the old release's users typed them.
ADDRESSES = ["192.168.7.20", "2001:db8::7", "10.0.0.0/8", "172.16.0.1"]


@pytest.fixture
def alembic_config(repo_project: Project, monkeypatch: pytest.MonkeyPatch) -> Config:
    """The repository's own history, in-process, on this test's database."""
    assert repo_project.database_url is not None
    monkeypatch.setenv("DATABASE_URL", repo_project.database_url.reveal())
    monkeypatch.chdir(repo_project.path)
    config = Config(str(repo_project.path / "alembic.ini"))
    config.cmd_opts = argparse.Namespace(x=["backfill_batch_size=500"])
    return config


@dataclass
class Walk:
    """One revision at a time, from where ``login_events`` appears to head."""

    config: Config
    engine: sa.Engine
    head: str = field(init=False)

    def __post_init__(self) -> None:
        (self.head,) = ScriptDirectory.from_config(self.config).get_heads()

    def current(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def ip_address_type(self) -> str | None:
        with self.engine.connect() as conn:
            kind: str | None = conn.scalar(
                sa.text(
                    "SELECT data_type FROM information_schema.columns"
                    " WHERE table_name = 'login_events'"
                    " AND column_name = 'ip_address'"
                )
            )
            return kind

    def to_login_events(self) -> None:
        while self.ip_address_type() is None:
            assert self.current() != self.head, "no revision creates login_events"
            command.upgrade(self.config, "+1")

    def up(self) -> Iterator[str]:
        """Apply each later revision; yield the revision reached."""
        while self.current() != self.head:
            command.upgrade(self.config, "+1")
            revision = self.current()
            assert revision is not None
            yield revision

    def down_to(self, revision: str) -> Iterator[str]:
        """Revert one revision at a time down to ``revision``; yield each reached."""
        while self.current() != revision:
            command.downgrade(self.config, "-1")
            reached = self.current()
            assert reached is not None
            yield reached


@dataclass
class OldRelease:
    """What the old release's sign-in route and a read of its events execute."""

    engine: sa.Engine
    user_id: uuid.UUID
    written: dict[int, str] = field(default_factory=dict)

    def sign_in(self, address: str) -> None:
        with Session(self.engine) as session:
            new_id = session.execute(
                OLD_LOGIN_EVENTS.insert()
                .values(user_id=self.user_id, ip_address=address)
                .returning(OLD_LOGIN_EVENTS.c.id)
            ).scalar_one()
            session.commit()
        self.written[new_id] = address

    def check_reads(self, where: str) -> None:
        """Every sign-in written so far reads back as the text that was written."""
        table = OLD_LOGIN_EVENTS
        with Session(self.engine) as session:
            rows = session.execute(
                sa.select(table.c.id, table.c.ip_address).where(
                    table.c.id.in_(list(self.written))
                )
            )
            by_id = dict(rows.all())  # not dict(rows): a Result has keys()
            assert by_id == self.written, where
            for address in set(self.written.values()):
                found = session.scalars(
                    sa.select(table.c.id).where(
                        table.c.user_id == self.user_id,
                        table.c.ip_address == address,
                    )
                ).all()
                expected = {i for i, a in self.written.items() if a == address}
                assert set(found) == expected, (where, address)


def new_release_signs_in(engine: sa.Engine, user_id: uuid.UUID, address: str) -> None:
    """The new release's write and read: ``models.LoginEvent`` through the ORM."""
    with Session(engine, expire_on_commit=False) as session:
        event = LoginEvent(user_id=user_id, ip_address=address)
        session.add(event)
        session.commit()
        session.expire(event)
        assert str(event.ip_address) == address


def add_user(engine: sa.Engine) -> uuid.UUID:
    """A user, written as the application writes one (``users`` does not change
    across the type change)."""
    token = uuid.uuid4().hex
    with Session(engine, expire_on_commit=False) as session:
        user = User(email=f"{token}@example.com", username=f"u_{token[:20]}")
        session.add(user)
        session.commit()
    return user.id


def test_old_release_signs_in_at_every_revision_up_and_down_and_the_new_from_inet(
    alembic_config: Config, engine: sa.Engine
) -> None:
    walk = Walk(alembic_config, engine)
    walk.to_login_events()
    first = walk.current()
    assert first is not None
    old = OldRelease(engine, add_user(engine))
    old.sign_in(ADDRESSES[0])
    types_seen = {walk.ip_address_type()}
    new_user = add_user(engine)

    steps = 0
    for n, revision in enumerate(walk.up()):
        where = f"after upgrade to {revision}"
        old.sign_in(ADDRESSES[n % len(ADDRESSES)])
        old.check_reads(where)
        kind = walk.ip_address_type()
        types_seen.add(kind)
        if kind == "inet":
            new_release_signs_in(engine, new_user, ADDRESSES[n % len(ADDRESSES)])
        steps += 1
    assert steps > 0
    # The walk crossed the type change: TEXT where it began, INET at head.
    assert types_seen >= {"text", "inet"}
    assert walk.ip_address_type() == "inet"

    # The rollback half of the window: the old release works at every step down.
    for n, revision in enumerate(walk.down_to(first)):
        old.sign_in(ADDRESSES[n % len(ADDRESSES)])
        old.check_reads(f"after downgrade to {revision}")


def test_a_release_binding_varchar_is_refused_exactly_where_ip_address_is_inet(
    alembic_config: Config, engine: sa.Engine
) -> None:
    """The failure the old release's untyped bind avoids, pinned to its cause."""
    walk = Walk(alembic_config, engine)
    walk.to_login_events()
    user_id = add_user(engine)
    kinds: set[str | None] = set()
    for revision in walk.up():
        kind = walk.ip_address_type()
        kinds.add(kind)
        statement = VARCHAR_LOGIN_EVENTS.insert().values(
            user_id=user_id, ip_address="192.168.7.20"
        )
        assert "::VARCHAR" in str(statement.compile(dialect=engine.dialect))
        if kind != "inet":
            with engine.begin() as conn:
                conn.execute(statement)
            continue
        with pytest.raises(sa.exc.ProgrammingError) as refused, engine.begin() as conn:
            conn.execute(statement)
        assert isinstance(refused.value.orig, pg_errors.DatatypeMismatch), revision
        assert "character varying" in str(refused.value.orig)
    assert "inet" in kinds  # the walk did reach the INET column


# -- the rule for the next type change -----------------------------------------------

EXPAND = [
    "ALTER TABLE login_events ADD COLUMN ip_address_inet inet",
    """
    CREATE FUNCTION login_events_ip_both_ways() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            IF NEW.ip_address_inet IS NULL THEN
                NEW.ip_address_inet := NEW.ip_address::inet;
            ELSIF NEW.ip_address IS NULL THEN
                NEW.ip_address := abbrev(NEW.ip_address_inet);
            END IF;
        ELSIF NEW.ip_address IS DISTINCT FROM OLD.ip_address THEN
            NEW.ip_address_inet := NEW.ip_address::inet;
        ELSIF NEW.ip_address_inet IS DISTINCT FROM OLD.ip_address_inet THEN
            NEW.ip_address := abbrev(NEW.ip_address_inet);
        END IF;
        RETURN NEW;
    END
    $$
    """,
    (
        "CREATE TRIGGER login_events_ip_both_ways BEFORE INSERT OR UPDATE"
        " ON login_events FOR EACH ROW EXECUTE FUNCTION login_events_ip_both_ways()"
    ),
]
BACKFILL = [
    (
        "UPDATE login_events SET ip_address_inet = ip_address::inet"
        " WHERE ip_address_inet IS NULL AND ip_address IS NOT NULL"
    ),
]
CONTRACT = [
    "DROP TRIGGER login_events_ip_both_ways ON login_events",
    "DROP FUNCTION login_events_ip_both_ways()",
    "ALTER TABLE login_events DROP COLUMN ip_address",
]


class NewModels(DeclarativeBase):
    pass


class NewLoginEvent(NewModels):
    """The new release's model: the attribute keeps its name, the column is new."""

    __tablename__ = "login_events"

    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    ip_address: Mapped[IpAddress | None] = mapped_column("ip_address_inet", INET)


def test_a_type_change_under_a_new_name_serves_a_varchar_release_and_the_new_one(
    engine: sa.Engine,
) -> None:
    """docs/rolling-deploy.md's rule for the next type change, on a table of its
    own: while the two releases run, the old name keeps its old type (a release
    binding VARCHAR keeps writing) and the new type lives under a new name that
    the new model maps; each release reads what the other wrote."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE login_events (id bigint GENERATED BY DEFAULT AS"
                " IDENTITY PRIMARY KEY, user_id uuid NOT NULL, ip_address text)"
            )
        )
    user_id = uuid.uuid4()
    old_written: dict[int, str] = {}

    def old_release_signs_in(address: str) -> None:
        with engine.begin() as conn:
            new_id = conn.execute(
                VARCHAR_LOGIN_EVENTS.insert()
                .values(user_id=user_id, ip_address=address)
                .returning(VARCHAR_LOGIN_EVENTS.c.id)
            ).scalar_one()
        old_written[new_id] = address

    def run(statements: list[str]) -> None:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))

    old_release_signs_in(ADDRESSES[0])
    run(EXPAND)
    old_release_signs_in(ADDRESSES[1])
    run(BACKFILL)
    old_release_signs_in(ADDRESSES[2])
    # The new release joins: it writes the INET column and reads the old writes.
    with Session(engine, expire_on_commit=False) as session:
        event = NewLoginEvent(user_id=user_id, ip_address=ADDRESSES[3])
        session.add(event)
        session.commit()
        seen = {
            e.id: str(e.ip_address) for e in session.scalars(sa.select(NewLoginEvent))
        }
    assert seen == {**old_written, event.id: ADDRESSES[3]}
    # ... and the old release reads the new release's write as text.
    with engine.connect() as conn:
        text = conn.scalar(
            sa.select(VARCHAR_LOGIN_EVENTS.c.ip_address).where(
                VARCHAR_LOGIN_EVENTS.c.id == event.id
            )
        )
    assert text == ADDRESSES[3]
    old_release_signs_in(ADDRESSES[0])
    # The old release is gone: the contract drops its column; the new one goes on.
    run(CONTRACT)
    with Session(engine) as session:
        session.add(NewLoginEvent(user_id=user_id, ip_address=ADDRESSES[1]))
        session.commit()
        addresses = sorted(
            str(a) for a in session.scalars(sa.select(NewLoginEvent.ip_address))
        )
    assert addresses == sorted([*old_written.values(), ADDRESSES[3], ADDRESSES[1]])
