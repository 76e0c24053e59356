"""Processes with shared memory, files as arrays, and the race of concurrent writers."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.image_api.conftest import CHUNK, SHARDING, Backend, make_layer, seg_array
from tests.sharding.helpers import CountingStore
from voxelio import Bbox, CloudVolume
from voxelio.image import sharedmem
from voxelio.storage import NO_OPTIONS, PutOptions, Store
from voxelio.storage.wrapper import StoreWrapper


def test_parallel_download_and_shared_memory(backend: Backend, tmp_path: Path) -> None:
    path, kw = backend("seg")
    arr = seg_array()
    make_layer(path, arr, **kw)
    vol = CloudVolume(path, parallel=2, **kw)
    assert np.array_equal(vol[:, :, :][..., 0], arr)
    assert np.array_equal(
        vol.download([3, 4, 5, 50, 41, 33], parallel=2)[..., 0], arr[3:50, 4:41, 5:33]
    )
    location = vol.generate_shared_memory_location()
    assert location != vol.shared_memory_id
    img = vol.download_to_shared_memory(np.s_[:, :, :], location=location)
    try:
        assert np.array_equal(img[..., 0], arr)
        assert (Path(sharedmem.shm_dir()) / location).exists()
        again = sharedmem.open_array(location, arr.shape + (1,), np.uint32)
        assert np.array_equal(again[..., 0], arr)
        again[...] = 7  # write through shared memory, then upload from it
        vol.upload_from_shared_memory(location, vol.bounds, cutout_bbox=[16, 16, 16, 48, 48, 32])
    finally:
        assert sharedmem.unlink(location) and not sharedmem.unlink(location)
    expected = arr.copy()
    expected[16:48, 16:48, 16:32] = 7
    assert np.array_equal(CloudVolume(path, **kw)[:, :, :][..., 0], expected)
    default = vol.download_to_shared_memory(vol.bounds)
    assert default.shape == arr.shape + (1,) and vol.unlink_shared_memory()


def test_download_to_file_and_upload_from_file(tmp_path: Path) -> None:
    arr = seg_array()
    vol = make_layer(f"file://{tmp_path}/seg", arr)
    target = tmp_path / "array.bin"
    img = vol.download_to_file(str(target), vol.bounds)
    assert np.array_equal(img[..., 0], arr) and target.stat().st_size == arr.nbytes
    dest = make_layer(f"file://{tmp_path}/dst", np.zeros_like(arr))
    dest.upload_from_file(str(target), dest.bounds)
    assert np.array_equal(dest[:, :, :][..., 0], arr)


def test_bad_shared_memory(tmp_path: Path) -> None:
    vol = make_layer(f"file://{tmp_path}/seg", seg_array())
    with pytest.raises(FileNotFoundError):
        vol.upload_from_shared_memory("voxelio-shm-does-not-exist", vol.bounds)
    small = vol.generate_shared_memory_location()
    sharedmem.open_array(small, (2, 2, 2, 1), np.uint32, create=True)
    try:
        with pytest.raises(ValueError, match="needs"):
            vol.upload_from_shared_memory(small, vol.bounds)
        with pytest.raises(ValueError):
            sharedmem.open_array(small, (2, 2, 2, 1), np.uint32, order="K")
    finally:
        sharedmem.unlink(small)
    with pytest.raises(ValueError):
        sharedmem.location_path("")


# ---- the race: writes into shared chunks and shards, from several processes at once ------

RACE_SHAPE = (64, 48, 48)
# disjoint, non-aligned boxes (chunk 16): every chunk they touch is shared by several writers
DISJOINT = [
    np.s_[x : x + 10, y : y + 8, z : z + 12]
    for x in (3, 13, 23, 33)
    for y in (5, 13)
    for z in (2, 14)
]
# every chunk, each written alone (a lost one is not written again)
ALIGNED = [
    np.s_[x : x + 16, y : y + 16, z : z + 16]
    for x in range(0, 64, 16)
    for y in range(0, 48, 16)
    for z in range(0, 48, 16)
]
# 2 shards of 18 chunks each: every writer's chunks share shards with several others'
RACE_SHARDING = {**SHARDING, "preshift_bits": 2, "shard_bits": 1}


def test_concurrent_non_aligned_writes(backend: Backend) -> None:
    path, kw = backend("race")
    make_layer(path, np.zeros(RACE_SHAPE, np.uint32), **kw)
    assert np.array_equal(_race(path, kw, DISJOINT), _serial(DISJOINT))


@pytest.mark.parametrize("boxes", [ALIGNED, DISJOINT], ids=["aligned", "non-aligned"])
def test_concurrent_writes_into_shared_shards(backend: Backend, boxes: list) -> None:
    path, kw = backend("race-sharded")
    _sharded_layer(path, kw)
    assert np.array_equal(_race(path, kw, boxes), _serial(boxes))


def test_writers_by_a_symlink_and_with_their_own_tmpdir_lose_nothing(tmp_path: Path) -> None:
    """file:// compare-and-swap locks the directory of the file it replaces, so writers that
    reach the layer by another path (a symlink) or run with another TMPDIR (as batch jobs
    on one node do) still exclude each other (before: voxels lost in every round)."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    ctx = multiprocessing.get_context("spawn")
    for attempt in range(2):
        path = f"file://{real}/layer{attempt}"
        make_layer(path, np.zeros(RACE_SHAPE, np.uint32))
        start = ctx.Barrier(4)
        writers = [
            ctx.Process(
                target=_write_boxes_from,
                args=(
                    path if w % 2 else f"file://{tmp_path / 'link'}/layer{attempt}",
                    str(tmp_path / f"tmp{attempt}-{w}"),
                    [(i, box) for i, box in enumerate(DISJOINT) if i % 4 == w],
                    start,
                ),
            )
            for w in range(4)
        ]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(120)
        assert all(writer.exitcode == 0 for writer in writers)
        assert np.array_equal(CloudVolume(path)[:, :, :][..., 0], _serial(DISJOINT))


