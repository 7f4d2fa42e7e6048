"""The difference between two catalog snapshots, as a reviewer would list it.

Objects are matched by kind and qualified name. What one side has and the other
lacks is *added* or *removed*; an object on both sides whose attributes differ is
*changed*, with each attribute's two values. Rendering is plain text lines; the
words for "before" and "after" are the caller's ("before the upgrade" / "after the
downgrade", or "database" / "models").
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from migrationkit.prove.catalog import KIND_BY_NAME, CatalogSnapshot

_LONGEST_VALUE = 160
_MOST_DIFF_LINES = 40


@dataclass(frozen=True, kw_only=True)
class CatalogObject:
    kind: str
    key: str
    attrs: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{KIND_BY_NAME[self.kind].noun} {self.key}"

    def describe(self) -> str:
        """The object and what defines it, on one line."""
        detail = self.attrs.get("definition") or self.attrs.get("values")
        if detail is None and self.attrs:
            detail = ", ".join(
                f"{name} {_render(value)}" for name, value in sorted(self.attrs.items())
            )
        return f"{self.label}: {_render(detail)}" if detail else self.label


@dataclass(frozen=True, kw_only=True)
class ObjectChange:
    kind: str
    key: str
    fields: tuple[tuple[str, Any, Any], ...]
    """(attribute, value before, value after) for each attribute that differs."""

    @property
    def label(self) -> str:
        return f"{KIND_BY_NAME[self.kind].noun} {self.key}"


@dataclass(frozen=True, kw_only=True)
class CatalogDiff:
    added: tuple[CatalogObject, ...] = ()
    removed: tuple[CatalogObject, ...] = ()
    changed: tuple[ObjectChange, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def summary(self) -> str:
        parts = [
            f"{len(items)} {word}"
            for items, word in (
                (self.added, "added"),
                (self.removed, "removed"),
                (self.changed, "changed"),
            )
            if items
        ]
        return ", ".join(parts) or "no difference"

    def lines(
        self,
        *,
        added: str = "added",
        removed: str = "removed",
        before: str = "before",
        after: str = "after",
    ) -> list[str]:
        """One line per object; ``added``/``removed`` say from whose point of view."""
        out = [f"+ {added}: {obj.describe()}" for obj in self.added]
        out += [f"- {removed}: {obj.describe()}" for obj in self.removed]
        for change in self.changed:
            out.append(f"~ changed: {change.label}")
            for name, old, new in change.fields:
                if _is_long_text(old) and _is_long_text(new):
                    out.append(f"    {name}: --- {before} +++ {after}")
                    out += [f"      {line}" for line in _text_diff(old, new)]
                else:
                    out.append(
                        f"    {name}: {_render(old)} ({before}) -> "
                        f"{_render(new)} ({after})"
                    )
        return out


def diff_snapshots(before: CatalogSnapshot, after: CatalogSnapshot) -> CatalogDiff:
    """What changed from ``before`` to ``after``, kind by kind, sorted by name."""
    added: list[CatalogObject] = []
    removed: list[CatalogObject] = []
    changed: list[ObjectChange] = []
    for kind in sorted(set(before.objects) | set(after.objects), key=_kind_order):
        old = before.objects.get(kind, {})
        new = after.objects.get(kind, {})
        added += [
            CatalogObject(kind=kind, key=key, attrs=new[key])
            for key in sorted(new.keys() - old.keys())
        ]
        removed += [
            CatalogObject(kind=kind, key=key, attrs=old[key])
            for key in sorted(old.keys() - new.keys())
        ]
        for key in sorted(old.keys() & new.keys()):
            fields = tuple(
                (name, old[key].get(name), new[key].get(name))
                for name in sorted(old[key].keys() | new[key].keys())
                if old[key].get(name) != new[key].get(name)
            )
            if fields:
                changed.append(ObjectChange(kind=kind, key=key, fields=fields))
    return CatalogDiff(
        added=tuple(added), removed=tuple(removed), changed=tuple(changed)
    )


_ORDER = {name: position for position, name in enumerate(KIND_BY_NAME)}


def _kind_order(kind: str) -> int:
    return _ORDER.get(kind, len(_ORDER))


def _is_long_text(value: Any) -> bool:
    return isinstance(value, str) and ("\n" in value or len(value) > 60)


def _text_diff(old: str, new: str) -> list[str]:
    """The lines that differ between two long texts (function bodies, views)."""
    lines = [
        line.rstrip()
        for line in difflib.unified_diff(
            old.splitlines(), new.splitlines(), lineterm="", n=1
        )
    ][2:]  # no ---/+++ file header
    return [line for line in lines if not line.startswith("@@")][:_MOST_DIFF_LINES]


def _render(value: Any) -> str:
    """A value on one line, cut to a readable length."""
    if value is None:
        return "(none)"
    if isinstance(value, str):
        text = " ".join(value.split())
    else:
        text = json.dumps(value, ensure_ascii=False)
    if len(text) > _LONGEST_VALUE:
        text = text[: _LONGEST_VALUE - 3] + "..."
    return text
