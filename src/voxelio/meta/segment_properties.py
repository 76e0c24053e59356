"""Segment properties (``@type: neuroglancer_segment_properties``) as a frozen, validated value.

Neuroglancer shows these beside a segmentation: a label, a description, free strings, tags and
numbers per segment id. Only the ``inline`` form exists: ``ids`` (base-10 strings) and
``properties``, each with one value per id. The rules enforced both ways (reading and
writing), from Neuroglancer's parser: every ``values`` list is as long as ``ids``; at most
one ``label``, one ``description`` and one ``tags`` property; ``number`` properties name a
``data_type`` (uint8, int8, uint16, int16, uint32, int32, float32) and their values fit it;
property types are lower case; tags carry no leading ``#`` and no spaces, are unique
ignoring case, and each value is a sorted list of indices into ``tags``;
``tag_descriptions``, when given, match ``tags``. voxelio also refuses duplicate ids.
Pure values: thread safe and picklable.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voxelio.errors import InfoError

SEGMENT_PROPERTIES_TYPE = "neuroglancer_segment_properties"
PROPERTY_KINDS = ("label", "description", "string", "tags", "number")
NUMBER_TYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "float32")
_SINGLE_KINDS = ("label", "description", "tags")


def _fail(message: str) -> InfoError:
    return InfoError(f"segment properties: {message}")


@dataclass(frozen=True)
class SegmentProperty:
    """One property: ``id``, ``type`` (one of :data:`PROPERTY_KINDS`) and one value per
    segment (a string; a sorted tuple of tag indices for ``tags``; a number for ``number``)."""

    id: str
    type: str
    values: tuple[Any, ...]
    description: str | None = None
    data_type: str | None = None
    tags: tuple[str, ...] | None = None
    tag_descriptions: tuple[str, ...] | None = None

    @classmethod
    def from_json(cls, obj: Any, count: int) -> SegmentProperty:
        """Parse and validate one property of ``count`` segments."""
        if not isinstance(obj, Mapping) or not isinstance(obj.get("id"), str) or not obj["id"]:
            raise _fail(f"each property needs a string 'id', got {obj!r}")
        pid, kind = obj["id"], obj.get("type")  # Neuroglancer matches these in lower case only
        if kind not in PROPERTY_KINDS:
            raise _fail(
                f"property {pid!r}: type {obj.get('type')!r} is not one of {PROPERTY_KINDS}"
            )
        values = obj.get("values")
        if not isinstance(values, list) or len(values) != count:
            got = len(values) if isinstance(values, list) else repr(values)
            raise _fail(f"property {pid!r}: needs a list of {count} values (one per id), got {got}")
        description = obj.get("description")
        if description is not None and (kind == "tags" or not isinstance(description, str)):
            raise _fail(f"property {pid!r}: a description is a string, not allowed on tags")
        if kind == "number":
            data_type = str(obj.get("data_type", "")).lower()
            return cls(pid, kind, _numbers(pid, values, data_type), description, data_type)
        if kind == "tags":
            tags, notes = _tags(pid, obj.get("tags"), obj.get("tag_descriptions"))
            return cls(pid, kind, _tag_values(pid, values, len(tags)), None, None, tags, notes)
        if not all(isinstance(v, str) for v in values):
            raise _fail(f"property {pid!r}: {kind} values must be strings")
        return cls(pid, kind, tuple(values), description)

    def to_json(self) -> dict[str, Any]:
        """The property's JSON object."""
        out: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.description is not None:
            out["description"] = self.description
        if self.data_type is not None:
            out["data_type"] = self.data_type
        if self.tags is not None:
            out["tags"] = list(self.tags)
            if self.tag_descriptions is not None:
                out["tag_descriptions"] = list(self.tag_descriptions)
        out["values"] = [list(v) for v in self.values] if self.type == "tags" else list(self.values)
        return out


