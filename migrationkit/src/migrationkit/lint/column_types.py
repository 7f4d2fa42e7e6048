"""Whether a column type change can lose values: the "narrowing" of MK104.

A type change is safe for the data when every value of the old type has one in
the new type: ``varchar(50)`` to ``varchar(100)`` or ``text``, ``integer`` to
``bigint``. Anything else (a shorter length, a smaller integer, a conversion to
another family such as ``text`` to ``inet``) can fail on, or drop, existing
values. The old type comes from ``op.alter_column(existing_type=...)``; without it
only a change to an unbounded text type is known to be safe.

Separately, ``catalog_only`` says when PostgreSQL changes only the catalog: no
rewrite, no scan (ALTER TABLE's notes: the old type binary-coercible to the new one
and no USING that changes the values; since 9.2 also a longer or removed length
limit of ``varchar``/``varbit``, a higher precision of ``numeric`` at the same scale
or no limit at all, and a higher or removed precision of ``timestamp``,
``timestamptz``, ``time`` and ``interval``). squawk's ``changing-column-type`` does
not know the old type, so such a change would otherwise be reported as a rewrite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPACES = re.compile(r"\s*([(),])\s*")
_TEXT = {"text", "varchar", "character varying", "char", "character", "bpchar"}
_UNBOUNDED_TEXT = {"text", "varchar", "character varying"}
_INTEGERS = {
    "smallint": 1,
    "int2": 1,
    "integer": 2,
    "int": 2,
    "int4": 2,
    "bigint": 3,
    "int8": 3,
}
_NUMERIC = {"numeric", "decimal"}
_FLOATS = {"real": 1, "float4": 1, "double precision": 2, "float8": 2}


@dataclass(frozen=True)
class ColumnType:
    base: str
    params: tuple[int, ...]


def normalize_type(text: str) -> str:
    """``VARCHAR ( 50 )`` -> ``varchar(50)``: one spelling to compare."""
    return _SPACES.sub(r"\1", " ".join(text.lower().split()))


def parse_type(text: str) -> ColumnType:
    normal = normalize_type(text)
    base, _, rest = normal.partition("(")
    params = tuple(
        int(part) for part in rest.rstrip(")").split(",") if part.strip().isdigit()
    )
    return ColumnType(base.strip(), params)


def narrowing(old: str | None, new: str) -> str | None:  # noqa: PLR0911, PLR0912 - one answer per type family
    """Why ``old`` -> ``new`` can lose or reject values, or None when it cannot."""
    target = parse_type(new)
    if target.base in _UNBOUNDED_TEXT and not target.params:
        return None
    if catalog_only(old, new):
        return None  # the stored values are kept as they are
    if old is None:
        return (
            "the old type is not known (give op.alter_column an existing_type), so "
            "existing values may not fit the new one"
        )
    source = parse_type(old)
    if source == target:
        return None
    if source.base in _TEXT and target.base in _TEXT:
        if not source.params or (target.params and target.params[0] < source.params[0]):
            return f"{normalize_type(old)} values longer than {new} holds are rejected"
        return None
    if source.base in _INTEGERS and target.base in _INTEGERS:
        if _INTEGERS[target.base] < _INTEGERS[source.base]:
            return f"{normalize_type(old)} values out of the {new} range are rejected"
        return None
    if source.base in _INTEGERS and target.base in _NUMERIC and not target.params:
        return None
    if source.base in _NUMERIC and target.base in _NUMERIC:
        if not target.params or (
            source.params and _fits_numeric(source.params, target.params)
        ):
            return None
        return f"{normalize_type(old)} values may not fit {new}"
    if source.base in _FLOATS and target.base in _FLOATS:
        if _FLOATS[target.base] >= _FLOATS[source.base]:
            return None
        return f"{normalize_type(old)} loses precision as {new}"
    return (
        f"every {normalize_type(old)} value is converted to {new}: one the new type "
        "cannot hold fails the migration, or is lost by the USING expression"
    )


def _fits_numeric(source: tuple[int, ...], target: tuple[int, ...]) -> bool:
    source_scale = source[1] if len(source) > 1 else 0
    target_scale = target[1] if len(target) > 1 else 0
    return (
        target[0] - target_scale >= source[0] - source_scale
        and target_scale >= source_scale
    )


_ALIASES = {
    "character varying": "varchar",
    "character": "bpchar",
    "char": "bpchar",
    "decimal": "numeric",
    "int": "integer",
    "int4": "integer",
    "int2": "smallint",
    "int8": "bigint",
    "float8": "double precision",
    "float4": "real",
    "bool": "boolean",
    "bit varying": "varbit",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
    "time without time zone": "time",
}
_ZONE = re.compile(r"^(timestamp|time)(\(\d+\))? ?with(out)? time zone$")
_VARYING = {"varchar", "text"}
_PRECISION = {"timestamp", "timestamptz", "time", "timetz", "interval", "varbit"}


def canonical_type(text: str) -> ColumnType:
    """``character varying(50)`` and ``VARCHAR(50)`` alike: base name, parameters."""
    normal = normalize_type(text)
    zone = _ZONE.match(normal)
    if zone is not None:
        base = zone.group(1) + ("" if zone.group(3) else "tz")
        normal = base + (zone.group(2) or "")
    parsed = parse_type(normal)
    return ColumnType(_ALIASES.get(parsed.base, parsed.base), parsed.params)


def catalog_only(old: str | None, new: str) -> bool:  # noqa: PLR0911 - one answer per family
    """Whether ``ALTER COLUMN TYPE`` from ``old`` to ``new`` skips the rewrite."""
    if old is None:
        return False
    source, target = canonical_type(old), canonical_type(new)
    if source == target:
        return True
    if source.base in _VARYING and target.base in _VARYING:
        if not target.params:
            return True  # varchar(n) or text -> text or varchar: binary coercible
        return bool(source.params) and target.params[0] >= source.params[0]
    if source.base != target.base:
        return False
    if source.base == "numeric":
        if not target.params:
            return True
        return (
            len(source.params) >= 1
            and _scale(source.params) == _scale(target.params)
            and target.params[0] >= source.params[0]
        )
    if source.base in _PRECISION:
        if not target.params:
            return True
        return bool(source.params) and target.params[0] >= source.params[0]
    return False


def _scale(params: tuple[int, ...]) -> int:
    return params[1] if len(params) > 1 else 0
