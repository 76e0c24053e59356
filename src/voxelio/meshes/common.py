"""Helpers shared by the legacy and multi-resolution mesh sources (no I/O of their own)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import IO, Any

import numpy as np

from voxelio.errors import MeshMissingError
from voxelio.meshes.mesh import Mesh

FILE_FORMATS = ("ply", "obj", "precomputed")


__all__ = ["FILE_FORMATS", "MeshMissingError", "encode_as", "segid_list", "write_mesh_file"]


def segid_list(segids: Any) -> tuple[list[int], bool]:
    """``(ids, was_single)`` from an int, a string of digits or an iterable of them."""
    if isinstance(segids, (int, np.integer, str, bytes)):
        return [_as_segid(segids)], True
    if isinstance(segids, Iterable):
        return [_as_segid(s) for s in segids], False
    raise TypeError(f"segment ids must be an int or an iterable of ints, got {segids!r}")


def _as_segid(value: Any) -> int:
    try:
        segid = int(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"segment id {value!r} is not an integer") from exc
    if not 0 <= segid < 2**64:
        raise ValueError(f"segment id {segid} is outside the uint64 range")
    return segid


def encode_as(mesh: Mesh, file_format: str) -> bytes:
    """``mesh`` serialized as ``ply``, ``obj`` or legacy ``precomputed`` bytes."""
    if file_format == "ply":
        return mesh.to_ply()
    if file_format == "obj":
        return mesh.to_obj()
    if file_format == "precomputed":
        return mesh.to_precomputed()
    raise ValueError(f"file_format must be one of {FILE_FORMATS}, got {file_format!r}")


def write_mesh_file(
    mesh: Mesh,
    ids: list[int],
    filepath: str | os.PathLike[str] | IO[bytes] | None,
    file_format: str,
) -> str | None:
    """Write ``mesh`` to ``filepath`` (a path or binary file object).

    Without ``filepath`` the name is ``<id>.<fmt>`` or ``<first>_<last>.<fmt>`` in the
    current directory, as in cloud-volume. Returns the path written (None for file objects).
    """
    data = encode_as(mesh, file_format)
    if filepath is not None and hasattr(filepath, "write"):
        filepath.write(data)
        return None
    if filepath is None:
        stem = str(ids[0]) if len(ids) == 1 else f"{ids[0]}_{ids[-1]}"
        filepath = f"{stem}.{file_format}"
    path = os.fspath(filepath)
    with open(path, "wb") as fh:
        fh.write(data)
    return path