def _numbers(pid: str, values: list[Any], data_type: str) -> tuple[Any, ...]:
    if data_type not in NUMBER_TYPES:
        raise _fail(f"property {pid!r}: data_type {data_type!r} is not one of {NUMBER_TYPES}")
    dtype = np.dtype(data_type)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise _fail(f"property {pid!r}: {v!r} is not a finite number")
        if dtype.kind in "iu":
            limits = np.iinfo(dtype)
            if v != int(v) or not limits.min <= v <= limits.max:
                raise _fail(f"property {pid!r}: {v!r} does not fit {data_type}")
        elif abs(v) > float(np.finfo(np.float32).max):
            raise _fail(f"property {pid!r}: {v!r} does not fit float32")
    if dtype.kind in "iu":
        return tuple(int(v) for v in values)
    return tuple(float(v) for v in values)


def _tags(pid: str, tags: Any, notes: Any) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        raise _fail(f"property {pid!r}: 'tags' must be a list of non-empty strings")
    bad = [t for t in tags if t.startswith("#") or any(c.isspace() for c in t)]
    if bad:
        raise _fail(f"property {pid!r}: tags may not start with '#' or hold spaces: {bad}")
    if len({t.lower() for t in tags}) != len(tags):
        raise _fail(f"property {pid!r}: tags must be unique ignoring case, got {tags}")
    if notes is None:
        return tuple(tags), None
    if not isinstance(notes, list) or len(notes) != len(tags):
        raise _fail(f"property {pid!r}: tag_descriptions must list one string per tag")
    return tuple(tags), tuple(str(n) for n in notes)


def _tag_values(pid: str, values: list[Any], count: int) -> tuple[Any, ...]:
    out = []
    for v in values:
        ok = isinstance(v, list) and all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i < count for i in v
        )
        if not ok or list(v) != sorted(set(v)):
            raise _fail(f"property {pid!r}: {v!r} is not a sorted list of tag indices < {count}")
        out.append(tuple(v))
    return tuple(out)


def _segment_ids(ids: Any) -> tuple[int, ...]:
    if not isinstance(ids, list):
        raise _fail(f"'ids' must be a list of base-10 strings, got {ids!r}")
    out = []
    for s in ids:
        if not isinstance(s, str) or not (s.isascii() and s.isdigit()) or int(s) >= 1 << 64:
            raise _fail(f"id {s!r} is not a base-10 uint64 string")
        out.append(int(s))
    if len(set(out)) != len(out):
        raise _fail("ids must be unique")
    return tuple(out)


