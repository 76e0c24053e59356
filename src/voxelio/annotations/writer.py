"""Writing a Neuroglancer precomputed annotation dataset (cloud-volume has no writer).

:class:`AnnotationWriter` collects annotations (vectorised with :meth:`~AnnotationWriter.add`,
or one at a time with Neuroglancer's ``add_point``/``add_line``/... names) and
:meth:`~AnnotationWriter.write` stores every index: ``by_id`` (each record with its
relationships), one directory per relationship (``rel_<id>``: the annotations related to each
segment) and a multi-level spatial index (``spatial<level>``, see
:mod:`voxelio.annotations.spatial`), each sharded or not. The ``info`` goes last, so a
reader never sees an info whose data is not all there.

An existing dataset is replaced only with ``overwrite=True``: the new indices go into fresh
directories (``v<N>/...``), the info is swapped in one atomic put, and the old directories
are deleted after it; a write that fails part way leaves the old dataset as it was. Data a
failed write left behind (no info points at it) is never mixed into a new dataset: the plain
directory names are used only in an empty directory, and ``v<N>/`` ones that hold nothing
otherwise.

Auto-assigned ids (``ids=None``) are numbered from one past the largest explicit id, in the
order added. Memory: everything added is held until :meth:`write`, which encodes indices in
batches. Not thread safe; one writer per dataset.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from tqdm import tqdm

from voxelio.annotations.indices import IndexStore, id_index, spatial_index
from voxelio.annotations.records import (
    Columns,
    check_record_size,
    concat,
    encode_records,
    frame_multiple,
    frame_single,
    polyline_record,
    record_dtype,
    sorted_properties,
)
from voxelio.annotations.shapes import extents
from voxelio.annotations.source import read_annotation_info
from voxelio.annotations.spatial import LevelPlan, build_levels, group_rows
from voxelio.errors import EncodingError, InfoUnavailableError
from voxelio.geometry.morton import compressed_morton_codes
from voxelio.meta.annotations import (
    AnnotationInfo,
    AnnotationProperty,
    Dimension,
    KeyIndex,
    SpatialLevel,
)
from voxelio.sharding.planning import plan_label_sharding
from voxelio.sharding.spec import ShardingSpec
from voxelio.storage import open_store
from voxelio.storage.base import Store
from voxelio.storage.jsonfile import write_json

DEFAULT_LIMIT = 10_000
_BATCH = 65_536


def _dimensions(
    dimensions: Mapping[str, Sequence[Any]] | None, resolution: Sequence[float] | None
) -> tuple[Dimension, ...]:
    if dimensions is not None and resolution is not None:
        raise ValueError("give dimensions or resolution, not both")
    if dimensions is None:
        res = resolution if resolution is not None else (1.0, 1.0, 1.0)
        names = (
            ("x", "y", "z", "t")[: len(res)]
            if len(res) <= 4
            else [f"d{i}" for i in range(len(res))]
        )
        return tuple(Dimension(n, float(r) * 1e-9, "m") for n, r in zip(names, res))
    return tuple(Dimension(str(n), float(s), str(u)) for n, (s, u) in dimensions.items())


class AnnotationWriter:
    """Builds an annotation dataset at ``cloudpath`` (a URL or a :class:`Store`).

    ``annotation_type``: one of ``point``, ``line``, ``axis_aligned_bounding_box``,
    ``ellipsoid``, ``polyline``. The coordinate space is ``dimensions`` (``{name: (scale,
    unit)}``, e.g. ``{"x": (4e-9, "m"), ...}``) or ``resolution`` (nanometres per unit, x y z;
    default 1 nm). ``properties``: info entries (``{"id", "type", ...}``) or
    :class:`AnnotationProperty`; ``relationships``: relationship ids. ``lower_bound`` /
    ``upper_bound`` default to the annotations' extent. ``sharded`` shards every index;
    ``limit`` is the spatial index's per-cell target; ``seed`` makes its draws repeatable.
    """

    def __init__(
        self,
        cloudpath: str | Store,
        annotation_type: str,
        *,
        dimensions: Mapping[str, Sequence[Any]] | None = None,
        resolution: Sequence[float] | None = None,
        properties: Sequence[Mapping[str, Any] | AnnotationProperty] = (),
        relationships: Sequence[str] = (),
        lower_bound: Sequence[float] | None = None,
        upper_bound: Sequence[float] | None = None,
        sharded: bool = False,
        limit: int = DEFAULT_LIMIT,
        overwrite: bool = False,
        seed: int = 0,
        segment_properties: str | None = None,
        progress: bool = False,
        secrets: Any = None,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self.store = (
            open_store(cloudpath.rstrip("/"), secrets=secrets, **(storage_options or {}))
            if isinstance(cloudpath, str)
            else cloudpath
        )
        dims = _dimensions(dimensions, resolution)
        rank = len(dims)
        self.info = AnnotationInfo.from_json(
            {
                "@type": "neuroglancer_annotations_v1",
                "dimensions": {d.name: [d.scale, d.unit] for d in dims},
                "lower_bound": [0.0] * rank,
                "upper_bound": [0.0] * rank,
                "annotation_type": annotation_type,
                "properties": [
                    p.to_json() if isinstance(p, AnnotationProperty) else dict(p)
                    for p in properties
                ],
                "relationships": [{"id": r, "key": f"rel_{r}"} for r in relationships],
                "segment_properties": segment_properties,
            }
        )
        # the info lists properties in record order, so readers that take the info's order
        # (cloud-volume's, Neuroglancer's Python reader) agree with those that sort (the viewer)
        self.info = replace(self.info, properties=tuple(sorted_properties(self.info)))
        check_record_size(self.info, f"{self.store.url}/info")
        self.bounds = (lower_bound, upper_bound)
        self.sharded, self.limit, self.seed = sharded, int(limit), seed
        self.overwrite, self.progress = overwrite, progress
        self._batches: list[tuple[Columns, np.ndarray, list[list[np.ndarray]]]] = []
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")

    def __len__(self) -> int:
        return sum(len(c) for c, _, _ in self._batches)

    # ---- adding -------------------------------------------------------------------------

    def add(
        self,
        geometry: Any,
        ids: Sequence[int] | np.ndarray | None = None,
        properties: Mapping[str, Any] | None = None,
        relationships: Mapping[str, Sequence[Any] | np.ndarray] | None = None,
    ) -> None:
        """Add ``n`` annotations at once.

        ``geometry``: ``(n, rank)`` points, ``(n, rank, 2)`` for two-point types, or a list
        of ``(k, rank)`` vertex arrays for polylines (coordinate units). ``ids``: ``n``
        unique uint64 ids (``None``: assigned at :meth:`write`). ``properties``: ``{id:
        n values}`` (``(n, 3)``/``(n, 4)`` for rgb/rgba; missing ones take the info default
        or 0). ``relationships``: ``{relationship id: n items}``, each a segment id or a
        sequence of them.
        """
        geom = self._geometry(geometry)
        n = len(geom)
        id_arr = np.zeros(n, np.uint64) if ids is None else self._ids(ids, n)
        props = {
            p.id: self._property(p, (properties or {}).get(p.id), n) for p in self.info.properties
        }
        unknown = set(properties or {}) - set(props)
        if unknown:
            raise ValueError(f"unknown properties {sorted(unknown)}; the info has {sorted(props)}")
        related = self._related(relationships or {}, n)
        self._batches.append((Columns(geom, id_arr, props), np.full(n, ids is None), related))

    def _geometry(self, geometry: Any) -> Any:
        kind, rank = self.info.annotation_type, self.info.rank
        if kind == "polyline":
            vertices = [np.asarray(v, dtype=np.float64) for v in geometry]
            for v in vertices:
                if v.ndim != 2 or v.shape[1] != rank or len(v) < 1:
                    raise ValueError(f"polyline vertices must be (k >= 1, {rank}), got {v.shape}")
                _finite(v)
            return [v.astype(np.float32) for v in vertices]
        shape = (rank,) if kind == "point" else (rank, 2)
        g = np.asarray(geometry, dtype=np.float64)
        if g.ndim == len(shape):
            g = g[np.newaxis]
        if g.shape[1:] != shape:
            raise ValueError(
                f"{kind} geometry must be (n, {', '.join(map(str, shape))}), got {g.shape}"
            )
        _finite(g)
        return g.astype(np.float32)

    @staticmethod
    def _ids(ids: Any, n: int) -> np.ndarray:
        arr = np.asarray(ids)
        if arr.shape != (n,) or (arr.size and arr.dtype.kind not in "iu"):
            raise ValueError(f"ids must be {n} integers, got shape {arr.shape} of {arr.dtype}")
        if arr.size and arr.dtype.kind == "i" and arr.min() < 0:
            raise ValueError("annotation ids must be >= 0")
        return arr.astype(np.uint64)

    @staticmethod
    def _property(prop: AnnotationProperty, values: Any, n: int) -> np.ndarray:
        shape = (n, prop.components) if prop.components > 1 else (n,)
        if values is None:
            return np.full(shape, prop.default or 0, dtype=prop.dtype)
        arr = np.asarray(values)
        if prop.components > 1 and arr.ndim == 1 and arr.size == prop.components:
            arr = np.broadcast_to(arr, shape)
        if arr.shape != shape and arr.shape != ():
            raise ValueError(f"property {prop.id!r}: expected shape {shape}, got {arr.shape}")
        cast = np.broadcast_to(arr, shape).astype(prop.dtype)
        if prop.dtype.kind in "iu" and not np.array_equal(cast, np.broadcast_to(arr, shape)):
            raise ValueError(f"property {prop.id!r}: values do not fit {prop.type}")
        return np.ascontiguousarray(cast)

    def _related(
        self, relationships: Mapping[str, Sequence[Any] | np.ndarray], n: int
    ) -> list[list[np.ndarray]]:
        for name in relationships:
            self.info.relationship(name)  # a clear KeyError for unknown ids
        out = []
        for rel in self.info.relationships:
            items = relationships.get(rel.id)
            if items is None:
                out.append([np.zeros(0, np.uint64)] * n)
                continue
            if len(items) != n:
                raise ValueError(f"relationship {rel.id!r}: {len(items)} items for {n} annotations")
            out.append([np.atleast_1d(np.asarray(s, dtype=np.uint64)) for s in items])
        return out

    def add_point(self, point: Sequence[float], id: int | None = None, **kwargs: Any) -> None:
        """Add one point; ``kwargs``: property values and relationship segment ids."""
        self._add_one("point", np.asarray(point), id, kwargs)

    def add_line(
        self,
        point_a: Sequence[float],
        point_b: Sequence[float],
        id: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Add one line from ``point_a`` to ``point_b``."""
        self._add_one("line", np.stack([point_a, point_b], axis=-1), id, kwargs)

    def add_axis_aligned_bounding_box(
        self,
        point_a: Sequence[float],
        point_b: Sequence[float],
        id: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Add one box with opposite corners ``point_a`` and ``point_b``."""
        self._add_one(
            "axis_aligned_bounding_box", np.stack([point_a, point_b], axis=-1), id, kwargs
        )

    def add_ellipsoid(
        self, center: Sequence[float], radii: Sequence[float], id: int | None = None, **kwargs: Any
    ) -> None:
        """Add one axis-aligned ellipsoid."""
        self._add_one("ellipsoid", np.stack([center, radii], axis=-1), id, kwargs)

    def add_polyline(
        self, points: Sequence[Sequence[float]], id: int | None = None, **kwargs: Any
    ) -> None:
        """Add one polyline through ``points``."""
        self._add_one("polyline", [np.asarray(points)], id, kwargs)

    def _add_one(self, kind: str, geometry: Any, id: int | None, kwargs: dict[str, Any]) -> None:
        if kind != self.info.annotation_type:
            raise ValueError(
                f"this writer holds {self.info.annotation_type} annotations, not {kind}"
            )
        rels = {r.id for r in self.info.relationships}
        props = {k: [_colour(v)] for k, v in kwargs.items() if k not in rels}
        related = {k: [v] for k, v in kwargs.items() if k in rels}
        self.add(
            geometry if kind == "polyline" else geometry[np.newaxis],
            None if id is None else [id],
            props,
            related,
        )

    # ---- writing ------------------------------------------------------------------------

    def write(self) -> AnnotationInfo:
        """Store every index, then the info; returns the info written."""
        old = self._existing()
        cols, related = self._collect()
        lows, highs = extents(self.info.annotation_type, cols.geometry, self.info.rank)
        lower, upper = self._bounds(lows, highs)
        prefix = _fresh_prefix(self.store, old)
        table = _Records(self.info, cols)
        by_id = self._write_by_id(prefix, table, related)
        rels = tuple(
            self._write_relationship(prefix, rel, table, segments)
            for rel, segments in zip(self.info.relationships, related)
        )
        scales = [d.scale for d in self.info.dimensions]
        plans = build_levels(lows, highs, lower, upper, scales, self.limit, self.seed)
        spatial = tuple(self._write_level(prefix, i, plan, table) for i, plan in enumerate(plans))
        info = AnnotationInfo(
            self.info.dimensions,
            tuple(lower),
            tuple(upper),
            self.info.annotation_type,
            self.info.properties,
            rels,
            by_id,
            spatial,
            self.info.segment_properties,
        )
        write_json(self.store, "info", info.to_json())
        if old is not None:
            _delete_replaced(self.store, old, info)
        self.info = info
        return info

    def _existing(self) -> AnnotationInfo | None:
        try:
            old = read_annotation_info(self.store)
        except InfoUnavailableError:
            return None
        if not self.overwrite:
            raise EncodingError(
                f"{self.store.url}/info: an annotation dataset is there already; "
                "pass overwrite=True to replace it"
            )
        return old

    def _collect(self) -> tuple[Columns, list[list[np.ndarray]]]:
        if not self._batches:
            raise EncodingError(f"{self.store.url}: no annotations to write")
        cols = concat([c for c, _, _ in self._batches], self.info.annotation_type)
        related = [
            [s for _, _, r in self._batches for s in r[i]]
            for i in range(len(self.info.relationships))
        ]
        auto = np.concatenate([a for _, a, _ in self._batches])
        return Columns(cols.geometry, self._assign_ids(cols.ids, auto), cols.properties), related

    def _assign_ids(self, ids: np.ndarray, auto: np.ndarray) -> np.ndarray:
        explicit = ids[~auto]
        start = int(explicit.max()) + 1 if explicit.size else 0
        if start + int(auto.sum()) > 1 << 64:
            raise EncodingError(f"{self.store.url}: no room for auto ids past {start - 1}")
        out = ids.copy()
        out[auto] = np.arange(start, start + int(auto.sum()), dtype=np.uint64)
        values, counts = np.unique(out, return_counts=True)
        if (counts > 1).any():
            dupes = values[counts > 1][:10].tolist()
            raise EncodingError(f"{self.store.url}: duplicate annotation ids {dupes}")
        return out

    def _bounds(self, lows: np.ndarray, highs: np.ndarray) -> tuple[list[float], list[float]]:
        given_lo, given_hi = self.bounds
        lower = np.asarray(given_lo, np.float64) if given_lo is not None else lows.min(axis=0)
        upper = np.asarray(given_hi, np.float64) if given_hi is not None else highs.max(axis=0)
        if lower.shape != (self.info.rank,) or upper.shape != (self.info.rank,):
            raise ValueError(f"bounds must have {self.info.rank} coordinates each")
        # geometry is float32: allow what rounding a bound to float32 moves it by
        slack = 4 * np.finfo(np.float32).eps * np.maximum(np.abs(lower), np.abs(upper))
        outside = np.any(lows < lower - slack, axis=1) | np.any(highs > upper + slack, axis=1)
        if outside.any():
            raise EncodingError(
                f"{self.store.url}: {int(outside.sum())} annotations reach outside the bounds "
                f"given, {lower.tolist()} - {upper.tolist()}"
            )
        return [float(v) for v in lower], [float(v) for v in upper]

    def _spec(self, count: int, total_bytes: int) -> ShardingSpec | None:
        if not self.sharded:
            return None
        return plan_label_sharding(count, bytes_per_label=max(1, total_bytes // max(1, count)))

    def _write_by_id(
        self, prefix: str, table: _Records, related: list[list[np.ndarray]]
    ) -> KeyIndex:
        ids = table.cols.ids
        extra = sum(4 + 8 * len(s) for segments in related for s in segments)
        index = KeyIndex(prefix + "by_id", self._spec(len(ids), table.size() + extra))

        def value(pos: int) -> bytes:
            return frame_single(table.record(pos), [r[pos] for r in related])

        self._store_values(id_index(self.store, index), ids, value, "by_id")
        return index

    def _write_relationship(
        self, prefix: str, rel: KeyIndex, table: _Records, segments: list[np.ndarray]
    ) -> KeyIndex:
        counts = np.array([len(s) for s in segments], dtype=np.int64)
        owners = np.repeat(np.arange(len(segments)), counts)
        flat = np.concatenate(segments) if segments else np.zeros(0, np.uint64)
        keys, groups = _group(flat, owners)
        index = KeyIndex(prefix + rel.key, self._spec(len(keys), table.size(owners)), rel.id)
        self._store_groups(
            id_index(self.store, index), keys, groups, table, f"relationship {rel.id}"
        )
        return index

    def _write_level(
        self, prefix: str, number: int, plan: LevelPlan, table: _Records
    ) -> SpatialLevel:
        listed = np.concatenate(plan.members)
        spec = self._spec(len(plan.members), table.size(listed))
        level = SpatialLevel(
            f"{prefix}spatial{number}", plan.grid_shape, plan.chunk_size, self.limit, spec
        )
        codes = compressed_morton_codes(plan.cells, plan.grid_shape)
        index = spatial_index(self.store, level)
        self._store_groups(index, codes, plan.members, table, f"spatial level {number}")
        return level

    def _store_groups(
        self, index: IndexStore, keys: np.ndarray, groups: list[np.ndarray], table: _Records,
        what: str,
    ) -> None:  # fmt: skip
        """Store, under each key, the annotations of its group (by position in ``table``)."""
        self._store_values(index, keys, lambda i: table.multiple(groups[i]), what)

    def _store_values(
        self, index: IndexStore, keys: np.ndarray, value: Callable[[int], bytes], what: str
    ) -> None:
        """Store ``value(i)`` under ``keys[i]`` for every ``i``, in batches."""
        keys = np.asarray(keys, np.uint64)
        batches = list(_batches(index, keys))
        for batch in tqdm(batches, desc=f"Writing {what}", unit="batch", disable=not self.progress):
            index.write({int(keys[i]): value(i) for i in batch.tolist()})


class _Records:
    """Every annotation's encoded record, sliced out one at a time or by group."""

    def __init__(self, info: AnnotationInfo, cols: Columns) -> None:
        self.cols = cols
        self.pieces: list[bytes] = []
        self.table: np.ndarray | None = None
        if info.annotation_type == "polyline":
            self.pieces = [polyline_record(info, cols, i) for i in range(len(cols))]
        else:
            size = record_dtype(info).itemsize
            self.table = np.frombuffer(encode_records(info, cols), np.uint8).reshape(-1, size)

    def size(self, positions: np.ndarray | None = None) -> int:
        """Bytes of the records at ``positions`` (all when ``None``)."""
        if self.table is not None:
            count = len(self.table) if positions is None else len(positions)
            return count * self.table.shape[1]
        chosen = range(len(self.pieces)) if positions is None else positions.tolist()
        return sum(len(self.pieces[p]) for p in chosen)

    def record(self, pos: int) -> bytes:
        """The record of the annotation at ``pos``."""
        return self.table[pos].tobytes() if self.table is not None else self.pieces[pos]

    def multiple(self, positions: np.ndarray) -> bytes:
        """A spatial cell's or relationship's value for the annotations at ``positions``."""
        if self.table is not None:
            body = self.table[positions].tobytes()
        else:
            body = b"".join(self.pieces[p] for p in positions.tolist())
        return frame_multiple(body, self.cols.ids[positions])


def _finite(values: np.ndarray) -> None:
    if not np.all(np.isfinite(values)):
        raise ValueError("annotation geometry must be finite (no NaN or infinity)")


def _colour(value: Any) -> Any:
    """``"#rrggbb"``/``"#rrggbbaa"`` as byte values (Neuroglancer's writer takes both forms)."""
    if isinstance(value, str) and value.startswith("#") and len(value) in (7, 9):
        return [int(value[i : i + 2], 16) for i in range(1, len(value), 2)]
    return value


def _group(keys: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Distinct ``keys`` and, for each, the ``owners`` listed with it (each once, sorted)."""
    pairs = np.unique(np.stack([keys.astype(np.uint64), owners.astype(np.uint64)], axis=1), axis=0)
    distinct, groups = group_rows(pairs[:, 1].astype(np.int64), pairs[:, :1])
    return distinct[:, 0], groups


def _batches(index: IndexStore, keys: np.ndarray) -> Iterator[np.ndarray]:
    """Positions in ``keys``, in batches of about :data:`_BATCH`; sharded, whole shards per
    batch (each shard is written whole, once)."""
    if index.sharded is None:
        for start in range(0, len(keys), _BATCH):
            yield np.arange(start, min(start + _BATCH, len(keys)))
        return
    shards, _ = index.sharded.spec.shards_and_minishards(keys)
    order = np.argsort(shards, kind="stable")
    cuts = np.flatnonzero(np.diff(shards[order])) + 1
    batch: list[np.ndarray] = []
    for group in np.split(order, cuts):
        batch.append(group)
        if sum(len(g) for g in batch) >= _BATCH:
            yield np.concatenate(batch)
            batch = []
    if batch:
        yield np.concatenate(batch)


def _fresh_prefix(store: Store, old: AnnotationInfo | None) -> str:
    """Where a new dataset's indices go: the plain names (``by_id``, ...) in an empty
    directory; else the first ``v<N>/`` that holds nothing and that the old info does not
    name, so neither an old dataset nor a failed write's leftovers mix into the new one."""
    if old is None and next(iter(store.list("")), None) is None:
        return ""
    taken = {key.split("/")[0] for key in _index_keys(old)} if old is not None else set()
    for number in itertools.count(1):
        prefix = f"v{number}/"
        if prefix[:-1] not in taken and next(iter(store.list(prefix)), None) is None:
            return prefix
    raise AssertionError("unreachable")


def _index_keys(info: AnnotationInfo) -> set[str]:
    keys = {r.key for r in info.relationships} | {s.key for s in info.spatial}
    return keys | ({info.by_id.key} if info.by_id else set())


def _delete_replaced(store: Store, old: AnnotationInfo, new: AnnotationInfo) -> None:
    """Delete the index directories of ``old`` that ``new`` does not use."""
    for key in _index_keys(old) - _index_keys(new):
        store.delete_many(list(store.list(key + "/")))


__all__ = ["DEFAULT_LIMIT", "AnnotationWriter"]
