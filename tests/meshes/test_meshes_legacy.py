"""Legacy meshes: voxelio and cloud-volume read each other's files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cloudvolume import CloudVolume
from cloudvolume import Mesh as CVMesh
from meshes_helpers import box_mesh, icosphere

from voxelio.errors import MeshDecodeError
from voxelio.meshes import Mesh, MeshMissingError, open_mesh_source
from voxelio.storage.file import FileStore


def _source(root: Path, layer_info: dict[str, Any]):  # type: ignore[no-untyped-def]
    return open_mesh_source(FileStore(root / "mesh"), layer_info)


def test_reads_cloudvolume_meshes_identically(layer) -> None:  # type: ignore[no-untyped-def]
    root, info = layer
    vol = CloudVolume(f"file://{root}", progress=False)
    sphere = icosphere(2, 80.0, (300, 300, 900))
    box = box_mesh((10, 20, 40), (90, 60, 400))
    vol.mesh.put(
        [CVMesh(sphere.vertices, sphere.faces, segid=5), CVMesh(box.vertices, box.faces, segid=6)]
    )
    assert (root / "mesh" / "5:0:1.gz").exists()  # cloud-volume's gzip-on-disk layout

    src = _source(root, info)
    assert src.is_legacy() and not src.is_sharded()
    for kwargs in ({}, {"remove_duplicate_vertices": False}):
        ours = src.get([5, 6], **kwargs)
        theirs = vol.mesh.get([5, 6], **kwargs)
        assert isinstance(ours, Mesh)
        assert np.array_equal(ours.vertices, theirs.vertices)
        assert np.array_equal(ours.faces, theirs.faces)
    ours_d = src.get([5, 6], fuse=False)
    theirs_d = vol.mesh.get([5, 6], fuse=False)
    assert set(ours_d) == {5, 6}
    for segid in (5, 6):
        assert np.array_equal(ours_d[segid].vertices, theirs_d[segid].vertices)
        assert np.array_equal(ours_d[segid].faces, theirs_d[segid].faces)
    assert np.array_equal(src.get(6, fuse=False)[6].vertices, box.vertices)
    assert src.exists([5, 7]) == {5: "5:0", 7: None}


def test_cloudvolume_reads_ours(layer) -> None:  # type: ignore[no-untyped-def]
    root, info = layer
    src = _source(root, info)
    sphere = icosphere(1, 50.0, (100, 100, 100), segid=11)
    src.put([sphere, box_mesh((0, 0, 0), (8, 8, 80), segid=12)])
    assert (root / "mesh" / "11:0:1").exists()  # plain file: Neuroglancer/static servers read it
    vol = CloudVolume(f"file://{root}", progress=False)
    theirs = vol.mesh.get(11, fuse=False)[11]
    assert np.array_equal(theirs.vertices, sphere.vertices)
    assert np.array_equal(theirs.faces, sphere.faces)
    fused_ours = src.get([11, 12])
    fused_theirs = vol.mesh.get([11, 12])
    assert np.array_equal(fused_ours.vertices, fused_theirs.vertices)
    # gzip layout, as cloud-volume writes it, also reads back both ways
    src.put(sphere, compress="gzip")
    assert (root / "mesh" / "11:0:1.gz").exists() and not (root / "mesh" / "11:0:1").exists()
    assert np.array_equal(vol.mesh.get(11, fuse=False)[11].vertices, sphere.vertices)


def test_delete_save_and_chunk_boundary_dedup(layer, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    root, info = layer
    src = _source(root, info)
    left = box_mesh((0, 0, 0), (256, 40, 400), segid=3)
    right = box_mesh((256, 0, 0), (512, 40, 400))
    src.put(Mesh.concatenate(left, right, segid=3))
    # chunk_size in voxels of scale 0 (4 nm): 64 voxels = 256 nm, so x=256 is a boundary
    dedup = src.get(3, chunk_size=(64, 64, 64))
    assert len(dedup) == 16 - 4
    monkeypatch.chdir(tmp_path)
    path = src.save(3, file_format="obj")
    assert path == "3.obj" and Mesh.load(tmp_path / "3.obj") == src.get(3)
    src.delete(3)
    assert src.exists(3) == {3: None}
    assert list((root / "mesh").iterdir()) == []
    with pytest.raises(MeshMissingError, match="3"):
        src.get(3)
    assert src.get(3, allow_missing=True, fuse=False) == {}


def test_transform_in_mesh_info_is_applied(layer) -> None:  # type: ignore[no-untyped-def]
    root, info = layer
    (root / "mesh" / "info").write_text(
        json.dumps(
            {"@type": "neuroglancer_legacy_mesh", "transform": [2, 0, 0, 1, 0, 2, 0, 0, 0, 0, 2, 0]}
        )
    )
    raw = box_mesh((0, 0, 0), (1, 1, 1), segid=4)
    FileStore(root / "mesh").put("4:0:1", raw.to_precomputed())
    FileStore(root / "mesh").put("4:0", b'{"fragments": ["4:0:1"]}')
    got = _source(root, info).get(4, fuse=False)[4]
    theirs = CloudVolume(f"file://{root}", progress=False).mesh.get(4, fuse=False)[4]
    assert np.allclose(got.vertices, raw.vertices * 2 + [1, 0, 0])
    assert np.allclose(got.vertices, theirs.vertices)


@pytest.mark.parametrize(
    "manifest, fragment, problem",
    [
        (b"not json", None, "not JSON"),
        (b'{"frags": []}', None, "'fragments' list"),
        (b'{"fragments": ["9:0:1"]}', None, "missing"),
        (b'{"fragments": ["9:0:1"]}', b"\x05\x00\x00\x00", "declares 5 vertices"),
    ],
)
def test_malformed_legacy_meshes_name_the_segment(layer, manifest, fragment, problem) -> None:  # type: ignore[no-untyped-def]
    root, info = layer
    store = FileStore(root / "mesh")
    store.put("9:0", manifest)
    if fragment is not None:
        store.put("9:0:1", fragment)
    with pytest.raises(MeshDecodeError, match=problem) as err:
        _source(root, info).get(9)
    assert "segment 9" in str(err.value)


def test_get_bbox_through_the_spatial_index(tmp_path: Path) -> None:
    from meshes_helpers import make_layer

    from voxelio.geometry import Bbox

    mesh_info = {
        "@type": "neuroglancer_legacy_mesh",
        "mip": 0,
        "spatial_index": {"resolution": [4, 4, 40], "chunk_size": [512, 512, 1280]},
    }
    layer_info = make_layer(tmp_path, mesh_info)
    src = _source(tmp_path, layer_info)
    near = box_mesh((0, 0, 0), (100, 100, 100), segid=5)
    far = box_mesh((800, 800, 1500), (900, 900, 1600), segid=6)
    src.put([near, far])
    index = src.spatial_index
    assert index is not None
    index.write_bboxes(
        {5: Bbox((0, 0, 0), (100, 100, 100)), 6: Bbox((800, 800, 1500), (900, 900, 1600))}
    )
    found = src.get_bbox(Bbox((0, 0, 0), (200, 200, 200)))
    assert set(found) == {5} and found[5] == near
    assert set(src.get_bbox(Bbox((0, 0, 0), (1024, 1024, 2560)))) == {5, 6}
    vol = CloudVolume(f"file://{tmp_path}", progress=False)
    from cloudvolume import Bbox as CVBbox

    assert set(vol.mesh.get_bbox(CVBbox((0, 0, 0), (200, 200, 200)))) == {5}


def test_from_cloudpath_opens_a_mesh_directory_and_a_layer(layer) -> None:  # type: ignore[no-untyped-def]
    from voxelio import CloudVolume as VXCloudVolume
    from voxelio import from_cloudpath
    from voxelio.meshes.source import MeshSource

    root, info = layer
    sphere = icosphere(1, 50.0, (100, 100, 100), segid=11)
    _source(root, info).put([sphere])
    (root / "mesh" / "info").write_text(json.dumps({"@type": "neuroglancer_legacy_mesh"}))
    meshes = from_cloudpath(f"file://{root}/mesh")
    assert isinstance(meshes, MeshSource)
    got = meshes.get(11).vertices
    assert np.array_equal(np.unique(got, axis=0), np.unique(sphere.vertices, axis=0))
    vol = from_cloudpath(f"file://{root}", fill_missing=True)
    assert isinstance(vol, VXCloudVolume) and vol.fill_missing
