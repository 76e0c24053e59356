"""Annotation records, byte for byte (little-endian, no I/O).

One record: the geometry as float32 (a point: ``rank`` values; a line, box or ellipsoid: two
points, A then B or centre then radii; a polyline: ``u32`` vertex count then the vertices),
then the properties grouped by alignment (4-byte types, then 2-byte, then 1-byte with rgb
and rgba; the info's order kept within a group), then zero padding to a multiple of 4 bytes.
A ``by_id`` value is one record followed, for each relationship in info order, by ``u32
count`` and ``count`` uint64 segment ids. A spatial cell or relationship value is ``u64
count``, ``count`` records, then their ``count`` uint64 annotation ids.

Records over 255 bytes (geometry aside for polylines) are refused both ways: Neuroglancer
splits those into several padded groups, a layout nothing else writes.

In memory a batch is columnar (:class:`Columns`): geometry ``(n, rank)`` for points and
``(n, rank, 2)`` for two-point types (``[..., 0]`` is A or the centre), as cloud-volume
shapes it, or a list of ``(k, rank)`` arrays for polylines; ``ids`` uint64; one array per
property (``(n, 3)``/``(n, 4)`` for rgb/rgba). Pure functions: thread safe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from voxelio.errors import DecodingError, EncodingError
from voxelio.meta.annotations import TWO_POINT_TYPES, AnnotationInfo, AnnotationProperty

MAX_RECORD_BYTES = 255
_U32 = np.dtype("<u4")
_U64 = np.dtype("<u8")
Geometry = np.ndarray | list[np.ndarray]


@dataclass(frozen=True)
class Columns:
    """A batch of annotations, column by column (see the module docstring)."""

    geometry: Geometry
    ids: np.ndarray
    properties: Mapping[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index: np.ndarray) -> Columns:
        """The annotations at ``index`` (an integer or boolean array), in that order."""
        positions = np.flatnonzero(index) if index.dtype == bool else index
        if isinstance(self.geometry, list):
            geometry: Geometry = [self.geometry[int(i)] for i in positions]
        else:
            geometry = self.geometry[positions]
        return Columns(
            geometry, self.ids[positions], {k: v[positions] for k, v in self.properties.items()}
        )


def sorted_properties(info: AnnotationInfo) -> list[AnnotationProperty]:
    """The properties in record order: by alignment, 4 then 2 then 1, stable."""
    return sorted(info.properties, key=lambda p: -p.alignment)


def _property_fields(info: AnnotationInfo) -> list[tuple[str, np.dtype, tuple[int, ...]]]:
    fields = []
    for prop in sorted_properties(info):
        shape: tuple[int, ...] = (prop.components,) if prop.components > 1 else ()
        fields.append((f"p_{prop.id}", prop.dtype, shape))
    return fields


def properties_size(info: AnnotationInfo) -> int:
    """Bytes of the properties, padding included."""
    size = sum(p.dtype.itemsize * p.components for p in info.properties)
    return size + (-size) % 4


def record_dtype(info: AnnotationInfo, num_points: int = 0) -> np.dtype:
    """The structured dtype of one record (a polyline's for ``num_points`` vertices)."""
    rank = info.rank
    fields: list[tuple[str, np.dtype, tuple[int, ...]]]
    if info.annotation_type == "polyline":
        fields = [("num_points", _U32, ()), ("geometry", np.dtype("<f4"), (num_points, rank))]
    elif info.annotation_type in TWO_POINT_TYPES:
        fields = [("geometry", np.dtype("<f4"), (2, rank))]
    else:
        fields = [("geometry", np.dtype("<f4"), (rank,))]
    fields += _property_fields(info)
    size = np.dtype(fields).itemsize
    if size % 4:
        fields.append(("padding", np.dtype("u1"), ((-size) % 4,)))
    return np.dtype(fields)


def check_record_size(info: AnnotationInfo, where: str) -> None:
    """Refuse infos whose fixed record part exceeds :data:`MAX_RECORD_BYTES`."""
    size = record_dtype(info).itemsize
    if size > MAX_RECORD_BYTES:
        raise EncodingError(
            f"{where}: an annotation record of this info takes {size} bytes; voxelio handles "
            f"records of at most {MAX_RECORD_BYTES} (Neuroglancer splits longer ones into groups)"
        )


# ---------------------------------------------------------------------------- encoding


def _fill(out: np.ndarray, info: AnnotationInfo, cols: Columns, geometry: np.ndarray) -> None:
    if info.annotation_type in TWO_POINT_TYPES:
        out["geometry"] = np.swapaxes(geometry, 1, 2)
    else:
        out["geometry"] = geometry
    for prop in info.properties:
        out[f"p_{prop.id}"] = cols.properties[prop.id]


def encode_records(info: AnnotationInfo, cols: Columns) -> bytes:
    """The records of ``cols`` back to back (no count, no ids)."""
    if info.annotation_type == "polyline":
        return b"".join(polyline_record(info, cols, i) for i in range(len(cols)))
    out = np.zeros(len(cols), record_dtype(info))
    _fill(out, info, cols, np.asarray(cols.geometry, dtype=np.float32))
    return out.tobytes()


def polyline_record(info: AnnotationInfo, cols: Columns, i: int) -> bytes:
    """The record of polyline ``i`` of ``cols`` (each polyline's record has its own size)."""
    vertices = np.asarray(cols.geometry[i], dtype=np.float32)
    out = np.zeros(1, record_dtype(info, len(vertices)))
    out["num_points"] = len(vertices)
    out["geometry"] = vertices
    for prop in info.properties:
        out[f"p_{prop.id}"] = cols.properties[prop.id][i]
    return out.tobytes()


def frame_multiple(records: bytes, ids: np.ndarray) -> bytes:
    """A spatial cell's or relationship's value from its encoded records: count, records,
    ids."""
    return np.array([len(ids)], _U64).tobytes() + records + np.asarray(ids, _U64).tobytes()


def frame_single(record: bytes, related: Sequence[np.ndarray]) -> bytes:
    """A ``by_id`` value from its encoded record: the record, then for each relationship the
    count and the segment ids."""
    parts = [record]
    for segments in related:
        ids = np.asarray(segments, _U64)
        parts.append(np.array([len(ids)], _U32).tobytes() + ids.tobytes())
    return b"".join(parts)


def encode_multiple(info: AnnotationInfo, cols: Columns) -> bytes:
    """A spatial cell's or relationship's value for ``cols``."""
    return frame_multiple(encode_records(info, cols), cols.ids)


def encode_single(
    info: AnnotationInfo, cols: Columns, i: int, related: Sequence[np.ndarray]
) -> bytes:
    """The ``by_id`` value of annotation ``i``: its record, then each relationship's ids."""
    return frame_single(encode_records(info, cols.take(np.array([i]))), related)


def concat(parts: Sequence[Columns], kind: str) -> Columns:
    """The batches ``parts`` (at least one) as one, in order."""
    geometry: Geometry
    if kind == "polyline":
        geometry = [v for p in parts for v in p.geometry]
    else:
        geometry = np.concatenate([p.geometry for p in parts])  # type: ignore[misc]
    props = {k: np.concatenate([p.properties[k] for p in parts]) for k in parts[0].properties}
    return Columns(geometry, np.concatenate([p.ids for p in parts]), props)


# ---------------------------------------------------------------------------- decoding


def _columns(info: AnnotationInfo, records: np.ndarray, ids: np.ndarray) -> Columns:
    geometry = np.array(records["geometry"], dtype=np.float32)
    if info.annotation_type in TWO_POINT_TYPES:
        geometry = np.ascontiguousarray(np.swapaxes(geometry, 1, 2))
    props = {p.id: np.array(records[f"p_{p.id}"]) for p in info.properties}
    return Columns(geometry, ids, props)


def _polylines(
    info: AnnotationInfo, data: memoryview, count: int, where: str
) -> tuple[Columns, int]:
    offset, rows, vertices = 8, [], []
    for _ in range(count):
        dtype = _polyline_dtype(info, data, offset, where)
        record = np.frombuffer(data, dtype, 1, offset)
        vertices.append(np.array(record["geometry"][0], dtype=np.float32))
        rows.append(record)
        offset += dtype.itemsize
    props = {p.id: _stack([r[f"p_{p.id}"][0] for r in rows], p) for p in info.properties}
    return Columns(vertices, np.zeros(count, np.uint64), props), offset


def _polyline_dtype(info: AnnotationInfo, data: memoryview, offset: int, where: str) -> np.dtype:
    """The dtype of the polyline record at ``offset``, once its length is known to fit."""
    if offset + 4 > len(data):
        raise DecodingError(f"{where}: truncated polyline record at byte {offset}")
    n = int(np.frombuffer(data, _U32, 1, offset)[0])
    size = 4 + 4 * n * info.rank + properties_size(info)
    if offset + size > len(data):
        raise DecodingError(
            f"{where}: polyline of {n} vertices at byte {offset} needs {size} bytes, past "
            f"the end ({len(data)} bytes)"
        )
    return record_dtype(info, n)


def _stack(values: list[np.ndarray], prop: AnnotationProperty) -> np.ndarray:
    shape = (len(values), prop.components) if prop.components > 1 else (len(values),)
    return np.array(values, dtype=prop.dtype).reshape(shape)


def decode_multiple(info: AnnotationInfo, data: bytes, where: str) -> Columns:
    """Parse a spatial cell's or relationship's value; a wrong length raises, naming ``where``."""
    view = memoryview(data)
    if len(view) < 8:
        raise DecodingError(f"{where}: {len(view)} bytes, too short for an annotation count")
    count = int(np.frombuffer(view, _U64, 1)[0])
    if info.annotation_type == "polyline":
        if count > len(view):
            raise DecodingError(f"{where}: claims {count} annotations in {len(view)} bytes")
        cols, end = _polylines(info, view, count, where)
        if end + 8 * count != len(view):
            raise DecodingError(
                f"{where}: {len(view) - end} bytes after {count} polylines, expected "
                f"{8 * count} of ids"
            )
    else:
        dtype = record_dtype(info)
        end = 8 + count * dtype.itemsize
        if end + 8 * count != len(view):
            raise DecodingError(
                f"{where}: {count} annotations of {dtype.itemsize} bytes need "
                f"{end + 8 * count} bytes, found {len(view)}"
            )
        cols = _columns(info, np.frombuffer(view, dtype, count, 8), np.zeros(0, np.uint64))
    ids = np.frombuffer(view, _U64, count, end).astype(np.uint64)
    return Columns(cols.geometry, ids, cols.properties)


def decode_single(
    info: AnnotationInfo, data: bytes, annotation_id: int, where: str
) -> tuple[Columns, dict[str, np.ndarray]]:
    """Parse a ``by_id`` value: the annotation (a batch of one) and its related segment ids
    by relationship id."""
    view = memoryview(data)
    if info.annotation_type == "polyline":
        dtype = _polyline_dtype(info, view, 0, where)
    else:
        dtype = record_dtype(info)
    if len(view) < dtype.itemsize:
        raise DecodingError(f"{where}: {len(view)} bytes, a record needs {dtype.itemsize}")
    records = np.frombuffer(view, dtype, 1)
    ids = np.array([annotation_id], np.uint64)
    if info.annotation_type == "polyline":
        vertices = [np.array(records["geometry"][0], dtype=np.float32)]
        props = {p.id: np.array(records[f"p_{p.id}"]) for p in info.properties}
        cols = Columns(vertices, ids, props)
    else:
        cols = _columns(info, records, ids)
    return cols, _related(info, view, dtype.itemsize, where)


def _related(
    info: AnnotationInfo, view: memoryview, offset: int, where: str
) -> dict[str, np.ndarray]:
    related = {}
    for rel in info.relationships:
        if offset + 4 > len(view):
            raise DecodingError(f"{where}: truncated before relationship {rel.id!r}")
        count = int(np.frombuffer(view, _U32, 1, offset)[0])
        offset += 4
        if offset + 8 * count > len(view):
            raise DecodingError(
                f"{where}: relationship {rel.id!r} claims {count} ids, "
                f"past the end ({len(view)} bytes)"
            )
        related[rel.id] = np.frombuffer(view, _U64, count, offset).astype(np.uint64)
        offset += 8 * count
    if offset != len(view):
        raise DecodingError(f"{where}: {len(view) - offset} unexpected bytes after the record")
    return related


__all__ = [
    "MAX_RECORD_BYTES",
    "Columns",
    "check_record_size",
    "concat",
    "decode_multiple",
    "decode_single",
    "encode_multiple",
    "encode_records",
    "encode_single",
    "frame_multiple",
    "frame_single",
    "polyline_record",
    "properties_size",
    "record_dtype",
    "sorted_properties",
]
