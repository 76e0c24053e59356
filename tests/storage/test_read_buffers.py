"""Per-thread read buffers, FileStore.get_into, which reads chunk files into them, and
FileStore.read_box_into, which reads boxes of plain arrays straight into their destination."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest

from voxelio.errors import PathError, StorageError
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


def _stored(tmp_path, shape: tuple[int, ...], dtype: str) -> tuple[FileStore, np.ndarray]:
    """A store holding one plain Fortran-ordered array of random values at ``key``."""
    store = FileStore(tmp_path)
    rng = np.random.default_rng(sum(shape))
    arr = np.asfortranarray(rng.integers(0, 250, size=shape).astype(dtype))
    store.put("key", arr.tobytes(order="F"))
    return store, arr


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [
        ((64, 64, 64, 1), "uint8"),
        ((128, 128, 16, 1), "uint8"),
        ((33, 17, 9, 3), "uint16"),
        ((20, 24, 12, 2), "float32"),
        ((16, 16, 16, 1), "uint64"),
        ((64, 64, 64, 1), "uint64"),  # 2 MiB: whole boxes bypass the caches (_native.h)
        ((130, 70, 20, 1), "uint64"),  # rows of 1040 bytes, ends not 16-byte aligned
        ((512, 512, 4, 1), "uint8"),  # planes of 256 KiB: one plane per read
        ((256, 256, 9, 1), "uint8"),  # whole planes read 4 at a time, then the rest
    ],
)
def test_read_box_into_copies_any_box(tmp_path, shape, dtype) -> None:
    store, arr = _stored(tmp_path, shape, dtype)
    buffers = ReadBuffers()
    rng = np.random.default_rng(1)
    full = tuple((0, s) for s in shape[:3])
    single = tuple((s - 1, s) for s in shape[:3])
    whole_planes = ((3, shape[0] - 2), (0, shape[1]), (1, shape[2]))
    boxes = [full, single, whole_planes]
    for _ in range(20):
        lo = [int(rng.integers(0, s)) for s in shape[:3]]
        boxes.append(tuple((a, int(rng.integers(a + 1, s + 1))) for a, s in zip(lo, shape)))
    for box in boxes:
        want = arr[tuple(slice(a, b) for a, b in box)]
        out = np.full(want.shape, 255, dtype=dtype, order="F")
        origin = tuple(a for a, _ in box)
        assert store.read_box_into("key", shape, origin, out, buffers)
        np.testing.assert_array_equal(out, want, err_msg=str(box))


def test_read_box_into_writes_into_a_view_of_a_larger_array(tmp_path) -> None:
    store, arr = _stored(tmp_path, (16, 16, 16, 1), "uint16")
    big = np.zeros((40, 40, 40, 1), dtype="uint16", order="F")
    assert store.read_box_into(
        "key", (16, 16, 16, 1), (2, 3, 4), big[5:15, 6:19, 7:19], ReadBuffers()
    )
    np.testing.assert_array_equal(big[5:15, 6:19, 7:19], arr[2:12, 3:16, 4:16])
    assert big.sum() == arr[2:12, 3:16, 4:16].sum()  # nothing outside the box was touched


def test_read_box_into_leaves_other_objects_to_the_general_path(tmp_path) -> None:
    store, arr = _stored(tmp_path, (8, 8, 8, 1), "uint8")
    store.put("zipped", arr.tobytes(order="F"), PutOptions(compress="gzip"))
    store.put("short", arr.tobytes(order="F")[:-1])
    (tmp_path / "adir").mkdir()
    out = np.empty((2, 2, 2, 1), dtype="uint8", order="F")
    for key in ("zipped", "short", "adir", "missing", "adir/missing"):
        assert not store.read_box_into(key, (8, 8, 8, 1), (0, 0, 0), out, ReadBuffers()), key


def test_read_box_into_refuses_boxes_it_cannot_serve(tmp_path) -> None:
    store, _arr = _stored(tmp_path, (8, 8, 8, 1), "uint8")
    buffers = ReadBuffers()
    out = np.empty((4, 4, 4, 1), dtype="uint8", order="F")
    with pytest.raises(ValueError, match="outside the array"):
        store.read_box_into("key", (8, 8, 8, 1), (5, 0, 0), out, buffers)
    with pytest.raises(ValueError, match="contiguous"):
        store.read_box_into("key", (8, 8, 8, 1), (0, 0, 0), out[::2], buffers)
    with pytest.raises(ValueError, match="channel"):
        store.read_box_into("key", (8, 8, 4, 2), (0, 0, 0), out, buffers)
    with pytest.raises(PathError, match="outside the layer root"):
        store.read_box_into("../key", (8, 8, 8, 1), (0, 0, 0), out, buffers)


def test_unpublished_puts_write_in_place_and_read_back(tmp_path) -> None:
    store = FileStore(str(tmp_path))
    store.put("new/dir/a", b"first", PutOptions(unpublished=True))
    store.put("new/dir/a", b"second", PutOptions(unpublished=True))
    assert store.get("new/dir/a") == b"second"
    assert sorted(p.name for p in (tmp_path / "new" / "dir").iterdir()) == ["a"]
    (tmp_path / "blocker").write_bytes(b"a file where a directory should be")
    with pytest.raises(StorageError, match="blocker/x: write failed"):
        store.put("blocker/x", b"y", PutOptions(unpublished=True))


def test_a_read_between_a_rename_and_the_twins_removal_finds_the_object(
    tmp_path, monkeypatch
) -> None:
    """A writer that turns ``chunk.gz`` into a plain ``chunk`` renames the new file in, then
    removes the old name; a reader that asked for ``chunk`` just before the rename and for
    ``chunk.gz`` just after the removal found neither (a chunk read as missing, or as
    zeros with fill_missing). It asks once more."""
    store = FileStore(tmp_path)
    store.put("chunk", b"old", PutOptions(compress="gzip"))
    original = FileStore._read_once
    passes = []

    def racing(self, base, order):  # type: ignore[no-untyped-def]
        if not passes:  # the writer's two steps land between the reader's two asks
            passes.append(order)
            (tmp_path / "chunk.gz").unlink()
            found = original(self, base, order)
            (tmp_path / "chunk").write_bytes(b"new")
            return found
        return original(self, base, order)

    monkeypatch.setattr(FileStore, "_read_once", racing)
    assert store.get("chunk") == b"new"
