"""The same calls on voxelio and on cloud-volume give the same answers (values, types and
exception classes), each test on a layer one of them wrote: what code written for
cloud-volume sees when only its import changes."""

from __future__ import annotations

import json
import pickle

import cloudvolume
import cloudvolume.exceptions
import cloudvolume.lib
import numpy as np
import pytest

import voxelio
import voxelio.exceptions
import voxelio.lib
from voxelio import Bbox, CloudVolume

INFO_ARGS = dict(
    num_channels=1, layer_type="segmentation", data_type="uint64", encoding="raw",
    resolution=[4, 4, 40], voxel_offset=[0, 0, 0], volume_size=[128, 128, 64],
)  # fmt: skip


@pytest.fixture
def seg_path(tmp_path):
    """A segmentation written by cloud-volume: labels 1-3 and a large id, no zeros at the
    start of the volume."""
    path = f"file://{tmp_path}/seg"
    info = cloudvolume.CloudVolume.create_new_info(**INFO_ARGS)
    cv = cloudvolume.CloudVolume(path, info=info, progress=False)
    cv.commit_info()
    arr = np.ones((128, 128, 64), np.uint64)
    arr[64:, :, :] = 2
    arr[:, 64:, :] = 3
    arr[100:, 100:, 40:] = 2**40 + 7
    arr[120:, 120:, 60:] = 0
    cv[:, :, :] = arr
    return path


def _both(path: str, **kw):
    return CloudVolume(path, progress=False, **kw), cloudvolume.CloudVolume(
        path, progress=False, **kw
    )


def test_dtype_shape_and_resolution_have_cloud_volumes_types(seg_path) -> None:
    vx, cv = _both(seg_path)
    assert vx.dtype == cv.dtype == np.uint64 and isinstance(vx.dtype, np.dtype)
    assert vx.dtype.itemsize == 8 and vx.data_type == cv.data_type == "uint64"
    assert vx.shape == cv.shape == (128, 128, 64, 1) and type(vx.shape) is tuple
    assert vx.shape + (1,) == cv.shape + (1,)
    assert vx.mip_shape(0) == cv.mip_shape(0)
    assert vx.available_mips == cv.available_mips == range(1)
    assert vx.mip_ndim(0) == cv.mip_ndim(0) == vx.ndim == 4
    cols = ([0, 70, 110], [0, 70, 110], [0, 10, 50])
    assert vx.coordinate_indexing(cols).tolist() == cv.coordinate_indexing(cols).tolist()
    assert vx[cols].tolist() == cv[cols].tolist() == [1, 3, 2**40 + 7]
    for v, c in ((vx.resolution, cv.resolution), (vx.mip_resolution(0), cv.mip_resolution(0))):
        assert v.tolist() == c.tolist() and v.dtype.kind == c.dtype.kind == "i"
    assert "_".join(map(str, vx.resolution)) == "_".join(map(str, cv.resolution)) == "4_4_40"
    mine, theirs = vx[0:4, 0:4, 0:4], cv[0:4, 0:4, 0:4]
    assert mine.cloudpath == theirs.cloudpath == seg_path
    assert pickle.loads(pickle.dumps(mine)).cloudpath == seg_path


def test_float_resolutions_stay_floats(tmp_path) -> None:
    path = f"file://{tmp_path}/float"
    info = CloudVolume.create_new_info(**{**INFO_ARGS, "resolution": [4.5, 4.0, 40.0]})
    CloudVolume(path, info=info).commit_info()
    vx, cv = _both(path)
    assert vx.resolution.tolist() == cv.resolution.tolist() == [4.5, 4.0, 40.0]
    assert vx.resolution.dtype.kind == cv.resolution.dtype.kind == "f"


def test_create_new_info_defaults_and_float_factors_match() -> None:
    for kw in ({}, {"max_mip": 1, "factor": (1.5, 1.5, 1)}, {"max_mip": 2}):
        mine = CloudVolume.create_new_info(**INFO_ARGS, **kw)
        theirs = cloudvolume.CloudVolume.create_new_info(**INFO_ARGS, **kw)
        assert [s["chunk_sizes"] for s in mine["scales"]] == [
            s["chunk_sizes"] for s in theirs["scales"]
        ], kw
        assert [s["size"] for s in mine["scales"]] == [s["size"] for s in theirs["scales"]], kw


