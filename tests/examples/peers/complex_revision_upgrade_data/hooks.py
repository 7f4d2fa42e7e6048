"""Ours: the example's conftest.py ``before_revision_data``, as data hooks.

Revision cccccccccccc reads the rows put in before bbbbbbbbbbbb too: they must
still be there, as in a real database.
"""

import sqlalchemy as sa

from migrationkit.prove import DataHook


def foo_9_10_and_bar_1(connection: sa.Connection) -> None:
    connection.execute(sa.text("INSERT INTO foo (id) VALUES (9), (10)"))
    connection.execute(sa.text("INSERT INTO bar (id) VALUES (1)"))


def bar_2(connection: sa.Connection) -> None:
    connection.execute(sa.text("INSERT INTO bar (id, foo_id) VALUES (2, 10)"))


DATA_HOOKS = (
    DataHook(revision="bbbbbbbbbbbb", before=foo_9_10_and_bar_1),
    DataHook(revision="cccccccccccc", before=bar_2),
)
