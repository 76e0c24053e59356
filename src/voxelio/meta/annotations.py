"""The annotation ``info`` (``@type: neuroglancer_annotations_v1``) as a frozen, validated value.

An annotation directory holds one ``info`` naming the coordinate space (``dimensions``, an
ordered ``{name: [scale, unit]}``; geometry is stored in multiples of those scales), the
bounds, the geometry type, typed per-annotation properties, relationships to segment ids and
three kinds of index: ``by_id`` (one record per annotation id), one directory per
relationship (the annotations related to each segment id) and the spatial levels, coarsest
first (each annotation listed in the grid cells it touches at the level that emitted it).
Each index may be sharded (``neuroglancer_uint64_sharded_v1``).

Parsing follows Neuroglancer: enum strings match case-insensitively, a spatial level's cell
size is ``chunk_size`` (the schema's ``chunk_shape`` is read too), unknown keys are kept so a
read-modify-write never drops them, and :meth:`AnnotationInfo.to_json` never writes a
``null``. It writes ``annotation_type`` in upper case (``"POINT"``) and the other enums in
lower case: Neuroglancer matches both cases, and cloud-volume's reader (12.15.2) knows only
the upper-case types. Pure values: thread safe and picklable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voxelio.errors import InfoError, ShardingError
from voxelio.sharding.spec import ShardingSpec

ANNOTATION_TYPE = "neuroglancer_annotations_v1"
#: geometry types, in Neuroglancer's spelling (lowercase)
GEOMETRY_TYPES = ("point", "line", "axis_aligned_bounding_box", "ellipsoid", "polyline")
#: geometry types stored as two points (line ends, box corners, ellipsoid centre and radii)
TWO_POINT_TYPES = ("line", "axis_aligned_bounding_box", "ellipsoid")
#: property type -> (numpy dtype, components, alignment class in the record)
PROPERTY_TYPES: dict[str, tuple[str, int, int]] = {
    "uint32": ("<u4", 1, 4),
    "int32": ("<i4", 1, 4),
    "float32": ("<f4", 1, 4),
    "uint16": ("<u2", 1, 2),
    "int16": ("<i2", 1, 2),
    "uint8": ("u1", 1, 1),
    "int8": ("i1", 1, 1),
    "rgb": ("u1", 3, 1),
    "rgba": ("u1", 4, 1),
}
_PROPERTY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
_KNOWN_KEYS = {
    "@type",
    "dimensions",
    "lower_bound",
    "upper_bound",
    "annotation_type",
    "properties",
    "relationships",
    "by_id",
    "spatial",
    "segment_properties",
}


def _fail(where: str, message: str) -> InfoError:
    return InfoError(f"annotation info {where}: {message}")


def _sharding(obj: Mapping[str, Any], where: str) -> ShardingSpec | None:
    raw = obj.get("sharding")
    if raw is None:
        return None
    try:
        return ShardingSpec.from_json(raw)
    except ShardingError as exc:
        raise _fail(where, str(exc)) from exc


def _key(obj: Mapping[str, Any], where: str) -> str:
    key = obj.get("key")
    if not isinstance(key, str) or not key.strip("/"):
        raise _fail(where, f"'key' must be a non-empty string, got {key!r}")
    return key.strip("/")


def _numbers(value: Any, rank: int, where: str, *, positive: bool = False) -> tuple[float, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != rank:
        raise _fail(where, f"expected {rank} numbers, got {value!r}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise _fail(where, f"expected finite numbers, got {value!r}")
        if positive and v <= 0:
            raise _fail(where, f"expected positive numbers, got {value!r}")
        out.append(float(v))
    return tuple(out)


@dataclass(frozen=True)
class AnnotationProperty:
    """One typed property of every annotation: ``id`` (``^[a-z][a-zA-Z0-9_]*$``), ``type``
    (a key of :data:`PROPERTY_TYPES`), an optional ``description`` and, for numeric types,
    ``enum_values`` with matching ``enum_labels``."""

    id: str
    type: str
    description: str | None = None
    enum_values: tuple[float, ...] | None = None
    enum_labels: tuple[str, ...] | None = None
    default: Any = None

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype of one component (little-endian)."""
        return np.dtype(PROPERTY_TYPES[self.type][0])

    @property
    def components(self) -> int:
        """Components per annotation: 3 for rgb, 4 for rgba, else 1."""
        return PROPERTY_TYPES[self.type][1]

    @property
    def alignment(self) -> int:
        """The record groups properties by this (4, 2 or 1; rgb and rgba count as 1)."""
        return PROPERTY_TYPES[self.type][2]

    @property
    def enum(self) -> dict[float, str] | None:
        """``{value: label}`` when the property is an enum, else ``None``."""
        if self.enum_values is None or self.enum_labels is None:
            return None
        return dict(zip(self.enum_values, self.enum_labels))

    @classmethod
    def from_json(cls, obj: Any, where: str = "properties") -> AnnotationProperty:
        """Parse and validate one ``properties`` entry."""
        if not isinstance(obj, Mapping):
            raise _fail(where, f"expected an object, got {obj!r}")
        pid = obj.get("id")
        if not isinstance(pid, str) or not _PROPERTY_ID.match(pid):
            raise _fail(where, f"property id {pid!r} must match {_PROPERTY_ID.pattern}")
        kind = str(obj.get("type", "")).lower()
        if kind not in PROPERTY_TYPES:
            raise _fail(
                where,
                f"property {pid!r}: type {obj.get('type')!r} is not one of "
                f"{', '.join(PROPERTY_TYPES)}",
            )
        values, labels = obj.get("enum_values"), obj.get("enum_labels")
        if (values is None) != (labels is None):
            raise _fail(where, f"property {pid!r}: enum_values and enum_labels go together")
        if values is not None:
            if kind in ("rgb", "rgba"):
                raise _fail(where, f"property {pid!r}: {kind} properties cannot be enums")
            if not isinstance(values, list) or not isinstance(labels, list):
                raise _fail(where, f"property {pid!r}: enum_values and enum_labels are lists")
            if len(values) != len(labels):
                raise _fail(
                    where,
                    f"property {pid!r}: {len(values)} enum_values but {len(labels)} enum_labels",
                )
            values, labels = tuple(values), tuple(str(x) for x in labels)
        description = obj.get("description")
        return cls(
            pid,
            kind,
            None if description is None else str(description),
            values,
            labels,
            obj.get("default"),
        )

    def to_json(self) -> dict[str, Any]:
        """The ``properties`` entry (only the keys that are set)."""
        out: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.description is not None:
            out["description"] = self.description
        if self.enum_values is not None and self.enum_labels is not None:
            out["enum_values"] = list(self.enum_values)
            out["enum_labels"] = list(self.enum_labels)
        if self.default is not None:
            out["default"] = self.default
        return out