def test_exists_names_chunks_as_cloud_volume(seg_path) -> None:
    vx, cv = _both(seg_path)
    box = np.s_[0:64, 0:64, 0:64]
    assert vx.exists(box) == cv.exists(box) == {"4_4_40/0-64_0-64_0-64": True}
    vx.delete(box)
    assert vx.exists(np.s_[0:128, 0:64, 0:64]) == cv.exists(np.s_[0:128, 0:64, 0:64])


def test_renumber_maps_zero_even_where_the_region_has_none(seg_path) -> None:
    vx, cv = _both(seg_path)
    for box in (np.s_[0:64, 0:64, 0:64], np.s_[96:128, 96:128, 32:64]):
        img, remap = vx.download(box, renumber=True)
        ref, ref_remap = cv.download(box, renumber=True)
        assert remap == {int(k): int(v) for k, v in ref_remap.items()}
        np.testing.assert_array_equal(img, ref)
        assert remap[0] == 0


def test_provenance_fields_are_attributes_and_cloud_volume_reads_them(seg_path) -> None:
    vx = CloudVolume(seg_path)
    vx.provenance.description = "cells"
    vx.provenance.processing.append({"method": "test"})
    vx.provenance.owners = ["someone@example.org"]
    assert json.loads(vx.provenance.serialize())["processing"] == [{"method": "test"}]
    vx.provenance.processing.append({"resolution": vx.resolution})  # numpy values too
    assert json.loads(vx.provenance.serialize())["processing"][1] == {"resolution": [4, 4, 40]}
    vx.provenance.processing.pop()
    vx.commit_provenance()
    cv = cloudvolume.CloudVolume(seg_path)
    assert cv.provenance.description == "cells"
    assert cv.provenance.processing == [{"method": "test"}]
    assert CloudVolume(seg_path).provenance.owners == ["someone@example.org"]


def test_cloud_volumes_module_names_import_from_voxelio() -> None:
    assert voxelio.lib.Bbox is Bbox and voxelio.lib.Vec is voxelio.Vec
    assert voxelio.PrecomputedSkeleton is voxelio.Skeleton
    for name in voxelio.exceptions.__all__:
        assert issubclass(getattr(voxelio.exceptions, name), Exception)
        assert hasattr(cloudvolume.exceptions, name), name


def test_bad_requests_raise_cloud_volumes_exception_classes(seg_path) -> None:
    vx, cv = _both(seg_path)
    cases = [
        (lambda v: v.__setitem__(np.s_[0:64, 0:64, 0:64], np.ones((64, 64, 32), np.uint64)),
         cloudvolume.exceptions.AlignmentError, voxelio.exceptions.AlignmentError),
        (lambda v: v[10:5, 0:10, 0:10],
         cloudvolume.exceptions.SubvoxelVolumeError, voxelio.exceptions.SubvoxelVolumeError),
        (lambda v: v[::-1], ValueError, ValueError),
        (lambda v: v[0:10:0, 0:10, 0:10], ValueError, ValueError),
    ]  # fmt: skip
    for call, theirs, mine in cases:
        with pytest.raises(theirs):
            call(cv)
        with pytest.raises(mine):
            call(vx)
    with pytest.raises(IndexError):  # and what numpy raises
        vx[::-1]


def test_autocrop_crops_writes_as_cloud_volume(tmp_path) -> None:
    written = []
    for lib in (CloudVolume, cloudvolume.CloudVolume):
        path = f"file://{tmp_path}/{lib.__module__}"
        info = CloudVolume.create_new_info(**INFO_ARGS)
        vol = lib(path, info=info, bounded=False, autocrop=True, non_aligned_writes=True,
                  fill_missing=True, progress=False)  # fmt: skip
        vol.commit_info()
        vol[64:192, 0:64, 0:64] = np.full((128, 64, 64), 5, np.uint64)
        vol[-10:10, 64:128, 0:64] = 3  # a scalar, starting below the bounds
        vol[300:400, 0:64, 0:64] = 9  # wholly outside: nothing is written
        written.append(CloudVolume(path, fill_missing=True)[:, :, :])
    np.testing.assert_array_equal(written[0], written[1])
    assert written[0][64:, :64, :64].min() == 5 and written[0][:64, :64].max() == 0
    assert written[0][:10, 64:, :].min() == 3 and written[0][10:64, 64:].max() == 0


