"""Bounds validation of ``compressed_segmentation`` chunks before a native decoder reads them.

The C++ decoder of the ``compressed-segmentation`` package trusts every offset and index in the
stream, so a corrupt or truncated chunk makes it read past the buffer (a crash, or silent
garbage). :func:`validate` checks, with vectorised numpy, that every channel offset, block
header, encoded-values run and lookup-table entry a decoder may touch lies inside the data.
Format: notes section 1.6. Pure functions, thread safe.
"""

from __future__ import annotations

import numpy as np

from voxelio.errors import DecodingError

VALID_BITS = (0, 1, 2, 4, 8, 16, 32)


def channel_bounds(words: np.ndarray, num_channels: int) -> list[tuple[int, int]]:
    """``(start, end)`` word ranges of each channel's stream, from the multi-channel header."""
    if len(words) < num_channels:
        raise DecodingError(
            f"compressed_segmentation chunk: {len(words)} words cannot hold the "
            f"{num_channels}-channel offset table"
        )
    starts = [int(v) for v in words[:num_channels]]
    ends = starts[1:] + [len(words)]
    for ch, (start, end) in enumerate(zip(starts, ends)):
        if not num_channels <= start <= end <= len(words):
            raise DecodingError(
                f"compressed_segmentation chunk: channel {ch} offset {start} is outside "
                f"[{num_channels}, {len(words)}] or out of order"
            )
    return list(zip(starts, ends))


def validate_channel(
    stream: np.ndarray, size: tuple[int, int, int], block: tuple[int, int, int], wpv: int, ch: int
) -> None:
    """Check one channel's stream (uint32 words) for a ``size`` chunk and ``block`` blocks.

    ``wpv`` is the number of uint32 words per label (1 for uint32, 2 for uint64).
    """
    what = f"compressed_segmentation chunk, channel {ch}"
    grid = [-(-s // b) for s, b in zip(size, block)]
    nblocks = grid[0] * grid[1] * grid[2]
    n = len(stream)
    if n < 2 * nblocks:
        raise DecodingError(f"{what}: {n} words cannot hold {nblocks} block headers")
    hdr = stream[: 2 * nblocks].reshape(nblocks, 2)
    table = (hdr[:, 0] & 0xFFFFFF).astype(np.int64)
    bits = (hdr[:, 0] >> 24).astype(np.int64)
    values = hdr[:, 1].astype(np.int64)
    if ((bits & (bits - 1)) | (bits > 32)).any():  # a width other than 0, 1, 2, 4, ..., 32
        bad = sorted(set(bits.tolist()) - set(VALID_BITS))
        raise DecodingError(f"{what}: invalid encoded bit widths {bad[:5]}")
    bvol = block[0] * block[1] * block[2]
    nwords = -(-bits * bvol // 32)
    if (values + nwords > n).any():
        raise DecodingError(f"{what}: encoded values run past the end of the stream")
    # Only blocks whose largest possible index would leave the stream need their indices read.
    risky = table + (np.left_shift(1, bits)) * wpv > n
    if not risky.any():
        return
    max_index = np.zeros(nblocks, dtype=np.int64)
    for b in VALID_BITS[1:]:
        sel = np.flatnonzero(risky & (bits == b))
        if len(sel):
            max_index[sel] = _max_indices(stream, values[sel], b, bvol, what)
    if (table + (max_index + 1) * wpv > n).any():
        raise DecodingError(f"{what}: a lookup-table index points past the end of the stream")


def _max_indices(
    stream: np.ndarray, offsets: np.ndarray, bits: int, bvol: int, what: str
) -> np.ndarray:
    """Largest table index in each block of ``bits``-bit encoded values at ``offsets``."""
    nwords = -(-bits * bvol // 32)
    if (offsets + nwords > len(stream)).any():
        raise DecodingError(f"{what}: encoded values run past the end of the stream")
    words = stream[offsets[:, None] + np.arange(nwords)]
    if bits == 32:
        return words.max(axis=1).astype(np.int64)
    if bits in (8, 16):
        packed = np.ascontiguousarray(words).view(f"<u{bits // 8}")
        return packed[:, :bvol].max(axis=1).astype(np.int64)
    shifts = np.arange(0, 32, bits, dtype=np.uint32)
    idx = (words[:, :, None] >> shifts) & np.uint32((1 << bits) - 1)
    return idx.reshape(len(offsets), -1)[:, :bvol].max(axis=1).astype(np.int64)


def validate(
    data: bytes, shape: tuple[int, int, int, int], block: tuple[int, int, int], wpv: int
) -> list[tuple[int, int]]:
    """Validate a whole multi-channel chunk; return each channel's ``(start, end)`` words."""
    if len(data) % 4:
        raise DecodingError(
            f"compressed_segmentation chunk: {len(data)} bytes is not a whole number of words"
        )
    words = np.frombuffer(data, dtype="<u4")
    bounds = channel_bounds(words, int(shape[3]))
    size = (int(shape[0]), int(shape[1]), int(shape[2]))
    for ch, (start, end) in enumerate(bounds):
        validate_channel(words[start:end], size, block, wpv, ch)
    return bounds