@dataclass(frozen=True)
class KeyIndex:
    """An index keyed by uint64 ids (``by_id`` or a relationship): directory ``key`` below the
    annotation directory, optionally sharded. ``id`` names a relationship ("" for by_id)."""

    key: str
    sharding: ShardingSpec | None = None
    id: str = ""

    def to_json(self) -> dict[str, Any]:
        """The info entry of this index."""
        out: dict[str, Any] = {"id": self.id} if self.id else {}
        out["key"] = self.key
        if self.sharding is not None:
            out["sharding"] = self.sharding.to_json()
        return out


@dataclass(frozen=True)
class SpatialLevel:
    """One level of the spatial index: a grid of ``grid_shape`` cells of ``chunk_size``
    (coordinate units) from the lower bound; ``limit`` is the emission target per cell."""

    key: str
    grid_shape: tuple[int, ...]
    chunk_size: tuple[float, ...]
    limit: int
    sharding: ShardingSpec | None = None

    @classmethod
    def from_json(cls, obj: Any, rank: int, where: str) -> SpatialLevel:
        """Parse one ``spatial`` entry of an info of ``rank`` dimensions."""
        if not isinstance(obj, Mapping):
            raise _fail(where, f"expected an object, got {obj!r}")
        grid = obj.get("grid_shape")
        if (
            not isinstance(grid, list)
            or len(grid) != rank
            or any(isinstance(g, bool) or not isinstance(g, int) or g < 1 for g in grid)
        ):
            raise _fail(where, f"grid_shape must be {rank} integers >= 1, got {grid!r}")
        chunk = obj.get("chunk_size", obj.get("chunk_shape"))
        limit = obj.get("limit")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise _fail(where, f"limit must be an integer >= 1, got {limit!r}")
        return cls(
            _key(obj, where),
            tuple(grid),
            _numbers(chunk, rank, f"{where} chunk_size", positive=True),
            limit,
            _sharding(obj, where),
        )

    def to_json(self) -> dict[str, Any]:
        """The ``spatial`` entry (Neuroglancer's ``chunk_size`` spelling)."""
        out: dict[str, Any] = {
            "key": self.key,
            "grid_shape": list(self.grid_shape),
            "chunk_size": list(self.chunk_size),
            "limit": self.limit,
        }
        if self.sharding is not None:
            out["sharding"] = self.sharding.to_json()
        return out


