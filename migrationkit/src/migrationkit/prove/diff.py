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

from migrationkit.prove.catalog import CatalogSnapshot
from migrationkit.prove.kinds import KIND_BY_NAME

_LONGEST_VALUE = 160
_MOST_DIFF_LINES = 40


@dataclass(frozen=True, kw_only=True)
class CatalogObject:
    kind: str
    key: str
    attrs: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{_noun(self.kind, self.attrs)} {self.key}"

    def describe(self) -> str:
        """The object and what defines it, on one line."""
        detail = self.attrs.get("definition")
        if "values" in self.attrs:
            detail = "values " + ", ".join(map(str, self.attrs["values"]))
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
    attrs: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{_noun(self.kind, self.attrs)} {self.key}"


@dataclass(frozen=True, kw_only=True)
class CatalogDiff:
    added: tuple[CatalogObject, ...] = ()
    removed: tuple[CatalogObject, ...] = ()
    changed: tuple[ObjectChange, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def summary(self) -> str:
        parts = [
            f"{count} {word}"
            for count, word in (
                (len(_folded(self.added)), "added"),
                (len(_folded(self.removed)), "removed"),
                (len(self.changed), "changed"),
            )
            if count
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
        """One line per object; ``added``/``removed`` say from whose point of view.

        A table's columns, constraints, indexes, triggers and owned sequences
        are folded into the table's line when the whole table differs.
        """
        out = [f"+ {added}: {line}" for line in _folded(self.added)]
        out += [f"- {removed}: {line}" for line in _folded(self.removed)]
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
                changed.append(
                    ObjectChange(kind=kind, key=key, fields=fields, attrs=new[key])
                )
    return CatalogDiff(
        added=tuple(added), removed=tuple(removed), changed=tuple(changed)
    )


_NOUNS = {"enum": "enum type", "domain": "domain", "composite": "composite type"}


def _noun(kind: str, attrs: Mapping[str, Any]) -> str:
    """``enum type``, ``materialized view``, ``procedure``: the kind, made precise."""
    precise = attrs.get("kind")
    if kind in {"types", "views", "functions"} and isinstance(precise, str):
        return _NOUNS.get(precise, precise)
    return KIND_BY_NAME[kind].noun


def _folded(objects: tuple[CatalogObject, ...]) -> list[str]:
    tables = [obj.key for obj in objects if obj.kind == "tables"]
    parts: dict[str, list[CatalogObject]] = {table: [] for table in tables}
    lines: list[str] = []
    for obj in objects:
        if obj.kind == "tables":
            continue
        owner = next((t for t in tables if _belongs_to(obj, t)), None)
        if owner is None:
            lines.append(obj.describe())
        else:
            parts[owner].append(obj)
    for table in tables:
        counts: dict[str, int] = {}
        for part in parts[table]:
            noun = KIND_BY_NAME[part.kind].noun
            counts[noun] = counts.get(noun, 0) + 1
        with_parts = ", ".join(
            f"{n} {noun if n == 1 else noun + ('es' if noun.endswith('x') else 's')}"
            for noun, n in counts.items()
        )
        lines.append(
            f"table {table}" + (f" with its {with_parts}" if with_parts else "")
        )
    return lines


def _belongs_to(obj: CatalogObject, table: str) -> bool:
    if obj.kind == "tables":
        return False
    if obj.kind in {"columns", "constraints", "triggers", "policies"}:
        return obj.key.startswith(table + ".")
    if obj.kind == "indexes":
        return f" ON {table} " in str(obj.attrs.get("definition", ""))
    if obj.kind == "sequences":
        return str(obj.attrs.get("owned by", "")).startswith(table + ".")
    return False


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