@dataclass(frozen=True)
class SegmentProperties:
    """Properties of ``ids`` (uint64 segment ids), validated; see the module docstring."""

    ids: tuple[int, ...]
    properties: tuple[SegmentProperty, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for prop in self.properties:
            if len(prop.values) != len(self.ids):
                raise _fail(f"property {prop.id!r} has {len(prop.values)} values for "
                            f"{len(self.ids)} ids")  # fmt: skip
        for kind in _SINGLE_KINDS:
            if sum(p.type == kind for p in self.properties) > 1:
                raise _fail(f"at most one property of type {kind!r} is allowed")
        names = [p.id for p in self.properties]
        if len(set(names)) != len(names):
            raise _fail(f"property ids must be unique, got {names}")

    def __len__(self) -> int:
        return len(self.ids)

    @functools.cached_property
    def _rows(self) -> dict[int, int]:
        return {segment: row for row, segment in enumerate(self.ids)}

    @classmethod
    def from_json(cls, obj: Any) -> SegmentProperties:
        """Parse and validate a segment properties ``info``."""
        if not isinstance(obj, Mapping) or obj.get("@type") != SEGMENT_PROPERTIES_TYPE:
            found = obj.get("@type") if isinstance(obj, Mapping) else type(obj).__name__
            raise _fail(f"@type must be {SEGMENT_PROPERTIES_TYPE!r}, got {found!r}")
        inline = obj.get("inline", {"ids": []})  # optional for Neuroglancer: no properties
        if not isinstance(inline, Mapping):
            raise _fail("'inline' must be an object (the only form the format has)")
        ids = _segment_ids(inline.get("ids"))
        props = inline.get("properties", [])
        if not isinstance(props, list):
            raise _fail("'inline.properties' must be a list")
        parsed = tuple(SegmentProperty.from_json(p, len(ids)) for p in props)
        extra = {k: v for k, v in obj.items() if k not in ("@type", "inline")}
        return cls(ids, parsed, extra)

    def to_json(self) -> dict[str, Any]:
        """The ``info`` JSON (ids as base-10 strings)."""
        inline = {"ids": [str(i) for i in self.ids],
                  "properties": [p.to_json() for p in self.properties]}  # fmt: skip
        return {"@type": SEGMENT_PROPERTIES_TYPE, "inline": inline, **self.extra}

    @classmethod
    def build(
        cls,
        ids: Iterable[int],
        *,
        labels: Sequence[str] | None = None,
        descriptions: Sequence[str] | None = None,
        tags: Sequence[Iterable[str]] | None = None,
        tag_descriptions: Mapping[str, str] | None = None,
        strings: Mapping[str, Sequence[str]] | None = None,
        numbers: Mapping[str, Sequence[float] | np.ndarray] | None = None,
    ) -> SegmentProperties:
        """Properties from columns, one entry per id: ``labels``, ``descriptions``, ``tags``
        (each segment's tag names; the tag list is their sorted union), ``strings`` and
        ``numbers`` (``{name: values}``; a numpy array of an allowed dtype keeps it, other
        integers become int32 and other numbers float32, values checked to fit)."""
        id_list = [int(i) for i in ids]
        props: list[dict[str, Any]] = []
        if labels is not None:
            props.append({"id": "label", "type": "label", "values": list(labels)})
        if descriptions is not None:
            props.append({"id": "description", "type": "description", "values": list(descriptions)})
        if tags is not None:
            props.append(_tags_json([list(t) for t in tags], tag_descriptions or {}))
        for name, texts in (strings or {}).items():
            props.append({"id": name, "type": "string", "values": list(texts)})
        for name, column in (numbers or {}).items():
            props.append(_number_json(name, column))
        obj = {"@type": SEGMENT_PROPERTIES_TYPE,
               "inline": {"ids": [str(i) for i in id_list], "properties": props}}  # fmt: skip
        return cls.from_json(obj)

    def named(self, name: str) -> SegmentProperty:
        """The property ``name``; a ``KeyError`` lists those there are."""
        for prop in self.properties:
            if prop.id == name:
                return prop
        raise KeyError(
            f"no segment property {name!r} (there are {[p.id for p in self.properties]})"
        )

    def get(self, segment_id: int) -> dict[str, Any]:
        """``{property id: value}`` of one segment (tags as their names); ``{}`` if absent."""
        row = self._rows.get(int(segment_id))
        if row is None:
            return {}
        out: dict[str, Any] = {}
        for prop in self.properties:
            value = prop.values[row]
            out[prop.id] = [prop.tags[i] for i in value] if prop.tags is not None else value
        return out


def _tags_json(per_segment: list[list[str]], notes: Mapping[str, str]) -> dict[str, Any]:
    names = sorted({t for tags in per_segment for t in tags})
    position = {t: i for i, t in enumerate(names)}
    out: dict[str, Any] = {
        "id": "tags", "type": "tags", "tags": names,
        "values": [sorted({position[t] for t in tags}) for tags in per_segment],
    }  # fmt: skip
    if notes:
        out["tag_descriptions"] = [notes.get(t, "") for t in names]
    return out


def _number_json(name: str, values: Sequence[float] | np.ndarray) -> dict[str, Any]:
    arr = np.asarray(values)
    data_type = arr.dtype.name if isinstance(values, np.ndarray) else ""
    if data_type not in NUMBER_TYPES:  # Python numbers, float64, int64...: the widest allowed
        data_type = "int32" if arr.dtype.kind in "iub" else "float32"
    return {"id": name, "type": "number", "data_type": data_type, "values": arr.tolist()}


__all__ = [
    "NUMBER_TYPES",
    "PROPERTY_KINDS",
    "SEGMENT_PROPERTIES_TYPE",
    "SegmentProperties",
    "SegmentProperty",
]