def test_writes_refuse_a_wrong_shape_under_autocrop_and_convert_nm_boxes(seg_path) -> None:
    for lib in (CloudVolume, cloudvolume.CloudVolume):
        vol = lib(seg_path, bounded=False, autocrop=True, non_aligned_writes=True,
                  progress=False)  # fmt: skip
        with pytest.raises(cloudvolume.exceptions.AlignmentError if lib is not CloudVolume
                           else voxelio.exceptions.AlignmentError):  # fmt: skip
            vol[-10:10, 0:64, 0:64] = np.ones((50, 64, 64), np.uint64)  # 20 voxels asked
    vx = CloudVolume(seg_path, non_aligned_writes=True)
    vx[Bbox((0, 0, 0), (16, 16, 80), unit="nm")] = 9  # 4 x 4 x 2 voxels at 4, 4, 40 nm
    got = vx[0:8, 0:8, 0:4][..., 0]
    assert (got[:4, :4, :2] == 9).all() and (got[4:] != 9).all() and (got[:, :, 2:] != 9).all()


def test_negative_mips_count_from_the_last(tmp_path) -> None:
    path = f"file://{tmp_path}/pyramid"
    CloudVolume(path, info=CloudVolume.create_new_info(**INFO_ARGS, max_mip=2)).commit_info()
    vx, cv = _both(path)
    assert vx.meta.voxel_offset(-1).tolist() == cv.meta.voxel_offset(-1).tolist()
    assert vx.mip_volume_size(-1).tolist() == cv.mip_volume_size(-1).tolist() == [32, 32, 64]


def test_a_resolution_read_goes_back_into_an_info(seg_path, tmp_path) -> None:
    vx = CloudVolume(seg_path)
    info = CloudVolume.create_new_info(**{**INFO_ARGS, "resolution": list(vx.resolution)})
    CloudVolume(f"file://{tmp_path}/copy", info=info).commit_info()
    assert CloudVolume(f"file://{tmp_path}/copy").resolution.tolist() == [4, 4, 40]


def test_uploads_of_float_boxes_are_cropped(tmp_path) -> None:
    path = f"file://{tmp_path}/float-up"
    vol = CloudVolume(path, info=CloudVolume.create_new_info(**INFO_ARGS), autocrop=True,
                      non_aligned_writes=True)  # fmt: skip
    vol.commit_info()
    vol.upload(Bbox((-2.0, 0, 0), (10.0, 64, 64)), np.full((12, 64, 64), 4, np.uint64))
    got = CloudVolume(path, fill_missing=True)[0:16, 0:64, 0:64]
    assert got[:10].min() == 4 and got[10:].max() == 0


def test_download_takes_a_float_bbox_or_a_size(seg_path) -> None:
    vx, cv = _both(seg_path)
    size = (10, 20, 30)
    np.testing.assert_array_equal(
        vx.download(voxelio.Vec(*size)), cv.download(cloudvolume.lib.Vec(*size))
    )
    assert vx.image.is_sharded(0) == cv.image.is_sharded(0) is False
    box = Bbox((0, 0, 0), (20, 40, 60)) / 2
    theirs = cv.download(cloudvolume.lib.Bbox((0, 0, 0), (20, 40, 60)) / 2)
    np.testing.assert_array_equal(vx.download(box), theirs)


def test_bbox_helpers_match_cloud_volumes() -> None:
    for lo, hi in (((0, 0, 0), (64, 128, 64)), ((3, 5, 7), (70, 65, 9))):
        mine, theirs = Bbox(lo, hi), cloudvolume.lib.Bbox(lo, hi)
        assert mine.num_chunks((64, 64, 64)) == theirs.num_chunks((64, 64, 64))
        assert mine.is_chunk_aligned((64, 64, 64)) == theirs.is_chunk_aligned((64, 64, 64))
        assert (mine.dx, mine.dy, mine.dz) == (theirs.dx, theirs.dy, theirs.dz)
        assert json.loads(mine.serialize())["maxpt"] == list(hi)
        assert Bbox.from_dict(mine.to_dict()) == mine
        assert Bbox.from_dict(theirs.to_dict()).to_list() == theirs.to_list()
        other = ((64, 0, 0), (80, 10, 10))
        assert mine.overlaps_bbox(Bbox(*other)) == theirs.overlaps_bbox(
            cloudvolume.lib.Bbox(*other)
        )
    assert Bbox.from_delta((1, 2, 3), 10) == Bbox((1, 2, 3), (11, 12, 13))
    assert cloudvolume.lib.Bbox.from_delta((1, 2, 3), 10).to_list() == [1, 2, 3, 11, 12, 13]


