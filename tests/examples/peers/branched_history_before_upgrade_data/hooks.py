"""Ours: the example's conftest.py ``before_revision_data``, as a data hook."""

import sqlalchemy as sa

from migrationkit.prove import DataHook


def foo_1(connection: sa.Connection) -> None:
    connection.execute(sa.text("INSERT INTO foo (id) VALUES (1)"))


DATA_HOOKS = (DataHook(revision="bbbbbbbbbbbb", before=foo_1),)
