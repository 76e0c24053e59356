"""The image engine: plan -> fetch -> decode -> paint for reads; cut -> encode -> put for writes.

Work runs on a thread pool, one task per chunk (or per batch of chunks for layouts that fetch
in groups), so fetching, decoding and painting overlap and only a few encoded chunks are alive at
once: a read's memory is the output array plus a small bound. Arrays are ``[x, y, z, channel]``
in Fortran order, coordinates in voxels of the scale. No URLs, no facade state: everything comes
in as arguments, so the functions are thread safe.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import numpy as np
from tqdm import tqdm

from voxelio.codecs import Codec, get_codec
from voxelio.errors import (
    AlignmentError,
    DecodingError,
    EmptyVolumeException,
    EncodingError,
)
from voxelio.geometry import Bbox
from voxelio.image.chunkcache import ChunkCache
from voxelio.image.chunks import ChunkIO, Data
from voxelio.image.options import ImageOptions
from voxelio.image.workers import SMALL_BATCH, WorkerPool, drain
from voxelio.meta import Scale
from voxelio.storage import PutOptions
from voxelio.storage.buffers import ReadBuffers

T = TypeVar("T")


@dataclass(frozen=True)
class Layer:
    """What the engine needs to know of a layer at one scale."""

    scale: Scale
    dtype: np.dtype
    num_channels: int
    chunks: ChunkIO
    pool: WorkerPool = field(default_factory=WorkerPool, compare=False, repr=False)
    buffers: ReadBuffers = field(default_factory=ReadBuffers, compare=False, repr=False)
    #: decoded chunks held in memory (``lru_encoding`` other than "same"); reads paint
    #: them without a fetch, and cache every chunk they decode
    cache: ChunkCache | None = field(default=None, compare=False, repr=False)

    @property
    def codec(self) -> Codec:
        """The codec of the scale's encoding."""
        return get_codec(self.scale.encoding)

    def chunk_shape(self, chunk: Bbox) -> tuple[int, int, int, int]:
        """The 4-D decoded shape of a (clipped) chunk."""
        lo, hi = chunk._min, chunk._max
        return (int(hi[0] - lo[0]), int(hi[1] - lo[1]), int(hi[2] - lo[2]), self.num_channels)


def run_tasks(
    fn: Callable[[T], Any],
    items: Sequence[T],
    threads: int,
    progress: bool,
    desc: str,
    pool: WorkerPool,
    gil_bound: bool = False,
) -> None:
    """Run ``fn`` on every item with ``threads`` workers pulling from one shared queue.

    Workers come from ``pool`` (reused across calls; the calling thread works too). Small
    batches run inline or on threads, whichever measured faster per task; calls made from
    inside a pool worker run inline (see :meth:`WorkerPool.plan`).
    The first exception stops the workers (items not started are skipped) and is re-raised.
    """
    bar = tqdm(total=len(items), desc=desc, unit="chunk") if progress else _NO_BAR
    try:
        if threads <= 1 or len(items) <= 1:
            _run_inline(fn, items, bar)
            return
        mode = pool.plan(len(items), gil_bound)
        start = time.perf_counter()
        if mode == "inline":
            _run_inline(fn, items, bar)
        else:
            _run_threads(fn, items, bar, pool, threads)
        pool.record(mode, time.perf_counter() - start, len(items))
    finally:
        bar.close()


def _run_inline(fn: Callable[[T], Any], items: Sequence[T], bar: Any) -> None:
    """Run ``fn`` on every item in the calling thread."""
    for item in items:
        fn(item)
        bar.update(1)


def _run_threads(
    fn: Callable[[T], Any], items: Sequence[T], bar: Any, pool: WorkerPool, threads: int
) -> None:
    """Run ``fn`` on every item with ``threads`` workers (the caller is one of them)."""
    queue = iter(items)  # next() on a list iterator is atomic under the GIL
    errors: list[BaseException] = []
    stop = threading.Event()

    def loop() -> None:
        drain(queue, fn, stop, errors, lambda: bar.update(1))

    futures = pool.run(loop, min(threads, len(items)) - 1)
    loop()
    for fut in futures:
        fut.result()
    if errors:
        raise errors[0]


class _NoBar:
    """Stands in for a tqdm bar when progress is off (tqdm costs ~0.1 ms even disabled)."""

    def update(self, n: int = 1) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""


_NO_BAR = _NoBar()


