"""The precomputed volume ``info``: creation, scales, validation, JSON without ``null``.

``info`` stays a plain ``dict`` (as in cloud-volume, users edit ``vol.info`` in place); this
module validates it and offers a typed, frozen :class:`Scale` view for the engines. Unknown
keys are always kept. Units: sizes and offsets in voxels of each scale, resolutions in nm.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from voxelio.errors import InfoError
from voxelio.geometry import Bbox, ChunkGrid

DATA_TYPES = (
    "uint8",
    "int8",
    "uint16",
    "int16",
    "uint32",
    "int32",
    "uint64",
    "int64",
    "float32",
    "float64",
)
LAYER_TYPES = ("image", "segmentation")
VOLUME_TYPE = "neuroglancer_multiscale_volume"


@dataclass(frozen=True)
class Scale:
    """A typed view of one entry of ``info["scales"]`` (chunk size: the first ``chunk_sizes``)."""

    key: str
    resolution: tuple[float, float, float]
    voxel_offset: tuple[int, int, int]
    size: tuple[int, int, int]
    chunk_size: tuple[int, int, int]
    encoding: str
    sharding: Mapping[str, Any] | None
    params: Mapping[str, Any]

    @classmethod
    def from_json(cls, scale: Mapping[str, Any], where: str = "scale") -> Scale:
        """Build from a scale dict, raising :class:`InfoError` naming the bad field."""
        validate_scale(scale, where)
        return cls(
            key=str(scale["key"]),
            resolution=tuple(float(r) for r in scale["resolution"]),  # type: ignore[arg-type]
            voxel_offset=tuple(int(v) for v in scale.get("voxel_offset", (0, 0, 0))),  # type: ignore[arg-type]
            size=tuple(int(v) for v in scale["size"]),  # type: ignore[arg-type]
            chunk_size=tuple(int(v) for v in scale["chunk_sizes"][0]),  # type: ignore[arg-type]
            encoding=str(scale["encoding"]).lower(),
            sharding=scale.get("sharding"),
            params=dict(scale),
        )

    # read access to the scale dict, as cloud-volume's ``vol.meta.scale(mip)["key"]`` (edit
    # ``vol.info["scales"][mip]`` to change a scale)

    def __getitem__(self, name: str) -> Any:
        return self.params[name]

    def __contains__(self, name: object) -> bool:
        return name in self.params

    def get(self, name: str, default: Any = None) -> Any:
        """The scale dict's ``name`` entry, or ``default``."""
        return self.params.get(name, default)

    def keys(self) -> Any:
        """The scale dict's keys."""
        return self.params.keys()

    @cached_property
    def grid(self) -> ChunkGrid:
        """The chunk grid of this scale."""
        return ChunkGrid(self.voxel_offset, self.size, self.chunk_size)

    @cached_property
    def bounds(self) -> Bbox:
        """``[voxel_offset, voxel_offset + size)``."""
        return self.grid.bounds


def _fail(where: str, msg: str) -> InfoError:
    return InfoError(f"{where}: {msg}")


def _int_triple(value: Any, where: str, name: str, minimum: int | None = None) -> None:
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise _fail(where, f"{name!r} must be a list of 3 integers, got {value!r}")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            if not (isinstance(v, float) and v.is_integer()):
                raise _fail(where, f"{name!r} must hold integers, got {value!r}")
        if minimum is not None and v < minimum:
            raise _fail(where, f"{name!r} values must be >= {minimum}, got {value!r}")


def validate_scale(scale: Mapping[str, Any], where: str = "scale") -> None:
    """Check one scale dict; raises :class:`InfoError` naming the field."""
    if not isinstance(scale, Mapping):
        raise _fail(where, f"must be an object, got {type(scale).__name__}")
    for name in ("key", "size", "resolution", "chunk_sizes", "encoding"):
        if name not in scale or scale[name] is None:
            raise _fail(where, f"missing required field {name!r}")
    if not isinstance(scale["key"], str) or not scale["key"]:
        raise _fail(where, f"'key' must be a non-empty string, got {scale['key']!r}")
    _int_triple(scale["size"], where, "size", minimum=1)
    _int_triple(scale.get("voxel_offset", [0, 0, 0]), where, "voxel_offset")
    res = scale["resolution"]
    if (
        not isinstance(res, (list, tuple))
        or len(res) != 3
        or not all(
            isinstance(r, (int, float, np.integer, np.floating))
            and not isinstance(r, bool)
            and r > 0
            for r in res
        )  # fmt: skip
    ):
        raise _fail(where, f"'resolution' must be 3 positive numbers, got {res!r}")
    chunks = scale["chunk_sizes"]
    if not isinstance(chunks, (list, tuple)) or not chunks:
        raise _fail(where, f"'chunk_sizes' must be a non-empty list, got {chunks!r}")
    for chunk in chunks:
        _int_triple(chunk, where, "chunk_sizes", minimum=1)
    if not isinstance(scale["encoding"], str):
        raise _fail(where, f"'encoding' must be a string, got {scale['encoding']!r}")
    if "sharding" in scale and not isinstance(scale["sharding"], Mapping):
        raise _fail(where, f"'sharding' must be an object when present, got {scale['sharding']!r}")
    if str(scale["encoding"]).lower() == "compressed_segmentation":
        _int_triple(
            scale.get("compressed_segmentation_block_size"),
            where,
            "compressed_segmentation_block_size",
            minimum=1,
        )


