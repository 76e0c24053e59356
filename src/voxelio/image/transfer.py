"""Copy a region of one layer to another in blocks, never holding the whole region.

When both scales have the same chunk grid, encoding and layout (both unsharded), chunks are
copied as stored bytes with no decode (:func:`copy_chunks`), so every chunk the region
touches is copied whole (as cloud-volume does). Otherwise the region is read and
written in blocks on the destination's chunk grid: for a sharded destination one block is the
set of chunks of one shard (so each shard file is written once, whole), for an unsharded one
a box of about ``block_size`` chunks. Memory is a few blocks at a time. Coordinates are voxels
of the scale. Thread safe.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from tqdm import tqdm

from voxelio.geometry import Bbox
from voxelio.image import engine
from voxelio.image.chunks import UnshardedChunks
from voxelio.image.engine import Layer, local_slices
from voxelio.image.options import ImageOptions
from voxelio.storage import PutOptions

#: default number of chunks per block
DEFAULT_BLOCK_CHUNKS = 64


def check_block_size(block_size: int | None) -> int:
    """``block_size`` as a positive chunk count (the default for ``None``)."""
    block = DEFAULT_BLOCK_CHUNKS if block_size is None else int(block_size)
    if block < 1:
        raise ValueError(f"block_size must be a positive number of chunks, got {block_size}")
    return block


def same_layout(src: Layer, dst: Layer) -> bool:
    """Whether chunks can be copied byte for byte from ``src`` to ``dst``."""
    a, b = src.scale, dst.scale
    return (
        isinstance(src.chunks, UnshardedChunks) and isinstance(dst.chunks, UnshardedChunks)
        and a.encoding == b.encoding and tuple(a.chunk_size) == tuple(b.chunk_size)
        and tuple(a.voxel_offset) == tuple(b.voxel_offset) and tuple(a.size) == tuple(b.size)
        and dict(a.params) == dict(b.params) and src.dtype == dst.dtype
        and src.num_channels == dst.num_channels
    )  # fmt: skip


def _put_options(dst: Layer, options: ImageOptions) -> PutOptions:
    return PutOptions(
        compress=options.compress, compress_level=options.compress_level,
        cache_control=options.cache_control, content_type=engine.content_type(dst.scale.encoding),
    )  # fmt: skip


def copy_chunks(src: Layer, dst: Layer, bbox: Bbox, block_size: int, options: ImageOptions) -> None:
    """Copy the stored chunks ``bbox`` touches, ``block_size`` at a time, without decoding."""
    chunks = list(src.scale.grid.chunk_bboxes(bbox))
    put = _put_options(dst, options)
    bar = tqdm(total=len(chunks), desc="Transferring", disable=not options.progress, unit="chunk")
    try:
        for start in range(0, len(chunks), block_size):
            batch = chunks[start : start + block_size]

            def copy(chunk: Bbox) -> None:
                data = src.chunks.fetch([chunk])[0]
                if data is not None:
                    dst.chunks.store([(chunk, data)], put)

            engine.run_tasks(copy, batch, options.threads, False, "", dst.pool)
            bar.update(len(batch))
    finally:
        bar.close()


def block_boxes(dst: Layer, bbox: Bbox, block_size: int) -> Iterator[Bbox]:
    """Boxes covering ``bbox`` aligned to ``dst``'s grid, about ``block_size`` chunks each
    (whole x rows first, then y, then z)."""
    grid = dst.scale.grid
    lo, hi = grid.cell_range(bbox)
    counts = hi - lo
    step = np.ones(3, dtype=np.int64)
    budget = max(1, int(block_size))
    for axis in range(3):
        step[axis] = max(1, min(int(counts[axis]), budget))
        budget = max(1, budget // int(step[axis]))
    off, cs = np.asarray(grid.voxel_offset), np.asarray(grid.chunk_size)
    for z in range(lo[2], hi[2], step[2]):
        for y in range(lo[1], hi[1], step[1]):
            for x in range(lo[0], hi[0], step[0]):
                cell = np.array([x, y, z])
                box = Bbox(off + cell * cs, off + np.minimum(cell + step, hi) * cs)
                yield Bbox.intersection(box, bbox)


def shard_blocks(dst: Layer, bbox: Bbox) -> Iterator[list[Bbox]]:
    """The destination chunks inside ``bbox``, one list per shard."""
    chunks = list(dst.scale.grid.chunk_bboxes(bbox))
    yield from dst.chunks.groups(chunks, for_write=True)


def transfer(
    src: Layer, dst: Layer, bbox: Bbox, src_options: ImageOptions, dst_options: ImageOptions,
    block_size: int | None = None,
) -> None:  # fmt: skip
    """Copy ``bbox`` from ``src`` to ``dst`` (same bounds) in blocks; see the module docstring."""
    block = check_block_size(block_size)
    if same_layout(src, dst):
        copy_chunks(src, dst, bbox, block, dst_options)
        return
    quiet = ImageOptions(**{**src_options.__dict__, "progress": False})
    if isinstance(dst.chunks, UnshardedChunks):
        boxes = list(block_boxes(dst, bbox, block))
        with tqdm(total=len(boxes), desc="Transferring", disable=not dst_options.progress) as bar:
            for box in boxes:
                engine.upload(dst, box, engine.download(src, box, quiet), _quiet(dst_options))
                bar.update(1)
        return
    _transfer_shards(src, dst, bbox, quiet, dst_options)


def _quiet(options: ImageOptions) -> ImageOptions:
    return ImageOptions(**{**options.__dict__, "progress": False, "non_aligned_writes": True})


def _transfer_shards(
    src: Layer, dst: Layer, bbox: Bbox, src_options: ImageOptions, dst_options: ImageOptions
) -> None:
    """One shard at a time: read the shard's chunks' hull, encode each chunk, store them."""
    put = _put_options(dst, dst_options)
    groups = list(shard_blocks(dst, bbox))
    with tqdm(total=len(groups), desc="Transferring", disable=not dst_options.progress) as bar:
        for group in groups:
            hull = Bbox.intersection(Bbox.expand(*group), bbox)
            arr = engine.download(src, hull, src_options)
            items = []
            for chunk in group:
                if Bbox.intersection(chunk, bbox) != chunk:
                    continue  # partial chunks are written below through the engine
                items.append((chunk, dst.codec.encode(arr[local_slices(hull, chunk)],
                                                      dst.scale.params)))  # fmt: skip
            dst.chunks.store(items, put)
            partial = [c for c in group if Bbox.intersection(c, bbox) != c]
            for chunk in partial:
                region = Bbox.intersection(chunk, bbox)
                engine.upload(dst, region, arr[local_slices(hull, region)], _quiet(dst_options))
            bar.update(1)
