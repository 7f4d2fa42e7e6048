"""The registry of safe operations: each declares itself where it is defined.

``migrationkit lint`` treats the statements a safe operation writes as the safe
alternative (squawk's findings on them are dropped; only the ``lock_timeout``
check still applies). An operation is registered by decorating its Alembic
operation class, next to ``Operations.register_operation``::

    @safe_operation("create_index_concurrently")
    @Operations.register_operation("create_index_concurrently")
    class CreateIndexConcurrentlyOp(MigrateOperation): ...

Both ways of calling it, ``op.create_index_concurrently(...)`` and the plain
function, pass an instance of that class to Alembic's ``Operations.invoke``; the
lint finds it on the stack, so the two forms lint alike. A project or a lint
plugin (entry point group ``migrationkit.lint_rules``) registers its own
operations with the same decorator: a new safe operation needs no second list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

_Class = TypeVar("_Class", bound=type)

_SAFE: dict[type, str] = {}


def safe_operation(name: str) -> Callable[[_Class], _Class]:
    """Declare the decorated operation class safe, under ``name`` (its ``op.`` name)."""

    def register(cls: _Class) -> _Class:
        _SAFE[cls] = name
        return cls

    return register


def safe_operation_name(operation: object) -> str | None:
    """The registered name of ``operation``'s class, or None when it is not safe."""
    return _SAFE.get(type(operation))


def safe_operation_names() -> tuple[str, ...]:
    """Every registered safe operation, for the docs and ``lint --rules``."""
    return tuple(sorted(set(_SAFE.values())))