def test_scale_setter_and_subdirectories_edit_the_info(seg_path) -> None:
    vx, cv = _both(seg_path, mesh_dir="meshes_v2", skel_dir="skels")
    assert vx.info["mesh"] == cv.info["mesh"] == "meshes_v2"
    assert vx.info["skeletons"] == cv.info["skeletons"] == "skels"
    for vol in (vx, cv):
        vol.scale = {**vol.scale, "encoding": "compressed_segmentation",
                     "compressed_segmentation_block_size": [8, 8, 8]}  # fmt: skip
    assert vx.info["scales"][0] == cv.info["scales"][0]


def test_put_takes_cloud_volumes_meshes(seg_path) -> None:
    vx = CloudVolume(seg_path, mesh_dir="mesh")
    vx.commit_info()
    verts = np.array([[0, 0, 0], [40, 0, 0], [0, 40, 0]], np.float32)
    vx.mesh.put(cloudvolume.Mesh(verts, np.array([[0, 1, 2]], np.uint32), None, segid=3))
    got = cloudvolume.CloudVolume(seg_path).mesh.get(3)
    triangle = sorted(map(tuple, got.vertices[got.faces[0]].tolist()))  # cloud-volume reorders
    assert len(got.faces) == 1 and triangle == sorted(map(tuple, verts.tolist()))


def test_skeleton_path_and_transform_helpers_match_osteoid() -> None:
    import osteoid

    verts = np.array([[0, 0, 0], [1, 2, 3], [4, 4, 4], [5, 0, 1]], np.float32)
    mine, theirs = voxelio.Skeleton.from_path(verts), osteoid.Skeleton.from_path(verts)
    np.testing.assert_array_equal(mine.vertices, theirs.vertices)
    np.testing.assert_array_equal(mine.edges, theirs.edges)
    affine = np.array([[2, 0, 0, 10], [0, 3, 0, -5], [0, 0, 4, 1]], np.float32)
    np.testing.assert_allclose(
        mine.transform_vertices(verts, affine), theirs.transform_vertices(verts, affine)
    )
    mine.transform, theirs.transform = affine, affine
    mine.apply_transform()
    theirs.apply_transform()
    np.testing.assert_allclose(mine.vertices, theirs.vertices)
    mine.apply_transform()  # already in nanometres: unchanged
    np.testing.assert_allclose(mine.vertices, theirs.vertices)
    mine.apply_inverse_transform()
    np.testing.assert_allclose(mine.vertices, verts, atol=1e-5)
    assert voxelio.Skeleton.from_path(verts[:1]).edges.shape == (0, 2)


TRANSFORM = [4, 0, 0, 0, 0, 4, 0, 0, 0, 0, 40, 0]


def _edit_on_both(seg_path, tmp_path, subdir: str, script) -> tuple[dict, dict]:  # type: ignore[no-untyped-def]
    """Run ``script(meta)`` on the ``subdir`` metadata (``"mesh..."`` or else skeletons) of a
    copy of the layer made by each library, then commit; the info files (voxelio's, theirs)."""
    infos = []
    for lib in (CloudVolume, cloudvolume.CloudVolume):
        path = f"file://{tmp_path}/{lib.__module__}"
        vol = lib(path, info=lib(seg_path).info, progress=False,
                  **{"mesh_dir" if subdir.startswith("mesh") else "skel_dir": subdir})  # fmt: skip
        vol.commit_info()
        meta = vol.mesh.meta if subdir.startswith("mesh") else vol.skeleton.meta
        script(meta)
        meta.commit_info()
        infos.append(json.loads((tmp_path / lib.__module__ / subdir / "info").read_text()))
    return infos[0], infos[1]


def test_skeleton_meta_edits_commit_as_cloud_volumes(seg_path, tmp_path) -> None:
    """The same cloud-volume script (edit the info dict, shard, commit) on both libraries."""

    def script(meta) -> None:  # type: ignore[no-untyped-def]
        assert not meta.is_sharded()
        meta.info["transform"] = TRANSFORM
        meta.to_sharded(num_labels=100)
        assert meta.is_sharded() and meta.transform[2, 2] == 40

    mine, theirs = _edit_on_both(seg_path, tmp_path, "skeletons", script)
    assert mine["transform"] == theirs["transform"]
    assert mine["sharding"]["@type"] == theirs["sharding"]["@type"]
    skel = voxelio.Skeleton.from_path(np.array([[1, 2, 3], [4, 5, 6]], np.float32))
    skel.id = 9
    vx = CloudVolume(f"file://{tmp_path}/voxelio.volume")
    vx.skeleton.upload(skel)  # written sharded, as the committed info says
    got = cloudvolume.CloudVolume(f"file://{tmp_path}/voxelio.volume").skeleton.get(9)
    np.testing.assert_allclose(got.vertices, skel.vertices * [4, 4, 40])


