"""The ``compressed_segmentation`` encoding (Neuroglancer's block-wise label compression).

uint32 or uint64 labels, any number of channels (a multi-channel wrapper of per-channel
streams, format notes 1.6). The block size comes from the scale's
``compressed_segmentation_block_size`` (default ``[8, 8, 8]`` voxels, cloud-volume's default).
Streams are written by the ``compressed-segmentation`` package (extra ``seg``), one channel at
a time, which makes them byte-identical to TensorStore's. Every chunk is bounds-checked before
the native decoder reads it (:mod:`voxelio.codecs.cseg_validate`). Default transport
compression: gzip. Stateless, thread safe.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from voxelio.codecs.base import Codec, Shape4, check_chunk, check_xyz, import_optional
from voxelio.codecs.cseg_validate import validate
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


class CompressedSegmentationCodec(Codec):
    """compressed_segmentation chunks (uint32/uint64, any channel count)."""

    name = "compressed_segmentation"
    dtypes = frozenset(["uint32", "uint64"])
    channels = None
    default_compress = "gzip"
    extra = "seg"
    gil_bound = True

    def _lib(self) -> Any:
        return import_optional(
            "compressed_segmentation", "compressed-segmentation", self.extra, self.name
        )

    def encode(self, chunk: np.ndarray, params: Mapping[str, Any]) -> bytes:
        check_chunk(chunk, self)
        block = block_size(params)
        lib = self._lib()
        nc = int(chunk.shape[3])
        streams = []
        for c in range(nc):
            channel = np.asfortranarray(chunk[:, :, :, c])
            if not channel.flags.writeable:
                channel = channel.copy(order="F")
            streams.append(memoryview(lib.compress(channel, block_size=block, order="F"))[4:])
        if nc == 1:
            return _ONE_CHANNEL + bytes(streams[0])
        offsets, pos = [], nc
        for s in streams:
            offsets.append(pos)
            pos += len(s) // 4
        return struct.pack(f"<{nc}I", *offsets) + b"".join(bytes(s) for s in streams)

    def _channels(
        self, data: bytes, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any]
    ) -> list[bytes]:
        """Validated single-channel streams (each with its leading word ``1``)."""
        dtype = np.dtype(dtype)
        if dtype.name not in self.dtypes:
            raise DecodingError(f"compressed_segmentation chunk: data type {dtype} unsupported")
        bounds = validate(data, shape, block_size(params), dtype.itemsize // 4)
        if len(bounds) == 1:
            return [data]
        return [_ONE_CHANNEL + bytes(data[4 * s : 4 * e]) for s, e in bounds]

    def decode(
        self, data: bytes, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any]
    ) -> np.ndarray:
        streams = self._channels(data, shape, dtype, params)
        lib, block, size = self._lib(), block_size(params), tuple(int(v) for v in shape[:3])
        try:
            if len(streams) == 1:
                arr = lib.decompress(bytes(streams[0]), size, dtype, block, order="F")
                return np.asarray(arr).reshape(tuple(shape), order="F")
            out = np.empty(tuple(shape), dtype=dtype, order="F")
            for c, stream in enumerate(streams):
                out[:, :, :, c] = lib.decompress(stream, size, dtype, block, order="F")
            return out
        except Exception as exc:
            raise DecodingError(f"compressed_segmentation chunk: cannot decode: {exc}") from exc

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
        streams = self._channels(data, shape, dtype, params)
        lib, block = self._lib(), block_size(params)
        size = tuple(int(v) for v in shape[:3])
        out = np.empty(len(streams), dtype=dtype)
        for c, s in enumerate(streams):
            out[c] = lib.CompressedSegmentationArray(bytes(s), size, dtype, block)[tuple(xyz)]
        return out

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