def local_slices(outer: Bbox, inner: Bbox) -> tuple[slice, slice, slice]:
    o, lo, hi = outer._min, inner._min, inner._max
    return (
        slice(lo[0] - o[0], hi[0] - o[0]),
        slice(lo[1] - o[1], hi[1] - o[1]),
        slice(lo[2] - o[2], hi[2] - o[2]),
    )


def decode_chunk(layer: Layer, chunk: Bbox, data: bytes | memoryview) -> np.ndarray:
    """Decode one chunk's bytes, naming the chunk's location in any error."""
    raw = cast(bytes, data)  # a memoryview only reaches codecs that declare ``decodes_views``
    try:
        return layer.codec.decode(raw, layer.chunk_shape(chunk), layer.dtype, layer.scale.params)
    except DecodingError as exc:
        raise _named(layer, chunk, exc) from exc


def chunk_origin(chunk: Bbox, region: Bbox) -> tuple[int, int, int]:
    """Where ``region`` starts inside ``chunk``, in chunk-local voxels."""
    (x, y, z), (cx, cy, cz) = region._min, chunk._min
    return (int(x - cx), int(y - cy), int(z - cz))


def decode_region(
    layer: Layer, chunk: Bbox, data: bytes | memoryview, region: Bbox, out: np.ndarray
) -> None:
    """Decode the ``region`` of one chunk into ``out`` (its extent), naming the chunk in any
    error."""
    raw = cast(bytes, data)
    try:
        layer.codec.decode_into(
            raw, layer.chunk_shape(chunk), layer.dtype, layer.scale.params, out,
            chunk_origin(chunk, region),
        )  # fmt: skip
    except DecodingError as exc:
        raise _named(layer, chunk, exc) from exc


def _named(layer: Layer, chunk: Bbox, exc: DecodingError) -> DecodingError:
    """``exc`` with the chunk's location in front of its message."""
    return DecodingError(f"{layer.chunks.describe(chunk)}: {exc}")


def download(layer: Layer, bbox: Bbox, options: ImageOptions) -> np.ndarray:
    """Read ``bbox`` (voxels of the scale) into a new Fortran-ordered ``[x, y, z, c]`` array.

    Regions outside the scale's bounds, and missing chunks when ``fill_missing``, get
    ``background_color``; a missing chunk otherwise raises :class:`EmptyVolumeException`.
    """
    shape = tuple(int(v) for v in bbox.size()) + (layer.num_channels,)
    inside = layer.scale.bounds.contains_bbox(bbox)
    if inside:
        out = np.empty(shape, dtype=layer.dtype, order="F")
    else:
        out = np.full(shape, options.background_color, dtype=layer.dtype, order="F")
    chunks = list(layer.scale.grid.chunk_bboxes(bbox))
    since = 0  # the cache's stamp before anything is fetched (see ChunkCache.put)
    if layer.cache is not None:
        since = layer.cache.stamp()
        chunks = _paint_cached(layer.cache, out, bbox, chunks)
        if not chunks:
            return out

    views = layer.codec.decodes_views
    # a box read copies part of a chunk without decoding it whole: no use to the cache
    plain = layer.codec.stores_plain_array(layer.dtype) and layer.cache is None

    def paint_fetched(item: tuple[Bbox, Data]) -> None:
        chunk, data = item
        _paint_one(layer, out, bbox, chunk, Bbox.intersection(chunk, bbox), data, options, since)

    def paint(group: list[Bbox]) -> None:
        if views and len(group) == 1:
            _paint_buffered(layer, out, bbox, group[0], options, plain, since)
            return
        datas: list[Data]
        if views:
            datas = layer.chunks.fetch_into(group, layer.buffers)
        else:
            datas = list(layer.chunks.fetch(group))
        for item in zip(group, datas):
            paint_fetched(item)

    groups = layer.chunks.groups(chunks, for_write=False)
    if layer.chunks.batches_reads and 1 < len(groups) and len(chunks) <= SMALL_BATCH:
        # a small read over several groups: one batched fetch (the layout looks up its
        # indices once and coalesces the reads), then the decodes on the pool
        run_tasks(paint_fetched, list(zip(chunks, layer.chunks.fetch(chunks))),
                  options.threads, options.progress, "Downloading", layer.pool,
                  layer.codec.gil_bound)  # fmt: skip
        return out
    run_tasks(paint, groups, options.threads, options.progress, "Downloading", layer.pool,
              layer.codec.gil_bound)  # fmt: skip
    return out


