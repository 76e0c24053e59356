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
    start = HEADER.size + (ids + locs) * width + values * window
    z_index = 2 * sz * _z_index_width(sx, sy) if version == 1 else 0
    check_windows(data[start : len(data) - z_index], window, (sx, sy, sz), (xs, ys, zs))


def _z_index_width(sx: int, sy: int) -> int:
    """Bytes per entry of format 1's z-index (two rows of ``sz`` entries at the stream's end)."""
    worst = 2 * sx * sy
    return 1 if worst < 2**8 else 2 if worst < 2**16 else 4 if worst < 2**32 else 8


def check_windows(
    section: bytes, window: int, size: tuple[int, int, int], steps: tuple[int, int, int]
) -> None:
    """Raise :class:`DecodingError` unless the run-length coded windows between the locations
    and the z-index cover the chunk's blocks exactly: the decoder takes the section's length
    from the stream's length, so a truncated or padded stream would decode to wrong labels
    (or write past its block table). An entry with its low bit set skips ``entry >> 1``
    empty blocks; any other entry is one block."""
    if len(section) % window:
        raise DecodingError(
            f"compresso chunk: {len(section)} bytes of boundary windows is not a whole number "
            f"of {window}-byte windows: the stream is truncated or has bytes past its end"
        )
    entries = np.frombuffer(section, dtype=f"<u{window}")
    covered = int(np.where(entries & 1, entries >> 1, 1).sum(dtype=np.uint64))
    blocks = int(np.prod([-(-n // step) for n, step in zip(size, steps)]))
    if covered != blocks:
        raise DecodingError(
            f"compresso chunk: the boundary windows cover {covered} blocks of {blocks}: "
            "the stream is truncated, corrupt or has bytes past its end"
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
