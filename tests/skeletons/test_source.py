"""``SkeletonSource`` (``vol.skeleton``) on memory and local-disk stores, unsharded and sharded."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from tests.skeletons.test_skeleton import random_tree

from voxelio.errors import InfoError, SkeletonDecodeError, SpatialIndexError
from voxelio.geometry import Bbox
from voxelio.skeletons import Skeleton, SkeletonInfo, open_skeleton_source
from voxelio.spatial_index import SpatialIndex
from voxelio.storage.file import FileStore
from voxelio.storage.mem import MemorySpace, MemoryStore

LAYER_INFO = {
    "type": "segmentation",
    "data_type": "uint64",
    "num_channels": 1,
    "skeletons": "skeletons",
    "scales": [
        {
            "key": "4_4_40",
            "resolution": [4, 4, 40],
            "size": [256, 256, 64],
            "voxel_offset": [0, 0, 0],
            "chunk_sizes": [[64, 64, 64]],
            "encoding": "raw",
        }
    ],
}
SHARDING = {
    "@type": "neuroglancer_uint64_sharded_v1",
    "preshift_bits": 0,
    "hash": "murmurhash3_x86_128",
    "minishard_bits": 1,
    "shard_bits": 2,
    "minishard_index_encoding": "gzip",
    "data_encoding": "gzip",
}


def make_store(info: dict | None = None) -> MemoryStore:  # type: ignore[type-arg]
    store = MemoryStore("layer/skeletons", space=MemorySpace())
    if info is not None:
        store.put("info", json.dumps(info).encode())
    return store


def many_trees(count: int, first_id: int = 100) -> list[Skeleton]:
    return [random_tree(seed, n=8 + seed % 5, segid=first_id + seed) for seed in range(count)]


@pytest.mark.parametrize("sharded", [False, True])
def test_upload_get_round_trip(sharded: bool) -> None:
    info = SkeletonInfo(sharding=SHARDING if sharded else None).to_json()
    src = open_skeleton_source(make_store(info), LAYER_INFO)
    assert src.is_sharded() == sharded
    skels = many_trees(12)
    src.upload(skels)
    got = src.get([s.id for s in skels])
    assert [g.id for g in got] == [s.id for s in skels]
    for mine, theirs in zip(skels, got):
        assert theirs.space == "physical"
        assert np.array_equal(theirs.vertices, mine.vertices)
        assert np.array_equal(theirs.edges, mine.edges)
        assert np.array_equal(theirs.radius, mine.radius)
        assert np.array_equal(theirs.vertex_types, mine.vertex_types)
    assert src.list().tolist() == sorted(s.id for s in skels)
    assert src.exists(skels[0].id) is True and src.exists(5) is False


def test_sharded_uploads_merge_into_existing_shards() -> None:
    src = open_skeleton_source(make_store(SkeletonInfo(sharding=SHARDING).to_json()), LAYER_INFO)
    first, second = many_trees(10, first_id=1), many_trees(10, first_id=1000)
    src.upload(first)
    src.upload(second)  # merged into the same (at most 4) shard files
    assert set(src.store.list()) <= {"info"} | {f"{i}.shard" for i in range(4)}
    every = first + second
    assert src.list().tolist() == sorted(s.id for s in every)
    replaced = random_tree(99, segid=first[0].id)
    src.upload(replaced)
    assert np.array_equal(src.get(first[0].id).vertices, replaced.vertices)
    src.delete([s.id for s in second])
    assert src.list().tolist() == sorted(s.id for s in first)


def test_unsharded_delete_and_missing() -> None:
    src = open_skeleton_source(make_store(), LAYER_INFO)
    src.upload(many_trees(3))
    src.delete(100)
    assert src.list().tolist() == [101, 102]
    with pytest.raises(SkeletonDecodeError, match="segment\\(s\\) 100 do not exist"):
        src.get(100)
    assert src.get(100, allow_missing=True) is None
    assert [s.id for s in src.get([100, 101], allow_missing=True)] == [101]


def test_upload_raw_and_default_info() -> None:
    src = open_skeleton_source(make_store(), LAYER_INFO)
    src.upload_raw(7, [[0, 0, 0], [1, 2, 3]], [[0, 1]], radii=[4, 5], vertex_types=[1, 2])
    skel = src.get(7)
    assert skel.radius.tolist() == [4, 5] and skel.vertex_types.tolist() == [1, 2]
    src.commit_info()
    written = json.loads(src.store.get("info"))
    assert written["@type"] == "neuroglancer_skeletons"
    assert len(written["transform"]) == 12
    assert None not in written.values() and "sharding" not in written


def test_transform_get_is_physical_and_upload_inverts_it() -> None:
    info = SkeletonInfo(transform=(4, 0, 0, 100, 0, 4, 0, 0, 0, 0, 40, 0)).to_json()
    src = open_skeleton_source(make_store(info), LAYER_INFO)
    src.upload(Skeleton([[1, 1, 1], [2, 2, 2]], [[0, 1]], segid=5))
    got = src.get(5)
    assert got.vertices.tolist() == [[104, 4, 40], [108, 8, 80]]
    src.upload(got)  # physical: mapped back through the inverse transform
    assert src.get(5).vertices.tolist() == [[104, 4, 40], [108, 8, 80]]
    raw = Skeleton.decode(src.get_raw([5])[5])
    assert raw.vertices.tolist() == [[1, 1, 1], [2, 2, 2]]


def test_declared_attributes_are_written_in_info_order() -> None:
    info = {
        "@type": "neuroglancer_skeletons",
        "vertex_attributes": [
            {"id": "label_score", "data_type": "uint16", "num_components": 2},
            {"id": "radius", "data_type": "float32", "num_components": 1},
        ],
    }
    src = open_skeleton_source(make_store(info), LAYER_INFO)
    skel = Skeleton([[0, 0, 0], [1, 0, 0]], [[0, 1]], radii=[2, 3], segid=4)
    skel.add_vertex_attribute("label_score", np.array([[1, 2], [3, 4]], dtype=np.uint16))
    src.upload(skel)
    data = src.get_raw([4])[4]
    assert data is not None and len(data) == 8 + 24 + 8 + 2 * 4 + 2 * 4
    assert np.frombuffer(data, "<u2", 4, 40).tolist() == [1, 2, 3, 4]
    got = src.get(4)
    assert got.label_score.tolist() == [[1, 2], [3, 4]] and got.radius.tolist() == [2, 3]
    assert not hasattr(got, "vertex_types")


def test_malformed_stored_skeleton_names_the_segment() -> None:
    src = open_skeleton_source(make_store(), LAYER_INFO)
    src.store.put("31", b"\x05\x00\x00\x00\x01\x00\x00\x00tooshort")
    with pytest.raises(SkeletonDecodeError, match="skeleton 31"):
        src.get(31)
    with pytest.raises(SkeletonDecodeError, match="not an integer"):
        src.get(["abc"])


@pytest.mark.parametrize(
    ("info", "message"),
    [
        ({"@type": "neuroglancer_skeletons", "transform": [1, 2, 3]}, "transform"),
        ({"@type": "neuroglancer_mesh"}, "@type"),
        (
            {"vertex_attributes": [{"id": "a", "data_type": "float64", "num_components": 1}]},
            "data_type",
        ),
        (
            {
                "vertex_attributes": [
                    {"id": "a", "data_type": "uint8", "num_components": 1},
                    {"id": "a", "data_type": "uint8", "num_components": 1},
                ]
            },
            "duplicate",
        ),
        ({"spatial_index": {"chunk_size": [0, 1, 1]}}, "spatial_index"),
    ],
)
def test_malformed_info_is_rejected(info: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InfoError, match=message):
        open_skeleton_source(make_store(info), LAYER_INFO)


def test_info_keeps_unknown_keys_and_drops_nulls() -> None:
    raw = {"@type": "neuroglancer_skeletons", "sharding": None, "spatial_index": None, "x": 1}
    out = SkeletonInfo.from_json(raw).to_json()
    assert out["x"] == 1 and "sharding" not in out and "spatial_index" not in out
    assert out["transform"] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]


@pytest.mark.parametrize("sharded", [False, True])
def test_spatial_index_queries(tmp_path, sharded: bool) -> None:  # type: ignore[no-untyped-def]
    info = SkeletonInfo(
        sharding=SHARDING if sharded else None,
        spatial_index={"chunk_size": [512, 512, 1280], "resolution": [4, 4, 40]},
    ).to_json()
    store = FileStore(tmp_path / "skeletons")
    store.put("info", json.dumps(info).encode())
    src = open_skeleton_source(store, LAYER_INFO, spatial_index_db=None)
    assert isinstance(src.spatial_index, SpatialIndex)
    skels = [
        Skeleton([[10, 10, 10], [100, 100, 100]], [[0, 1]], segid=1),
        Skeleton([[600, 600, 1500], [900, 900, 2000]], [[0, 1]], segid=2),
    ]
    src.upload(skels)
    src.spatial_index.write_bboxes({s.id: Bbox.from_points(s.vertices) for s in skels})
    assert [s.id for s in src.get_bbox(Bbox([0, 0, 0], [200, 200, 200]))] == [1]
    assert [s.id for s in src.get_by_bbox(Bbox([500, 500, 1400], [1024, 1024, 2560]))] == [2]
    assert src.list().tolist() == [1, 2]
    db = f"sqlite://{tmp_path / 'index.db'}"
    src.spatial_index.to_sql(db)
    with_db = open_skeleton_source(store, LAYER_INFO, spatial_index_db=db)
    assert with_db.list().tolist() == [1, 2]
    assert with_db.spatial_index.get_bbox(2).to_list() == [600, 600, 1500, 901, 901, 2001]


def test_get_bbox_without_index_is_clear() -> None:
    src = open_skeleton_source(make_store(), LAYER_INFO)
    with pytest.raises(SpatialIndexError, match="no spatial index"):
        src.get_bbox(Bbox([0, 0, 0], [1, 1, 1]))


def test_to_sharded_plans_and_commits() -> None:
    src = open_skeleton_source(make_store(), LAYER_INFO)
    spec = src.to_sharded(1000)
    assert src.is_sharded() and spec.hash == "murmurhash3_x86_128"
    src.commit_info()
    src.upload(many_trees(5))
    again = open_skeleton_source(src.store, LAYER_INFO)
    assert again.is_sharded() and again.list().tolist() == [100, 101, 102, 103, 104]
    again.to_unsharded()
    assert not again.is_sharded()


def test_new_infos_declare_what_neuroglancer_draws(caplog: pytest.LogCaptureFixture) -> None:
    """Neuroglancer's viewer draws no skeleton with a non-float32 attribute: a new info
    declares vertex_types float32; one that must stay uint8 (skeletons already written with
    cloud-volume's assumption) is kept, with a warning."""
    src = open_skeleton_source(make_store(), LAYER_INFO)
    assert src.info == SkeletonInfo.assumed()  # no info: what cloud-volume assumes (uint8)
    src.commit_info()
    written = json.loads(src.store.get("info"))
    assert [a["data_type"] for a in written["vertex_attributes"]] == ["float32", "float32"]
    tree = random_tree(1, segid=5)
    src.upload(tree)
    assert src.get(5).vertex_types.tolist() == tree.vertex_types.tolist()

    early = open_skeleton_source(make_store(), LAYER_INFO)
    early.upload(random_tree(2, segid=6))  # written before any info, as uint8
    with caplog.at_level(logging.WARNING, logger="voxelio.skeletons.source"):
        early.commit_info()
    assert "draws no skeleton" in caplog.text and "vertex_types (uint8)" in caplog.text
    assert json.loads(early.store.get("info"))["vertex_attributes"][1]["data_type"] == "uint8"
    again = open_skeleton_source(early.store, LAYER_INFO)
    assert again.get(6).vertex_types.tolist() == random_tree(2).vertex_types.tolist()


def test_an_info_committed_later_matches_the_skeletons_already_stored() -> None:
    """Skeletons stored before any info (by another session, or by cloud-volume, which writes
    none) were encoded with uint8 vertex_types: a later commit keeps that, and a writer opened
    before another committed an info encodes as the committed info says."""
    store = make_store()
    open_skeleton_source(store, LAYER_INFO).upload(random_tree(2, segid=6))
    later = open_skeleton_source(store, LAYER_INFO)  # a new session: it wrote nothing itself
    later.commit_info()
    assert json.loads(store.get("info"))["vertex_attributes"][1]["data_type"] == "uint8"
    assert later.get(6).vertex_types.tolist() == random_tree(2).vertex_types.tolist()

    fresh = make_store()
    early = open_skeleton_source(fresh, LAYER_INFO)  # opened before any info exists
    committer = open_skeleton_source(fresh, LAYER_INFO)
    committer.commit_info()  # float32, the directory being empty
    early.upload(random_tree(3, segid=8))
    assert open_skeleton_source(fresh, LAYER_INFO).get(8).vertex_types.tolist() == (
        random_tree(3).vertex_types.tolist()
    )
