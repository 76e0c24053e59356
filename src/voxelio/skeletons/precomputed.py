"""The precomputed skeleton binary: encode and decode with the info's vertex attributes.

Layout (all little-endian, no padding): ``u32 num_vertices``, ``u32 num_edges``,
``f32[num_vertices][3]`` positions (stored-model space), ``u32[num_edges][2]`` edges, then for
each attribute declared in the info, in order, ``num_vertices * num_components`` values.

Decoding is strict about what is missing or inconsistent (short buffers, edges pointing past the
vertex list) and lenient in the two ways other tools rely on: trailing bytes are ignored
(Neuroglancer does not check them, and cloud-volume writes the skeleton's own attributes even
when the info declares fewer), and a buffer holding no attribute bytes at all decodes with the
attributes left out. Pure functions: thread safe.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from voxelio.errors import EncodingError, SkeletonDecodeError
from voxelio.skeletons.info import VertexAttribute

_HEADER = struct.Struct("<II")


@dataclass(frozen=True)
class DecodedSkeleton:
    """Arrays decoded from one binary: float32 ``(N, 3)`` vertices, uint32 ``(E, 2)`` edges,
    and ``{attribute id: array}`` (``(N,)`` for one component, else ``(N, C)``)."""

    vertices: np.ndarray
    edges: np.ndarray
    attributes: Mapping[str, np.ndarray]


def _label(segid: int | None) -> str:
    return "skeleton" if segid is None else f"skeleton {segid}"


def decode_skeleton(
    data: bytes, vertex_attributes: Sequence[VertexAttribute], segid: int | None = None
) -> DecodedSkeleton:
    """Decode one precomputed skeleton binary.

    Raises :class:`SkeletonDecodeError` naming ``segid`` when the bytes are too short for the
    counts they declare or an edge points past the last vertex.
    """
    view = memoryview(data)
    who = _label(segid)
    if len(view) < _HEADER.size:
        raise SkeletonDecodeError(
            f"{who}: {len(view)} bytes cannot hold the 8-byte vertex/edge count header"
        )
    nv, ne = _HEADER.unpack_from(view, 0)
    base = _HEADER.size + 12 * nv + 8 * ne
    if len(view) < base:
        raise SkeletonDecodeError(
            f"{who}: header declares {nv} vertices and {ne} edges ({base} bytes) "
            f"but the file has only {len(view)} bytes"
        )
    vertices = np.frombuffer(view, "<f4", 3 * nv, _HEADER.size).reshape(nv, 3)
    edges = np.frombuffer(view, "<u4", 2 * ne, _HEADER.size + 12 * nv).reshape(ne, 2)
    if ne and int(edges.max()) >= nv:
        raise SkeletonDecodeError(
            f"{who}: edge refers to vertex {int(edges.max())} but there are only {nv} vertices"
        )
    attributes = _decode_attributes(view, base, nv, vertex_attributes, who)
    return DecodedSkeleton(
        vertices.astype(np.float32, copy=True),
        edges.astype(np.uint32, copy=True),
        attributes,
    )


def _decode_attributes(
    view: memoryview, start: int, nv: int, attrs: Sequence[VertexAttribute], who: str
) -> dict[str, np.ndarray]:
    if len(view) == start or not attrs or nv == 0:
        if nv == 0:
            return {a.id: _empty_attribute(a, 0) for a in attrs}
        return {}
    need = start + nv * sum(a.nbytes_per_vertex for a in attrs)
    if len(view) < need:
        names = ", ".join(f"{a.id} ({a.data_type} x{a.num_components})" for a in attrs)
        raise SkeletonDecodeError(
            f"{who}: {len(view)} bytes, but {nv} vertices with attributes [{names}] "
            f"need {need} bytes"
        )
    out: dict[str, np.ndarray] = {}
    offset = start
    for attr in attrs:
        count = nv * attr.num_components
        arr = np.frombuffer(view, attr.dtype, count, offset).astype(attr.data_type, copy=True)
        out[attr.id] = arr if attr.num_components == 1 else arr.reshape(nv, attr.num_components)
        offset += count * attr.dtype.itemsize
    return out


def _empty_attribute(attr: VertexAttribute, nv: int) -> np.ndarray:
    shape = (nv,) if attr.num_components == 1 else (nv, attr.num_components)
    return np.zeros(shape, dtype=attr.data_type)


def encode_skeleton(
    vertices: np.ndarray,
    edges: np.ndarray,
    attributes: Mapping[str, np.ndarray],
    vertex_attributes: Sequence[VertexAttribute],
    segid: int | None = None,
) -> bytes:
    """Encode arrays as one precomputed skeleton binary.

    ``vertex_attributes`` decides which attributes are written and in which order; one missing
    from ``attributes`` is written as zeros (``radius`` as -1, cloud-volume's "unknown").
    Raises :class:`EncodingError` naming ``segid`` for wrong shapes or out-of-range edges.
    """
    who = _label(segid)
    verts = np.asarray(vertices)
    edge_arr = np.asarray(edges)
    if verts.size == 0:
        verts = verts.reshape(0, 3)
    if edge_arr.size == 0:
        edge_arr = edge_arr.reshape(0, 2)
    if verts.ndim != 2 or verts.shape[1] != 3:
        raise EncodingError(f"{who}: vertices must have shape (N, 3), got {verts.shape}")
    if edge_arr.ndim != 2 or edge_arr.shape[1] != 2:
        raise EncodingError(f"{who}: edges must have shape (E, 2), got {edge_arr.shape}")
    nv = verts.shape[0]
    if edge_arr.size and (edge_arr.min() < 0 or edge_arr.max() >= nv):
        raise EncodingError(f"{who}: edges refer to vertices outside 0..{nv - 1}")
    parts = [
        _HEADER.pack(nv, edge_arr.shape[0]),
        np.ascontiguousarray(verts, dtype="<f4").tobytes(),
        np.ascontiguousarray(edge_arr, dtype="<u4").tobytes(),
    ]
    for attr in vertex_attributes:
        parts.append(_encode_attribute(attributes.get(attr.id), attr, nv, who))
    return b"".join(parts)


def _encode_attribute(values: np.ndarray | None, attr: VertexAttribute, nv: int, who: str) -> bytes:
    if values is None:
        fill = -1 if attr.id == "radius" else 0
        return np.full(nv * attr.num_components, fill, dtype=attr.dtype).tobytes()
    arr = np.asarray(values)
    if arr.size != nv * attr.num_components or (arr.ndim > 0 and arr.shape[0] != nv):
        raise EncodingError(
            f"{who}: attribute {attr.id!r} has shape {arr.shape}, expected "
            f"({nv},{' ' + str(attr.num_components) if attr.num_components > 1 else ''}) "
            f"for {nv} vertices"
        )
    return np.ascontiguousarray(arr, dtype=attr.dtype).tobytes()