@dataclass(frozen=True)
class Dimension:
    """One axis of the coordinate space: its name, scale and unit (e.g. ``x``, 4e-9, ``m``)."""

    name: str
    scale: float
    unit: str


@dataclass(frozen=True)
class AnnotationInfo:
    """A validated annotation info; see the module docstring."""

    dimensions: tuple[Dimension, ...]
    lower_bound: tuple[float, ...]
    upper_bound: tuple[float, ...]
    annotation_type: str
    properties: tuple[AnnotationProperty, ...] = ()
    relationships: tuple[KeyIndex, ...] = ()
    by_id: KeyIndex | None = None
    spatial: tuple[SpatialLevel, ...] = ()
    segment_properties: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rank(self) -> int:
        """Number of dimensions."""
        return len(self.dimensions)

    @property
    def dimension_names(self) -> list[str]:
        """The axis names, in order."""
        return [d.name for d in self.dimensions]

    @property
    def enums(self) -> dict[str, dict[float, str]]:
        """``{property id: {value: label}}`` of the enum properties."""
        return {p.id: e for p in self.properties if (e := p.enum) is not None}

    def relationship(self, rel_id: str) -> KeyIndex:
        """The relationship named ``rel_id``; a clear ``KeyError`` lists the ones there are."""
        for rel in self.relationships:
            if rel.id == rel_id:
                return rel
        names = ", ".join(r.id for r in self.relationships) or "none"
        raise KeyError(f"no relationship {rel_id!r} in this annotation info (there are: {names})")

    @classmethod
    def from_json(cls, obj: Any) -> AnnotationInfo:
        """Parse and validate an info dict; problems raise :class:`InfoError`."""
        if not isinstance(obj, Mapping):
            raise _fail("", f"expected a JSON object, got {type(obj).__name__}")
        if obj.get("@type") != ANNOTATION_TYPE:
            raise _fail("@type", f"expected {ANNOTATION_TYPE!r}, got {obj.get('@type')!r}")
        dims = _dimensions(obj.get("dimensions"))
        rank = len(dims)
        lower = _numbers(obj.get("lower_bound"), rank, "lower_bound")
        upper = _numbers(obj.get("upper_bound"), rank, "upper_bound")
        if any(lo > hi for lo, hi in zip(lower, upper)):
            raise _fail("bounds", f"lower_bound {list(lower)} exceeds upper_bound {list(upper)}")
        kind = str(obj.get("annotation_type", "")).lower()
        if kind not in GEOMETRY_TYPES:
            raise _fail(
                "annotation_type",
                f"{obj.get('annotation_type')!r} is not one of {', '.join(GEOMETRY_TYPES)}",
            )
        return cls(
            dims,
            lower,
            upper,
            kind,
            properties=_properties(obj.get("properties") or []),
            relationships=_relationships(obj.get("relationships") or []),
            by_id=_by_id(obj.get("by_id")),
            spatial=_spatial(obj.get("spatial") or [], rank),
            segment_properties=obj.get("segment_properties"),
            extra={k: v for k, v in obj.items() if k not in _KNOWN_KEYS},
        )

    def to_json(self) -> dict[str, Any]:
        """The info dict (no ``null`` values, unknown keys kept; see the module docstring)."""
        out: dict[str, Any] = {
            "@type": ANNOTATION_TYPE,
            "dimensions": {d.name: [d.scale, d.unit] for d in self.dimensions},
            "lower_bound": list(self.lower_bound),
            "upper_bound": list(self.upper_bound),
            "annotation_type": self.annotation_type.upper(),
            "properties": [p.to_json() for p in self.properties],
            "relationships": [r.to_json() for r in self.relationships],
            "spatial": [s.to_json() for s in self.spatial],
        }
        if self.by_id is not None:
            out["by_id"] = self.by_id.to_json()
        if self.segment_properties is not None:
            out["segment_properties"] = self.segment_properties
        out.update(self.extra)
        return out


