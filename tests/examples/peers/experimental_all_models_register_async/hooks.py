"""Ours: the example's conftest.py ``before_revision_data``, as a data hook."""

import sqlalchemy as sa

from migrationkit.prove import DataHook


def foo_9(connection: sa.Connection) -> None:
    connection.execute(sa.text("INSERT INTO foo (id) VALUES (9)"))


DATA_HOOKS = (DataHook(revision="bbbbbbbbbbbb", before=foo_9),)
