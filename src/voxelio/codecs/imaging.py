"""Chunk <-> 2-D image geometry shared by the image encodings (jpeg, png, jxl).

A chunk ``[x, y, z, c]`` becomes an image of width ``x`` and height ``y * z`` (row ``r`` holds
``y = r % Y`` and ``z = r // Y``), with the channels pixel-interleaved; this is the layout of
TensorStore, cloud-volume and Neuroglancer (format notes 1.5). Pure functions, thread safe.
"""

from __future__ import annotations

import numpy as np

from voxelio.codecs.base import Shape4
from voxelio.errors import DecodingError


def to_image(chunk: np.ndarray) -> np.ndarray:
    """The C-contiguous ``(y*z, x, c)`` image of a 4-D ``[x, y, z, c]`` chunk.

    No copy is made when the chunk is a Fortran-ordered single-channel array.
    """
    sx, sy, sz, nc = chunk.shape
    zyx = chunk.transpose(2, 1, 0, 3)
    return np.ascontiguousarray(zyx).reshape(sz * sy, sx, nc)


def from_image(pixels: np.ndarray, shape: Shape4, what: str) -> np.ndarray:
    """The Fortran-ordered ``[x, y, z, c]`` chunk of ``shape`` held by a decoded image.

    ``pixels`` is the decoder's C-ordered ``(height, width[, c])`` array; only its total size
    must match (Neuroglancer checks ``width * height == x * y * z``). A single-channel result is
    a view of ``pixels``. Raises :class:`DecodingError` naming ``what`` on a size mismatch.
    """
    sx, sy, sz, nc = (int(v) for v in shape)
    if pixels.size != sx * sy * sz * nc:
        raise DecodingError(
            f"{what}: image of shape {pixels.shape} holds {pixels.size} samples, "
            f"chunk {tuple(shape)} needs {sx * sy * sz * nc}"
        )
    arr = np.ascontiguousarray(pixels).reshape(sz, sy, sx, nc).transpose(2, 1, 0, 3)
    if nc == 1:
        return arr
    return np.asfortranarray(arr)


def image_channels(pixels: np.ndarray) -> int:
    """The number of channels of a decoded ``(height, width[, c])`` image."""
    return 1 if pixels.ndim == 2 else int(pixels.shape[2])