def _dimensions(value: Any) -> tuple[Dimension, ...]:
    if not isinstance(value, Mapping) or not value:
        raise _fail("dimensions", f"expected an object {{name: [scale, unit]}}, got {value!r}")
    dims = []
    for name, pair in value.items():
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not isinstance(pair[1], str)
            or isinstance(pair[0], bool)
            or not isinstance(pair[0], (int, float))
            or not pair[0] > 0
        ):
            raise _fail("dimensions", f"{name!r} must be [positive scale, unit], got {pair!r}")
        dims.append(Dimension(str(name), float(pair[0]), pair[1]))
    return tuple(dims)


def _properties(value: Any) -> tuple[AnnotationProperty, ...]:
    if not isinstance(value, list):
        raise _fail("properties", f"expected a list, got {value!r}")
    props = tuple(AnnotationProperty.from_json(p, f"properties[{i}]") for i, p in enumerate(value))
    ids = [p.id for p in props]
    if len(set(ids)) != len(ids):
        raise _fail("properties", f"property ids must be unique, got {ids}")
    return props


def _relationships(value: Any) -> tuple[KeyIndex, ...]:
    if not isinstance(value, list):
        raise _fail("relationships", f"expected a list, got {value!r}")
    rels = []
    for i, obj in enumerate(value):
        where = f"relationships[{i}]"
        if not isinstance(obj, Mapping) or not isinstance(obj.get("id"), str) or not obj["id"]:
            raise _fail(where, f"expected an object with a string 'id', got {obj!r}")
        rels.append(KeyIndex(_key(obj, where), _sharding(obj, where), obj["id"]))
    ids = [r.id for r in rels]
    if len(set(ids)) != len(ids):
        raise _fail("relationships", f"relationship ids must be unique, got {ids}")
    return tuple(rels)


def _by_id(value: Any) -> KeyIndex | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _fail("by_id", f"expected an object, got {value!r}")
    return KeyIndex(_key(value, "by_id"), _sharding(value, "by_id"))


def _spatial(value: Any, rank: int) -> tuple[SpatialLevel, ...]:
    if not isinstance(value, list):
        raise _fail("spatial", f"expected a list, got {value!r}")
    return tuple(SpatialLevel.from_json(s, rank, f"spatial[{i}]") for i, s in enumerate(value))


__all__ = [
    "ANNOTATION_TYPE",
    "GEOMETRY_TYPES",
    "PROPERTY_TYPES",
    "TWO_POINT_TYPES",
    "AnnotationInfo",
    "AnnotationProperty",
    "Dimension",
    "KeyIndex",
    "SpatialLevel",
]
