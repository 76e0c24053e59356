"""Multi-resolution meshes: writing them, the format rules, and cloud-volume reading ours."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import DracoPy
import numpy as np
import pytest
from cloudvolume import CloudVolume
from meshes_helpers import box_mesh, icosphere, make_layer

from voxelio.errors import InfoError, MeshDecodeError
from voxelio.meshes import (
    Mesh,
    MeshInfo,
    MeshMissingError,
    MultiresManifest,
    create_multires_mesh_info,
    open_mesh_source,
)
from voxelio.meshes.sharded import locate
from voxelio.sharding.shardfile import build_shard
from voxelio.sharding.spec import ShardingSpec
from voxelio.storage.file import FileStore

RES = (4.0, 4.0, 40.0)
SHARDING = {
    "@type": "neuroglancer_uint64_sharded_v1",
    "preshift_bits": 0,
    "hash": "murmurhash3_x86_128",
    "minishard_bits": 1,
    "shard_bits": 1,
    "minishard_index_encoding": "gzip",
    "data_encoding": "gzip",
}


def _lods(segid: int, center: tuple[float, float, float] = (500, 520, 1400)) -> list[Mesh]:
    """Three levels of detail of an ellipsoid-ish sphere (finest first), in nm."""
    return [icosphere(s, 300.0, center, segid=segid) for s in (3, 2, 1)]


def _multires_layer(root: Path, bits: int = 10, sharding: dict | None = None):  # type: ignore[no-untyped-def]
    info = create_multires_mesh_info(RES, vertex_quantization_bits=bits)
    if sharding:
        info = info.to_sharded(sharding)
    layer = make_layer(root, info.to_json())
    return open_mesh_source(FileStore(root / "mesh"), layer), layer


def _nearest_distance(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """For each reference point, the distance per axis to its nearest point (max norm)."""
    diff = np.abs(reference[:, None, :].astype(np.float64) - points[None, :, :])
    return diff.max(axis=2).min(axis=1)


def _area(mesh: Mesh) -> float:
    tri = mesh.triangles().astype(np.float64)
    return float(
        np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum() / 2
    )


@pytest.mark.parametrize("bits", [10, 16])
def test_round_trip_within_quantization_error(tmp_path: Path, bits: int) -> None:
    src, _ = _multires_layer(tmp_path, bits)
    lods = _lods(7)
    manifest = src.put({7: lods})[7]
    assert src.is_multires() and src.exists([7, 8]) == {7: True, 8: False}
    for lod, original in enumerate(lods):
        got = src.get(7, lod=lod)[7]
        node_nm = manifest.chunk_shape.astype(np.float64) * 2**lod * np.array(RES)
        tolerance = (node_nm / (2**bits - 1)).max() / 2 + 1e-3
        # every original vertex is still there (the cuts only add vertices on edges)
        assert _nearest_distance(got.vertices, original.vertices).max() <= tolerance
        # and the surface is the same surface
        assert _area(got) == pytest.approx(_area(original), rel=0.01)
        lo, hi = got.bounds()
        assert np.all(lo >= original.bounds()[0] - tolerance)
        assert np.all(hi <= original.bounds()[1] + tolerance)
    coarsest = src.get(7, lod=-1)[7]
    assert np.array_equal(coarsest.vertices, src.get(7, lod=2)[7].vertices)


def test_manifest_length_and_partition_rules(tmp_path: Path) -> None:
    src, _ = _multires_layer(tmp_path)
    src.put({3: _lods(3)})
    raw = (tmp_path / "mesh" / "3.index").read_bytes()
    manifest = MultiresManifest.from_bytes(raw, 3)
    total = sum(len(p) for p in manifest.fragment_positions)
    assert len(raw) == 28 + 20 * manifest.num_lods + 16 * total
    assert manifest.to_bytes() == raw
    assert manifest.problems() == []
    assert len(manifest.fragment_positions[0]) > 8  # lod 0 really is split into nodes
    assert len(manifest.fragment_positions[-1]) == 1  # the top lod is one node
    data = (tmp_path / "mesh" / "3").read_bytes()
    assert len(data) == manifest.data_length
    half = 2 ** (10 - 1)
    offset = 0
    for lod in range(manifest.num_lods):
        for size in manifest.fragment_sizes[lod].tolist():
            if size == 0:
                continue
            frag = DracoPy.decode(data[offset : offset + size])
            offset += size
            points = np.asarray(frag.points, dtype=np.int64)
            assert points.min() >= 0 and points.max() < 2**10
            if lod == 0:
                continue
            corners = points[np.asarray(frag.faces)]  # (m, 3 corners, 3 axes)
            low = (corners < half).any(axis=1)
            high = (corners > half).any(axis=1)
            assert not (low & high).any(), f"lod {lod}: a triangle crosses a node midplane"
    assert offset == len(data)


def test_midplane_vertices_quantize_to_half(tmp_path: Path) -> None:
    # a box whose faces sit exactly on the lod-1 node's midplanes after cutting
    src, _ = _multires_layer(tmp_path)
    box = box_mesh((0, 0, 0), (400, 400, 4000), segid=1)
    manifest = src.put({1: [box, box]}, chunk_shape=(50, 50, 50))[1]
    data = (tmp_path / "mesh" / "1").read_bytes()
    start, end = manifest.lod_range(1)
    frag = DracoPy.decode(data[start:end])
    values = set(np.unique(np.asarray(frag.points)).tolist())
    # box corners and the cut points on the midplanes: 0, 512 (= 2**9) and 1023, plus
    # quarter points where cut diagonals cross a second midplane; never a near-miss 511/513
    assert {0, 512, 1023} <= values
    assert not values & {511, 513}
    assert values <= {0, 256, 512, 767, 1023}


def test_cloudvolume_reads_our_unsharded_multires(tmp_path: Path) -> None:
    src, _ = _multires_layer(tmp_path)
    src.put({7: _lods(7), 9: [box_mesh((40, 40, 400), (640, 400, 2000)), Mesh([], [])]})
    vol = CloudVolume(f"file://{tmp_path}", progress=False)
    for segid, lod in ((7, 0), (7, 1), (7, 2), (9, 0)):
        ours = src.get(segid, lod=lod)[segid]
        theirs = vol.mesh.get([segid], lod=lod)[segid]
        assert np.allclose(theirs.vertices, ours.vertices, atol=1e-3)
        assert np.array_equal(theirs.faces, ours.faces)


def test_sharded_write_merge_read_and_cloudvolume(tmp_path: Path) -> None:
    src, _ = _multires_layer(tmp_path, sharding=SHARDING)
    assert src.is_sharded()
    src.put({7: _lods(7)})
    src.put({9: _lods(9, (900, 900, 2000)), 10: [box_mesh((0, 0, 0), (80, 80, 800))]})
    spec = ShardingSpec.from_json(SHARDING)
    assert {p.name for p in (tmp_path / "mesh").iterdir()} <= {"info", "0.shard", "1.shard"}
    vol = CloudVolume(f"file://{tmp_path}", progress=False)
    for segid in (7, 9, 10):
        assert locate(FileStore(tmp_path / "mesh"), spec, segid) is not None
        ours = src.get(segid, lod=0)[segid]
        theirs = vol.mesh.get([segid], lod=0)[segid]
        assert np.allclose(theirs.vertices, ours.vertices, atol=1e-3)
    before = src.get(9, lod=1)[9]
    src.put({7: _lods(7, (600, 600, 1000))})  # rewrite in place keeps the neighbours intact
    assert np.array_equal(src.get(9, lod=1)[9].vertices, before.vertices)
    src.delete([7, 10])
    assert src.exists([7, 9, 10]) == {7: False, 9: True, 10: False}
    with pytest.raises(MeshMissingError, match="7"):
        src.get([7, 9])
    assert set(src.get([7, 9], allow_missing=True)) == {9}


def test_sharded_legacy_meshes_are_read(tmp_path: Path) -> None:
    spec = ShardingSpec.from_json({**SHARDING, "minishard_bits": 0, "shard_bits": 0})
    layer = make_layer(tmp_path, {"@type": "neuroglancer_legacy_mesh", "sharding": spec.to_json()})
    box = box_mesh((0, 0, 0), (10, 20, 30), segid=5)
    from voxelio.sharding.shardfile import encode_data

    shard = build_shard({5: encode_data(box.to_precomputed(), spec)}, spec)
    (tmp_path / "mesh" / "0.shard").write_bytes(shard)
    src = open_mesh_source(FileStore(tmp_path / "mesh"), layer)
    assert src.is_legacy() and src.is_sharded()
    assert src.get(5, fuse=False)[5] == box
    assert src.exists([5, 6]) == {5: "0.shard", 6: None}


def _corrupt_cases(raw: bytes) -> list[tuple[bytes, str]]:
    return [
        (raw[:20], "fewer than the 28-byte header"),
        (raw[:-4], "require exactly"),
        (raw + b"\x00" * 16, "require exactly"),
        (raw[:24] + (10**6).to_bytes(4, "little") + raw[28:], "levels of detail"),
    ]


def test_malformed_manifests_name_the_segment(tmp_path: Path) -> None:
    src, _ = _multires_layer(tmp_path)
    src.put({4: _lods(4)})
    raw = (tmp_path / "mesh" / "4.index").read_bytes()
    for bad, problem in _corrupt_cases(raw):
        (tmp_path / "mesh" / "4.index").write_bytes(bad)
        with pytest.raises(MeshDecodeError, match=problem) as err:
            src.get(4)
        assert "segment 4" in str(err.value)


def test_malformed_fragments_name_the_segment(tmp_path: Path) -> None:
    src, _ = _multires_layer(tmp_path)
    src.put({4: _lods(4)})
    data = (tmp_path / "mesh" / "4").read_bytes()
    (tmp_path / "mesh" / "4").write_bytes(data[:-10])
    with pytest.raises(MeshDecodeError, match="segment 4: lod 2.*truncated"):
        src.get(4, lod=2)
    (tmp_path / "mesh" / "4").write_bytes(b"\xff" * len(data))
    with pytest.raises(MeshDecodeError, match="segment 4: lod 0 fragment 0 is not valid Draco"):
        src.get(4, lod=0)
    with pytest.raises(MeshDecodeError, match="segment 4: lod 5 is out of range"):
        src.get(4, lod=5)
    (tmp_path / "mesh" / "4").unlink()
    with pytest.raises(MeshDecodeError, match="segment 4: fragment data"):
        src.get(4)


def test_sharded_manifest_claiming_too_much_data_is_an_error(tmp_path: Path) -> None:
    spec = ShardingSpec.from_json({**SHARDING, "minishard_bits": 0, "shard_bits": 0})
    src, _ = _multires_layer(tmp_path, sharding=spec.to_json())
    manifest, _data = src.put({6: _lods(6)})[6], None
    from voxelio.sharding.shardfile import encode_data

    # the manifest alone, without its fragment data in front of it
    shard = build_shard({6: encode_data(manifest.to_bytes(), spec)}, spec)
    (tmp_path / "mesh" / "0.shard").write_bytes(shard)
    with pytest.raises(MeshDecodeError, match="segment 6: .*overlap the shard index"):
        src.get(6)


def test_mesh_info_values() -> None:
    info = create_multires_mesh_info(RES, vertex_quantization_bits=16, sharding=SHARDING)
    obj = info.to_json()
    assert None not in obj.values()
    assert obj["transform"] == [4, 0, 0, 0, 0, 4, 0, 0, 0, 0, 40, 0]
    assert MeshInfo.from_json(json.loads(json.dumps(obj))) == info
    legacy = info.to_single_resolution().to_unsharded().to_json()
    assert legacy == {"@type": "neuroglancer_legacy_mesh"}
    assert MeshInfo.from_json(None).is_legacy
    with pytest.raises(InfoError, match="10 or 16"):
        MeshInfo.from_json({**obj, "vertex_quantization_bits": 12})
    with pytest.raises(InfoError, match="transform"):
        MeshInfo.from_json({**obj, "transform": [1, 2, 3]})
    with pytest.raises(InfoError, match="lacks required key"):
        MeshInfo.from_json({"@type": "neuroglancer_multilod_draco"})


def test_info_round_trips_through_the_source(tmp_path: Path) -> None:
    layer: dict[str, Any] = make_layer(tmp_path)
    store = FileStore(tmp_path / "mesh")
    src = open_mesh_source(store, layer, info=create_multires_mesh_info(RES))
    src.commit_info()
    again = open_mesh_source(store, layer)
    assert again.is_multires() and again.info == src.info
    (tmp_path / "mesh" / "info").write_text("{not json")
    with pytest.raises(InfoError, match="not JSON"):
        open_mesh_source(store, layer)