def _write_boxes_from(path: str, tmpdir: str, boxes: list, start: Any) -> None:
    """Write ``boxes`` (index, box) with the value index + 1, with TMPDIR ``tmpdir``, once
    every writer is ready."""
    import os
    import tempfile

    os.makedirs(tmpdir)
    os.environ["TMPDIR"] = tmpdir
    tempfile.tempdir = None
    vol = CloudVolume(path, non_aligned_writes=True)
    start.wait()
    for i, box in boxes:
        vol[box] = np.full(tuple(s.stop - s.start for s in box), i + 1, np.uint32)


def test_readers_see_one_version_of_a_shard_another_process_keeps_rewriting(
    backend: Backend,
) -> None:
    """A writer process keeps adding and deleting chunk 0; chunk 1 of the same shard holds
    1s throughout. Fresh volumes and one kept open read chunk 1 meanwhile: each read sees
    one version of the shard (its index, minishard index and data), never a mix, and the
    kept volume's cached index never sends it to offsets of an older file (before: a
    ShardingError or chunk 0's voxels in about 1 read in 10)."""
    import time

    path, kw = backend("torn")
    _sharded_layer(path, kw)
    CloudVolume(path, **kw)[16:32, 0:16, 0:16] = np.ones((16, 16, 16), np.uint32)
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    writer = ctx.Process(target=_toggle_chunk_zero, args=(path, kw, stop))
    writer.start()
    kept = CloudVolume(path, fill_missing=True, **kw)
    reads = 0
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            for vol in (CloudVolume(path, fill_missing=True, **kw), kept):
                assert (vol[16:32, 0:16, 0:16] == 1).all()
                reads += 1
    finally:
        stop.set()
        writer.join(30)
    assert writer.exitcode == 0 and reads >= 4


def _toggle_chunk_zero(path: str, kw: dict, stop: Any) -> None:
    vol = CloudVolume(path, delete_black_uploads=True, **kw)
    while not stop.is_set():
        vol[0:16, 0:16, 0:16] = np.full((16, 16, 16), 7, np.uint32)
        vol[0:16, 0:16, 0:16] = np.zeros((16, 16, 16), np.uint32)  # deleted again


def test_non_aligned_writes_into_shards_delete_black_chunks(backend: Backend) -> None:
    path, kw = backend("black")
    _sharded_layer(path, kw)
    vol = CloudVolume(path, non_aligned_writes=True, delete_black_uploads=True, **kw)
    first = Bbox((0, 0, 0), (16, 16, 16))
    vol[3:10, 3:10, 3:10] = np.full((7, 7, 7), 7, np.uint32)  # part of the first chunk
    assert list(vol.exists(first).values()) == [True]
    vol[0:12, 0:12, 0:12] = np.zeros((12, 12, 12), np.uint32)  # the chunk is all black again
    assert list(vol.exists(first).values()) == [False]
    # its shard is gone (file://) or holds its index alone (S3): either way, nothing stored
    assert not vol.image.has_data(0)


@pytest.mark.parametrize("sharded", [False, True], ids=["unsharded", "sharded"])
def test_a_chunk_emptied_while_another_writer_paints_it_keeps_their_paint(
    backend: Backend, sharded: bool
) -> None:
    """This writer's non-aligned write leaves a chunk all background (deleted under
    ``delete_black_uploads``; sharded, its shard left empty too); another writer paints a
    corner of the chunk between this one's read and its write. The serial result keeps the
    corner: the delete is conditional (file://), or, where the store has none (S3), the
    chunk or shard is written instead, conditionally, and the lost swap is done again."""
    path, kw = backend("emptied")
    if sharded:
        _sharded_layer(path, kw)
    else:
        make_layer(path, np.zeros(RACE_SHAPE, np.uint32), **kw)
    start = np.zeros((16, 16, 16), np.uint32)
    start[:12, :12, :12] = 5
    CloudVolume(path, **kw)[0:16, 0:16, 0:16] = start
    other = CloudVolume(path, non_aligned_writes=True, **kw)

    def between() -> None:
        other[14:16, 14:16, 14:16] = np.full((2, 2, 2), 9, np.uint32)

    mine = _interleaved(path, kw, between, non_aligned_writes=True, delete_black_uploads=True)
    mine[0:12, 0:12, 0:12] = np.zeros((12, 12, 12), np.uint32)
    expected = np.zeros((16, 16, 16), np.uint32)
    expected[14:, 14:, 14:] = 9
    got = CloudVolume(path, fill_missing=True, **kw)[0:16, 0:16, 0:16][..., 0]
    assert np.array_equal(got, expected)