def _paint_cached(cache: ChunkCache, out: np.ndarray, bbox: Bbox, chunks: list[Bbox]) -> list[Bbox]:
    """Paint the chunks ``cache`` holds into ``out`` (the extent ``bbox``); the others."""
    misses = []
    for chunk in chunks:
        whole = cache.get(chunk)
        if whole is None:
            misses.append(chunk)
            continue
        region = Bbox.intersection(chunk, bbox)
        out[local_slices(bbox, region)] = whole[local_slices(chunk, region)]
    return misses


def _paint_buffered(
    layer: Layer, out: np.ndarray, bbox: Bbox, chunk: Bbox, options: ImageOptions, plain: bool,
    since: int,
) -> None:  # fmt: skip
    """Paint one chunk read into the calling thread's buffer. A chunk stored as a ``plain``
    array (see :meth:`Codec.stores_plain_array`) is first offered to a box read, which copies
    only the part ``bbox`` needs straight into ``out``; anything that read does not serve
    (missing or compressed chunk files, other stores) takes the general path."""
    region = Bbox.intersection(chunk, bbox)
    if plain:
        dst = out[local_slices(bbox, region)]
        shape = layer.chunk_shape(chunk)
        origin = chunk_origin(chunk, region)
        if layer.chunks.fetch_box_into(chunk, shape, origin, dst, layer.buffers):
            return
    data = layer.chunks.fetch_into([chunk], layer.buffers)[0]
    _paint_one(layer, out, bbox, chunk, region, data, options, since)


def _paint_one(
    layer: Layer,
    out: np.ndarray,
    bbox: Bbox,
    chunk: Bbox,
    region: Bbox,
    data: Data,
    options: ImageOptions,
    since: int,
) -> None:
    """Paint ``region`` (of ``chunk``, inside ``bbox``) from the chunk's bytes, or the
    background for a missing chunk when ``fill_missing``; with a chunk cache, the decoded
    chunk is kept unless a write dropped entries after the stamp ``since``."""
    dst = local_slices(bbox, region)
    if data is None:
        if not options.fill_missing:
            raise EmptyVolumeException(f"{layer.chunks.describe(chunk)}: chunk is missing")
        out[dst] = options.background_color
        return
    if layer.cache is None:
        decode_region(layer, chunk, data, region, out[dst])
        return
    whole = decode_chunk(layer, chunk, data)
    layer.cache.put(chunk, whole, since)
    out[dst] = whole[local_slices(chunk, region)]


def exact_scalar(dtype: np.dtype, value: Any, what: str) -> Any:
    """``value`` as a scalar of ``dtype``, or an :class:`EncodingError` naming ``what``:
    integer types take whole numbers in their range, float types any real number. A write
    must not turn 1.5 into 1, NaN into 0 or -3 into 253."""
    dtype = np.dtype(dtype)
    if not isinstance(value, numbers.Real):
        raise EncodingError(f"{what}: {value!r} is not a number")
    if dtype.kind == "f":
        return dtype.type(value)
    whole = int(value) if isinstance(value, numbers.Integral) else None
    if whole is None and math.isfinite(value) and float(value).is_integer():
        whole = int(float(value))
    if whole is None or not np.iinfo(dtype).min <= whole <= np.iinfo(dtype).max:
        raise EncodingError(f"{what}: {value!r} is not a value of {dtype.name}")
    return dtype.type(whole)


def check_write(layer: Layer, bbox: Bbox, image: np.ndarray, options: ImageOptions) -> np.ndarray:
    """Validate an upload (dtype, shape, alignment); return the image as 4-D ``[x, y, z, c]``."""
    if np.dtype(image.dtype) != layer.dtype:
        raise EncodingError(
            f"image dtype {image.dtype} does not match the layer's data_type {layer.dtype.name}; "
            f"convert with .astype({layer.dtype.name!r}) first"
        )
    img = image if image.ndim == 4 else image.reshape(image.shape + (1,) * (4 - image.ndim))
    expected = tuple(int(v) for v in bbox.size()) + (layer.num_channels,)
    if img.shape != expected:
        raise AlignmentError(
            f"image shape {image.shape} does not fit the region {bbox} "
            f"with {layer.num_channels} channel(s) (expected {expected})"
        )
    if not options.non_aligned_writes and not layer.scale.grid.is_aligned(bbox):
        raise AlignmentError(
            f"{bbox} is not aligned to the chunk grid (chunk size {layer.scale.chunk_size}, "
            f"offset {layer.scale.voxel_offset}); use non_aligned_writes=True or align the write"
        )
    layer.codec.check(layer.dtype, layer.num_channels)
    return img