def test_skeleton_meta_refuses_a_bad_edit_and_writes_nothing(seg_path) -> None:
    vol = CloudVolume(seg_path, skel_dir="skeletons")
    vol.skeleton.meta.info["transform"] = [1, 2, 3]
    with pytest.raises(voxelio.exceptions.InfoError, match="transform"):
        vol.skeleton.meta.commit_info()
    assert not vol.skeleton.store.exists("info")
    shown = vol.skeleton.meta.refresh_info()  # what readers assume: cloud-volume's default
    assert shown["transform"] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0] and shown["sharding"] is None
    assert vol.skeleton.meta.default_info()["vertex_attributes"][1]["data_type"] == "float32"


def test_skeleton_meta_read_before_the_first_upload_keeps_the_skeletons_readable(
    seg_path,
) -> None:
    vol = CloudVolume(seg_path, skel_dir="skeletons")
    assert not vol.skeleton.meta.is_sharded()  # the dict is made before any skeleton exists
    skel = voxelio.Skeleton.from_path(np.array([[1, 2, 3], [4, 5, 6]], np.float32))
    skel.id = 5
    vol.skeleton.upload(skel)
    vol.skeleton.meta.commit_info()  # skeletons are there: their uint8 vertex_types stay
    got = cloudvolume.CloudVolume(seg_path).skeleton.get(5)
    np.testing.assert_allclose(got.vertices, skel.vertices)
    assert CloudVolume(seg_path).skeleton.get(5).vertices.tolist() == skel.vertices.tolist()


def test_meta_edits_take_numpy_values_and_a_kept_dict_stays_live(seg_path, tmp_path) -> None:
    """Igneous-style edits: numpy numbers, a dict kept across commits, ``del`` of a key."""

    def script(meta) -> None:  # type: ignore[no-untyped-def]
        info = meta.info
        info["spatial_index"] = {"chunk_size": tuple(np.array([512, 512, 400]) * 4)}
        meta.commit_info()
        info["extra_key"] = np.int64(7)  # the same dict, after a commit
        if "vertex_attributes" in info:  # skeletons: cloud-volume's dict holds the key
            del info["sharding"]
        else:  # meshes: a numpy transform
            info["transform"] = np.array(TRANSFORM, np.float32)

    mine, theirs = _edit_on_both(seg_path, tmp_path, "skeletons", script)
    assert mine["extra_key"] == theirs["extra_key"] == 7
    assert mine["spatial_index"]["chunk_size"] == theirs["spatial_index"]["chunk_size"]
    mine, _ = _edit_on_both(seg_path, tmp_path / "m", "mesh", script)
    assert mine["transform"] == TRANSFORM and mine["extra_key"] == 7


def test_mesh_meta_edits_commit_as_cloud_volumes(seg_path, tmp_path) -> None:
    def script(meta) -> None:  # type: ignore[no-untyped-def]
        assert not meta.is_sharded() and not meta.is_multires() and meta.is_legacy()
        assert meta.default_info()["@type"] == "neuroglancer_legacy_mesh"
        meta.info["transform"] = TRANSFORM

    mine, theirs = _edit_on_both(seg_path, tmp_path, "mesh", script)
    assert mine["@type"] == theirs["@type"] and mine["transform"] == theirs["transform"]
    vx = CloudVolume(f"file://{tmp_path}/voxelio.volume")
    assert vx.mesh.meta.info["transform"] == theirs["transform"]
    vx.mesh.meta.info["@type"] = "neuroglancer_multilod_draco"  # lacks the required keys
    with pytest.raises(voxelio.exceptions.InfoError, match="vertex_quantization_bits"):
        vx.mesh.meta.commit_info()
    assert json.loads((tmp_path / "voxelio.volume" / "mesh" / "info").read_text()) == mine


