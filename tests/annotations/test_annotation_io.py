"""Writing and reading annotation datasets: every type, sharded or not, checked against
brute-force answers computed here from the input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.sharding.helpers import CountingStore
from voxelio import AnnotationSource, AnnotationWriter, from_cloudpath
from voxelio.annotations.shapes import intersects
from voxelio.errors import (
    AnnotationNotFoundError,
    DecodingError,
    EncodingError,
    InfoError,
    ShardingError,
    StorageError,
)
from voxelio.storage import open_store
from voxelio.storage.base import NO_OPTIONS

KINDS = ["point", "line", "axis_aligned_bounding_box", "ellipsoid", "polyline"]
PROPS = [
    {"id": "kind", "type": "uint8", "enum_values": [0, 1, 2], "enum_labels": ["a", "b", "c"]},
    {"id": "score", "type": "float32"},
    {"id": "depth", "type": "int16"},
    {"id": "colour", "type": "rgba"},
]


def make_geometry(kind: str, n: int, rng: np.random.Generator):
    a = rng.uniform(0, 400, (n, 3))
    b = a + rng.uniform(-30, 30, (n, 3))
    if kind == "point":
        return a
    if kind == "ellipsoid":
        return np.stack([a, np.abs(b - a) + 0.5], axis=-1)
    if kind == "polyline":
        return [a[i] + np.cumsum(rng.uniform(-10, 10, (1 + i % 4, 3)), axis=0) for i in range(n)]
    return np.stack([a, b], axis=-1)


def make_dataset(path: Path, kind: str, n: int, sharded: bool, limit: int = 40, seed: int = 0,
                 **bounds):  # fmt: skip
    rng = np.random.default_rng(seed)
    geometry = make_geometry(kind, n, rng)
    props = {
        "kind": rng.integers(0, 3, n),
        "score": rng.random(n),
        "depth": rng.integers(-500, 500, n),
        "colour": rng.integers(0, 256, (n, 4)),
    }
    pre = rng.integers(1, 30, n)
    post = [
        rng.choice(np.arange(1, 30), size=int(rng.integers(0, 3)), replace=False) for _ in range(n)
    ]
    ids = rng.permutation(np.arange(10, 10 + 3 * n))[:n]
    writer = AnnotationWriter(f"file://{path}", kind, resolution=(4, 4, 40), properties=PROPS,
                              relationships=["pre", "post"], sharded=sharded, limit=limit,
                              **bounds)  # fmt: skip
    writer.add(geometry, ids=ids, properties=props, relationships={"pre": pre, "post": post})
    info = writer.write()
    return info, dict(geometry=geometry, ids=ids, props=props, pre=pre, post=post)


def _as_list(kind, geometry):
    return geometry if kind == "polyline" else np.asarray(geometry, np.float32)


@pytest.mark.parametrize("sharded", [False, True], ids=["unsharded", "sharded"])
@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_of_every_index(tmp_path: Path, kind: str, sharded: bool) -> None:
    info, src = make_dataset(tmp_path / "ann", kind, 300, sharded)
    assert len(info.spatial) > 1, "the limit should force several spatial levels"
    source = AnnotationSource.open(f"file://{tmp_path / 'ann'}")
    assert source.ids().tolist() == sorted(src["ids"].tolist())

    picked = [int(src["ids"][i]) for i in (0, 7, 299)]
    got = source.get_by_id(picked)
    for i, aid in zip((0, 7, 299), picked):
        one = got[aid]
        expect = np.asarray(src["geometry"][i], np.float32)
        np.testing.assert_array_equal(np.asarray(one.geometry[0]), expect)
        assert one.properties["depth"].tolist() == [src["props"]["depth"][i]]
        assert one.properties["colour"].tolist() == [src["props"]["colour"][i].tolist()]
        assert one.relationships["pre"].tolist() == [src["pre"][i]]
        assert sorted(one.relationships["post"].tolist()) == sorted(src["post"][i].tolist())

    everything = source.get_all()
    assert sorted(everything.ids.tolist()) == sorted(src["ids"].tolist())
    order = {int(a): i for i, a in enumerate(src["ids"])}
    for aid, score in zip(everything.ids.tolist(), everything.properties["score"]):
        assert score == np.float32(src["props"]["score"][order[aid]])

    geometry = _as_list(kind, src["geometry"])
    for lo, hi in [
        ((50, 60, 70), (200, 180, 260)),
        ((0, 0, 0), (30, 400, 400)),
        ((390, 5, 5), (500, 9, 9)),
    ]:
        lo_a, hi_a = np.array(lo, float), np.array(hi, float)
        expected = src["ids"][intersects(kind, geometry, lo_a, hi_a)]
        found = source.get_by_bbox((lo, hi))
        assert sorted(found.ids.tolist()) == sorted(expected.tolist()), (lo, hi)

    for segment in (1, 5, 29):
        related = source.get_by_relationship("pre", segment)
        assert sorted(related.ids.tolist()) == sorted(src["ids"][src["pre"] == segment].tolist())
        posts = source.get_by_relationship("post", [segment])[segment]
        want = [int(a) for a, p in zip(src["ids"], src["post"]) if segment in p]
        assert sorted(posts.ids.tolist()) == sorted(want)
    assert len(source.get_by_relationship("pre", 12345)) == 0


def test_each_level_holds_each_annotation_once_and_levels_are_complete(tmp_path: Path) -> None:
    info, src = make_dataset(tmp_path / "ann", "point", 2000, False, limit=25)
    source = AnnotationSource.open(f"file://{tmp_path / 'ann'}")
    per_level = [source.get_all(mip=i).ids for i in range(len(info.spatial))]
    joined = np.concatenate(per_level)
    assert sorted(joined.tolist()) == sorted(src["ids"].tolist())  # once, at one level
    assert len(per_level[0]) <= 25 * 2  # the coarse level holds a sample of about `limit`
    assert source.get_all(mip=-1).ids.tolist() == per_level[-1].tolist()
    for level in info.spatial:
        extent = np.array(info.upper_bound) - np.array(info.lower_bound)
        np.testing.assert_allclose(np.array(level.grid_shape) * level.chunk_size, extent)
    with pytest.raises(IndexError, match="spatial level 40"):
        source.get_all(mip=40)


def test_wide_queries_list_cells_instead_of_asking_for_each(tmp_path: Path, monkeypatch) -> None:
    from voxelio.annotations.indices import IndexStore

    make_dataset(tmp_path / "ann", "point", 500, True, limit=5)
    source = AnnotationSource.open(f"file://{tmp_path / 'ann'}")
    full = sorted(source.get_all().ids.tolist())
    listed = []
    original = IndexStore.keys
    monkeypatch.setattr(IndexStore, "keys", lambda self: listed.append(self.key) or original(self))
    monkeypatch.setattr("voxelio.annotations.source.LIST_CELLS_ABOVE", 1)
    assert sorted(source.get_all().ids.tolist()) == full
    assert any(key.startswith("spatial") for key in listed)  # the listing path ran


def test_piled_up_annotations_stop_the_levels_and_stay_readable(tmp_path: Path) -> None:
    from voxelio.annotations.spatial import MAX_LEVEL_CELLS

    rng = np.random.default_rng(4)
    points = np.concatenate([np.full((300, 3), 7.0), rng.uniform(0, 100, (50, 3))])
    writer = AnnotationWriter(f"file://{tmp_path}", "point", limit=10)
    writer.add(points)
    info = writer.write()
    assert all(np.prod(level.grid_shape) <= MAX_LEVEL_CELLS for level in info.spatial)
    source = AnnotationSource.open(f"file://{tmp_path}")
    assert sorted(source.get_all().ids.tolist()) == list(range(350))
    assert len(source.get_by_bbox(((6.5, 6.5, 6.5), (7.5, 7.5, 7.5)))) >= 300


def test_bounds_equal_to_the_data_are_accepted_despite_float32(tmp_path: Path) -> None:
    writer = AnnotationWriter(f"file://{tmp_path}", "point", lower_bound=[0.1, 0.2, 0.0],
                              upper_bound=[0.3, 0.3, 0.3])  # fmt: skip
    writer.add([[0.1, 0.2, 0.3]])
    writer.write()
    assert AnnotationSource.open(f"file://{tmp_path}").get_all().ids.tolist() == [0]


def test_neuroglancer_style_single_adds_and_auto_ids(tmp_path: Path) -> None:
    writer = AnnotationWriter(f"file://{tmp_path}", "axis_aligned_bounding_box",
                              properties=[{"id": "colour", "type": "rgb"}],
                              relationships=["cell"])  # fmt: skip
    writer.add_axis_aligned_bounding_box([0, 0, 0], [5, 5, 5], colour="#ff8000", cell=[3, 4])
    writer.add_axis_aligned_bounding_box([1, 1, 1], [2, 2, 2], id=10, cell=7)
    writer.add_axis_aligned_bounding_box([2, 2, 2], [3, 3, 3])
    with pytest.raises(ValueError, match="not point"):
        writer.add_point([1, 2, 3])
    writer.write()
    source = from_cloudpath(f"file://{tmp_path}")
    assert source.ids().tolist() == [10, 11, 12]
    first = source.get_by_id(11)
    assert first.properties["colour"].tolist() == [[255, 128, 0]]
    assert first.relationships["cell"].tolist() == [3, 4]
    assert source.get_by_id(12).relationships["cell"].tolist() == []
    assert source.summary()["relationships"] == ["cell"]


def test_bad_input_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    url = f"file://{tmp_path}"
    writer = AnnotationWriter(url, "point", properties=[{"id": "n", "type": "uint8"}])
    with pytest.raises(ValueError, match="do not fit uint8"):
        writer.add([[1, 2, 3]], properties={"n": [300]})
    with pytest.raises(ValueError, match="finite"):
        writer.add([[1, np.nan, 3]])
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        writer.add([[1, 2]])
    with pytest.raises(ValueError, match="unknown properties"):
        writer.add([[1, 2, 3]], properties={"nope": [1]})
    with pytest.raises(KeyError, match="no relationship 'r'"):
        writer.add([[1, 2, 3]], relationships={"r": [1]})
    writer.add([[1, 2, 3], [4, 5, 6]], ids=[5, 5])
    with pytest.raises(EncodingError, match=r"duplicate annotation ids \[5\]"):
        writer.write()
    bounded = AnnotationWriter(url, "point", lower_bound=[0, 0, 0], upper_bound=[3, 3, 3])
    bounded.add([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(EncodingError, match="1 annotations reach outside"):
        bounded.write()
    assert list(tmp_path.iterdir()) == []


def test_existing_dataset_is_replaced_only_when_asked(tmp_path: Path) -> None:
    url = f"file://{tmp_path}"
    make_dataset(tmp_path, "point", 100, False)
    again = AnnotationWriter(url, "line")
    again.add([[[0, 1], [0, 1], [0, 1]]])
    with pytest.raises(EncodingError, match="overwrite=True"):
        again.write()
    assert AnnotationSource.open(url).info.annotation_type == "point"

    for round_ in range(3):
        fresh = AnnotationWriter(url, "line", overwrite=True, sharded=bool(round_ % 2))
        fresh.add([[[0, 1], [0, 1], [0, 1]]], ids=[round_])
        info = fresh.write()
        source = AnnotationSource.open(url)
        assert source.info.annotation_type == "line"
        assert source.ids().tolist() == [round_]
        used = (
            {info.by_id.key} | {s.key for s in info.spatial} | {r.key for r in info.relationships}
        )
        files = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
        stale = [f for f in files if f != "info" and not any(f.startswith(k + "/") for k in used)]
        assert not stale  # the old dataset's files are gone
    assert info.by_id.key == "v1/by_id"  # the plain names were free again after round 1


def test_leftovers_of_a_failed_write_stay_out_of_a_new_dataset(tmp_path: Path) -> None:
    (tmp_path / "by_id").mkdir()
    (tmp_path / "by_id" / "999").write_bytes(b"half a record")
    writer = AnnotationWriter(f"file://{tmp_path}", "point")
    writer.add([[1, 2, 3]], ids=[4])
    assert writer.write().by_id.key == "v1/by_id"
    assert AnnotationSource.open(f"file://{tmp_path}").ids().tolist() == [4]


class FailingStore(CountingStore):
    """Passes puts through until the ``fail_at``-th, which raises."""

    def __init__(self, inner, fail_at: int) -> None:  # type: ignore[no-untyped-def]
        super().__init__(inner)
        self.left = fail_at

    def put(self, key, data, options=NO_OPTIONS):  # type: ignore[no-untyped-def]
        self.left -= 1
        if self.left == 0:
            raise StorageError(f"{key}: injected failure")
        return self.inner.put(key, data, options)


def test_an_overwrite_never_writes_into_the_live_dataset(tmp_path: Path) -> None:
    url = f"file://{tmp_path}"
    _, src = make_dataset(tmp_path, "point", 60, False)
    info = json.loads((tmp_path / "info").read_text())
    (tmp_path / "by_id").rename(tmp_path / "ids")  # the same dataset, another by_id name
    info["by_id"]["key"] = "ids"
    (tmp_path / "info").write_text(json.dumps(info))
    segment = int(src["pre"][0])
    old = AnnotationSource.open(url)
    before = (old.ids().tolist(), sorted(old.get_all().ids.tolist()),
              sorted(old.get_by_relationship("pre", segment).ids.tolist()))  # fmt: skip

    def replace(store) -> None:  # type: ignore[no-untyped-def]
        writer = AnnotationWriter(store, "point", relationships=["pre"], overwrite=True)
        writer.add([[1, 2, 3]], ids=[7], relationships={"pre": [segment]})
        writer.write()

    with pytest.raises(StorageError, match="injected"):
        replace(FailingStore(open_store(url), fail_at=3))
    old = AnnotationSource.open(url)  # a failed write leaves the old dataset as it was
    after = (old.ids().tolist(), sorted(old.get_all().ids.tolist()),
             sorted(old.get_by_relationship("pre", segment).ids.tolist()))  # fmt: skip
    assert after == before
    replace(open_store(url))
    assert old.refresh_info().by_id.key.startswith("v") and old.ids().tolist() == [7]
    source = AnnotationSource.open(url)
    assert source.info.by_id.key.startswith("v")  # not into the live directories
    assert source.ids().tolist() == [7]
    assert source.get_by_relationship("pre", segment).ids.tolist() == [7]
    assert sorted(source.get_all().ids.tolist()) == [7]


def test_damaged_data_gives_errors_naming_the_object(tmp_path: Path) -> None:
    make_dataset(tmp_path, "point", 50, False)
    source = AnnotationSource.open(f"file://{tmp_path}")
    aid = int(source.ids()[3])
    record = tmp_path / "by_id" / str(aid)
    record.write_bytes(record.read_bytes()[:-5])
    with pytest.raises(DecodingError, match=f"by_id/{aid}"):
        source.get_by_id(aid)
    with pytest.raises(AnnotationNotFoundError, match=r"no annotation with id\(s\) \[999999\]"):
        source.get_by_id([999999])
    cell = next((tmp_path / "spatial0").iterdir())
    cell.write_bytes(cell.read_bytes() + b"x")
    with pytest.raises(DecodingError, match=f"spatial0/{cell.name}"):
        source.get_all()
    (tmp_path / "info").write_text("{not json")
    with pytest.raises(InfoError, match="info"):
        AnnotationSource.open(f"file://{tmp_path}")
    obj = {"@type": "neuroglancer_annotations_v1"}
    (tmp_path / "info").write_text(json.dumps(obj))
    with pytest.raises(InfoError, match="dimensions"):
        AnnotationSource.open(f"file://{tmp_path}")


def test_truncated_shard_is_reported(tmp_path: Path) -> None:
    make_dataset(tmp_path, "point", 200, True)
    shard = next((tmp_path / "by_id").glob("*.shard"))
    shard.write_bytes(shard.read_bytes()[:-40])
    source = AnnotationSource.open(f"file://{tmp_path}")
    with pytest.raises(ShardingError, match=shard.name):
        source.get_by_id(source.ids().tolist())


def test_results_crop_split_and_pandas(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    _, src = make_dataset(tmp_path, "point", 100, False)
    source = AnnotationSource.open(f"file://{tmp_path}")
    everything = source.get_all()
    frame = everything.pandas()
    assert list(frame.columns) == ["x", "y", "z", "score", "depth", "kind", "colour"]
    assert set(frame["kind"].cat.categories) <= {"a", "b", "c"}
    cropped = everything.crop(((0, 0, 0), (100, 100, 100)))
    inside = np.all(src["geometry"] <= 100, axis=1)
    assert sorted(cropped.ids.tolist()) == sorted(src["ids"][inside].tolist())
    split = cropped.split_by_id()
    assert sorted(split) == sorted(cropped.ids.tolist())
    assert source[0:100, 0:100, 0:100].ids.tolist() == cropped.ids.tolist()


def test_sharded_lookups_reuse_the_shard_indices_and_the_source_pickles(tmp_path: Path) -> None:
    import pickle

    from tests.sharding.helpers import CountingStore
    from voxelio.storage import open_store

    _, src = make_dataset(tmp_path, "point", 300, True)
    store = CountingStore(open_store(f"file://{tmp_path}"))
    source = AnnotationSource(store)
    aid = int(src["ids"][0])
    store.reset()
    source.get_by_id(aid)
    first = store.total
    store.reset()
    source.get_by_id(aid)
    assert store.total == 1 < first  # the value alone: shard and minishard indices are cached
    plain = AnnotationSource.open(f"file://{tmp_path}")
    plain.get_all()  # fills the index cache, whose spatial key mappings are closures
    again = pickle.loads(pickle.dumps(plain))
    assert again.get_by_id(aid).ids.tolist() == [aid]
