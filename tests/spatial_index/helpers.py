"""Small spatial-index layers made by the tests themselves."""

from __future__ import annotations

import numpy as np

from voxelio.geometry import Bbox
from voxelio.spatial_index import SpatialIndex
from voxelio.storage.base import Store

BOUNDS_VX = ([0, 0, 0], [256, 256, 64])
RESOLUTION = [4, 4, 40]
CHUNK_NM = [512, 512, 1280]
PHYSICAL_MAX = np.array([1024, 1024, 2560])


def random_boxes(seed: int, count: int = 40, huge: bool = True) -> dict[int, Bbox]:
    """``{label: nm box}`` inside the layer; with ``huge`` one label is above 2**63."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(1, 2**63, size=count, dtype=np.uint64).tolist()
    if huge:
        labels[0] = 2**64 - 5  # above the signed range: exercises SQL two's complement
    boxes = {}
    for label in labels:
        lo = rng.integers(0, PHYSICAL_MAX - 10)
        hi = lo + rng.integers(1, np.maximum(2, (PHYSICAL_MAX - lo) // 2))
        boxes[int(label)] = Bbox(lo, np.minimum(hi, PHYSICAL_MAX))
    return boxes


def make_index(store: Store, boxes: dict[int, Bbox], sql_db: str | None = None) -> SpatialIndex:
    """Write ``boxes`` as ``.spatial`` files into ``store`` and return the index."""
    index = SpatialIndex(store, BOUNDS_VX, CHUNK_NM, RESOLUTION, sql_db=sql_db)
    index.write_bboxes(boxes)
    return index


def brute_force_query(boxes: dict[int, Bbox], query: Bbox) -> set[int]:
    """Labels whose box shares volume with ``query``, computed directly."""
    q_lo, q_hi = np.asarray(query.minpt), np.asarray(query.maxpt)
    return {
        label
        for label, box in boxes.items()
        if np.all(np.asarray(box.minpt) < q_hi) and np.all(q_lo < np.asarray(box.maxpt))
    }
