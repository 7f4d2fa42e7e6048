"""Lint rules from other packages: the ``migrationkit.lint_rules`` entry points.

A package adds rules the way pytest plugins add themselves (``pytest11``), in its
pyproject.toml::

    [project.entry-points."migrationkit.lint_rules"]
    my_rules = "my_package.lint:CHECKS"

The object named is a ``migrationkit.lint.Check`` or an iterable of them: a
``Rule`` (code, title, the lock it prevents, what to write instead) and a
function that is given each statement of a revision (a ``Step``: its parsed
anatomy, its origin in the revision, what is in force) and returns the message
when the rule applies. Importing the module may also declare safe operations
(``migrationkit.ops.safe_operation``). The group is read on every lint
run, so installing or removing a plugin needs no other step. A plugin that does
not load, or whose code clashes with another rule's, stops the lint with its
name and the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from importlib.metadata import entry_points

from migrationkit.errors import MigrationKitError
from migrationkit.lint.checks import CHECKS, Check

GROUP = "migrationkit.lint_rules"


def plugin_checks() -> tuple[Check, ...]:
    """Every check the installed plugins add, in entry point order."""
    found: list[Check] = []
    seen = {check.rule.code for check in CHECKS}
    for entry in entry_points(group=GROUP):
        where = f"lint plugin {entry.name!r} ({entry.value}, entry point group {GROUP})"
        try:
            loaded = entry.load()
        except Exception as exc:
            raise MigrationKitError(
                f"The {where} could not be loaded: {type(exc).__name__}: {exc}"
            ) from exc
        items = [loaded] if isinstance(loaded, Check) else _iterable(loaded, where)
        for item in items:
            if not isinstance(item, Check):
                raise MigrationKitError(
                    f"The {where} gives {item!r}, not a migrationkit.lint.Check."
                )
            if item.rule.code in seen:
                raise MigrationKitError(
                    f"The {where} adds rule {item.rule.code}, which another rule "
                    "already uses: a code names one rule."
                )
            seen.add(item.rule.code)
            found.append(_labelled(item, entry.dist.name if entry.dist else entry.name))
    return tuple(found)


def _labelled(check: Check, distribution: str) -> Check:
    """The check, its rule's ``source`` naming the package that brought it."""
    if check.rule.source != "migrationkit":
        return check
    return replace(check, rule=replace(check.rule, source=f"plugin {distribution}"))


def _iterable(loaded: object, where: str) -> list[object]:
    if not isinstance(loaded, Iterable):
        raise MigrationKitError(
            f"The {where} must name a migrationkit.lint.Check or an iterable of them."
        )
    return list(loaded)
