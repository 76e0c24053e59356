"""Writes that lose nothing when several processes write into the same chunks at once.

A write is split into its *core* (the chunks it covers completely, written with plain puts:
disjoint writers never share them, and overlapping writers overwrite whole chunks, last
writer wins as with any put) and its *shell* (chunks it covers partly, which need a
read-modify-write). On stores that offer conditional writes (``get_with_version`` +
``put_if``: S3 and GCS through ETag/generation match, ``file://`` through a content-hash
compare-and-swap under an ``flock``, ``mem://`` under its lock) each shell chunk is read with
its version, painted, and written only if unchanged, retrying on conflict, so concurrent
non-aligned writes into shared chunks give the serial result. A shell chunk left all
background under ``delete_black_uploads`` is deleted only if unchanged (``file://``,
``mem://``); S3 and GCS offer no conditional delete through obstore, so there it is
written, background and all. On sharded scales the
compare-and-swap is on the shard file: each touched shard is rewritten once, its core chunks
encoded once and its shell chunks painted from the chunks the shard holds at each attempt
(``ChunkIO.update``). Elsewhere (stores without conditional writes) the engine's
ordinary read-modify-write is used and concurrent writers to one chunk may lose updates.
Thread and process safe on the stores named above.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from voxelio.geometry import Bbox
from voxelio.image import engine
from voxelio.image.chunks import ChunkIO, UnshardedChunks
from voxelio.image.engine import Layer, local_slices, run_tasks
from voxelio.image.options import ImageOptions
from voxelio.storage import PutOptions
from voxelio.storage.base import supports_conditional_delete
from voxelio.storage.retry import swap_until_done


def core_box(layer: Layer, bbox: Bbox) -> Bbox | None:
    """The largest chunk-aligned box inside ``bbox`` (``None`` when it is empty)."""
    grid = layer.scale.grid
    off, cs = np.asarray(grid.voxel_offset), np.asarray(grid.chunk_size)
    end = off + np.asarray(grid.size)
    lo, hi = np.asarray(bbox.minpt), np.asarray(bbox.maxpt)
    clo = off + -(-(lo - off) // cs) * cs
    chi = np.where(hi >= end, end, off + ((hi - off) // cs) * cs)
    if np.any(chi <= clo):
        return None
    return Bbox(clo, chi)


def upload(layer: Layer, bbox: Bbox, image: np.ndarray, options: ImageOptions) -> None:
    """Write ``image`` at ``bbox`` like :func:`voxelio.image.engine.upload`, with shell chunks
    written by compare-and-swap where the store allows (see the module docstring)."""
    img = engine.check_write(layer, bbox, image, options)
    io = layer.chunks
    aligned = layer.scale.grid.is_aligned(bbox)
    if aligned or not io.conditional:
        engine.upload(layer, bbox, img, options)
        return
    with engine.forgetting(layer, bbox):
        if isinstance(io, UnshardedChunks):
            _swap_shell(layer, io, bbox, img, options)
        else:  # shard files: one swap per shard
            _update_shards(layer, io, bbox, img, options)


def _swap_shell(
    layer: Layer, io: UnshardedChunks, bbox: Bbox, img: np.ndarray, options: ImageOptions
) -> None:
    """The whole chunks of ``bbox`` written as the engine writes them, and each partly
    covered one swapped on its own."""
    core = core_box(layer, bbox)
    if core is not None:
        engine.upload(layer, core, img[local_slices(bbox, core)], options)
    shell = [c for c in layer.scale.grid.chunk_bboxes(bbox) if Bbox.intersection(c, bbox) != c]
    put_options = engine.chunk_put_options(layer, options)
    run_tasks(
        lambda chunk: _swap_chunk(layer, io, chunk, bbox, img, options, put_options),
        shell, options.threads, options.progress, "Uploading", layer.pool,
    )  # fmt: skip


def _update_shards(
    layer: Layer, io: ChunkIO, bbox: Bbox, img: np.ndarray, options: ImageOptions
) -> None:
    """Write every chunk of ``bbox`` with one compare-and-swap per shard: whole chunks encoded
    once, the others patched from the chunk the shard holds at each attempt (a shard the
    write covers whole is replaced without a read: :meth:`ChunkIO.update`)."""

    def patch(chunk: Bbox, stored: bytes | None) -> bytes | None:
        return _patched(layer, chunk, stored, bbox, img, options)

    def whole(chunk: Bbox) -> bytes | None:
        return engine.encode_part(layer, bbox, img, chunk, options)

    def write(group: list[Bbox]) -> None:
        io.update([(c, whole(c) if Bbox.intersection(c, bbox) == c else patch) for c in group])

    chunks = list(layer.scale.grid.chunk_bboxes(bbox))
    groups = io.groups(chunks, for_write=True)
    run_tasks(write, groups, options.threads, options.progress, "Uploading", layer.pool)


def _patched(
    layer: Layer, chunk: Bbox, stored: bytes | None, bbox: Bbox, img: np.ndarray,
    options: ImageOptions,
) -> bytes | None:  # fmt: skip
    """The encoded chunk: ``stored`` (decoded; ``None``: missing) with ``img`` painted in
    (``None``: delete it, all background with ``delete_black_uploads``)."""
    whole = engine.patch_chunk(layer, chunk, stored, bbox, img, options)
    return engine.encode_chunk(layer, whole, options)


def _swap_chunk(
    layer: Layer, io: UnshardedChunks, chunk: Bbox, bbox: Bbox, img: np.ndarray,
    options: ImageOptions, put_options: PutOptions,
) -> None:  # fmt: skip
    store: Any = io.store_
    key = io.key(chunk)

    def attempt() -> None:
        found = store.get_with_version(key)
        stored, version = (None, None) if found is None else found
        whole = engine.patch_chunk(layer, chunk, stored, bbox, img, options)
        _swap(layer, store, key, whole, version, options, put_options)

    swap_until_done(attempt, io.describe(chunk))


def _swap(
    layer: Layer, store: Any, key: str, whole: np.ndarray, version: str | None,
    options: ImageOptions, put_options: PutOptions,
) -> None:  # fmt: skip
    """Replace the chunk at ``key`` by ``whole`` if it is still at ``version`` (``None``:
    missing). A chunk all background under ``delete_black_uploads`` is deleted, by a
    conditional delete; where the store has none (S3, GCS) it is written instead, since an
    unconditional delete could drop what another writer stored since the read."""
    data = engine.encode_chunk(layer, whole, options)
    if data is None:
        if version is None:  # missing, and to stay so
            return
        if supports_conditional_delete(store):
            store.delete_if(key, version)
            return
        data = layer.codec.encode(whole, layer.scale.params)
    store.put_if(key, data, put_options, expected_version=version)
