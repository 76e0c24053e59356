"""Reads and writes split over processes that share the image through shared memory.

A region is cut into slabs whose inner faces lie on the chunk grid, so no two slabs share a
chunk (writers never race). Each worker process opens the shared array
(:mod:`voxelio.image.sharedmem`) and reads or writes its slabs with the thread-parallel
engine; the parent never holds a second copy. ``start_method`` picks how workers start:
``fork`` (as cloud-volume does: scripts need no ``__main__`` guard) is only safe for local
files, because obstore's runtime (s3, gs, http) does not survive a fork; the facade uses
``spawn`` for those, so scripts reading the cloud with ``parallel > 1`` need the usual
``if __name__ == "__main__":`` guard. They get the layer through
``make_layer``, a picklable callable
(e.g. ``functools.partial`` over a pickled volume) that returns a
:class:`~voxelio.image.engine.Layer`. ``mem://`` layers live in one process: use one process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from voxelio.geometry import Bbox
from voxelio.image import conditional, engine
from voxelio.image.engine import Layer, local_slices
from voxelio.image.options import ImageOptions
from voxelio.image.sharedmem import open_array

LayerFactory = Callable[[], Layer]
#: the largest slab (bytes of decoded image) a single-process copy works on at once
SLAB_BYTES = 64 << 20


def split_blocks(layer: Layer, bbox: Bbox, pieces: int) -> list[Bbox]:
    """Cut ``bbox`` into about ``pieces`` slabs along its longest axis in chunks, with inner
    faces on the chunk grid. Returns at least one box (``bbox`` when it spans one chunk)."""
    grid = layer.scale.grid
    lo_cell, hi_cell = grid.cell_range(bbox)
    counts = hi_cell - lo_cell
    if np.all(counts <= 1) or pieces <= 1:
        return [bbox]
    axis = int(np.argmax(counts[::-1]))
    axis = 2 - axis  # prefer z, then y, then x on ties
    edges = np.unique(np.linspace(lo_cell[axis], hi_cell[axis], min(pieces, counts[axis]) + 1)
                      .round().astype(np.int64))  # fmt: skip
    off, cs = grid.voxel_offset[axis], grid.chunk_size[axis]
    blocks = []
    for a, b in zip(edges[:-1], edges[1:]):
        lo, hi = list(bbox.minpt), list(bbox.maxpt)
        lo[axis] = max(lo[axis], off + int(a) * cs)
        hi[axis] = min(hi[axis], off + int(b) * cs)
        blocks.append(Bbox(lo, hi))
    return blocks


def _pieces(layer: Layer, bbox: Bbox, processes: int) -> int:
    nbytes = int(np.prod(bbox.size())) * layer.num_channels * layer.dtype.itemsize
    return max(4 * processes, -(-nbytes // SLAB_BYTES))


def _download_blocks(
    make_layer: LayerFactory, bbox: Bbox, blocks: Sequence[Bbox], location: str,
    options: ImageOptions,
) -> None:  # fmt: skip
    layer = make_layer()
    shape = tuple(int(v) for v in bbox.size()) + (layer.num_channels,)
    out = open_array(location, shape, layer.dtype, "F")
    for block in blocks:
        out[local_slices(bbox, block)] = engine.download(layer, block, options)
    out.flush()


def _upload_blocks(
    make_layer: LayerFactory, bbox: Bbox, blocks: Sequence[Bbox], location: str, order: str,
    options: ImageOptions,
) -> None:  # fmt: skip
    layer = make_layer()
    shape = tuple(int(v) for v in bbox.size()) + (layer.num_channels,)
    src = open_array(location, shape, layer.dtype, order)
    for block in blocks:
        conditional.upload(layer, block, np.asarray(src[local_slices(bbox, block)]), options)


def _run(fn: Callable[..., None], batches: list[list[Bbox]], processes: int, method: str,
         *args: Any) -> None:  # fmt: skip
    batches = [b for b in batches if b]
    if processes <= 1 or len(batches) <= 1:
        for batch in batches:
            fn(args[0], args[1], batch, *args[2:])
        return
    if method not in multiprocessing.get_all_start_methods():
        method = "spawn"
    ctx = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=min(processes, len(batches)), mp_context=ctx) as pool:
        futures = [pool.submit(fn, args[0], args[1], batch, *args[2:]) for batch in batches]
        for fut in futures:
            fut.result()


def download(
    make_layer: LayerFactory, bbox: Bbox, location: str, options: ImageOptions,
    processes: int = 1, start_method: str = "spawn",
) -> np.memmap:  # fmt: skip
    """Read ``bbox`` into a new shared array at ``location`` with ``processes`` workers and
    return the parent's view of it (Fortran order ``[x, y, z, c]``)."""
    layer = make_layer()
    shape = tuple(int(v) for v in bbox.size()) + (layer.num_channels,)
    out = open_array(location, shape, layer.dtype, "F", create=True)
    if not layer.scale.bounds.contains_bbox(bbox):
        out[:] = options.background_color
    inside = Bbox.intersection(bbox, layer.scale.bounds)
    if inside.empty():
        return out
    blocks = split_blocks(layer, inside, _pieces(layer, inside, processes))
    workers = max(1, processes)
    batches = [blocks[i::workers] for i in range(workers)]
    _run(_download_blocks, batches, processes, start_method, make_layer, bbox, location, options)
    return out


def upload(
    make_layer: LayerFactory, bbox: Bbox, location: str, options: ImageOptions,
    processes: int = 1, order: str = "F", cutout: Bbox | None = None,
    start_method: str = "spawn",
) -> None:  # fmt: skip
    """Write the shared array at ``location`` (which covers ``bbox``) into the layer; only
    ``cutout`` (default ``bbox``, which must lie inside ``bbox``) is written."""
    layer = make_layer()
    target = bbox if cutout is None else cutout
    if not bbox.contains_bbox(target):
        raise ValueError(f"cutout {target} is not inside the shared array's box {bbox}")
    blocks = split_blocks(layer, target, _pieces(layer, target, processes))
    workers = max(1, processes)
    batches = [blocks[i::workers] for i in range(workers)]
    _run(
        _upload_blocks, batches, processes, start_method, make_layer, bbox, location, order, options
    )
