"""Per-thread read buffers and FileStore.get_into, which reads chunk files into them."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest

from voxelio.errors import PathError
from voxelio.storage import FileStore, PutOptions
from voxelio.storage.buffers import ReadBuffers


def _address(view: memoryview) -> int:
    return int(np.frombuffer(view, dtype=np.uint8).ctypes.data)


def test_views_start_64_bytes_into_a_page_and_grow() -> None:
    buffers = ReadBuffers()
    small = buffers.view(100)
    assert len(small) == 100 and _address(small) % 4096 == 64
    big = buffers.view(1 << 20)
    assert len(big) == 1 << 20 and _address(big) % 4096 == 64
    again = buffers.view(5000)  # no shrinking: the grown buffer is reused
    assert _address(again) == _address(big)


def test_each_thread_has_its_own_buffer() -> None:
    buffers = ReadBuffers()
    addresses: list[int] = []
    all_have_one = threading.Barrier(3)  # threads stay alive so no buffer is freed early

    def take() -> None:
        addresses.append(_address(buffers.view(4096)))
        all_have_one.wait()

    threads = [threading.Thread(target=take) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(addresses)) == 3


def test_get_into_matches_get(tmp_path) -> None:
    store = FileStore(str(tmp_path))
    buffers = ReadBuffers()
    payload = np.random.default_rng(0).bytes(300_000)
    store.put("plain", payload)
    store.put("zipped", payload, PutOptions(compress="gzip"))
    store.put("empty", b"")
    (tmp_path / "adir").mkdir()
    assert bytes(store.get_into("plain", buffers)) == payload
    assert bytes(store.get_into("zipped", buffers)) == payload  # .gz twin: the general path
    assert bytes(store.get_into("empty", buffers)) == b""
    assert store.get_into("missing", buffers) is None
    assert store.get_into("adir", buffers) is None
    first = store.get_into("plain", buffers)
    store.put("other", b"x" * 10)
    assert bytes(store.get_into("other", buffers)) == b"x" * 10
    assert bytes(first[:10]) == b"x" * 10  # the view was reused, as documented


def test_get_into_keeps_keys_inside_the_store(tmp_path) -> None:
    store = FileStore(str(tmp_path / "layer"))
    with pytest.raises(PathError, match="outside the layer root"):
        store.get_into("../bad", ReadBuffers())


def test_pickles_as_empty_buffers() -> None:
    buffers = ReadBuffers()
    buffers.view(10)
    copy = pickle.loads(pickle.dumps(buffers))
    assert isinstance(copy, ReadBuffers) and len(copy.view(5)) == 5


def test_get_slice_into_reads_part_of_a_file_of_the_expected_size(tmp_path) -> None:
    store = FileStore(tmp_path)
    payload = bytes(range(256)) * 64
    store.put("plain", payload)
    store.put("zipped", payload, PutOptions(compress="gzip"))
    (tmp_path / "adir").mkdir()
    buffers = ReadBuffers()
    data, sliced = store.get_slice_into("plain", buffers, 1000, 300, len(payload))
    assert sliced and bytes(data) == payload[1000:1300]
    for key, size in (("plain", len(payload) + 1), ("zipped", len(payload))):
        data, sliced = store.get_slice_into(key, buffers, 1000, 300, size)
        assert not sliced and bytes(data) == payload  # whole: the caller's checks see it
    assert store.get_slice_into("missing", buffers, 0, 10, 10) == (None, False)
    assert store.get_slice_into("adir", buffers, 0, 10, 10) == (None, False)
