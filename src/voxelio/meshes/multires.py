"""Multi-resolution (``neuroglancer_multilod_draco``) meshes: manifest, fragments, octree.

Format (notes section 3.3/3.4): a binary *manifest* lists, per level of detail (lod), the
octree nodes that hold a Draco fragment and each fragment's byte size; the *fragment data*
is every fragment concatenated, lod 0 first. A fragment's POSITION attribute holds integers
``v`` in ``[0, 2**q)`` that decode to the stored-model coordinate
``grid_origin + vertex_offsets[lod] + chunk_shape * 2**lod * (position + v / (2**q - 1))``,
and ``transform`` maps stored model to nanometres.

Writing (:func:`encode_multires_mesh`) builds the octree from one mesh per lod: each lod's
mesh is cut along the node grid (and, for lod > 0, along each node's midplanes so that no
triangle crosses into another octant, which Neuroglancer needs), quantized so that vertices
on a midplane land exactly on ``2**(q-1)``, and Draco-encoded as integer attributes.

Pure functions and frozen values; DracoPy is imported inside the functions that need it.
Thread safe.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from voxelio.errors import MeshDecodeError, MissingCodecError
from voxelio.meshes.info import MeshInfo
from voxelio.meshes.mesh import Mesh

_HEADER = 28  # chunk_shape (12) + grid_origin (12) + num_lods (4)
_PER_LOD = 20  # lod_scale (4) + vertex_offset (12) + num_fragments (4)
_PER_FRAGMENT = 16  # position (12) + size (4)


def _draco() -> Any:
    try:
        import DracoPy
    except ImportError as exc:
        raise MissingCodecError(
            "DracoPy is required for multi-resolution meshes; pip install 'voxelio[mesh]'"
        ) from exc
    return DracoPy


# ------------------------------------------------------------------ manifest
@dataclass(frozen=True, eq=False)
class MultiresManifest:
    """A decoded manifest. Arrays are float32/uint32 as stored; treat them as read-only.

    ``chunk_shape`` and ``grid_origin`` are in stored-model units; ``fragment_positions[lod]``
    is ``(n, 3)`` node coordinates and ``fragment_sizes[lod]`` their byte sizes.
    """

    chunk_shape: np.ndarray
    grid_origin: np.ndarray
    lod_scales: np.ndarray
    vertex_offsets: np.ndarray
    fragment_positions: tuple[np.ndarray, ...]
    fragment_sizes: tuple[np.ndarray, ...]

    @property
    def num_lods(self) -> int:
        """Number of levels of detail."""
        return len(self.fragment_sizes)

    @property
    def data_length(self) -> int:
        """Total bytes of fragment data (all lods)."""
        return int(sum(int(s.sum(dtype=np.uint64)) for s in self.fragment_sizes))

    def lod_range(self, lod: int) -> tuple[int, int]:
        """``(start, end)`` byte range of ``lod``'s fragments within the fragment data."""
        start = sum(int(s.sum(dtype=np.uint64)) for s in self.fragment_sizes[:lod])
        return start, start + int(self.fragment_sizes[lod].sum(dtype=np.uint64))

    def expected_length(self) -> int:
        """The manifest's byte length: ``28 + 20 * num_lods + 16 * total_fragments``."""
        frags = sum(len(s) for s in self.fragment_sizes)
        return _HEADER + _PER_LOD * self.num_lods + _PER_FRAGMENT * frags

    def to_bytes(self) -> bytes:
        """The binary manifest (little-endian)."""
        parts = [
            np.asarray(self.chunk_shape, dtype="<f4").tobytes(),
            np.asarray(self.grid_origin, dtype="<f4").tobytes(),
            struct.pack("<I", self.num_lods),
            np.asarray(self.lod_scales, dtype="<f4").tobytes(),
            np.asarray(self.vertex_offsets, dtype="<f4").reshape(-1, 3).tobytes("C"),
            np.array([len(s) for s in self.fragment_sizes], dtype="<u4").tobytes(),
        ]
        for pos, sizes in zip(self.fragment_positions, self.fragment_sizes):
            parts.append(np.asarray(pos, dtype="<u4").reshape(-1, 3).T.tobytes("C"))
            parts.append(np.asarray(sizes, dtype="<u4").tobytes())
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes, segid: int | None = None) -> MultiresManifest:
        """Parse a manifest; bad length or truncation raises MeshDecodeError naming ``segid``."""
        where = f"segment {segid}: multi-resolution manifest"
        if len(data) < _HEADER:
            raise MeshDecodeError(f"{where} has {len(data)} bytes, fewer than the 28-byte header")
        (num_lods,) = struct.unpack_from("<I", data, 24)
        fixed = _HEADER + _PER_LOD * num_lods
        if num_lods == 0 or fixed > len(data):
            raise MeshDecodeError(
                f"{where} declares {num_lods} levels of detail, which needs at least {fixed} "
                f"bytes, but has {len(data)}"
            )
        head = np.frombuffer(data, dtype="<f4", count=6)
        lod_scales = np.frombuffer(data, dtype="<f4", count=num_lods, offset=_HEADER)
        offsets = np.frombuffer(
            data, dtype="<f4", count=3 * num_lods, offset=_HEADER + 4 * num_lods
        )
        counts = np.frombuffer(data, dtype="<u4", count=num_lods, offset=_HEADER + 16 * num_lods)
        expected = fixed + _PER_FRAGMENT * int(counts.sum(dtype=np.uint64))
        if expected != len(data):
            raise MeshDecodeError(
                f"{where} is {len(data)} bytes but its fragment counts {counts.tolist()} "
                f"require exactly {expected}"
            )
        positions, sizes = [], []
        pos = fixed
        for n in counts.tolist():
            positions.append(
                np.frombuffer(data, dtype="<u4", count=3 * n, offset=pos).reshape(3, n).T
            )
            pos += 12 * n
            sizes.append(np.frombuffer(data, dtype="<u4", count=n, offset=pos))
            pos += 4 * n
        return cls(
            chunk_shape=head[:3].astype(np.float32),
            grid_origin=head[3:6].astype(np.float32),
            lod_scales=lod_scales.astype(np.float32),
            vertex_offsets=offsets.reshape(num_lods, 3).astype(np.float32),
            fragment_positions=tuple(p.astype(np.uint32) for p in positions),
            fragment_sizes=tuple(s.astype(np.uint32) for s in sizes),
        )

    def problems(self) -> list[str]:
        """Rule violations a writer must avoid (empty when the manifest is well formed).

        Checks Morton order of each lod's positions, unique positions, and that every node
        below the top lod has its parent listed in the next lod.
        """
        issues: list[str] = []
        for lod, pos in enumerate(self.fragment_positions):
            if len(pos) > 1:
                order = morton_order(pos)
                if not np.array_equal(order, np.arange(len(pos))):
                    issues.append(f"lod {lod}: fragment positions are not in Morton order")
                if len(np.unique(pos, axis=0)) != len(pos):
                    issues.append(f"lod {lod}: duplicate fragment positions")
            if lod + 1 < self.num_lods and len(pos):
                parents = {tuple(p) for p in (pos >> 1).tolist()}
                listed = {tuple(p) for p in self.fragment_positions[lod + 1].tolist()}
                if not parents <= listed:
                    issues.append(f"lod {lod}: some nodes have no parent in lod {lod + 1}")
        return issues


