"""Skeletons cross-checked with cloud-volume on ``file://`` layers, both ways, (un)sharded."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest
from tests.skeletons.test_skeleton import random_tree

from voxelio.skeletons import Skeleton, SkeletonInfo, open_skeleton_source
from voxelio.storage.file import FileStore

cloudvolume = importlib.import_module("cloudvolume")
pytestmark = pytest.mark.interop


def _layer(path: Path):  # type: ignore[no-untyped-def]
    info = cloudvolume.CloudVolume.create_new_info(
        1,
        "segmentation",
        "uint64",
        "raw",
        [4, 4, 40],
        [0, 0, 0],
        [256, 256, 64],
        skeletons="skeletons",
    )
    vol = cloudvolume.CloudVolume(f"file://{path}", info=info, compress=True)
    vol.commit_info()
    return vol, info


def _cv_skeleton(seed: int, segid: int):  # type: ignore[no-untyped-def]
    ours = random_tree(seed, n=10 + seed, segid=segid)
    return cloudvolume.Skeleton(
        ours.vertices, ours.edges, ours.radius, ours.vertex_types, segid=segid
    )


def _assert_same(ours: Skeleton, theirs) -> None:  # type: ignore[no-untyped-def]
    assert ours.id == theirs.id
    assert np.array_equal(ours.vertices, theirs.vertices)
    assert np.array_equal(ours.edges, theirs.edges)
    assert np.array_equal(ours.radius, theirs.radius)
    assert np.array_equal(ours.vertex_types, theirs.vertex_types)


def test_we_read_cloudvolume_unsharded(tmp_path: Path) -> None:
    vol, info = _layer(tmp_path)
    vol.skeleton.meta.info["transform"] = [4, 0, 0, 0, 0, 4, 0, 0, 0, 0, 40, 0]
    vol.skeleton.meta.commit_info()
    skels = [_cv_skeleton(i, 10 + i) for i in range(5)]
    vol.skeleton.upload(skels)
    assert any(p.name.endswith(".gz") for p in (tmp_path / "skeletons").iterdir())
    src = open_skeleton_source(FileStore(tmp_path / "skeletons"), info)
    for segid in range(10, 15):
        _assert_same(src.get(segid), vol.skeleton.get(segid))
    assert src.list().tolist() == list(range(10, 15))


def test_cloudvolume_reads_ours_unsharded(tmp_path: Path) -> None:
    vol, info = _layer(tmp_path)
    src = open_skeleton_source(FileStore(tmp_path / "skeletons"), info)
    src.commit_info()
    skels = [random_tree(i, segid=20 + i) for i in range(5)]
    src.upload(skels)
    vol = cloudvolume.CloudVolume(f"file://{tmp_path}")
    for skel in skels:
        theirs = vol.skeleton.get(skel.id)
        _assert_same(skel, theirs)
        assert theirs.to_precomputed() == src.get_raw([skel.id])[skel.id]
    # (cloud-volume 12.15's unsharded list() lists a CWD-relative path: not compared)


def test_cloudvolume_reads_our_gzip_files(tmp_path: Path) -> None:
    vol, info = _layer(tmp_path)
    src = open_skeleton_source(FileStore(tmp_path / "skeletons"), info, compress="gzip")
    src.commit_info()
    src.upload(random_tree(3, segid=77))
    assert (tmp_path / "skeletons" / "77.gz").exists()
    vol = cloudvolume.CloudVolume(f"file://{tmp_path}")
    _assert_same(src.get(77), vol.skeleton.get(77))


def _shard_info(vol, num_labels: int) -> dict:  # type: ignore[no-untyped-def,type-arg]
    vol.skeleton.meta.to_sharded(num_labels=num_labels)
    vol.skeleton.meta.commit_info()
    return dict(vol.skeleton.meta.info)


def test_we_read_cloudvolume_sharded(tmp_path: Path) -> None:
    vol, info = _layer(tmp_path)
    _shard_info(vol, 50)
    vol = cloudvolume.CloudVolume(f"file://{tmp_path}")
    assert vol.skeleton.meta.is_sharded()
    spec = vol.skeleton.reader.spec
    skels = [_cv_skeleton(i, 1000 + i) for i in range(20)]
    by_shard: dict[int, list] = {}  # type: ignore[type-arg]
    for skel in skels:  # cloud-volume takes one shard per upload call
        by_shard.setdefault(spec.compute_shard_location(skel.id).shard_number, []).append(skel)
    for group in by_shard.values():
        vol.skeleton.upload(group)
    src = open_skeleton_source(FileStore(tmp_path / "skeletons"), info)
    assert src.is_sharded()
    for skel in skels:
        _assert_same(src.get(skel.id), vol.skeleton.get(skel.id))
    assert src.list().tolist() == [s.id for s in skels]


def test_cloudvolume_reads_ours_sharded_across_shards(tmp_path: Path) -> None:
    vol, info = _layer(tmp_path)
    sharded = _shard_info(vol, 50)
    src = open_skeleton_source(FileStore(tmp_path / "skeletons"), info)
    assert src.is_sharded() and src.info.sharding == sharded["sharding"]
    first = [random_tree(i, segid=500 + i) for i in range(12)]
    second = [random_tree(i + 50, segid=900 + i) for i in range(12)]
    src.upload(first)  # any set of labels, across shards, in one call
    src.upload(second)  # merged into the existing shard files
    vol = cloudvolume.CloudVolume(f"file://{tmp_path}")
    for skel in first + second:
        _assert_same(skel, vol.skeleton.get(skel.id))
    assert sorted(int(x) for x in vol.skeleton.list()) == sorted(s.id for s in first + second)


def test_info_written_by_us_is_read_by_cloudvolume_and_has_no_nulls(tmp_path: Path) -> None:
    vol, info = _layer(tmp_path)
    custom = SkeletonInfo.from_json(
        {
            "@type": "neuroglancer_skeletons",
            "transform": [2, 0, 0, 1, 0, 2, 0, 2, 0, 0, 20, 3],
            "vertex_attributes": [{"id": "radius", "data_type": "float32", "num_components": 1}],
            "sharding": None,
        }
    )
    store = FileStore(tmp_path / "skeletons")
    store.put("info", json.dumps(custom.to_json()).encode())
    src = open_skeleton_source(store, info)
    src.upload(Skeleton([[1, 1, 1], [2, 3, 4]], [[0, 1]], radii=[5, 6], segid=3))
    text = (tmp_path / "skeletons" / "info").read_text()
    assert "null" not in text
    theirs = cloudvolume.CloudVolume(f"file://{tmp_path}").skeleton.get(3)
    assert theirs.vertices.tolist() == [[3, 4, 23], [5, 8, 83]]
    assert theirs.radius.tolist() == [5, 6]


def test_our_info_over_cloudvolume_skeletons_keeps_their_layout(tmp_path: Path) -> None:
    """cloud-volume writes skeletons without an info (uint8 vertex_types assumed): the info
    voxelio commits afterwards must keep both readers reading them."""
    vol, info = _layer(tmp_path)
    skels = [_cv_skeleton(i, 30 + i) for i in range(3)]
    vol.skeleton.upload(skels)
    assert not (tmp_path / "skeletons" / "info").exists()
    open_skeleton_source(FileStore(tmp_path / "skeletons"), info).commit_info()
    src = open_skeleton_source(FileStore(tmp_path / "skeletons"), info)
    theirs = cloudvolume.CloudVolume(f"file://{tmp_path}")
    for skel in skels:
        _assert_same(src.get(skel.id), skel)
        _assert_same(src.get(skel.id), theirs.skeleton.get(skel.id))