def validate_info(info: Any, where: str = "info") -> None:
    """Check a volume info dict; raises :class:`InfoError` naming the field (and scale index)."""
    if not isinstance(info, Mapping):
        raise _fail(where, f"must be a JSON object, got {type(info).__name__}")
    for name in ("type", "data_type", "num_channels", "scales"):
        if name not in info or info[name] is None:
            raise _fail(where, f"missing required field {name!r}")
    if str(info["type"]).lower() not in LAYER_TYPES:
        raise _fail(where, f"'type' must be one of {LAYER_TYPES}, got {info['type']!r}")
    if str(info["data_type"]).lower() not in DATA_TYPES:
        raise _fail(where, f"'data_type' must be one of {DATA_TYPES}, got {info['data_type']!r}")
    nc = info["num_channels"]
    if isinstance(nc, bool) or not isinstance(nc, int) or nc < 1:
        raise _fail(where, f"'num_channels' must be an integer >= 1, got {nc!r}")
    scales = info["scales"]
    if not isinstance(scales, list) or not scales:
        raise _fail(where, f"'scales' must be a non-empty list, got {scales!r}")
    for i, scale in enumerate(scales):
        validate_scale(scale, f"{where} scales[{i}]")
    _check_nulls(info, where)


def _check_nulls(value: Any, where: str) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            if v is None:
                raise _fail(where, f"field {k!r} is null; leave optional keys out instead")
            _check_nulls(v, where)
    elif isinstance(value, list):
        for v in value:
            _check_nulls(v, where)


