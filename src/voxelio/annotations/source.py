"""Reading a Neuroglancer precomputed annotation dataset (cloud-volume's
``PrecomputedAnnotationSource`` API, with every geometry type and index kind).

``get_by_bbox`` with ``mip=None`` (the default) reads every spatial level the box touches,
coarsest first, so it finds each annotation wherever the index placed it; an integer
``mip`` reads that level alone, as cloud-volume does (levels count from the coarsest, and
``-1`` is the finest). Results are cropped exactly to the box (closed on both sides) and
carry each annotation once. Boxes with more cells at a level than
:data:`LIST_CELLS_ABOVE` list that level's occupied cells instead of asking for each one.

Thread safety: reads may run from many threads. Each index's shard and minishard indices
are cached for the life of the object (other writers' changes are not seen until
:meth:`AnnotationSource.refresh_info`).
Pickles with its store, without the caches.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from voxelio.annotations.indices import IndexStore, id_index, spatial_index
from voxelio.annotations.records import (
    Columns,
    check_record_size,
    concat,
    decode_multiple,
    decode_single,
)
from voxelio.annotations.results import LabelAnnotation, MultiLabelAnnotation, as_box
from voxelio.annotations.shapes import intersects
from voxelio.annotations.spatial import cell_range
from voxelio.errors import (
    AnnotationNotFoundError,
    InfoError,
    UnsupportedOptionError,
)
from voxelio.geometry.morton import compressed_morton_codes, decode_compressed_morton_codes
from voxelio.meta.annotations import AnnotationInfo, SpatialLevel
from voxelio.storage import open_store
from voxelio.storage.base import Store
from voxelio.storage.jsonfile import read_parsed

LIST_CELLS_ABOVE = 4096


def annotation_info(obj: Any, where: str) -> AnnotationInfo:
    """An info dict parsed and checked; errors name ``where``."""
    try:
        info = AnnotationInfo.from_json(obj)
    except InfoError as exc:
        raise InfoError(f"{where}: {exc}") from exc
    check_record_size(info, where)
    return info


def read_annotation_info(store: Store) -> AnnotationInfo:
    """The parsed ``info`` of the annotation directory ``store`` is rooted at."""
    obj = read_parsed(store, "info", "annotation info", lambda found: found)
    return annotation_info(obj, f"{store.url}/info")


class AnnotationSource:
    """The annotations below ``store``; see the module docstring.

    ``mip``: the spatial level ``get_by_bbox`` and ``[]`` read by default (``None``: all).
    """

    def __init__(
        self, store: Store, info: AnnotationInfo | None = None, *, mip: int | None = None
    ) -> None:
        self.store = store
        self.info = read_annotation_info(store) if info is None else info
        self.mip = mip
        self._indices: dict[str, IndexStore] = {}  # their shard index caches live on

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_indices"] = {}
        return state

    def refresh_info(self) -> AnnotationInfo:
        """Re-read the info and drop the cached indices (after another writer replaced the
        dataset, a source opened before reads the new one only after this)."""
        self.info = read_annotation_info(self.store)
        self._indices = {}
        return self.info

    def _index(self, key: str, make: Callable[[], IndexStore]) -> IndexStore:
        found = self._indices.get(key)
        return found if found is not None else self._indices.setdefault(key, make())

    @classmethod
    def open(
        cls,
        cloudpath: str,
        *,
        secrets: Any = None,
        mip: int | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> AnnotationSource:
        """Open the dataset at ``cloudpath`` (``file://``, ``s3://``, ``gs://``, ``https://``...)."""
        store = open_store(
            cloudpath.rstrip("/"), secrets=secrets, read_only=True, **(storage_options or {})
        )
        return cls(store, mip=mip)

    def __repr__(self) -> str:
        return f"AnnotationSource({self.store.url!r}, {self.info.annotation_type})"

    @property
    def cloudpath(self) -> str:
        """The dataset's URL."""
        return self.store.url

    def _wrap(self, cols: Columns) -> MultiLabelAnnotation:
        return MultiLabelAnnotation.of(
            self.info.annotation_type, cols, self.info.enums, self.info.dimension_names
        )

    # ---- by id ----------------------------------------------------------------------

    def _by_id(self) -> IndexStore:
        if self.info.by_id is None:
            raise InfoError(f"{self.store.url}/info: this dataset has no by_id index")
        by_id = self.info.by_id
        return self._index(by_id.key, lambda: id_index(self.store, by_id))

    def ids(self) -> np.ndarray:
        """Every annotation id, sorted (uint64): a listing of the ``by_id`` index, or the
        whole spatial index when there is no ``by_id`` or the store cannot list (HTTP)."""
        if self.info.by_id is not None:
            try:
                return self._by_id().keys()
            except UnsupportedOptionError:
                if not self.info.spatial:
                    raise
        return np.sort(self.get_all().ids)

    def get_by_id(self, ids: int | Iterable[int]) -> LabelAnnotation | dict[int, LabelAnnotation]:
        """One annotation (an int) or ``{id: annotation}`` (an iterable), each with its
        related segment ids. Missing ids raise :class:`AnnotationNotFoundError` naming them."""
        wanted, single = _one_or_many(ids)
        index = self._by_id()
        found = index.read(wanted)
        missing = [i for i in wanted if found.get(i) is None]
        if missing:
            raise AnnotationNotFoundError(
                f"{self.store.url}/{index.key}: no annotation with id(s) {missing[:20]}"
                + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
            )
        out = {}
        for i in wanted:
            cols, related = decode_single(self.info, found[i], i, index.where(i))  # type: ignore[arg-type]
            out[i] = LabelAnnotation.single(self._wrap(cols), related)
        return out[wanted[0]] if single else out

    # ---- relationships --------------------------------------------------------------

    def get_by_relationship(
        self, relationship: str, labels: int | Iterable[int]
    ) -> MultiLabelAnnotation | dict[int, MultiLabelAnnotation]:
        """The annotations related to segment ``labels`` (an int) or ``{label: ...}`` (an
        iterable) through ``relationship`` (its id). A segment without any is empty."""
        rel = self.info.relationship(relationship)
        wanted, single = _one_or_many(labels)
        index = self._index(rel.key, lambda: id_index(self.store, rel))
        found = index.read(wanted)
        out = {s: self._wrap(self._decode(found.get(s), index.where(s))) for s in wanted}
        return out[wanted[0]] if single else out

    def _decode(self, data: bytes | None, where: str) -> Columns:
        if data is None:
            return self._empty()
        return decode_multiple(self.info, data, where)

    def _empty(self) -> Columns:
        rank = self.info.rank
        kind = self.info.annotation_type
        geometry: Any = (
            []
            if kind == "polyline"
            else np.zeros((0, rank) if kind == "point" else (0, rank, 2), np.float32)
        )
        props = {
            p.id: np.zeros((0, p.components) if p.components > 1 else 0, p.dtype)
            for p in self.info.properties
        }
        return Columns(geometry, np.zeros(0, np.uint64), props)

    # ---- spatial --------------------------------------------------------------------

    def get_by_bbox(self, bbox: Any, mip: int | None = None) -> MultiLabelAnnotation:
        """The annotations meeting ``bbox`` (a Bbox, ``(lo, hi)`` corners or slices, in the
        info's coordinate units, closed on both sides); see the module docstring for ``mip``.
        Without a spatial index, every annotation is read by id and cropped."""
        lo, hi = as_box(bbox, self.info.rank)
        if not self.info.spatial:
            return self._wrap(self._all_by_id()).crop((lo, hi))
        if np.any(lo > hi):
            return self._wrap(self._empty())
        return self._wrap(self._spatial(lo, hi, mip, crop=True))

    def _spatial(self, lo: np.ndarray, hi: np.ndarray, mip: int | None, crop: bool) -> Columns:
        """Every annotation listed in a cell the box touches (meeting the box itself if
        ``crop``), once each. Cells clip to the grid, so annotations a writer left outside
        the bounds are found in the edge cells."""
        kind = self.info.annotation_type
        parts = [p for level in self._levels(self.mip if mip is None else mip)
                 for p in self._level(level, lo, hi)]  # fmt: skip
        if crop:
            parts = [p.take(intersects(kind, p.geometry, lo, hi)) for p in parts]
        return _unique(parts, kind) if parts else self._empty()

    def _levels(self, mip: int | None) -> tuple[SpatialLevel, ...]:
        if mip is None:
            return self.info.spatial
        count = len(self.info.spatial)
        if not -count <= mip < count:
            raise IndexError(
                f"{self.store.url}/info: spatial level {mip} does not exist "
                f"(there are {count}, 0 the coarsest)"
            )
        return (self.info.spatial[mip],)

    def __getitem__(self, slices: Any) -> MultiLabelAnnotation:
        return self.get_by_bbox(slices if isinstance(slices, tuple) else (slices,))

    def get_all(self, mip: int | None = None) -> MultiLabelAnnotation:
        """Every annotation, once each (from the spatial index, else by id)."""
        if not self.info.spatial:
            return self._wrap(self._all_by_id())
        everywhere = np.full(self.info.rank, np.inf)
        return self._wrap(self._spatial(-everywhere, everywhere, mip, crop=False))

    def _all_by_id(self) -> Columns:
        ids = self.ids()
        if not len(ids):
            return self._empty()
        found = self.get_by_id(ids.tolist())
        return concat([a.columns() for a in found.values()], self.info.annotation_type)  # type: ignore[union-attr]

    def _level(self, level: SpatialLevel, lo: np.ndarray, hi: np.ndarray) -> list[Columns]:
        """The decoded cells of ``level`` that the box touches."""
        lower = np.asarray(self.info.lower_bound)
        grid = np.asarray(level.grid_shape)
        first, last = cell_range(lo, hi, lower, np.asarray(level.chunk_size), grid)
        index = self._index(level.key, lambda: spatial_index(self.store, level))
        codes = self._cells(index, level, first, last)
        found = index.read(codes.tolist())
        return [self._decode(v, index.where(k)) for k, v in found.items() if v is not None]

    @staticmethod
    def _cells(
        index: IndexStore, level: SpatialLevel, first: np.ndarray, last: np.ndarray
    ) -> np.ndarray:
        count = math.prod(int(b - a + 1) for a, b in zip(first, last))  # no int64 overflow
        present = _listed(index) if count > LIST_CELLS_ABOVE else None
        if present is not None:
            cells = decode_compressed_morton_codes(present, level.grid_shape).astype(np.int64)
            inside = np.all((cells >= first) & (cells <= last), axis=1)
            return present[inside]
        axes = [np.arange(a, b + 1) for a, b in zip(first, last)]
        cells = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))
        return compressed_morton_codes(cells, level.grid_shape)

    def summary(self) -> dict[str, Any]:
        """cloud-volume's summary: type, bounds, path, dimensions, indices, properties."""
        return {
            "type": self.info.annotation_type,
            "bounds": (list(self.info.lower_bound), list(self.info.upper_bound)),
            "path": self.store.url,
            "dimensions": self.info.dimension_names,
            "by_id": self.info.by_id is not None,
            "spatial_query": bool(self.info.spatial),
            "relationships": [r.id for r in self.info.relationships],
            "properties": {p.id: p.enum or p.type for p in self.info.properties},
        }


def _listed(index: IndexStore) -> np.ndarray | None:
    """The keys of ``index``, or ``None`` where the store cannot list."""
    try:
        return index.keys()
    except UnsupportedOptionError:
        return None


def _one_or_many(keys: int | Iterable[int]) -> tuple[list[int], bool]:
    """The ids asked for, and whether one was asked for alone (an int, not an iterable)."""
    if isinstance(keys, (int, np.integer)):
        return [int(keys)], True
    return [int(k) for k in keys], False


def _unique(parts: list[Columns], kind: str) -> Columns:
    """The annotations of ``parts`` with each id once (the first time it appears); one cell
    lists an annotation once, so a single part is returned as it is."""
    if len(parts) == 1:
        return parts[0]
    cols = concat(parts, kind)
    _, first = np.unique(cols.ids, return_index=True)
    return cols.take(np.sort(first))


__all__ = ["LIST_CELLS_ABOVE", "AnnotationSource", "annotation_info", "read_annotation_info"]