def test_a_non_aligned_write_swaps_each_touched_shard_once(backend: Backend) -> None:
    """Whole and partly covered chunks of one shard go into one compare-and-swap of it."""
    path, kw = backend("once")
    _sharded_layer(path, kw)
    stores: list[CountingStore] = []

    class Volume(CloudVolume):
        def _open_store(self, cloudpath: Any, read_only: bool = False) -> Store:
            stores.append(CountingStore(super()._open_store(cloudpath, read_only)))
            return stores[-1]

    vol = Volume(path, non_aligned_writes=True, **kw)
    for store in stores:
        store.reset()
    box = np.s_[3:61, 2:46, 5:40]  # both shards, whole and partly covered chunks in each
    vol[box] = np.full((58, 44, 35), 7, np.uint32)
    calls = sum((store.calls for store in stores), Counter())
    assert (calls["get_with_version"], calls["put_if"]) == (2, 2)
    assert np.array_equal(CloudVolume(path, **kw)[:, :, :][..., 0], _serial([box]) * 7)


class _Interleaved(StoreWrapper):
    """Passes every call on; right after the first versioned read, runs ``between`` (another
    writer getting in between this writer's read and its write)."""

    def __init__(self, inner: Store, pending: list[Callable[[], None]]) -> None:
        super().__init__(inner)
        self.pending = pending

    def get(self, key: str) -> bytes | None:
        return self.inner.get(key)

    def get_range(self, key: str, start: int, length: int) -> bytes | None:
        return self.inner.get_range(key, start, length)

    def put(self, key: str, data: bytes, options: PutOptions = NO_OPTIONS) -> None:
        self.inner.put(key, data, options)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def get_with_version(self, key: str) -> tuple[bytes, str] | None:
        found = super().get_with_version(key)
        while self.pending:
            self.pending.pop()()
        return found

    def put_if(self, key: str, data: bytes, options: PutOptions = NO_OPTIONS,
               expected_version: str | None = None) -> str:  # fmt: skip
        return self.inner.put_if(key, data, options, expected_version)  # type: ignore[attr-defined, no-any-return]

    def delete_if(self, key: str, expected_version: str) -> None:
        self.inner.delete_if(key, expected_version)  # type: ignore[attr-defined]


def _interleaved(path: str, kw: dict, between: Callable[[], None], **options: bool) -> CloudVolume:
    """A volume at ``path`` whose stores run ``between`` once, after the first versioned
    read (of whichever store makes it)."""
    pending = [between]

    class Volume(CloudVolume):
        def _open_store(self, cloudpath: Any, read_only: bool = False) -> Store:
            return _Interleaved(super()._open_store(cloudpath, read_only), pending)

    return Volume(path, **options, **kw)


def _sharded_layer(path: str, kw: dict) -> None:
    """An empty uint32 layer of RACE_SHAPE with RACE_SHARDING at ``path``."""
    info = CloudVolume.create_new_info(
        1, "segmentation", "uint32", "raw", [1, 1, 1], [0, 0, 0], RACE_SHAPE,
        chunk_size=CHUNK, sharding=RACE_SHARDING,
    )  # fmt: skip
    CloudVolume(path, info=info, **kw).commit_info()


def _race(path: str, kw: dict, boxes: list) -> np.ndarray:
    """Write ``boxes[i]`` with the value ``i + 1`` from 4 processes at once; read it all."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        pool.map(_write_box, [(path, kw, box, i + 1) for i, box in enumerate(boxes)])
    return CloudVolume(path, fill_missing=True, **kw)[:, :, :][..., 0]


def _serial(boxes: list) -> np.ndarray:
    expected = np.zeros(RACE_SHAPE, np.uint32)
    for i, box in enumerate(boxes):
        expected[box] = i + 1
    return expected


def _write_box(args: tuple[str, dict, tuple[slice, ...], int]) -> None:
    path, kw, box, value = args
    vol = CloudVolume(path, non_aligned_writes=True, **kw)
    shape = tuple(s.stop - s.start for s in box)
    for _ in range(2):  # twice, to widen the window of the race
        vol[box] = np.full(shape, value, np.uint32)
