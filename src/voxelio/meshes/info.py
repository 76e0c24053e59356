"""Mesh directory ``info`` values: legacy and multi-resolution, sharded or not.

:class:`MeshInfo` is a frozen value parsed from (and rendered to) the JSON of a mesh
directory's ``info`` file. ``to_json`` never writes ``null`` (Neuroglancer rejects it,
format fact 9). Transforms map stored-model coordinates to nanometres (row-major 3 x 4).
Thread safe and picklable.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from voxelio.errors import InfoError
from voxelio.sharding.spec import ShardingSpec

LEGACY_TYPE = "neuroglancer_legacy_mesh"
MULTIRES_TYPE = "neuroglancer_multilod_draco"
QUANTIZATION_BITS = (10, 16)
IDENTITY_TRANSFORM: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0)
_KNOWN = {
    "@type",
    "vertex_quantization_bits",
    "transform",
    "lod_scale_multiplier",
    "sharding",
}


def transform_from_resolution(
    resolution: Sequence[float], offset: Sequence[float] = (0.0, 0.0, 0.0)
) -> tuple[float, ...]:
    """The 3 x 4 row-major transform ``diag(resolution)`` plus ``offset`` (both in nm)."""
    rx, ry, rz = (float(v) for v in resolution)
    ox, oy, oz = (float(v) for v in offset)
    return (rx, 0.0, 0.0, ox, 0.0, ry, 0.0, oy, 0.0, 0.0, rz, oz)


def _check_transform(value: Any) -> tuple[float, ...]:
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InfoError(f"mesh info: transform must be 12 numbers, got {value!r}") from exc
    if arr.size != 12 or not np.all(np.isfinite(arr)):
        raise InfoError(f"mesh info: transform must be 12 finite numbers, got {value!r}")
    if abs(np.linalg.det(arr.reshape(3, 4)[:, :3])) == 0:
        raise InfoError("mesh info: transform's 3 x 3 part is singular")
    return tuple(float(v) for v in arr)


@dataclass(frozen=True)
class MeshInfo:
    """A mesh directory's ``info``.

    ``type``: ``"neuroglancer_legacy_mesh"`` or ``"neuroglancer_multilod_draco"``.
    ``vertex_quantization_bits`` (10 or 16), ``transform`` (12 floats, stored model -> nm) and
    ``lod_scale_multiplier`` matter for multi-resolution meshes; ``transform`` is also
    honoured for legacy meshes, as cloud-volume does. ``sharding`` is a
    :class:`~voxelio.sharding.spec.ShardingSpec` or ``None``. ``extra`` keeps every other key
    (``segment_properties``, ``mip``, ``chunk_size``, ``spatial_index`` ...) verbatim.
    """

    type: str = LEGACY_TYPE
    vertex_quantization_bits: int = 10
    transform: tuple[float, ...] = IDENTITY_TRANSFORM
    lod_scale_multiplier: float = 1.0
    sharding: ShardingSpec | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in (LEGACY_TYPE, MULTIRES_TYPE):
            raise InfoError(
                f"mesh info: @type {self.type!r} is neither {LEGACY_TYPE!r} nor {MULTIRES_TYPE!r}"
            )
        if self.vertex_quantization_bits not in QUANTIZATION_BITS:
            raise InfoError(
                "mesh info: vertex_quantization_bits must be 10 or 16, got "
                f"{self.vertex_quantization_bits!r}"
            )
        object.__setattr__(self, "transform", _check_transform(self.transform))
        if not (np.isfinite(self.lod_scale_multiplier) and self.lod_scale_multiplier > 0):
            raise InfoError(
                f"mesh info: lod_scale_multiplier must be positive, got {self.lod_scale_multiplier}"
            )

    # -------------------------------------------------------------- queries
    @property
    def is_multires(self) -> bool:
        """True for ``neuroglancer_multilod_draco``."""
        return self.type == MULTIRES_TYPE

    @property
    def is_legacy(self) -> bool:
        """True for ``neuroglancer_legacy_mesh``."""
        return self.type == LEGACY_TYPE

    @property
    def is_sharded(self) -> bool:
        """True when a sharding spec is present."""
        return self.sharding is not None

    def transform_matrix(self) -> np.ndarray:
        """The transform as a float64 4 x 4 homogeneous matrix."""
        mat = np.eye(4)
        mat[:3, :] = np.asarray(self.transform, dtype=np.float64).reshape(3, 4)
        return mat

    # ---------------------------------------------------------------- json
    @classmethod
    def from_json(cls, obj: Mapping[str, Any] | None) -> MeshInfo:
        """Parse an info object; ``None`` or ``{}`` (no info file) means a legacy mesh."""
        if not obj:
            return cls()
        if not isinstance(obj, Mapping):
            raise InfoError(f"mesh info must be a JSON object, got {type(obj).__name__}")
        mtype = obj.get("@type", LEGACY_TYPE)
        sharding = obj.get("sharding")
        spec = ShardingSpec.from_json(sharding) if sharding else None
        extra = {k: copy.deepcopy(v) for k, v in obj.items() if k not in _KNOWN}
        if mtype != MULTIRES_TYPE:
            transform = obj.get("transform") or IDENTITY_TRANSFORM
            return cls(type=mtype, transform=transform, sharding=spec, extra=extra)
        for key in ("vertex_quantization_bits", "transform"):
            if key not in obj:
                raise InfoError(f"multi-resolution mesh info lacks required key {key!r}")
        return cls(
            type=mtype,
            vertex_quantization_bits=obj["vertex_quantization_bits"],
            transform=obj["transform"],
            lod_scale_multiplier=float(obj.get("lod_scale_multiplier", 1.0)),
            sharding=spec,
            extra=extra,
        )

    def to_json(self) -> dict[str, Any]:
        """The info object, with no ``null`` values (optional keys are left out)."""
        out: dict[str, Any] = {"@type": self.type}
        if self.is_multires:
            out["vertex_quantization_bits"] = self.vertex_quantization_bits
            out["transform"] = list(self.transform)
            out["lod_scale_multiplier"] = self.lod_scale_multiplier
        elif self.transform != IDENTITY_TRANSFORM:
            out["transform"] = list(self.transform)
        if self.sharding is not None:
            out["sharding"] = self.sharding.to_json()
        out.update({k: copy.deepcopy(v) for k, v in self.extra.items() if v is not None})
        return out

    # --------------------------------------------------------- conversions
    def to_sharded(self, spec: ShardingSpec | Mapping[str, Any]) -> MeshInfo:
        """A copy with ``sharding`` set."""
        if not isinstance(spec, ShardingSpec):
            spec = ShardingSpec.from_json(spec)
        return replace(self, sharding=spec)

    def to_unsharded(self) -> MeshInfo:
        """A copy without ``sharding``."""
        return replace(self, sharding=None)

    def to_multi_resolution(
        self,
        vertex_quantization_bits: int = 10,
        resolution: Sequence[float] | None = None,
        lod_scale_multiplier: float = 1.0,
    ) -> MeshInfo:
        """A multi-resolution copy; ``resolution`` (nm/voxel) sets ``transform = diag(res)``."""
        transform = self.transform if resolution is None else transform_from_resolution(resolution)
        return replace(
            self,
            type=MULTIRES_TYPE,
            vertex_quantization_bits=vertex_quantization_bits,
            transform=transform,
            lod_scale_multiplier=lod_scale_multiplier,
        )

    def to_single_resolution(self) -> MeshInfo:
        """A legacy copy (quantization and lod settings dropped, identity transform)."""
        return replace(
            self,
            type=LEGACY_TYPE,
            vertex_quantization_bits=10,
            transform=IDENTITY_TRANSFORM,
            lod_scale_multiplier=1.0,
        )


def create_legacy_mesh_info(
    sharding: ShardingSpec | Mapping[str, Any] | None = None, **extra: Any
) -> MeshInfo:
    """A legacy mesh info; ``extra`` keys (``mip``, ``chunk_size``...) are kept."""
    info = MeshInfo(type=LEGACY_TYPE, extra=extra)
    return info.to_sharded(sharding) if sharding is not None else info


def create_multires_mesh_info(
    resolution: Sequence[float] | None = None,
    *,
    transform: Sequence[float] | None = None,
    vertex_quantization_bits: int = 10,
    lod_scale_multiplier: float = 1.0,
    sharding: ShardingSpec | Mapping[str, Any] | None = None,
    **extra: Any,
) -> MeshInfo:
    """A multi-resolution mesh info.

    Give either ``resolution`` (nm per voxel; transform = diag(resolution), so stored model
    space is voxels) or an explicit 12-number ``transform``; neither means identity (stored
    model space is nanometres).
    """
    if transform is None:
        transform = (
            IDENTITY_TRANSFORM if resolution is None else transform_from_resolution(resolution)
        )
    info = MeshInfo(
        type=MULTIRES_TYPE,
        vertex_quantization_bits=vertex_quantization_bits,
        transform=tuple(transform),
        lod_scale_multiplier=lod_scale_multiplier,
        extra=extra,
    )
    return info.to_sharded(sharding) if sharding is not None else info
