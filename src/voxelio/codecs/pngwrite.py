"""A small PNG writer for the sample layouts libspng cannot encode (16-bit gray and RGB).

Writes one IHDR, one IDAT (zlib at the given level, filter type 0 on every row) and IEND;
16-bit samples are big-endian as PNG requires. Pure function of numpy + zlib, thread safe.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}


def _chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, body, CRC-32 of type + body."""
    crc = zlib.crc32(body, zlib.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def write_png(image: np.ndarray, level: int) -> bytes:
    """Encode a ``(height, width[, c])`` uint8/uint16 image with 1-4 channels as PNG bytes."""
    height, width = image.shape[:2]
    nc = 1 if image.ndim == 2 else int(image.shape[2])
    depth = image.dtype.itemsize * 8
    rows = np.ascontiguousarray(image, dtype=image.dtype.newbyteorder(">"))
    rows = rows.reshape(height, width * nc).view(np.uint8)
    filtered = np.zeros((height, rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 1:] = rows
    ihdr = struct.pack(">IIBBBBB", width, height, depth, COLOR_TYPES[nc], 0, 0, 0)
    body = zlib.compress(filtered.tobytes(), level)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")
    )