@contextlib.contextmanager
def forgetting(layer: Layer, bbox: Bbox) -> Iterator[None]:
    """Around a write of ``bbox``: afterwards, even when it failed part way (some chunks may
    be replaced), the layer's chunk cache holds none of its chunks. The store-level LRU
    drops what it holds as objects are written."""
    try:
        yield
    finally:
        if layer.cache is not None:
            layer.cache.drop(layer.scale.grid.chunk_bboxes(bbox))


def upload(layer: Layer, bbox: Bbox, image: np.ndarray, options: ImageOptions) -> None:
    """Write ``image`` (``[x, y, z(, c)]``) at ``bbox``; shell chunks are read-modify-written."""
    img = check_write(layer, bbox, image, options)
    put_options = chunk_put_options(layer, options)
    chunks = list(layer.scale.grid.chunk_bboxes(bbox))

    def write(group: list[Bbox]) -> None:
        items = [(chunk, encode_part(layer, bbox, img, chunk, options)) for chunk in group]
        layer.chunks.store(items, put_options)

    groups = layer.chunks.groups(chunks, for_write=True)
    with forgetting(layer, bbox):
        run_tasks(write, groups, options.threads, options.progress, "Uploading", layer.pool)


def chunk_put_options(layer: Layer, options: ImageOptions) -> PutOptions:
    """How the chunk objects of a write are stored."""
    return PutOptions(
        compress=options.compress,
        compress_level=options.compress_level,
        cache_control=options.cache_control,
        content_type=content_type(layer.scale.encoding),
    )


def encode_part(
    layer: Layer, bbox: Bbox, img: np.ndarray, chunk: Bbox, options: ImageOptions
) -> bytes | None:
    """The encoded bytes of one chunk of a write of ``img`` at ``bbox`` (``None``: delete it
    as all background); a chunk the write covers partly is read, painted, then encoded."""
    region = Bbox.intersection(chunk, bbox)
    part = img[local_slices(bbox, region)]
    if region != chunk:
        part = patch_chunk(layer, chunk, layer.chunks.fetch([chunk])[0], bbox, img, options)
    return encode_chunk(layer, part, options)


def encode_chunk(layer: Layer, whole: np.ndarray, options: ImageOptions) -> bytes | None:
    """The encoded bytes of a whole chunk (``None``: delete it as all background, when
    ``delete_black_uploads``)."""
    if options.delete_black_uploads and _is_background(whole, options.background_color):
        return None
    return layer.codec.encode(whole, layer.scale.params)


def patch_chunk(
    layer: Layer,
    chunk: Bbox,
    stored: bytes | None,
    bbox: Bbox,
    img: np.ndarray,
    options: ImageOptions,
) -> np.ndarray:
    """A whole chunk for a write that covers part of it: the ``stored`` chunk decoded (or
    ``background_color`` when missing) with the part of ``img`` (at ``bbox``) painted in."""
    if stored is None:
        whole = np.full(
            layer.chunk_shape(chunk), options.background_color, dtype=layer.dtype, order="F"
        )
    else:
        whole = np.array(decode_chunk(layer, chunk, stored), order="F", copy=True)
    region = Bbox.intersection(chunk, bbox)
    whole[local_slices(chunk, region)] = img[local_slices(bbox, region)]
    return whole


def _is_background(arr: np.ndarray, background: Any) -> bool:
    if isinstance(background, float) and np.isnan(background):
        return bool(np.all(np.isnan(arr)))
    return bool(np.all(arr == background))


def content_type(encoding: str) -> str:
    """The MIME type written for chunks of an encoding."""
    return {"jpeg": "image/jpeg", "png": "image/png", "jxl": "image/jxl"}.get(
        encoding, "application/octet-stream"
    )


def delete(layer: Layer, bbox: Bbox, options: ImageOptions) -> None:
    """Delete every chunk inside ``bbox`` (which must be chunk aligned)."""
    if not layer.scale.grid.is_aligned(Bbox.intersection(bbox, layer.scale.bounds)):
        raise AlignmentError(f"delete needs a chunk-aligned region, got {bbox}")
    chunks: Iterable[Bbox] = layer.scale.grid.chunk_bboxes(bbox)
    with forgetting(layer, bbox):
        layer.chunks.store([(c, None) for c in chunks], PutOptions())
