"""Wavefront OBJ and PLY text/binary codecs for triangle meshes (numpy only, no I/O).

Coordinates are passed through unchanged (nanometres when they come from a ``Mesh``).
Polygons with more than three corners are triangulated as fans. Errors raise
:class:`~voxelio.errors.MeshDecodeError` naming the segment and the offending line/element.
Pure functions: thread safe.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from voxelio.errors import MeshDecodeError

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]

_PLY_TYPES = {
    "char": "i1",
    "int8": "i1",
    "uchar": "u1",
    "uint8": "u1",
    "short": "i2",
    "int16": "i2",
    "ushort": "u2",
    "uint16": "u2",
    "int": "i4",
    "int32": "i4",
    "uint": "u4",
    "uint32": "u4",
    "float": "f4",
    "float32": "f4",
    "double": "f8",
    "float64": "f8",
}


def _fan(corners: list[int]) -> list[tuple[int, int, int]]:
    return [(corners[0], corners[i], corners[i + 1]) for i in range(1, len(corners) - 1)]


def _obj_index(token: str, count: int, segid: Any, lineno: int) -> int:
    head = token.split("/")[0]
    try:
        idx = int(head)
    except ValueError as exc:
        raise MeshDecodeError(f"segment {segid}: OBJ line {lineno}: bad index {token!r}") from exc
    if idx == 0:
        raise MeshDecodeError(f"segment {segid}: OBJ line {lineno}: index 0 (OBJ is 1-based)")
    return idx - 1 if idx > 0 else count + idx


def from_obj_text(text: str | bytes, segid: Any = None) -> Arrays:
    """``(vertices, faces, normals)`` parsed from OBJ text (``v``, ``vn`` and ``f`` lines)."""
    if isinstance(text, bytes):
        text = text.decode("utf8")
    vertices: list[list[float]] = []
    normals: list[list[float]] = []
    faces: list[tuple[int, int, int]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        parts = raw.split("#", 1)[0].split()
        if not parts:
            continue
        tag = parts[0]
        try:
            if tag == "v":
                vertices.append([float(x) for x in parts[1:4]])
            elif tag == "vn":
                normals.append([float(x) for x in parts[1:4]])
        except ValueError as exc:
            raise MeshDecodeError(f"segment {segid}: OBJ line {lineno}: {raw.strip()!r}") from exc
        if tag in ("v", "vn") and len(parts) < 4:
            raise MeshDecodeError(f"segment {segid}: OBJ line {lineno}: needs 3 coordinates")
        if tag == "f":
            if len(parts) < 4:
                raise MeshDecodeError(f"segment {segid}: OBJ line {lineno}: face needs 3 corners")
            corners = [_obj_index(tok, len(vertices), segid, lineno) for tok in parts[1:]]
            faces.extend(_fan(corners))
    verts = np.array(vertices, dtype=np.float32).reshape(-1, 3)
    tris = np.array(faces, dtype=np.int64).reshape(-1, 3)
    if tris.size and (tris.min() < 0 or tris.max() >= len(verts)):
        raise MeshDecodeError(
            f"segment {segid}: OBJ face references a vertex outside 1..{len(verts)}"
        )
    return verts, tris.astype(np.uint32), np.array(normals, dtype=np.float32).reshape(-1, 3)


def _format_rows(prefix: str, rows: np.ndarray, fmt: str) -> list[str]:
    return [prefix + " " + " ".join(fmt % x for x in row) for row in rows.tolist()]


def to_obj_bytes(
    vertices: npt.NDArray[Any], faces: npt.NDArray[Any], normals: npt.NDArray[Any] | None
) -> bytes:
    """OBJ text with float32-exact coordinates (``%.9g``), 1-based faces, ``vn`` if given."""
    lines = _format_rows("v", np.asarray(vertices, dtype=np.float64), "%.9g")
    if normals is not None:
        lines += _format_rows("vn", np.asarray(normals, dtype=np.float64), "%.9g")
        lines += [f"f {a}//{a} {b}//{b} {c}//{c}" for a, b, c in (faces + 1).tolist()]
    else:
        lines += [f"f {a} {b} {c}" for a, b, c in (faces.astype(np.int64) + 1).tolist()]
    return ("\n".join(lines) + "\n").encode("utf8")


def to_ply_bytes(
    vertices: npt.NDArray[Any], faces: npt.NDArray[Any], normals: npt.NDArray[Any] | None
) -> bytes:
    """Binary little-endian PLY: float xyz (and nx ny nz), faces as ``list int int``."""
    props = ["x", "y", "z"] + (["nx", "ny", "nz"] if normals is not None else [])
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(vertices)}"]
    header += [f"property float {p}" for p in props]
    header += [f"element face {len(faces)}", "property list int int vertex_indices", "end_header"]
    cols = [np.asarray(vertices, dtype="<f4")]
    if normals is not None:
        cols.append(np.asarray(normals, dtype="<f4"))
    vert_block = np.hstack(cols).astype("<f4").tobytes("C")
    face_block = np.column_stack(
        [np.full(len(faces), 3, dtype="<i4"), np.asarray(faces).astype("<i4")]
    ).tobytes("C")
    return ("\n".join(header) + "\n").encode("ascii") + vert_block + face_block


class _PlyElement:
    def __init__(self, name: str, count: int) -> None:
        self.name = name
        self.count = count
        self.props: list[tuple[str, str, str | None]] = []  # (name, type, list-count type)


def _parse_ply_header(data: bytes, segid: Any) -> tuple[str, list[_PlyElement], int]:
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise MeshDecodeError(f"segment {segid}: not a PLY file (no 'ply' magic or end_header)")
    body = data.index(b"\n", end) + 1
    fmt = ""
    elements: list[_PlyElement] = []
    for line in data[:end].decode("ascii", "replace").splitlines()[1:]:
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        try:
            if words[0] == "format":
                fmt = words[1]
            elif words[0] == "element":
                elements.append(_PlyElement(words[1], int(words[2])))
            elif words[0] == "property" and words[1] == "list":
                elements[-1].props.append((words[4], _PLY_TYPES[words[3]], _PLY_TYPES[words[2]]))
            elif words[0] == "property":
                elements[-1].props.append((words[2], _PLY_TYPES[words[1]], None))
        except (IndexError, KeyError, ValueError) as exc:
            raise MeshDecodeError(f"segment {segid}: bad PLY header line {line!r}") from exc
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise MeshDecodeError(f"segment {segid}: unknown PLY format {fmt!r}")
    return fmt, elements, body


def _read_binary_element(
    data: bytes, pos: int, elem: _PlyElement, order: str, segid: Any
) -> tuple[dict[str, Any], int]:
    has_list = any(p[2] is not None for p in elem.props)
    if not has_list:
        dtype = np.dtype([(n, order + t) for n, t, _ in elem.props])
        need = dtype.itemsize * elem.count
        if pos + need > len(data):
            raise MeshDecodeError(f"segment {segid}: PLY {elem.name} data is truncated")
        table = np.frombuffer(data, dtype=dtype, count=elem.count, offset=pos)
        return {n: table[n] for n, _, _ in elem.props}, pos + need
    if len(elem.props) == 1:
        name, itype, ctype = elem.props[0]
        assert ctype is not None
        tri = np.dtype([("n", order + ctype), ("i", order + itype, (3,))])
        if pos + tri.itemsize * elem.count <= len(data):
            table = np.frombuffer(data, dtype=tri, count=elem.count, offset=pos)
            if np.all(table["n"] == 3):
                return {name: table["i"]}, pos + tri.itemsize * elem.count
    return _read_binary_rows(data, pos, elem, order, segid)


def _read_binary_rows(
    data: bytes, pos: int, elem: _PlyElement, order: str, segid: Any
) -> tuple[dict[str, Any], int]:
    out: dict[str, list[Any]] = {n: [] for n, _, _ in elem.props}
    try:
        for _ in range(elem.count):
            for name, ptype, ctype in elem.props:
                if ctype is None:
                    val = np.frombuffer(data, dtype=order + ptype, count=1, offset=pos)[0]
                    pos += np.dtype(ptype).itemsize
                    out[name].append(val)
                    continue
                n = int(np.frombuffer(data, dtype=order + ctype, count=1, offset=pos)[0])
                pos += np.dtype(ctype).itemsize
                out[name].append(np.frombuffer(data, dtype=order + ptype, count=n, offset=pos))
                pos += n * np.dtype(ptype).itemsize
    except ValueError as exc:
        raise MeshDecodeError(f"segment {segid}: PLY {elem.name} data is truncated") from exc
    return out, pos


def _read_ascii(body: str, elements: list[_PlyElement], segid: Any) -> dict[str, dict[str, Any]]:
    lines = iter(body.splitlines())
    result: dict[str, dict[str, Any]] = {}
    for elem in elements:
        cols: dict[str, list[Any]] = {n: [] for n, _, _ in elem.props}
        for _ in range(elem.count):
            try:
                words = next(lines).split()
            except StopIteration as exc:
                raise MeshDecodeError(f"segment {segid}: PLY {elem.name} is truncated") from exc
            i = 0
            for name, _ptype, ctype in elem.props:
                if ctype is None:
                    cols[name].append(float(words[i]))
                    i += 1
                else:
                    n = int(words[i])
                    cols[name].append([int(w) for w in words[i + 1 : i + 1 + n]])
                    i += 1 + n
        result[elem.name] = cols
    return result


def _faces_from(rows: Any, segid: Any) -> np.ndarray:
    if isinstance(rows, np.ndarray) and rows.ndim == 2:
        return rows.astype(np.int64)
    tris: list[tuple[int, int, int]] = []
    for corners in rows:
        corners = [int(c) for c in corners]
        if len(corners) < 3:
            raise MeshDecodeError(f"segment {segid}: PLY face with {len(corners)} corners")
        tris.extend(_fan(corners))
    return np.array(tris, dtype=np.int64).reshape(-1, 3)


def from_ply_bytes(data: bytes, segid: Any = None) -> Arrays:
    """``(vertices, faces, normals)`` parsed from a PLY file; normals empty when absent."""
    fmt, elements, pos = _parse_ply_header(data, segid)
    tables: dict[str, dict[str, Any]] = {}
    if fmt == "ascii":
        try:
            tables = _read_ascii(data[pos:].decode("ascii"), elements, segid)
        except (ValueError, IndexError) as exc:
            raise MeshDecodeError(f"segment {segid}: malformed ASCII PLY body ({exc})") from exc
    else:
        order = "<" if fmt == "binary_little_endian" else ">"
        for elem in elements:
            tables[elem.name], pos = _read_binary_element(data, pos, elem, order, segid)
    vtab = tables.get("vertex")
    if vtab is None or not all(k in vtab for k in "xyz"):
        raise MeshDecodeError(f"segment {segid}: PLY has no vertex element with x, y, z")
    vertices = np.column_stack([np.asarray(vtab[k], dtype=np.float32) for k in "xyz"])
    normals = np.zeros((0, 3), dtype=np.float32)
    if all(k in vtab for k in ("nx", "ny", "nz")):
        normals = np.column_stack(
            [np.asarray(vtab[k], dtype=np.float32) for k in ("nx", "ny", "nz")]
        )
    ftab = tables.get("face", {})
    rows = ftab.get("vertex_indices", ftab.get("vertex_index", []))
    faces = _faces_from(rows, segid)
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise MeshDecodeError(f"segment {segid}: PLY face references a missing vertex")
    return vertices.reshape(-1, 3), faces.astype(np.uint32), normals
