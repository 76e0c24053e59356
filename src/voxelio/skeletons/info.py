"""The skeleton ``info`` (``@type: neuroglancer_skeletons``) as a frozen, validated value.

Neuroglancer reads ``transform`` (12 numbers, a row-major 3x4 matrix from stored-model space
to nanometres), ``vertex_attributes`` and ``sharding``; cloud-volume adds ``spatial_index`` and
``mip``. Unknown keys are kept so a read-modify-write never drops them. :meth:`SkeletonInfo.to_json`
never writes ``null`` values (Neuroglancer rejects ``"sharding": null``) and always writes a
``transform``. Pure value: thread safe and picklable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from voxelio.errors import InfoError

SKELETON_TYPE = "neuroglancer_skeletons"
#: data types Neuroglancer's info parser accepts for a vertex attribute (its viewer draws only
#: skeletons whose attributes are all float32: see :data:`VIEWABLE_ATTRIBUTES`)
ATTRIBUTE_TYPES = ("float32", "int8", "uint8", "int16", "uint16", "int32", "uint32")
IDENTITY_TRANSFORM: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0)
_KNOWN_KEYS = {
    "@type",
    "transform",
    "vertex_attributes",
    "sharding",
    "spatial_index",
    "segment_properties",
    "mip",
}


@dataclass(frozen=True)
class VertexAttribute:
    """One per-vertex attribute: ``id``, ``data_type`` (see :data:`ATTRIBUTE_TYPES`), components."""

    id: str
    data_type: str
    num_components: int = 1

    @property
    def dtype(self) -> np.dtype:
        """The little-endian numpy dtype of one component."""
        return np.dtype(self.data_type).newbyteorder("<")

    @property
    def nbytes_per_vertex(self) -> int:
        """Bytes this attribute takes per vertex in the binary format."""
        return self.dtype.itemsize * self.num_components

    @classmethod
    def from_json(cls, obj: Any, where: str = "vertex_attributes") -> VertexAttribute:
        """Parse and validate one ``{"id", "data_type", "num_components"}`` entry."""
        if not isinstance(obj, Mapping):
            raise InfoError(f"skeleton info {where}: expected an object, got {obj!r}")
        attr_id = obj.get("id")
        if not isinstance(attr_id, str) or not attr_id:
            raise InfoError(
                f"skeleton info {where}: 'id' must be a non-empty string, got {attr_id!r}"
            )
        data_type = str(obj.get("data_type", "")).lower()
        if data_type not in ATTRIBUTE_TYPES:
            raise InfoError(
                f"skeleton info {where} {attr_id!r}: data_type {obj.get('data_type')!r} "
                f"is not one of {', '.join(ATTRIBUTE_TYPES)}"
            )
        num = obj.get("num_components", 1)
        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            raise InfoError(
                f"skeleton info {where} {attr_id!r}: num_components must be an integer >= 1, "
                f"got {num!r}"
            )
        if attr_id == "radius" and (data_type != "float32" or num != 1):
            raise InfoError(
                "skeleton info: the 'radius' attribute must be float32 with 1 component"
            )
        return cls(attr_id, data_type, int(num))

    def to_json(self) -> dict[str, Any]:
        """The JSON object for the info."""
        return {"id": self.id, "data_type": self.data_type, "num_components": self.num_components}


#: cloud-volume's attributes: what readers assume of a skeleton binary without an info
DEFAULT_ATTRIBUTES: tuple[VertexAttribute, ...] = (
    VertexAttribute("radius", "float32", 1),
    VertexAttribute("vertex_types", "uint8", 1),
)
#: the attributes of skeleton infos voxelio creates. Neuroglancer's viewer (2.41) creates no
#: skeleton layer when an attribute is not float32 (``getWebglDataType`` throws) and draws
#: nothing, so SWC types are declared float32 (small integers, exact in float32)
VIEWABLE_ATTRIBUTES: tuple[VertexAttribute, ...] = (
    VertexAttribute("radius", "float32", 1),
    VertexAttribute("vertex_types", "float32", 1),
)


@dataclass(frozen=True)
class SkeletonInfo:
    """A parsed skeleton ``info``.

    ``transform``: 12 floats, stored-model coordinates to nanometres (row-major 3x4).
    ``sharding``: the sharding spec as JSON (``None`` when unsharded).
    ``spatial_index``: ``{"chunk_size": [nm x3], "resolution": [nm/voxel x3]}`` or ``None``.
    ``extra``: any other keys, kept verbatim.
    """

    transform: tuple[float, ...] = IDENTITY_TRANSFORM
    vertex_attributes: tuple[VertexAttribute, ...] = VIEWABLE_ATTRIBUTES
    sharding: Mapping[str, Any] | None = None
    spatial_index: Mapping[str, Any] | None = None
    segment_properties: str | None = None
    mip: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def default(cls) -> SkeletonInfo:
        """The info of a new skeleton layer: identity transform, float32 ``radius`` and
        ``vertex_types`` (:data:`VIEWABLE_ATTRIBUTES`, which Neuroglancer's viewer draws)."""
        return cls()

    @classmethod
    def assumed(cls) -> SkeletonInfo:
        """What readers assume of a directory without an info: cloud-volume's default, with
        ``vertex_types`` uint8 (:data:`DEFAULT_ATTRIBUTES`)."""
        return cls(vertex_attributes=DEFAULT_ATTRIBUTES)

    @property
    def hidden_from_neuroglancer(self) -> list[str]:
        """The attributes that keep Neuroglancer's viewer from drawing these skeletons (every
        one that is not float32), as ``"id (type)"``."""
        return [f"{a.id} ({a.data_type})" for a in self.vertex_attributes
                if a.data_type != "float32"]  # fmt: skip

    @classmethod
    def from_json(cls, obj: Any) -> SkeletonInfo:
        """Parse and validate an info object; raises :class:`InfoError` naming the bad field."""
        if not isinstance(obj, Mapping):
            raise InfoError(f"skeleton info must be a JSON object, got {type(obj).__name__}")
        kind = obj.get("@type", SKELETON_TYPE)
        if kind != SKELETON_TYPE:
            raise InfoError(f"skeleton info '@type' must be {SKELETON_TYPE!r}, got {kind!r}")
        return cls(
            transform=_parse_transform(obj.get("transform")),
            vertex_attributes=_parse_attributes(obj.get("vertex_attributes")),
            sharding=_parse_optional_object(obj, "sharding"),
            spatial_index=_parse_spatial_index(obj.get("spatial_index")),
            segment_properties=_parse_optional_str(obj, "segment_properties"),
            mip=_parse_mip(obj.get("mip")),
            extra={k: v for k, v in obj.items() if k not in _KNOWN_KEYS},
        )

    def to_json(self) -> dict[str, Any]:
        """The info as JSON: ``@type`` and ``transform`` always, no ``null`` values."""
        out: dict[str, Any] = {
            "@type": SKELETON_TYPE,
            "transform": [_plain_number(v) for v in self.transform],
            "vertex_attributes": [a.to_json() for a in self.vertex_attributes],
        }
        optional = {
            "sharding": dict(self.sharding) if self.sharding is not None else None,
            "spatial_index": dict(self.spatial_index) if self.spatial_index is not None else None,
            "segment_properties": self.segment_properties,
            "mip": self.mip,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        out.update({k: v for k, v in self.extra.items() if v is not None})
        return out

    @property
    def transform_matrix(self) -> np.ndarray:
        """The transform as a float64 ``(3, 4)`` array."""
        return np.asarray(self.transform, dtype=np.float64).reshape(3, 4)

    @property
    def is_sharded(self) -> bool:
        """Whether skeletons live in shard files."""
        return self.sharding is not None

    def attribute(self, attr_id: str) -> VertexAttribute | None:
        """The declared attribute with this id, or ``None``."""
        return next((a for a in self.vertex_attributes if a.id == attr_id), None)

    def with_sharding(self, sharding: Mapping[str, Any] | None) -> SkeletonInfo:
        """A copy with ``sharding`` replaced (``None`` makes it unsharded)."""
        return replace(self, sharding=None if sharding is None else dict(sharding))

    def with_spatial_index(self, spatial_index: Mapping[str, Any] | None) -> SkeletonInfo:
        """A copy with ``spatial_index`` replaced."""
        return replace(self, spatial_index=_parse_spatial_index(spatial_index))


def _parse_transform(value: Any) -> tuple[float, ...]:
    if value is None:
        return IDENTITY_TRANSFORM
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InfoError(f"skeleton info 'transform' must be 12 numbers, got {value!r}") from exc
    if arr.size != 12 or not np.all(np.isfinite(arr)):
        raise InfoError(f"skeleton info 'transform' must be 12 finite numbers, got {value!r}")
    if abs(np.linalg.det(arr.reshape(3, 4)[:, :3])) < 1e-30:
        raise InfoError(f"skeleton info 'transform' {value!r} is singular")
    return tuple(float(v) for v in arr)


def _parse_attributes(value: Any) -> tuple[VertexAttribute, ...]:
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise InfoError(f"skeleton info 'vertex_attributes' must be a list, got {value!r}")
    attrs = tuple(
        VertexAttribute.from_json(v, f"vertex_attributes[{i}]") for i, v in enumerate(value)
    )
    ids = [a.id for a in attrs]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise InfoError(f"skeleton info 'vertex_attributes': duplicate ids {dupes}")
    return attrs


def _parse_optional_object(obj: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InfoError(f"skeleton info {key!r} must be an object, got {value!r}")
    return dict(value)


def _parse_optional_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise InfoError(f"skeleton info {key!r} must be a string, got {value!r}")
    return value


def _parse_spatial_index(value: Any) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or "chunk_size" not in value:
        raise InfoError(f"skeleton info 'spatial_index' needs a 'chunk_size', got {value!r}")
    for key in ("chunk_size", "resolution"):
        vec = value.get(key)
        if vec is None and key == "resolution":
            continue
        if not _is_positive_vec3(vec):
            raise InfoError(
                f"skeleton info spatial_index.{key} must be 3 positive numbers: {vec!r}"
            )
    return dict(value)


def _parse_mip(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise InfoError(f"skeleton info 'mip' must be a non-negative integer, got {value!r}")
    return int(value)


def _is_positive_vec3(vec: Any) -> bool:
    if not isinstance(vec, Sequence) or isinstance(vec, (str, bytes)) or len(vec) != 3:
        return False
    return all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
        for v in vec
    )


def _plain_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)
