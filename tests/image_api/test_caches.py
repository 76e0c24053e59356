"""Disk cache (vol.cache) and in-memory LRU (vol.image.lru)."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
from pathlib import Path

import numpy as np
import pytest

from tests.image_api.conftest import Backend, make_layer, seg_array
from voxelio import Bbox, CloudVolume
from voxelio.cache.lru import LRU, LRUStore
from voxelio.errors import UnsupportedEncodingError
from voxelio.storage.mem import MemoryStore


def test_disk_cache_api(backend: Backend, tmp_path: Path) -> None:
    path, kw = backend("seg")
    arr = seg_array()
    make_layer(path, arr, **kw)
    cache_dir = tmp_path / "cache"
    vol = CloudVolume(path, cache=str(cache_dir), **kw)
    assert vol.cache.enabled and vol.cache.path.startswith(str(cache_dir))
    assert json.loads((Path(vol.cache.path) / "info").read_text()) == vol.info
    assert vol.cache.num_files() == 0
    assert np.array_equal(vol[:, :, :][..., 0], arr)
    assert vol.cache.num_files() == 5 * 4 * 3 and vol.cache.num_files(all_mips=True) == [60]
    assert vol.cache.num_bytes() == arr.nbytes and vol.cache.num_bytes(all_mips=True) == [
        arr.nbytes
    ]
    assert "0-16_0-16_0-16" in vol.cache.list()
    assert vol.cache.list_meshes() == [] and vol.cache.list_skeletons() == []
    # reads are served from the cache: delete the remote chunks
    CloudVolume(path, **kw).delete(vol.bounds)
    assert np.array_equal(vol[:, :, :][..., 0], arr)
    vol.cache.flush_region([0, 0, 0, 16, 16, 16])
    assert vol.cache.num_files() == 59
    vol.cache.flush(preserve=[0, 0, 0, 32, 16, 16])
    assert vol.cache.list() == ["16-32_0-16_0-16"]  # 0-16 was flushed above
    vol.cache.flush_info()
    assert not (Path(vol.cache.path) / "info").exists()
    vol.cache.flush()
    assert not os.path.exists(vol.cache.path) and vol.cache.num_files() == 0


def test_cache_env_compress_and_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arr = seg_array()
    path = f"file://{tmp_path}/seg"
    make_layer(path, arr)
    monkeypatch.setenv("CLOUD_VOLUME_CACHE_DIR", str(tmp_path / "envcache"))
    vol = CloudVolume(path, cache=True, compress_cache=True)
    assert vol.cache.path == str(tmp_path / "envcache" / "file" / str(tmp_path).strip("/") / "seg")
    vol[0:16, 0:16, 0:16]
    assert vol.cache.list() == ["0-16_0-16_0-16.gz"]
    vol[0:16, 0:16, 0:16] = np.full((16, 16, 16), 9, np.uint32)  # write-through
    assert np.all(CloudVolume(path)[0:16, 0:16, 0:16] == 9) and np.all(vol[0:16, 0:16, 0:16] == 9)
    vol.cache.enabled = False
    assert vol._layer(0) is not None and not vol.cache.enabled


def test_cached_info_checked(tmp_path: Path) -> None:
    path = f"file://{tmp_path}/seg"
    vol = make_layer(path, seg_array())
    cached = CloudVolume(path, cache=str(tmp_path / "c"))
    info = dict(vol.info, scales=[dict(vol.info["scales"][0], size=[70, 60, 48])])
    vol.info = info
    vol.commit_info()
    with pytest.warns(UserWarning, match="sizes differ"):
        CloudVolume(path, cache=str(tmp_path / "c"))
    vol.info = dict(info, data_type="uint64")
    vol.commit_info()
    with pytest.raises(ValueError, match="differs from the cached"):
        CloudVolume(path, cache=str(tmp_path / "c"))
    cached.cache.flush_info()
    CloudVolume(path, cache=str(tmp_path / "c"))


def _fill(args: tuple[str, str]) -> int:
    path, cache = args
    vol = CloudVolume(path, cache=cache, cache_locking=True)
    return int(vol[:, :, :].sum())


def test_cache_fills_across_processes(tmp_path: Path) -> None:
    arr = seg_array()
    path = f"file://{tmp_path}/seg"
    make_layer(path, arr)
    cache = str(tmp_path / "c")
    with multiprocessing.get_context("fork").Pool(4) as pool:
        sums = pool.map(_fill, [(path, cache)] * 4)
    assert sums == [int(arr.sum())] * 4
    vol = CloudVolume(path, cache=cache)
    assert vol.cache.num_files() == 60
    assert not [p for p in Path(vol.cache.path).rglob(".voxelio-tmp*")]


def test_lru_bounded_under_random_access() -> None:
    lru = LRU(10_000)
    rng = random.Random(1)
    for _ in range(5000):
        key = rng.randrange(300)
        if rng.random() < 0.5:
            lru.set(key, bytes(rng.randrange(1, 3000)))
        else:
            lru.get(key)
        assert lru.nbytes <= 10_000 and lru.nbytes == sum(len(v) for _, v in lru.items())
    lru.set("huge", bytes(20_000))
    assert "huge" not in lru
    lru.resize(1000)
    assert lru.nbytes <= 1000
    lru.clear()
    assert len(lru) == 0 and lru.nbytes == 0
    with pytest.raises(ValueError):
        LRU(-1)
    with pytest.raises(ValueError):
        lru.resize(-5)


def test_lru_store_invalidates() -> None:
    store = LRUStore(MemoryStore("lru-test/" + os.urandom(4).hex()), LRU(1000))
    store.put("a", b"one")
    assert store.get("a") == b"one" and len(store.lru) == 1
    store.put("a", b"two")
    assert store.get("a") == b"two"
    assert store.get_range("a", 1, 2) == b"wo"
    store.delete("a")
    assert store.get("a") is None and store.get_range("a", 0, 1) is None and len(store.lru) == 0


def test_volume_lru(backend: Backend) -> None:
    path, kw = backend("seg")
    arr = seg_array()
    make_layer(path, arr, **kw)
    vol = CloudVolume(path, lru_bytes=5 * 16**3 * 4, **kw)
    assert np.array_equal(vol[:, :, :][..., 0], arr)
    assert len(vol.image.lru) >= 5 and vol.image.lru.nbytes <= vol.image.lru.size
    vol.image.lru.resize(60 * 16**3 * 4)
    vol[:, :, :]
    CloudVolume(path, **kw).delete([0, 0, 0, 16, 16, 16])
    assert np.array_equal(vol[0:16, 0:16, 0:16][..., 0], arr[:16, :16, :16])  # from the LRU
    vol.exists([0, 0, 0, 16, 16, 16])  # a missing chunk is evicted
    vol.fill_missing = True
    assert np.all(vol[0:16, 0:16, 0:16] == 0)
    vol.image.lru.clear()
    assert len(vol.image.lru) == 0


@pytest.mark.parametrize(
    ("stored", "held"), [("compressed_segmentation", "raw"), ("raw", "compressed_segmentation")]
)
def test_volume_lru_holds_decoded_or_transcoded_chunks(
    backend: Backend, stored: str, held: str
) -> None:
    """``lru_encoding="raw"`` holds decoded chunks, a codec name chunks transcoded to it; a
    read of held chunks needs nothing stored, and a write or a missing chunk drops them."""
    path, kw = backend("seg")
    arr = seg_array()
    make_layer(path, arr, encoding=stored, **kw)
    vol = CloudVolume(path, lru_bytes=2**24, lru_encoding=held, **kw)
    assert np.array_equal(vol[:, :, :][..., 0], arr)
    assert len(vol.image.lru) == 5 * 4 * 3  # every chunk, and nothing as stored besides
    if held == "raw":
        assert vol.image.lru.nbytes == arr.nbytes
    else:  # 6 labels: a few bits per voxel
        assert vol.image.lru.nbytes < arr.nbytes / 4
    CloudVolume(path, **kw).delete(vol.bounds)  # nothing stored any more
    assert np.array_equal(vol[3:50, 4:41, 5:33][..., 0], arr[3:50, 4:41, 5:33])
    vol[0:16, 0:16, 0:16] = np.full((16, 16, 16), 9, np.uint32)  # drops that chunk
    got = vol[0:32, 0:16, 0:16][..., 0]
    assert np.all(got[:16] == 9) and np.array_equal(got[16:], arr[16:32, :16, :16])
    vol.exists([16, 0, 0, 32, 16, 16])  # a missing chunk is dropped
    vol.fill_missing = True
    assert np.all(vol[16:32, 0:16, 0:16] == 0)


def test_lru_encoding_is_checked(tmp_path: Path) -> None:
    path = f"file://{tmp_path}/seg"
    make_layer(path, seg_array())
    with pytest.raises(ValueError, match="lru_encoding 'bogus' is not 'same' or one of"):
        CloudVolume(path, lru_encoding="bogus")
    vol = CloudVolume(path, lru_bytes=2**20, lru_encoding="jpeg")
    with pytest.raises(UnsupportedEncodingError, match="'jpeg' cannot hold data_type 'uint32'"):
        vol[:, :, :]


@pytest.mark.parametrize("held", ["same", "raw"])
def test_a_write_by_other_processes_clears_the_lru(tmp_path: Path, held: str) -> None:
    path = f"file://{tmp_path}/seg"
    arr = seg_array()
    make_layer(path, arr)
    vol = CloudVolume(path, lru_bytes=2**24, lru_encoding=held, parallel=2)
    assert np.array_equal(vol.download(vol.bounds, parallel=1)[..., 0], arr)  # in the LRU
    assert len(vol.image.lru) > 0
    target = tmp_path / "new.bin"
    np.asfortranarray(arr + 1).T.tofile(target)  # the raw bytes of the Fortran-order array
    vol.upload_from_file(str(target), vol.bounds)  # written by 2 worker processes
    assert np.array_equal(vol.download(vol.bounds, parallel=1)[..., 0], arr + 1)


def test_changing_lru_encoding_empties_the_lru(tmp_path: Path) -> None:
    """Entries of one kind would outlive writes made while the other is in use."""
    path = f"file://{tmp_path}/seg"
    arr = seg_array()
    make_layer(path, arr)
    vol = CloudVolume(path, lru_bytes=2**24, lru_encoding="raw")
    vol[:, :, :]
    vol.lru_encoding = "same"
    assert len(vol.image.lru) == 0
    vol[0:16, 0:16, 0:16] = np.full((16, 16, 16), 2, np.uint32)
    vol.lru_encoding = "RAW"
    assert vol.lru_encoding == "raw" and np.all(vol[0:16, 0:16, 0:16] == 2)
    with pytest.raises(ValueError, match="lru_encoding 'bogus'"):
        vol.lru_encoding = "bogus"


def test_a_read_that_overlapped_a_write_keeps_nothing_it_fetched(tmp_path: Path) -> None:
    """A chunk fetched before a write replaced it must not be cached after the write's drop."""
    path = f"file://{tmp_path}/seg"
    make_layer(path, seg_array())
    vol = CloudVolume(path, lru_bytes=2**24, lru_encoding="raw")
    cache = vol._layer(0).cache
    assert cache is not None
    chunk = Bbox((0, 0, 0), (16, 16, 16))
    whole = np.zeros((16, 16, 16, 1), np.uint32)
    since = cache.stamp()  # a read starts
    cache.drop([chunk])  # a write replaces the chunk meanwhile
    cache.put(chunk, whole, since)
    assert cache.get(chunk) is None
    cache.put(chunk, whole, cache.stamp())
    assert np.array_equal(cache.get(chunk), whole)
