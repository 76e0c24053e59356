"""The spatial index of a mesh or skeleton directory: igneous' ``.spatial`` JSON files.

The layer's physical bounds (voxel bounds times resolution, in nanometres) are tiled by a grid
of ``chunk_size`` nm cells anchored at the lower corner; the last cell of each axis is clipped
to the bounds. Cell ``[x0,x1)x[y0,y1)x[z0,z1)`` is the file ``x0-x1_y0-y1_z0-z1.spatial``
(numbers with as many decimals as the resolution has, integers otherwise), holding
``{"<label>": [x0, y0, z0, x1, y1, z1], ...}``: the nm bounding box of the part of each label
found in that cell. With ``sql_db`` set, whole-layer label listings and per-label file lookups
go to the database (see :mod:`voxelio.spatial_index.sql`).

A :class:`SpatialIndex` holds no open connections or caches: thread safe, picklable.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from voxelio.errors import SpatialIndexError
from voxelio.geometry import Bbox
from voxelio.spatial_index import sql
from voxelio.storage.base import Store

SUFFIX = ".spatial"
_BATCH = 256


class SpatialIndex:
    """Queries over the ``.spatial`` files below ``store`` (rooted at the mesh/skeleton dir).

    ``bounds``: the layer bounds, in voxels when ``resolution`` (nm/voxel) is given, else in nm.
    ``chunk_size``: the index cell size in nm. ``sql_db``: optional database URL.
    """

    def __init__(
        self,
        store: Store,
        bounds: Any,
        chunk_size: Sequence[float],
        resolution: Sequence[float] | None = None,
        sql_db: str | None = None,
    ) -> None:
        self.store = store
        box = Bbox.create(bounds)
        self.precision = 0
        if resolution is None:
            self.physical_bounds = box
        else:
            self.precision = max(_decimals(r) for r in resolution)
            res = np.asarray(resolution, dtype=np.float64 if self.precision else np.int64)
            self.physical_bounds = Bbox(np.asarray(box.minpt) * res, np.asarray(box.maxpt) * res)
        self.chunk_size = np.asarray(chunk_size, dtype=np.float64)
        if self.chunk_size.shape != (3,) or np.any(self.chunk_size <= 0):
            raise SpatialIndexError(f"spatial index chunk_size must be 3 positive nm: {chunk_size}")
        self.sql_db = sql_db

    def __repr__(self) -> str:
        return (
            f"SpatialIndex({self.store.url!r}, bounds_nm={self.physical_bounds}, "
            f"chunk_size={self.chunk_size.tolist()}, sql_db={'set' if self.sql_db else None})"
        )

    # ---- file names ---------------------------------------------------------------------

    def _render(self, value: float) -> str:
        if self.precision:
            return f"{round(float(value), self.precision):.{self.precision}f}"
        return str(int(value)) if float(value).is_integer() else str(value)

    def cell_name(self, lo: Iterable[float], hi: Iterable[float]) -> str:
        """The file name of the cell ``[lo, hi)`` (nm)."""
        return "_".join(f"{self._render(a)}-{self._render(b)}" for a, b in zip(lo, hi)) + SUFFIX

    def _cells(self, bbox: Bbox | None) -> list[tuple[np.ndarray, np.ndarray]]:
        bounds = self.physical_bounds
        box = bounds if bbox is None else Bbox.intersection(_as_float(bbox), _as_float(bounds))
        if box.empty():
            return []
        off = np.asarray(bounds.minpt, dtype=np.float64)
        cs = self.chunk_size
        lo = np.floor((np.asarray(box.minpt, dtype=np.float64) - off) / cs).astype(np.int64)
        hi = np.ceil((np.asarray(box.maxpt, dtype=np.float64) - off) / cs).astype(np.int64)
        top = np.asarray(bounds.maxpt, dtype=np.float64)
        cells = []
        for idx in itertools.product(*(range(a, b) for a, b in zip(lo, hi))):
            start = off + np.asarray(idx) * cs
            cells.append((start, np.minimum(start + cs, top)))
        return cells

    def index_file_names(self, bbox: Any = None) -> list[str]:
        """Names of the index files overlapping ``bbox`` (nm; the whole layer when ``None``)."""
        box = None if bbox is None else Bbox.create(bbox)
        return [self.cell_name(lo, hi) for lo, hi in self._cells(box)]

    # ---- reading ------------------------------------------------------------------------

    def fetch_index_files(
        self, names: Iterable[str], allow_missing: bool = False
    ) -> dict[str, dict[int, list[float]]]:
        """Fetch and parse index files; a missing one raises :class:`SpatialIndexError` (a gap)
        unless ``allow_missing`` (then it is left out)."""
        raw = self.store.get_many(list(names))
        out: dict[str, dict[int, list[float]]] = {}
        for name, data in raw.items():
            if data is None:
                if allow_missing:
                    continue
                raise SpatialIndexError(
                    f"{self.store.url}/{name}: spatial index file not found (a gap in the index)"
                )
            out[name] = parse_index_file(data, f"{self.store.url}/{name}")
        return out

    def iter_index_files(
        self, bbox: Any = None, allow_missing: bool = False
    ) -> Iterator[dict[str, dict[int, list[float]]]]:
        """Batches of parsed index files overlapping ``bbox`` (the whole layer by default)."""
        names = self.index_file_names(bbox)
        for start in range(0, len(names), _BATCH):
            yield self.fetch_index_files(names[start : start + _BATCH], allow_missing)

    def query(self, bbox: Any = None, allow_missing: bool = False) -> set[int]:
        """Labels whose recorded box meets ``bbox`` (nm; the whole layer when ``None``)."""
        whole = bbox is None or Bbox.create(bbox).contains_bbox(self.physical_bounds)
        if whole and self.sql_db:
            return {int(x) for x in sql.all_labels(self.sql_db)}
        target = None if whole else _as_float(Bbox.create(bbox))
        labels: set[int] = set()
        for batch in self.iter_index_files(None if whole else bbox, allow_missing):
            for content in batch.values():
                if target is None:
                    labels.update(content)
                    continue
                for label, box in content.items():
                    if label not in labels and Bbox.intersects(_box6(box), target):
                        labels.add(label)
        return labels

    def file_locations_per_label(
        self, labels: Iterable[int] | None = None, allow_missing: bool = False
    ) -> dict[int, list[str]]:
        """``{label: [index file names]}``, from the database when ``sql_db`` is set."""
        wanted = None if labels is None else {int(x) for x in labels}
        if self.sql_db:
            return sql.files_per_label(self.sql_db, wanted)
        out: dict[int, list[str]] = {}
        for batch in self.iter_index_files(None, allow_missing):
            for name, content in batch.items():
                for label in content if wanted is None else wanted & content.keys():
                    out.setdefault(label, []).append(name)
        return out

    def get_bbox(self, label: int) -> Bbox | None:
        """The nm bounding box of ``label`` over every index file, or ``None`` if not indexed."""
        label = int(label)
        if self.sql_db:
            names = sql.files_per_label(self.sql_db, [label]).get(label, [])
            batches: Iterable[dict[str, dict[int, list[float]]]] = [self.fetch_index_files(names)]
        else:
            batches = self.iter_index_files()
        boxes = [
            _box6(content[label])
            for batch in batches
            for content in batch.values()
            if label in content
        ]
        return Bbox.expand(*boxes) if boxes else None

    # ---- writing ------------------------------------------------------------------------

    def to_sql(
        self, db_url: str | None = None, create_indices: bool = True, allow_missing: bool = False
    ) -> int:
        """Export the index to ``db_url`` (default: ``sql_db``); returns the rows written."""
        url = db_url or self.sql_db
        if not url:
            raise SpatialIndexError(
                "to_sql needs a database URL (sqlite://, mysql://, postgres://)"
            )
        files = (
            (name, content)
            for batch in self.iter_index_files(None, allow_missing)
            for name, content in batch.items()
        )
        return sql.export_index(url, files, create_indices=create_indices)

    def write_bboxes(self, label_bboxes: Mapping[int, Any], complete: bool = True) -> list[str]:
        """Record ``{label: nm Bbox}`` in the index files (merged into existing ones).

        Each label goes into every cell its box meets, clipped to the cell. With ``complete``
        every other cell of the layer that has no file yet gets an empty one (``{}``), as
        igneous leaves them, so queries see no gaps. Returns the names of the files written.
        Not safe against concurrent writers of the same cells.
        """
        cells: dict[str, dict[int, list[float]]] = {}
        for label, value in label_bboxes.items():
            box: Bbox = _as_float(Bbox.create(value))
            for lo, hi in self._cells(box):
                part = Bbox.intersection(box, Bbox(lo, hi))
                if part.empty():
                    continue
                cells.setdefault(self.cell_name(lo, hi), {})[int(label)] = _plain(part.to_list())
        if complete:
            present = self.store.exists_many(self.index_file_names())
            for name, found in present.items():
                if not found:
                    cells.setdefault(name, {})
        existing = self.fetch_index_files(cells, allow_missing=True)
        payload = {}
        for name, new in cells.items():
            merged = existing.get(name, {})
            for label, coords in new.items():
                old = merged.get(label)
                if old is not None:
                    coords = _plain(Bbox.expand(_box6(old), _box6(coords)).to_list())
                merged[label] = coords
            payload[name] = json.dumps({str(k): v for k, v in sorted(merged.items())}).encode()
        self.store.put_many(payload)
        return sorted(payload)


def parse_index_file(data: bytes, where: str) -> dict[int, list[float]]:
    """Parse one ``.spatial`` file; raises :class:`SpatialIndexError` naming ``where``."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SpatialIndexError(f"{where}: not valid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise SpatialIndexError(f"{where}: expected an object of label -> bbox")
    out: dict[int, list[float]] = {}
    for key, box in obj.items():
        try:
            label = int(key)
        except ValueError:
            raise SpatialIndexError(f"{where}: key {key!r} is not a label") from None
        if (
            not isinstance(box, list)
            or len(box) != 6
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)
        ):
            raise SpatialIndexError(f"{where}: label {label} bbox must be 6 numbers, got {box!r}")
        out[label] = box
    return out


def _decimals(value: float) -> int:
    text = str(value)
    return len(text.split(".")[1]) if "." in text else 0


def _as_float(box: Bbox) -> Bbox:
    return box.astype(np.float64)


def _box6(values: Sequence[float]) -> Bbox:
    return Bbox(values[:3], values[3:], dtype=np.float64)


def _plain(values: Sequence[float]) -> list[float]:
    return [int(v) if float(v).is_integer() else float(v) for v in values]