def strip_nulls(value: Any) -> Any:
    """A copy of ``value`` without ``None`` dict entries (Neuroglancer rejects ``null`` keys)."""
    if isinstance(value, Mapping):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [strip_nulls(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def to_json_bytes(info: Mapping[str, Any]) -> bytes:
    """Serialize an info dict (``null`` entries dropped, numpy values made plain)."""
    return json.dumps(strip_nulls(info), indent=2).encode("utf8")


def parse_json(data: bytes, where: str) -> Any:
    """Parse JSON bytes, raising :class:`InfoError` naming ``where`` when malformed."""
    try:
        return json.loads(data.decode("utf8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InfoError(f"{where}: malformed JSON ({exc})") from exc


def default_key(resolution: Sequence[float]) -> str:
    """The conventional scale key: resolutions in shortest form joined by ``_`` (``8_8_40``)."""
    return "_".join(
        f"{float(r):g}" if not float(r).is_integer() else str(int(r)) for r in resolution
    )


def create_new_info(
    num_channels: int,
    layer_type: str,
    data_type: str,
    encoding: str,
    resolution: Sequence[float],
    voxel_offset: Sequence[int],
    volume_size: Sequence[int],
    mesh: str | None = None,
    skeletons: str | None = None,
    chunk_size: Sequence[int] = (64, 64, 64),
    compressed_segmentation_block_size: Sequence[int] = (8, 8, 8),
    max_mip: int = 0,
    factor: Sequence[int] = (2, 2, 1),
    redirect: str | None = None,
    encoding_level: int | None = None,
    encoding_effort: int | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """A new info dict, with cloud-volume's parameters (extra encoding params as keywords).

    ``encoding_level`` is the jpeg/jxl quality, png level or fpzip precision by encoding;
    ``encoding_effort`` the jxl effort. Keyword extras such as ``jpeg_quality``,
    ``png_level``, ``jxl_quality``, ``jxl_effort``,
    ``fpzip_precision``, ``zfpc_rate``... are copied into every scale. ``max_mip`` adds that
    many downsampled scales, mip ``m`` downsampled by ``factor ** m`` from mip 0.
    """
    scale: dict[str, Any] = {
        "encoding": encoding,
        "chunk_sizes": [[int(c) for c in chunk_size]],
        "key": default_key(resolution),
        "resolution": [_num(r) for r in resolution],
        "voxel_offset": [int(v) for v in voxel_offset],
        "size": [int(s) for s in volume_size],
    }
    if encoding == "compressed_segmentation":
        scale["compressed_segmentation_block_size"] = [
            int(b) for b in compressed_segmentation_block_size
        ]
    scale.update({k: v for k, v in kwargs.items() if v is not None})
    info: dict[str, Any] = {
        "@type": VOLUME_TYPE,
        "num_channels": int(num_channels),
        "type": layer_type,
        "data_type": str(np.dtype(data_type).name),
        "scales": [scale],
    }
    if mesh:
        info["mesh"] = mesh
    if skeletons:
        info["skeletons"] = skeletons
    if redirect:
        info["redirect"] = redirect
    level_key = ENCODING_LEVEL_KEYS.get(encoding)
    if encoding_level is not None and level_key is not None:
        info["scales"][0][level_key] = int(encoding_level)
    if encoding_effort is not None and encoding == "jxl":
        info["scales"][0]["jxl_effort"] = int(encoding_effort)
    for mip in range(1, max_mip + 1):
        add_scale(info, [f**mip for f in factor])
    validate_info(info)
    return info


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def add_scale(
    info: dict[str, Any],
    factor: Sequence[int],
    encoding: str | None = None,
    chunk_size: Sequence[int] | None = None,
    encoding_level: int | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Add the scale downsampled from **mip 0** by ``factor`` and return it (cloud-volume rule).

    ``factor`` is rounded to integers, as cloud-volume does (``1.5`` becomes 2); each must then
    be at least 1. Sizes round up and offsets round down. A scale with the same resolution is
    replaced. ``encoding_level`` sets ``jpeg_quality``, ``jxl_quality``, ``png_level`` or
    ``fpzip_precision`` by encoding; other ``params`` are copied into the scale.
    """
    base = info["scales"][0]
    fac = np.round(np.asarray(factor, dtype=float))
    if fac.shape != (3,) or not np.all(fac >= 1):
        raise InfoError(f"add_scale: factor must be 3 numbers that round to 1 or more: {factor}")
    resolution = [_num(r) for r in np.asarray(base["resolution"], dtype=float) * fac]
    new = {k: v for k, v in base.items() if k not in ("sharding",)}
    new.update(
        key=default_key(resolution),
        resolution=resolution,
        voxel_offset=[
            int(v) for v in np.floor(np.asarray(base.get("voxel_offset", [0] * 3)) / fac)
        ],
        size=[int(v) for v in np.ceil(np.asarray(base["size"]) / fac)],
    )
    set_encoding(new, encoding or str(new["encoding"]))
    if chunk_size is not None:
        new["chunk_sizes"] = [[int(c) for c in chunk_size]]
    level_key = ENCODING_LEVEL_KEYS.get(str(new["encoding"]))
    if encoding_level is not None and level_key is not None:
        new[level_key] = int(encoding_level)
    new.update({k: v for k, v in params.items() if v is not None})
    for index, existing in enumerate(info["scales"]):
        if np.allclose(existing["resolution"], resolution):
            info["scales"][index] = new
            return new
    info["scales"].append(new)
    return new


#: encodings with parameters in the scale, each under a key named after it ("jpeg_quality")
PARAMETRIZED_ENCODINGS = ("compressed_segmentation", "jpeg", "png", "jxl", "fpzip", "zfpc")


def set_encoding(scale: dict[str, Any], encoding: str) -> None:
    """Make ``scale`` (an info's scale dict) use ``encoding``. The parameters of other
    encodings go: TensorStore refuses a whole layer where a scale holds, say, ``jpeg_quality``
    beside another encoding. compressed_segmentation gets 8³ blocks unless it has its own."""
    scale["encoding"] = encoding
    others = [e for e in PARAMETRIZED_ENCODINGS if e != encoding]
    for key in [k for k in scale if any(k.startswith(f"{e}_") for e in others)]:
        del scale[key]
    if encoding == "compressed_segmentation":
        scale.setdefault("compressed_segmentation_block_size", [8, 8, 8])


ENCODING_LEVEL_KEYS = {
    "jpeg": "jpeg_quality",
    "jxl": "jxl_quality",
    "png": "png_level",
    "fpzip": "fpzip_precision",
}