def test_volume_meta_accessors_match_cloud_volumes(tmp_path) -> None:
    path = f"file://{tmp_path}/pyramid"
    info = CloudVolume.create_new_info(**{**INFO_ARGS, "voxel_offset": [3, 5, 7]}, max_mip=2)
    CloudVolume(path, info=info).commit_info()
    vx, cv = _both(path)
    for mip in range(3):
        for name in ("voxel_offset", "volume_size", "chunk_size", "resolution", "shape"):
            mine, theirs = getattr(vx.meta, name)(mip), getattr(cv.meta, name)(mip)
            assert mine.tolist() == theirs.tolist(), (name, mip)
        assert vx.meta.key(mip) == cv.meta.key(mip)
        mine_scale, their_scale = vx.meta.scale(mip), cv.meta.scale(mip)
        for name in ("key", "chunk_sizes", "size", "voxel_offset", "encoding"):
            assert mine_scale[name] == their_scale[name] and name in mine_scale, name
        assert mine_scale.get("sharding") is their_scale.get("sharding") is None
        assert dict(mine_scale.params) == dict(their_scale)
        assert vx.meta.encoding(mip) == cv.meta.encoding(mip)
        assert vx.meta.bounds(mip).to_list() == cv.meta.bounds(mip).to_list()
        assert vx.meta.bbox(mip).to_list() == cv.meta.bbox(mip).to_list()
    for name in ("num_channels", "data_type", "dtype", "layer_type", "cloudpath"):
        assert getattr(vx.meta, name) == getattr(cv.meta, name), name


def test_transfer_to_copies_the_provenance_of_a_new_layer(seg_path, tmp_path) -> None:
    vx = CloudVolume(seg_path)
    vx.provenance.description = "cells"
    vx.commit_provenance()
    for lib in (CloudVolume, cloudvolume.CloudVolume):
        dest = f"file://{tmp_path}/{lib.__module__}"
        lib(seg_path).transfer_to(dest, lib(seg_path).bounds)
        assert cloudvolume.CloudVolume(dest).provenance.description == "cells", lib


def test_mesh_meta_switches_resolution_kinds_and_shards_as_cloud_volume(seg_path, tmp_path):
    def script(meta) -> None:  # type: ignore[no-untyped-def]
        assert meta.mip == 0 and meta.chunk_size is None and meta.spatial_index is None
        meta.to_multi_resolution(16)
        assert meta.is_multires()
        meta.to_sharded(num_labels=50)
        assert meta.is_sharded()

    mine, theirs = _edit_on_both(seg_path, tmp_path, "mesh_mip_0_err_40", script)
    for key in ("@type", "vertex_quantization_bits", "transform", "lod_scale_multiplier"):
        assert mine[key] == theirs[key], key
    assert mine["sharding"]["@type"] == theirs["sharding"]["@type"]
    vx = CloudVolume(f"file://{tmp_path}/voxelio.volume")
    verts = np.array([[0, 0, 0], [400, 0, 0], [0, 400, 0]], np.float32)
    vx.mesh.put(voxelio.Mesh(verts, [[0, 1, 2]], segid=3))
    got = cloudvolume.CloudVolume(f"file://{tmp_path}/voxelio.volume").mesh.get(3)[3]
    assert len(got.faces) == 1
    np.testing.assert_allclose(np.sort(got.vertices, axis=0), np.sort(verts, axis=0), atol=1)
    vx.mesh.meta.to_unsharded()
    vx.mesh.meta.to_single_resolution()
    assert vx.mesh.meta.is_legacy() and not vx.mesh.meta.is_sharded()


def test_meta_mip_comes_from_the_info_or_igneous_directory_names(seg_path) -> None:
    vx = CloudVolume(seg_path, skel_dir="skeletons_mip_2", mesh_dir="mesh_mip_1_err_40")
    cv = cloudvolume.CloudVolume(seg_path, skel_dir="skeletons_mip_2", mesh_dir="mesh_mip_1_err_40")
    assert vx.skeleton.meta.mip == cv.skeleton.meta.mip == 2
    assert vx.mesh.meta.mip == cv.mesh.meta.mip == 1
    vx.skeleton.meta.info["mip"] = 0
    assert vx.skeleton.meta.mip == 0


@pytest.mark.parametrize("kind", ["mesh", "skeleton"])
def test_the_sources_commit_takes_the_meta_edits_too(seg_path, kind) -> None:
    """``vol.mesh.commit_info()`` after ``vol.mesh.meta.info[...] = ...`` writes the edit (it
    wrote the info as it was before the edit), and so does the skeleton source's."""
    vol = CloudVolume(seg_path)
    source = vol.mesh if kind == "mesh" else vol.skeleton
    source.meta.info["transform"] = TRANSFORM
    source.commit_info()
    stored = json.loads(source.store.get("info"))
    assert stored["transform"] == TRANSFORM
    assert list(source.info.to_json()["transform"]) == TRANSFORM
