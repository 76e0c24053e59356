"""Geometry values: ``Vec``, ``Bbox`` and chunk grids (pure, no I/O)."""

from voxelio.geometry.bbox import Bbox
from voxelio.geometry.grid import ChunkGrid, chunk_name
from voxelio.geometry.vec import Vec

__all__ = ["Bbox", "ChunkGrid", "Vec", "chunk_name"]
