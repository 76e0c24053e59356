"""The ``compresso`` encoding (seung-lab's boundary + label-table segmentation codec).

One channel of unsigned labels (uint8-uint64), lossless; library ``compresso`` (extra ``seg``).
Neuroglancer reads it natively; TensorStore does not. Default transport compression: gzip.
The 36-byte header (magic ``cpso``, version, label width, sx/sy/sz as u16, x/y/z steps,
id/value/location sizes, connectivity) is checked before the native decoder runs, because
the decoder crashes on some corrupt headers. Stateless, thread safe.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from voxelio.codecs.base import Shape4, import_optional
from voxelio.codecs.labelcodec import LabelCodec
from voxelio.errors import DecodingError

HEADER = struct.Struct("<4sBBHHHBBBQIQB")
MAGIC = b"cpso"


def check_header(data: bytes, shape: Shape4, dtype: np.dtype) -> None:
    """Raise :class:`DecodingError` unless ``data`` has a compresso header for the chunk."""
    if len(data) < HEADER.size:
        raise DecodingError(f"compresso chunk: {len(data)} bytes is shorter than its header")
    magic, version, width, sx, sy, sz, xs, ys, zs, ids, values, locs, conn = HEADER.unpack_from(
        data
    )
    if magic != MAGIC or version not in (0, 1):
        raise DecodingError(f"compresso chunk: bad magic {magic!r} or version {version}")
    if width != np.dtype(dtype).itemsize:
        raise DecodingError(f"compresso chunk: {width}-byte labels in a {np.dtype(dtype)} layer")
    if (sx, sy, sz) != tuple(int(v) for v in shape[:3]):
        raise DecodingError(f"compresso chunk: size {(sx, sy, sz)}, expected {tuple(shape[:3])}")
    if min(xs, ys, zs) < 1 or xs * ys * zs > 64 or conn not in (4, 6):
        raise DecodingError(
            f"compresso chunk: bad steps {(xs, ys, zs)} or connectivity {conn} in the header"
        )
    bits = xs * ys * zs
    window = 1 if bits <= 8 else 2 if bits <= 16 else 4 if bits <= 32 else 8
    minimum = HEADER.size + (ids + locs) * width + values * window
    if minimum > len(data):
        raise DecodingError(
            f"compresso chunk: header promises at least {minimum} bytes, got {len(data)}"
        )


class CompressoCodec(LabelCodec):
    """compresso chunks: single-channel unsigned labels."""

    name = "compresso"
    # decoding holds the GIL: 2 threads decode at 0.94x of one
    # (python tests/codecs/measure_parallel.py)
    gil_bound = True

    def _lib(self) -> Any:
        return import_optional("compresso", "compresso", self.extra, self.name)

    def _validate(self, data: bytes, shape: Shape4, dtype: np.dtype) -> None:
        check_header(data, shape, dtype)

    def _compress(self, labels: np.ndarray) -> bytes:
        return bytes(self._lib().compress(labels))

    def _decompress(self, data: bytes) -> np.ndarray:
        return np.asarray(self._lib().decompress(data))

    def _array(self, data: bytes) -> Any:
        return self._lib().CompressoArray(data)
