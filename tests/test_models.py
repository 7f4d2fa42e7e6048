"""The models themselves: names the migrations rely on, and a working __repr__."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable

from models import Base, LoginEvent, Plan, User
from tests.helpers import Project


def test_repr_names_the_user_without_touching_missing_fields(
    project: Project, engine: sa.Engine
) -> None:
    """The guide's __repr__ used self.username before the model had it."""
    assert project.alembic("upgrade", "head").returncode == 0
    with Session(engine) as session, session.begin():
        user = User(email="ada@example.com", username="ada")
        session.add(user)
        session.flush()
        text = repr(user)
        session.rollback()
    assert text == f"<User(id={user.id}, username='ada')>"


def test_naming_convention_gives_the_names_revisions_use() -> None:
    users = Base.metadata.tables["users"]
    assert users.primary_key.name == "pk_users"
    assert {index.name for index in users.indexes} == {
        "ix_users_email",
        "idx_user_email_active",
        "idx_user_created_at",
    }
    uniques = {c.name for c in users.constraints if isinstance(c, sa.UniqueConstraint)}
    assert uniques == {"uq_users_username"}
    # the foreign key's name is applied when DDL is rendered
    events = Base.metadata.tables["login_events"]
    dialect = sa.create_engine("postgresql+psycopg://").dialect  # never connects
    ddl = str(CreateTable(events).compile(dialect=dialect))
    assert "CONSTRAINT fk_login_events_user_id_users FOREIGN KEY" in ddl
    assert "CONSTRAINT pk_login_events PRIMARY KEY" in ddl


def test_every_model_is_registered_on_the_metadata() -> None:
    tables = {User.__table__, LoginEvent.__table__, Plan.__table__}
    assert set(Base.metadata.tables.values()) == tables