def morton_order(positions: np.ndarray) -> np.ndarray:
    """Indices sorting ``(n, 3)`` positions in xyz Morton order (x least significant)."""
    pos = np.asarray(positions, dtype=np.uint64).reshape(-1, 3)
    if len(pos) == 0:
        return np.zeros(0, dtype=np.int64)
    nbits = max(int(pos.max()).bit_length(), 1)
    keys = []
    for bit in range(nbits):
        for axis in range(3):
            keys.append((pos[:, axis] >> np.uint64(bit)) & np.uint64(1))
    return np.lexsort(keys)


# ------------------------------------------------------------------ decoding
def dequantize(
    points: np.ndarray, manifest: MultiresManifest, lod: int, index: int, bits: int
) -> np.ndarray:
    """Stored-model float64 coordinates of quantized fragment ``points`` (format 3.4)."""
    size = manifest.chunk_shape.astype(np.float64) * float(2**lod)
    base = manifest.grid_origin.astype(np.float64) + manifest.vertex_offsets[lod].astype(np.float64)
    node = manifest.fragment_positions[lod][index].astype(np.float64)
    return base + size * (node + points.astype(np.float64) / float(2**bits - 1))


def apply_transform(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """``points`` (n x 3) mapped by a 4 x 4 (or 3 x 4) affine ``transform``."""
    mat = np.asarray(transform, dtype=np.float64)
    return points @ mat[:3, :3].T + mat[:3, 3]


def decode_fragment(
    data: bytes, manifest: MultiresManifest, lod: int, index: int, info: MeshInfo, segid: int
) -> Mesh:
    """One Draco fragment as a Mesh in nanometres."""
    where = f"segment {segid}: lod {lod} fragment {index}"
    try:
        decoded = _draco().decode(data)
    except MissingCodecError:
        raise
    except Exception as exc:
        raise MeshDecodeError(f"{where} is not valid Draco data ({exc})") from exc
    faces = getattr(decoded, "faces", None)
    points = np.asarray(decoded.points).reshape(-1, 3)
    if faces is None:
        raise MeshDecodeError(f"{where} is a Draco point cloud, not a triangle mesh")
    limit = 2**info.vertex_quantization_bits
    if points.size and (points.min() < 0 or points.max() >= limit):
        raise MeshDecodeError(
            f"{where}: quantized positions fall outside [0, {limit}) for "
            f"vertex_quantization_bits={info.vertex_quantization_bits}"
        )
    stored = dequantize(points, manifest, lod, index, info.vertex_quantization_bits)
    nm = apply_transform(stored, info.transform_matrix())
    return Mesh(nm.astype(np.float32), faces, segid=segid, encoding_type="draco")


def decode_lod(
    lod_data: bytes, manifest: MultiresManifest, lod: int, info: MeshInfo, segid: int
) -> list[Mesh]:
    """Every non-empty fragment of ``lod`` (``lod_data`` is that lod's byte range)."""
    start, end = manifest.lod_range(lod)
    if len(lod_data) != end - start:
        raise MeshDecodeError(
            f"segment {segid}: lod {lod} fragment data is {len(lod_data)} bytes, the manifest "
            f"says {end - start}; the fragment file is truncated"
        )
    meshes = []
    offset = 0
    for index, size in enumerate(manifest.fragment_sizes[lod].tolist()):
        if size:
            frag = lod_data[offset : offset + size]
            meshes.append(decode_fragment(frag, manifest, lod, index, info, segid))
        offset += size
    return meshes


# ------------------------------------------------------------------ encoding
def _split_plane(
    verts: np.ndarray, faces: np.ndarray, axis: int, value: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cut every triangle crossing ``x[axis] == value``; returns new (verts, faces).

    New vertices are placed exactly on the plane; no output triangle has vertices strictly
    on both sides.
    """
    side = np.sign(verts[:, axis] - value)
    fs = side[faces]
    crossing = (fs.min(axis=1) < 0) & (fs.max(axis=1) > 0)
    if not crossing.any():
        return verts, faces
    keep = faces[~crossing]
    new_verts = [verts]
    new_faces = [keep]
    count = len(verts)
    for tri in faces[crossing]:
        out_v, out_f = _cut_triangle(verts[tri], side[tri], axis, value)
        new_verts.append(out_v)
        new_faces.append(out_f + count)
        count += len(out_v)
    return np.concatenate(new_verts), np.concatenate(new_faces)


def _cut_triangle(
    corners: np.ndarray, side: np.ndarray, axis: int, value: float
) -> tuple[np.ndarray, np.ndarray]:
    """Split one triangle whose corners lie strictly on both sides of a plane."""
    # rotate so that corner 0 is the one alone on its side (or on the plane)
    for r in range(3):
        order = [(r + i) % 3 for i in range(3)]
        s = side[order]
        if s[0] == 0 or (s[1] * s[0] < 0 and s[2] * s[0] < 0):
            break
    a, b, c = corners[order]
    sa, sb, sc = side[order]

    def cross(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        t = (value - p[axis]) / (q[axis] - p[axis])
        point = p + t * (q - p)
        point[axis] = value
        return point

    if sa == 0:  # plane passes through a; b and c on opposite sides
        m = cross(b, c)
        return np.array([a, b, m, c]), np.array([[0, 1, 2], [0, 2, 3]])
    mab, mac = cross(a, b), cross(a, c)
    pts = np.array([a, mab, mac, b, c])
    return pts, np.array([[0, 1, 2], [1, 3, 4], [1, 4, 2]])


def _partition(
    verts: np.ndarray, faces: np.ndarray, origin: np.ndarray, cell: np.ndarray, shape: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut a mesh along a grid; returns (verts, faces, cell index of each face)."""
    for axis in range(3):
        for k in range(1, int(shape[axis])):
            verts, faces = _split_plane(verts, faces, axis, origin[axis] + k * cell[axis])
    centroids = verts[faces].mean(axis=1)
    cells = np.floor((centroids - origin) / cell).astype(np.int64)
    cells = np.clip(cells, 0, shape - 1)
    return verts, faces, cells


def _quantize(rel: np.ndarray, bits: int) -> np.ndarray:
    """Node-relative coordinates in [0, 1] to integers; exact halves land on ``2**(bits-1)``."""
    doubled = rel * 2.0
    snapped = np.round(doubled)
    rel = np.where(np.abs(doubled - snapped) < 1e-9, snapped / 2.0, rel)
    top = 2**bits - 1
    return np.clip(np.rint(rel * top), 0, top).astype(np.uint32)


@dataclass(frozen=True)
class _Frame:
    origin: np.ndarray  # float64, float32-exact
    chunk_shape: np.ndarray  # float64, float32-exact
    lod0_cells: np.ndarray  # int64 grid shape at lod 0


def _float32_floor(values: np.ndarray) -> np.ndarray:
    out = np.floor(values).astype(np.float32)
    too_big = out.astype(np.float64) > values
    out[too_big] = np.nextafter(out[too_big], np.float32(-np.inf))
    return out.astype(np.float64)


def _frame(
    stored: Sequence[np.ndarray], num_lods: int, chunk_shape: Sequence[float] | None
) -> _Frame:
    points = np.concatenate([s for s in stored if len(s)])
    lo, hi = points.min(axis=0), points.max(axis=0)
    origin = _float32_floor(lo)
    extent = hi - origin
    if chunk_shape is None:
        shape = np.maximum(extent, 1e-6) / 2 ** (num_lods - 1)
        cs = shape.astype(np.float32).astype(np.float64)
        cs = np.where(cs < shape, np.nextafter(cs.astype(np.float32), np.float32(np.inf)), cs)
    else:
        cs = np.asarray(chunk_shape, dtype=np.float32).astype(np.float64)
        if cs.shape != (3,) or np.any(cs <= 0):
            raise ValueError(f"chunk_shape must be 3 positive numbers, got {chunk_shape!r}")
    cells = np.maximum(np.ceil(extent / cs).astype(np.int64), 1)
    return _Frame(origin, cs.astype(np.float64), cells)


def _lod_fragments(
    stored: np.ndarray, faces: np.ndarray, lod: int, frame: _Frame, bits: int
) -> dict[tuple[int, int, int], bytes]:
    """Draco fragments of one lod keyed by node position."""
    if len(faces) == 0:
        return {}
    node_size = frame.chunk_shape * 2**lod
    cell = node_size / 2 if lod > 0 else node_size
    shape = frame.lod0_cells if lod == 0 else -(-frame.lod0_cells // 2 ** (lod - 1))
    verts, tris, cells = _partition(stored, faces, frame.origin, cell, shape)
    nodes = cells >> 1 if lod > 0 else cells
    out: dict[tuple[int, int, int], bytes] = {}
    keys, inverse = np.unique(nodes, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    draco = _draco()
    for i, node in enumerate(keys):
        node_faces = tris[inverse == i]
        used, local = np.unique(node_faces, return_inverse=True)
        rel = (verts[used] - frame.origin) / node_size - node
        qverts = _quantize(rel, bits)
        local_faces = local.reshape(-1, 3).astype(np.uint32)
        out[(int(node[0]), int(node[1]), int(node[2]))] = bytes(
            draco.encode(qverts, local_faces, compression_level=7)
        )
    return out


def _node_sets(
    frags: list[dict[tuple[int, int, int], bytes]],
) -> list[list[tuple[int, int, int]]]:
    """Per lod: occupied nodes plus every ancestor of a lower lod's node, Morton sorted."""
    result: list[list[tuple[int, int, int]]] = []
    below: set[tuple[int, int, int]] = set()
    for lod, lod_frags in enumerate(frags):
        nodes = set(lod_frags)
        if lod > 0:
            nodes |= {(x >> 1, y >> 1, z >> 1) for x, y, z in below}
        ordered = sorted(nodes)
        arr = np.array(ordered, dtype=np.uint32).reshape(-1, 3)
        result.append([ordered[i] for i in morton_order(arr)])
        below = nodes
    return result


def encode_multires_mesh(
    lods: Sequence[Mesh],
    info: MeshInfo,
    *,
    chunk_shape: Sequence[float] | None = None,
    lod_scales: Sequence[float] | None = None,
    segid: int | None = None,
) -> tuple[MultiresManifest, bytes]:
    """Build ``(manifest, fragment_data)`` from one mesh per lod (lod 0 = finest), in nm.

    ``chunk_shape`` is the lod-0 octree node size in stored-model units (after the inverse
    of ``info.transform``); by default the top lod is a single node covering the mesh.
    ``lod_scales`` default to ``2**lod``. Empty lods are allowed (they get no fragments
    besides the ancestors of finer nodes).
    """
    if not lods:
        raise ValueError(f"segment {segid}: at least one level of detail is required")
    inv = np.linalg.inv(info.transform_matrix())
    stored = [apply_transform(m.vertices.astype(np.float64), inv) for m in lods]
    if not any(len(m.faces) for m in lods):
        raise ValueError(f"segment {segid}: every level of detail is empty")
    frame = _frame([s for s, m in zip(stored, lods) if len(m.faces)], len(lods), chunk_shape)
    bits = info.vertex_quantization_bits
    frags = [
        _lod_fragments(s, m.faces.astype(np.int64), lod, frame, bits)
        for lod, (s, m) in enumerate(zip(stored, lods))
    ]
    nodes = _node_sets(frags)
    data = b"".join(frags[lod].get(node, b"") for lod in range(len(lods)) for node in nodes[lod])
    scales = [float(2**i) for i in range(len(lods))] if lod_scales is None else list(lod_scales)
    if len(scales) != len(lods):
        raise ValueError(f"segment {segid}: {len(scales)} lod_scales for {len(lods)} lods")
    manifest = MultiresManifest(
        chunk_shape=frame.chunk_shape.astype(np.float32),
        grid_origin=frame.origin.astype(np.float32),
        lod_scales=np.asarray(scales, dtype=np.float32),
        vertex_offsets=np.zeros((len(lods), 3), dtype=np.float32),
        fragment_positions=tuple(np.array(n, dtype=np.uint32).reshape(-1, 3) for n in nodes),
        fragment_sizes=tuple(
            np.array([len(frags[lod].get(node, b"")) for node in nodes[lod]], dtype=np.uint32)
            for lod in range(len(lods))
        ),
    )
    return manifest, data
