"""Label queries on an image layer: unique labels, single voxels, binary masks, chunk reports.

These use the codecs' shortcuts where the codec has them: ``labels`` (unique values without a
full decode), ``read_voxel`` (one voxel of a chunk), ``contains`` (does a chunk hold a label).
Coordinates are voxels of the layer's scale (``x, y, z``); arrays are ``[x, y, z, channel]``
in Fortran order. Functions are thread safe; they run chunk tasks on the engine's threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from voxelio.errors import EmptyVolumeException
from voxelio.geometry import Bbox
from voxelio.image.chunks import UnshardedChunks
from voxelio.image.engine import Layer, decode_chunk, download, local_slices, run_tasks
from voxelio.image.options import ImageOptions
from voxelio.storage import Store


def _missing(layer: Layer, chunk: Bbox, options: ImageOptions) -> None:
    if not options.fill_missing:
        raise EmptyVolumeException(f"{layer.chunks.describe(chunk)}: chunk is missing")


def unique(layer: Layer, bbox: Bbox, options: ImageOptions) -> set[int]:
    """The set of distinct values in ``bbox``; whole chunks use the codec's ``labels``."""
    found: set[Any] = set()
    lock = threading.Lock()
    if not layer.scale.bounds.contains_bbox(bbox):
        found.add(options.background_color)

    def task(group: list[Bbox]) -> None:
        local: set[Any] = set()
        for chunk, data in zip(group, layer.chunks.fetch(group)):
            local.update(_chunk_labels(layer, bbox, chunk, data, options))
        with lock:
            found.update(local)

    chunks = list(layer.scale.grid.chunk_bboxes(bbox))
    run_tasks(task, layer.chunks.groups(chunks, for_write=False), options.threads,
              options.progress, "Unique", layer.pool)  # fmt: skip
    return {v.item() if isinstance(v, np.generic) else v for v in found}


def _chunk_labels(
    layer: Layer, bbox: Bbox, chunk: Bbox, data: bytes | None, options: ImageOptions
) -> Iterable[Any]:
    if data is None:
        _missing(layer, chunk, options)
        return [options.background_color]
    region = Bbox.intersection(chunk, bbox)
    if region == chunk:
        return layer.codec.labels(data, layer.chunk_shape(chunk), layer.dtype, layer.scale.params)
    arr = decode_chunk(layer, chunk, data)
    return np.unique(arr[local_slices(chunk, region)])


def read_points(
    layer: Layer, points: Sequence[Sequence[int]], options: ImageOptions
) -> dict[tuple[int, int, int], Any]:
    """``{(x, y, z): value}`` for voxel points; each chunk is fetched once and read with the
    codec's ``read_voxel``. Points outside the scale get ``background_color``. The value is a
    scalar for one channel, a 1-D array otherwise."""
    by_chunk: dict[Bbox, list[tuple[int, int, int]]] = {}
    out: dict[tuple[int, int, int], Any] = {}
    bounds = layer.scale.bounds
    for pt in points:
        key = (int(pt[0]), int(pt[1]), int(pt[2]))
        if not bounds.contains(key):
            out[key] = _value(np.full(layer.num_channels, options.background_color, layer.dtype))
            continue
        chunk = next(layer.scale.grid.chunk_bboxes(Bbox(key, np.asarray(key) + 1)))
        by_chunk.setdefault(chunk, []).append(key)
    lock = threading.Lock()

    def task(group: list[Bbox]) -> None:
        for chunk, data in zip(group, layer.chunks.fetch(group)):
            values = _chunk_points(layer, chunk, data, by_chunk[chunk], options)
            with lock:
                out.update(values)

    groups = layer.chunks.groups(list(by_chunk), for_write=False)
    run_tasks(task, groups, options.threads, options.progress, "Points", layer.pool)
    return out


def _chunk_points(
    layer: Layer, chunk: Bbox, data: bytes | None, pts: list[tuple[int, int, int]],
    options: ImageOptions,
) -> dict[tuple[int, int, int], Any]:  # fmt: skip
    if data is None:
        _missing(layer, chunk, options)
        fill = _value(np.full(layer.num_channels, options.background_color, layer.dtype))
        return {pt: fill for pt in pts}
    shape = layer.chunk_shape(chunk)
    lo = np.asarray(chunk.minpt)
    if len(pts) > 8:  # many voxels of one chunk: one decode is cheaper
        arr = decode_chunk(layer, chunk, data)
        return {pt: _value(arr[tuple(np.asarray(pt) - lo)]) for pt in pts}
    result = {}
    for pt in pts:
        local = tuple(int(v) for v in np.asarray(pt) - lo)
        voxel = layer.codec.read_voxel(data, shape, layer.dtype, layer.scale.params, local)  # type: ignore[arg-type]
        result[pt] = _value(np.asarray(voxel))
    return result


def _value(channels: np.ndarray) -> Any:
    flat = np.asarray(channels).reshape(-1)
    return flat[0] if flat.size == 1 else flat


