"""The Mesh value: geometry operations and the OBJ/PLY/precomputed/trimesh codecs."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from cloudvolume import Mesh as CVMesh
from meshes_helpers import box_mesh, icosphere

from voxelio.errors import MeshDecodeError, MissingCodecError
from voxelio.meshes import Mesh


def test_precomputed_round_trip_and_matches_cloudvolume_bytes() -> None:
    mesh = icosphere(1, 50.0, (10, 20, 30), segid=3)
    data = mesh.to_precomputed()
    assert Mesh.from_precomputed(data) == mesh
    cv = CVMesh(mesh.vertices, mesh.faces)
    assert cv.to_precomputed() == data
    assert np.array_equal(CVMesh.from_precomputed(data).vertices, mesh.vertices)


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"\x01\x00", "at least 4"),
        (struct.pack("<I", 5) + b"\x00" * 12, "declares 5 vertices"),
        (struct.pack("<I", 1) + b"\x00" * 12 + b"\x00" * 5, "multiple of 12"),
        (struct.pack("<I", 1) + b"\x00" * 12 + struct.pack("<3I", 0, 0, 4), "references vertex 4"),
    ],
)
def test_bad_precomputed_fragment_names_segment(data: bytes, problem: str) -> None:
    with pytest.raises(MeshDecodeError, match=problem) as err:
        Mesh.from_precomputed(data, segid=77)
    assert "segment 77" in str(err.value)


def test_concatenate_reindexes_faces() -> None:
    a = box_mesh((0, 0, 0), (1, 1, 1))
    b = box_mesh((5, 5, 5), (6, 6, 6))
    both = Mesh.concatenate(a, b, segid=9)
    assert both.segid == 9
    assert len(both) == 16 and len(both.faces) == 24
    assert np.array_equal(both.triangles()[12:], b.triangles())
    assert np.array_equal(both.triangles()[:12], a.triangles())


def test_consolidate_merges_duplicates_like_cloudvolume() -> None:
    a = box_mesh((0, 0, 0), (10, 10, 10))
    doubled = Mesh.concatenate(a, a)
    merged = doubled.consolidate()
    assert len(merged) == 8 and len(merged.faces) == 12
    cv = CVMesh(doubled.vertices, doubled.faces).consolidate()
    assert np.array_equal(cv.vertices, merged.vertices)
    assert np.array_equal(cv.faces, merged.faces)


def test_deduplicate_chunk_boundaries_matches_cloudvolume() -> None:
    left = box_mesh((0, 0, 0), (10, 10, 10))
    right = box_mesh((10, 0, 0), (20, 10, 10))
    inner = box_mesh((2, 2, 2), (3, 3, 3))
    mesh = Mesh.concatenate(left, right, inner, inner)
    ours = mesh.deduplicate_chunk_boundaries((10, 100, 100))
    theirs = CVMesh(mesh.vertices, mesh.faces).deduplicate_chunk_boundaries((10, 100, 100))
    assert np.array_equal(ours.vertices, theirs.vertices)
    assert np.array_equal(ours.faces, theirs.faces)
    # the 4 shared x=10 corners merge; the doubled inner box (not on a boundary) stays doubled
    assert len(ours) == 32 - 4


def test_crop_keeps_faces_inside() -> None:
    a = box_mesh((0, 0, 0), (1, 1, 1))
    b = box_mesh((5, 5, 5), (6, 6, 6))
    cropped = Mesh.concatenate(a, b).crop(((4, 4, 4), (7, 7, 7)))
    assert cropped == b
    side = Mesh.concatenate(a, b).crop(((-1, -1, -1), (0.5, 9, 9)))
    assert len(side.faces) == 2 and np.all(side.vertices[:, 0] == 0)
    assert Mesh.concatenate(a, b).crop(((2, 2, 2), (3, 3, 3))).empty()
    from cloudvolume import Bbox as CVBbox

    theirs = CVMesh(a.vertices, a.faces).crop(CVBbox((-1, -1, -1), (0.5, 9, 9)))
    assert np.array_equal(theirs.vertices, side.vertices)
    assert np.array_equal(theirs.faces, side.faces)


def test_clone_is_independent_and_equality_checks_content() -> None:
    a = icosphere(0, 3.0, (0, 0, 0))
    b = a.clone()
    assert a == b
    b.vertices[0, 0] += 1
    assert a != b
    assert Mesh([], []).empty() and not a.empty()


def test_obj_round_trip_is_exact_and_cloudvolume_reads_it() -> None:
    mesh = icosphere(1, 123.456, (1.5, -2.25, 1000.125))
    text = mesh.to_obj()
    assert Mesh.from_obj(text) == mesh
    theirs = CVMesh.from_obj(text)
    assert np.allclose(theirs.vertices, mesh.vertices, rtol=1e-6)
    assert np.array_equal(theirs.faces, mesh.faces)


def test_obj_polygons_negative_indices_and_errors() -> None:
    text = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3 4\nf -4/1/1 -3/2/2 -2/3/3\n"
    mesh = Mesh.from_obj(text)
    assert mesh.faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 1, 2]]
    with pytest.raises(MeshDecodeError, match="segment 5: OBJ"):
        Mesh.from_obj("v 0 0 0\nf 1 2 3\n", segid=5)
    with pytest.raises(MeshDecodeError, match="line 1"):
        Mesh.from_obj("v 0 zero 0\n", segid=5)


def test_ply_round_trip_with_normals_and_trimesh_reads_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import trimesh

    mesh = icosphere(2, 10.0, (1, 2, 3))
    mesh.normals = (mesh.vertices - np.array([1, 2, 3], np.float32)) / 10
    back = Mesh.from_ply(mesh.to_ply())
    assert back == mesh
    path = tmp_path / "m.ply"
    mesh.save(path)
    loaded = trimesh.load(path, process=False)
    assert np.allclose(loaded.vertices, mesh.vertices)
    assert np.array_equal(loaded.faces, mesh.faces)


def test_ply_ascii_and_big_endian_from_trimesh() -> None:
    import trimesh

    mesh = icosphere(1, 4.0, (0, 0, 0))
    tm = mesh.trimesh()
    for encoding in ("ascii", "binary"):
        data = trimesh.exchange.ply.export_ply(tm, encoding=encoding)
        back = Mesh.from_ply(data)
        assert np.allclose(back.vertices, mesh.vertices, atol=1e-5)
        assert np.array_equal(back.faces, mesh.faces)
    header = (
        b"ply\nformat binary_big_endian 1.0\nelement vertex 3\nproperty float x\n"
        b"property float y\nproperty float z\nelement face 1\n"
        b"property list uchar int vertex_indices\nend_header\n"
    )
    body = np.array([[0, 0, 0], [1, 0, 0], [0, 2, 0]], ">f4").tobytes()
    body += b"\x03" + np.array([0, 1, 2], ">i4").tobytes()
    tri = Mesh.from_ply(header + body)
    assert tri.vertices.tolist() == [[0, 0, 0], [1, 0, 0], [0, 2, 0]]
    assert tri.faces.tolist() == [[0, 1, 2]]
    with pytest.raises(MeshDecodeError, match="segment 4: PLY"):
        Mesh.from_ply(header + body[:20], segid=4)
    with pytest.raises(MeshDecodeError, match="not a PLY"):
        Mesh.from_ply(b"solid stl", segid=4)


def test_trimesh_round_trip() -> None:
    mesh = icosphere(1, 2.0, (5, 5, 5), segid=2)
    back = Mesh.from_trimesh(mesh.trimesh(), segid=2)
    assert np.array_equal(back.vertices, mesh.vertices)
    assert np.array_equal(back.faces, mesh.faces)
    assert back.segid == 2


def test_save_and_load_each_format(tmp_path) -> None:  # type: ignore[no-untyped-def]
    mesh = icosphere(1, 7.0, (3, 3, 3))
    for ext in ("ply", "obj", "precomputed"):
        path = tmp_path / f"m.{ext}"
        mesh.save(path)
        assert Mesh.load(path) == mesh


def test_draco_round_trip_within_quantization() -> None:
    mesh = icosphere(2, 100.0, (500, 500, 500))
    back = Mesh.from_draco(mesh.to_draco(quantization_bits=16))
    assert len(back.faces) == len(mesh.faces)
    assert np.allclose(np.sort(back.vertices, axis=0), np.sort(mesh.vertices, axis=0), atol=0.01)
    with pytest.raises(MeshDecodeError, match="segment 8"):
        Mesh.from_draco(b"DRACO-not-really", segid=8)


def test_viewer_draws_with_matplotlib_or_names_the_extra() -> None:
    mesh = icosphere(1, 1.0, (0, 0, 0), segid=6)
    try:
        import matplotlib
    except ImportError:
        with pytest.raises(MissingCodecError, match=r"voxelio\[viewer\]"):
            mesh.viewer(show=False)
        return
    matplotlib.use("Agg")
    fig = mesh.viewer(show=False)
    assert "label 6" in fig.axes[0].get_title()


def test_shape_validation() -> None:
    with pytest.raises(ValueError, match="vertices"):
        Mesh(np.zeros((4, 2)), [])
    with pytest.raises(ValueError, match="negative"):
        Mesh(np.zeros((3, 3)), [[0, 1, -1]])
