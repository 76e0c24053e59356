"""The ``compressed_segmentation`` encoding (Neuroglancer's block-wise label compression).

uint32 or uint64 labels, any number of channels (a multi-channel wrapper of per-channel
streams, format notes 1.6). The block size comes from the scale's
``compressed_segmentation_block_size`` (default ``[8, 8, 8]`` voxels, cloud-volume's default).
Encoding and decoding run in voxelio's own C extension (``voxelio.codecs._cseg``), one channel
at a time: it writes streams byte-identical to TensorStore's and the ``compressed-segmentation``
package's, checks every offset and index while it decodes, decodes only the blocks a region
needs straight into the caller's array, and releases the GIL. The label queries (``labels``,
``contains``, ``remap``) read the lookup tables with the ``compressed-segmentation`` package
(extra ``seg``) after :mod:`voxelio.codecs.cseg_validate` has bounds-checked the chunk.
Default transport compression: gzip. Stateless, thread safe.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from voxelio.codecs import _cseg
from voxelio.codecs.base import Codec, Shape4, check_chunk, check_xyz, import_optional
from voxelio.codecs.cseg_validate import channel_bounds, validate
from voxelio.errors import DecodingError, EncodingError

DEFAULT_BLOCK_SIZE = (8, 8, 8)
_ONE_CHANNEL = struct.pack("<I", 1)


def block_size(params: Mapping[str, Any]) -> tuple[int, int, int]:
    """The ``compressed_segmentation_block_size`` of a scale, validated (voxels, x,y,z)."""
    raw = params.get("compressed_segmentation_block_size", None)
    if raw is None:
        return DEFAULT_BLOCK_SIZE
    try:
        bx, by, bz = (int(v) for v in raw)
    except (TypeError, ValueError) as exc:
        raise EncodingError(
            f"compressed_segmentation_block_size must be 3 integers, got {raw!r}"
        ) from exc
    if min(bx, by, bz) < 1:
        raise EncodingError(f"compressed_segmentation_block_size must be positive, got {raw!r}")
    return bx, by, bz


def _label_dtype(dtype: np.dtype | str) -> np.dtype:
    """``dtype`` if compressed_segmentation can hold it, else :class:`DecodingError`."""
    dtype = np.dtype(dtype)
    if dtype.name not in CompressedSegmentationCodec.dtypes:
        raise DecodingError(f"compressed_segmentation chunk: data type {dtype} unsupported")
    return dtype


class CompressedSegmentationCodec(Codec):
    """compressed_segmentation chunks (uint32/uint64, any channel count)."""

    name = "compressed_segmentation"
    dtypes = frozenset(["uint32", "uint64"])
    channels = None
    default_compress = "gzip"
    extra = "seg"
    decodes_views = True

    def _lib(self) -> Any:
        return import_optional(
            "compressed_segmentation", "compressed-segmentation", self.extra, self.name
        )

    def encode(self, chunk: np.ndarray, params: Mapping[str, Any]) -> bytes:
        check_chunk(chunk, self)
        block = block_size(params)
        labels = chunk.astype(chunk.dtype.newbyteorder("="), copy=False)
        nc = int(chunk.shape[3])
        try:
            streams = [_cseg.encode(labels[:, :, :, c], block) for c in range(nc)]
        except ValueError as exc:
            raise EncodingError(f"compressed_segmentation: {exc}") from exc
        offsets, pos = [], nc
        for s in streams:
            offsets.append(pos)
            pos += len(s) // 4
        return struct.pack(f"<{nc}I", *offsets) + b"".join(streams)

    def _channels(
        self, data: bytes, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any]
    ) -> list[bytes]:
        """Validated single-channel streams (each with its leading word ``1``), for the
        ``compressed-segmentation`` package."""
        dtype = _label_dtype(dtype)
        bounds = validate(data, shape, block_size(params), dtype.itemsize // 4)
        if len(bounds) == 1:
            return [data]
        return [_ONE_CHANNEL + bytes(data[4 * s : 4 * e]) for s, e in bounds]

    def decode(
        self, data: bytes, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any]
    ) -> np.ndarray:
        out = np.empty(tuple(shape), dtype=_label_dtype(dtype), order="F")
        self.decode_into(data, shape, dtype, params, out, (0, 0, 0))
        return out

    def decode_into(
        self,
        data: bytes,
        shape: Shape4,
        dtype: np.dtype,
        params: Mapping[str, Any],
        out: np.ndarray,
        origin: tuple[int, int, int],
    ) -> None:
        """Decode only the blocks ``out`` needs, straight into it."""
        dtype = _label_dtype(dtype)
        if out.dtype != dtype:
            raise ValueError(f"decode_into: out has data type {out.dtype}, expected {dtype}")
        if len(data) % 4:
            raise DecodingError(
                f"compressed_segmentation chunk: {len(data)} bytes is not a whole number of words"
            )
        bounds = channel_bounds(np.frombuffer(data, dtype="<u4"), int(shape[3]))
        view, block = memoryview(data), block_size(params)
        size = (int(shape[0]), int(shape[1]), int(shape[2]))
        for c, (start, end) in enumerate(bounds):
            try:
                _cseg.decode(view[4 * start : 4 * end], out[:, :, :, c], size, block, origin)
            except ValueError as exc:
                raise DecodingError(f"compressed_segmentation chunk, channel {c}: {exc}") from exc

    def labels(
        self, data: bytes, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any]
    ) -> np.ndarray:
        """Sorted unique labels, read from the lookup tables without a full decode."""
        streams = self._channels(data, shape, dtype, params)
        lib, block = self._lib(), block_size(params)
        size = tuple(int(v) for v in shape[:3])
        try:
            found = [np.asarray(lib.labels(bytes(s), size, dtype, block)) for s in streams]
        except Exception as exc:
            raise DecodingError(
                f"compressed_segmentation chunk: cannot read labels: {exc}"
            ) from exc
        return np.unique(np.concatenate(found).astype(dtype, copy=False))

    def read_voxel(
        self,
        data: bytes,
        shape: Shape4,
        dtype: np.dtype,
        params: Mapping[str, Any],
        xyz: tuple[int, int, int],
    ) -> np.ndarray:
        """The channel values at chunk-local ``xyz``, decoding one block per channel."""
        check_xyz(xyz, shape)
        out = np.empty((1, 1, 1, int(shape[3])), dtype=_label_dtype(dtype), order="F")
        x, y, z = (int(v) for v in xyz)
        self.decode_into(data, shape, dtype, params, out, (x, y, z))
        return out.reshape(-1)

    def contains(
        self, data: bytes, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any], label: int
    ) -> bool:
        """Whether ``label`` is in any channel's lookup tables."""
        streams = self._channels(data, shape, dtype, params)
        lib, block = self._lib(), block_size(params)
        size = tuple(int(v) for v in shape[:3])
        return any(
            int(label) in lib.CompressedSegmentationArray(bytes(s), size, dtype, block)
            for s in streams
        )

    def remap(
        self,
        data: bytes,
        shape: Shape4,
        dtype: np.dtype,
        params: Mapping[str, Any],
        mapping: Mapping[int, int],
        preserve_missing_labels: bool = False,
    ) -> bytes:
        """Rewrite the lookup tables in place of a decode/encode (single channel)."""
        if shape[3] != 1:
            return super().remap(data, shape, dtype, params, mapping, preserve_missing_labels)
        self._channels(data, shape, dtype, params)
        size = tuple(int(v) for v in shape[:3])
        try:
            return bytes(
                self._lib().remap(
                    bytes(data),
                    size,
                    dtype,
                    dict(mapping),
                    preserve_missing_labels=preserve_missing_labels,
                    block_size=block_size(params),
                )
            )
        except KeyError as exc:
            raise EncodingError(
                f"remap of a compressed_segmentation chunk: label {exc.args[0]} is not in the "
                "mapping and preserve_missing_labels is off"
            ) from exc