def download_label(layer: Layer, bbox: Bbox, label: int, options: ImageOptions) -> np.ndarray:
    """A boolean ``[x, y, z, c]`` mask of voxels equal to ``label``; chunks whose codec says
    they do not contain ``label`` are not decoded."""
    shape = tuple(int(v) for v in bbox.size()) + (layer.num_channels,)
    out = np.zeros(shape, dtype=bool, order="F")
    if not layer.scale.bounds.contains_bbox(bbox) and options.background_color == label:
        out[:] = True

    def task(group: list[Bbox]) -> None:
        for chunk, data in zip(group, layer.chunks.fetch(group)):
            dst = local_slices(bbox, Bbox.intersection(chunk, bbox))
            if data is None:
                _missing(layer, chunk, options)
                out[dst] = options.background_color == label
                continue
            params, cshape = layer.scale.params, layer.chunk_shape(chunk)
            if not layer.codec.contains(data, cshape, layer.dtype, params, label):
                out[dst] = False
                continue
            arr = decode_chunk(layer, chunk, data)
            out[dst] = arr[local_slices(chunk, Bbox.intersection(chunk, bbox))] == label

    chunks = list(layer.scale.grid.chunk_bboxes(bbox))
    run_tasks(task, layer.chunks.groups(chunks, for_write=False), options.threads,
              options.progress, "Downloading", layer.pool)  # fmt: skip
    return out


def mask_segids(img: np.ndarray, segids: Iterable[int], preserve_zeros: bool = False) -> np.ndarray:
    """Set every voxel not in ``segids`` to 0 (``preserve_zeros``: to the dtype's maximum,
    keeping zeros) in place; returns ``img``."""
    keep = np.asarray(sorted({int(s) for s in segids}), dtype=img.dtype)
    if preserve_zeros:
        keep = np.union1d(keep, np.zeros(1, dtype=img.dtype))
        fill: Any = np.iinfo(img.dtype).max if img.dtype.kind in "ui" else np.inf
    else:
        fill = 0
    img[~np.isin(img, keep)] = fill
    return img


def renumber(img: np.ndarray, background: Any = 0) -> tuple[np.ndarray, dict[int, int]]:
    """Relabel ``img`` as ``1..N`` in ascending order of the original labels, ``background``
    kept; the result has the smallest unsigned dtype (at least ``uint16``) that holds ``N``.
    Returns ``(new image, {original: new})``; the mapping holds ``background`` even where the
    image does not, as cloud-volume's (``remap[0]`` always answers)."""
    labels = np.unique(img)
    kept = labels != background
    others = labels[kept]
    mapping = {int(background): int(background)}
    new = np.arange(1, len(others) + 1)
    if 1 <= background <= len(others):  # the new labels skip the background's value
        new[new >= background] += 1
    mapping.update(zip((int(v) for v in others.tolist()), new.tolist()))
    top = max([0, *new[-1:].tolist(), int(background)])  # the largest value the output holds
    dtype = next(t for t in (np.uint16, np.uint32, np.uint64) if top <= np.iinfo(t).max)
    idx = np.searchsorted(labels, img)
    table = np.zeros(labels.shape, dtype=dtype)  # by position in the sorted labels
    table[kept] = new
    if len(others) < len(labels):  # the background is there: it stays
        table[~kept] = background
    out = np.asfortranarray(table[idx]) if labels.size else img.astype(dtype, order="F")
    return out, mapping


def exists_report(layer: Layer, bbox: Bbox) -> tuple[dict[str, bool], list[Bbox]]:
    """``({chunk name: stored?}, [missing chunks])`` for every chunk ``bbox`` touches.
    Names are cloud-volume's, ``SCALE_KEY/CHUNK`` (``"4_4_40/0-64_0-64_0-64"``), sharded or
    not; the missing chunks are there to evict from caches."""
    chunks = list(layer.scale.grid.chunk_bboxes(bbox))
    found = layer.chunks.exists(chunks)
    missing = [c for c, ok in zip(chunks, found) if not ok]
    names = (f"{layer.scale.key}/{c.to_filename()}" for c in chunks)
    return dict(zip(names, found)), missing


def has_data(store: Store, scale_key: str, empty_size: int | None = None) -> bool:
    """Whether anything is stored below the scale's key (its "directory"). Objects of
    ``empty_size`` bytes hold nothing: emptied shards, their index alone (kept where a
    store cannot delete them conditionally)."""
    prefix = scale_key.rstrip("/") + "/"
    return any(empty_size is None or store.size(key) != empty_size for key in store.list(prefix))


def download_files(layer: Layer, bbox: Bbox, options: ImageOptions) -> dict[Any, bytes]:
    """The encoded chunks ``bbox`` touches, without decoding: ``{key: bytes}`` unsharded
    (keys as in :func:`exists_report`), ``{chunk id: bytes}`` sharded. Missing chunks are
    left out. Transport compression is always removed by the store."""
    chunks = list(layer.scale.grid.chunk_bboxes(bbox))
    io = layer.chunks
    out: dict[Any, bytes] = {}
    lock = threading.Lock()

    def name(chunk: Bbox) -> Any:
        if isinstance(io, UnshardedChunks):
            return io.key(chunk)
        return int(io.ids([chunk])[0])  # type: ignore[attr-defined]

    def task(group: list[Bbox]) -> None:
        found = {name(c): d for c, d in zip(group, io.fetch(group)) if d is not None}
        with lock:
            out.update(found)

    run_tasks(task, io.groups(chunks, for_write=False), options.threads, options.progress,
              "Downloading", layer.pool)  # fmt: skip
    return out


__all__ = [
    "download", "download_files", "download_label", "exists_report", "has_data", "mask_segids",
    "read_points", "renumber", "unique",
]  # fmt: skip
