"""Helpers for the mesh tests: small synthetic meshes and segmentation layers on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from voxelio.meshes import Mesh


def box_mesh(lo: Any, hi: Any, segid: int | None = None) -> Mesh:
    """A closed box (8 vertices, 12 outward-facing triangles) spanning ``lo``..``hi`` nm."""
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    corners = np.array([[x, y, z] for z in (0, 1) for y in (0, 1) for x in (0, 1)], float)
    verts = lo + corners * (hi - lo)
    faces = [
        [0, 2, 1],
        [1, 2, 3],
        [4, 5, 6],
        [5, 7, 6],  # z faces
        [0, 1, 4],
        [1, 5, 4],
        [2, 6, 3],
        [3, 6, 7],  # y faces
        [0, 4, 2],
        [2, 4, 6],
        [1, 3, 5],
        [3, 7, 5],  # x faces
    ]
    return Mesh(verts, faces, segid=segid)


def icosphere(subdivisions: int, radius: float, center: Any, segid: int | None = None) -> Mesh:
    """A numpy icosphere: the icosahedron, each triangle split in 4 ``subdivisions`` times."""
    t = (1 + 5**0.5) / 2
    verts = [
        [-1, t, 0],
        [1, t, 0],
        [-1, -t, 0],
        [1, -t, 0],
        [0, -1, t],
        [0, 1, t],
        [0, -1, -t],
        [0, 1, -t],
        [t, 0, -1],
        [t, 0, 1],
        [-t, 0, -1],
        [-t, 0, 1],
    ]
    faces = [
        [0, 11, 5],
        [0, 5, 1],
        [0, 1, 7],
        [0, 7, 10],
        [0, 10, 11],
        [1, 5, 9],
        [5, 11, 4],
        [11, 10, 2],
        [10, 7, 6],
        [7, 1, 8],
        [3, 9, 4],
        [3, 4, 2],
        [3, 2, 6],
        [3, 6, 8],
        [3, 8, 9],
        [4, 9, 5],
        [2, 4, 11],
        [6, 2, 10],
        [8, 6, 7],
        [9, 8, 1],
    ]
    points = [np.asarray(v, float) / np.linalg.norm(v) for v in verts]
    for _ in range(subdivisions):
        faces = _subdivide(points, faces)
    return Mesh(np.array(points) * radius + np.asarray(center, float), faces, segid=segid)


def make_layer(root: Path, mesh_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """A segmentation layer info (4x4x40 nm) with ``"mesh": "mesh"`` written under ``root``."""
    info = {
        "type": "segmentation",
        "data_type": "uint64",
        "num_channels": 1,
        "mesh": "mesh",
        "scales": [
            {
                "key": "4_4_40",
                "resolution": [4, 4, 40],
                "voxel_offset": [0, 0, 0],
                "size": [256, 256, 64],
                "chunk_sizes": [[64, 64, 64]],
                "encoding": "raw",
            }
        ],
    }
    (root / "mesh").mkdir(parents=True, exist_ok=True)
    (root / "info").write_text(json.dumps(info))
    if mesh_info is not None:
        (root / "mesh" / "info").write_text(json.dumps(mesh_info))
    return info


def _subdivide(points: list[np.ndarray], faces: list[list[int]]) -> list[list[int]]:
    """Split each triangle in four, adding unit-length midpoints to ``points``."""
    cache: dict[tuple[int, int], int] = {}

    def mid(a: int, b: int) -> int:
        key = (min(a, b), max(a, b))
        if key not in cache:
            m = points[a] + points[b]
            points.append(m / np.linalg.norm(m))
            cache[key] = len(points) - 1
        return cache[key]

    new = []
    for a, b, c in faces:
        ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
        new += [[a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]]
    return new
