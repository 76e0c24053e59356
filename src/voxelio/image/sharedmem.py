"""Arrays backed by shared memory or by a file, shared between processes without copies.

A shared-memory *location* is a name such as ``"voxelio-shm-<uuid>"``; on Linux it is the file
``/dev/shm/<location>``, the same place POSIX ``shm_open`` (and so cloud-volume's
``sharedmemory``) uses, so either library can open the other's segments. A location that
contains a ``/`` is taken as an ordinary file path (``download_to_file``). Arrays are
``numpy.memmap`` views; they stay valid after :func:`unlink` (the memory is freed when the
last view is gone). The caller owns the lifecycle: nothing is unlinked automatically.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

PREFIX = "voxelio-shm-"


def generate_location() -> str:
    """A new unique shared-memory location name."""
    return PREFIX + uuid.uuid4().hex


def shm_dir() -> Path:
    """The directory holding shared-memory segments (``/dev/shm`` when present)."""
    for candidate in ("/dev/shm", "/run/shm"):
        if os.path.isdir(candidate) and os.access(candidate, os.W_OK):
            return Path(candidate)
    return Path(tempfile.gettempdir())


def location_path(location: str) -> Path:
    """The file behind ``location`` (a name in :func:`shm_dir`, or a path with ``/``)."""
    if "/" in location or os.sep in location:
        return Path(location.removeprefix("file://")).absolute()
    if not location or location in (".", ".."):
        raise ValueError(f"invalid shared memory location {location!r}")
    return shm_dir() / location


def open_array(
    location: str, shape: Sequence[int], dtype: np.dtype | str, order: str = "F",
    create: bool = False,
) -> np.memmap:  # fmt: skip
    """A ``numpy.memmap`` of ``shape``/``dtype``/``order`` over ``location``.

    ``create`` makes (or grows) the segment; otherwise it must exist and be large enough.
    """
    if order not in ("F", "C"):
        raise ValueError(f"order must be 'F' or 'C', got {order!r}")
    path = location_path(location)
    nbytes = int(np.prod([int(s) for s in shape], dtype=np.int64)) * np.dtype(dtype).itemsize
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < nbytes:
                os.ftruncate(fd, nbytes)
        finally:
            os.close(fd)
    elif not path.exists():
        raise FileNotFoundError(f"shared memory location {location!r} ({path}) does not exist")
    elif path.stat().st_size < nbytes:
        raise ValueError(
            f"shared memory location {location!r} holds {path.stat().st_size} bytes, "
            f"an array of shape {tuple(shape)} and dtype {np.dtype(dtype)} needs {nbytes}"
        )
    if nbytes == 0:
        return np.memmap(path, dtype=dtype, mode="r+", shape=(1,))[:0].reshape(tuple(shape))  # type: ignore[return-value]
    dims = tuple(int(s) for s in shape)
    return np.memmap(path, dtype=dtype, mode="r+", shape=dims, order=order)  # type: ignore[call-overload, no-any-return]


def unlink(location: str) -> bool:
    """Remove the segment (or file) at ``location``; returns whether it existed."""
    path = location_path(location)
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
