import gzip

import numpy as np
import pytest

from tests.core.conftest import DTYPES, new_volume, random_array
from voxelio import Bbox, CloudVolume, VolumeCutout
from voxelio.errors import (
    AlignmentError,
    EmptyVolumeException,
    EncodingError,
    OutOfBoundsError,
)


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_every_dtype_odd_offset_edge_chunks(layer_path, dtype):
    vol = new_volume(layer_path, dtype=dtype)
    data = random_array((100, 70, 30, 1), dtype)
    vol[:, :, :] = data
    back = CloudVolume(layer_path)[:, :, :]
    assert back.dtype == np.dtype(dtype) and back.shape == (100, 70, 30, 1)
    np.testing.assert_array_equal(back, data)


def test_multichannel_and_channel_index(layer_path):
    vol = new_volume(layer_path, dtype="float32", channels=3)
    data = random_array((100, 70, 30, 3), "float32")
    vol[...] = data
    np.testing.assert_array_equal(vol[...], data)
    np.testing.assert_array_equal(vol[..., 1], data[..., 1:2])
    np.testing.assert_array_equal(vol[3:10, 5:9, 7:8, -1], data[0:7, 0:4, 0:1, 2:3])


def test_slicing_forms(layer_path):
    vol = new_volume(layer_path, dtype="uint16")
    data = random_array((100, 70, 30, 1), "uint16")
    vol[:] = data
    np.testing.assert_array_equal(vol[10:50:3, ::2, 20], data[7:47:3, ::2, 13:14])
    np.testing.assert_array_equal(vol[-10:, -5:, -1], data[-10:, -5:, -1:])
    np.testing.assert_array_equal(vol[4, 6, 8], data[1:2, 1:2, 1:2])
    np.testing.assert_array_equal(vol[Bbox((10, 10, 10), (20, 30, 25))], data[7:17, 5:25, 3:18])
    nm = Bbox((40, 40, 400), (80, 80, 800), unit="nm")
    np.testing.assert_array_equal(vol[nm], data[7:17, 5:15, 3:13])
    np.testing.assert_array_equal(vol.download(Bbox((3, 5, 7), (9, 9, 9))), data[:6, :4, :2])


def test_cutout_carries_metadata(layer_path):
    vol = new_volume(layer_path, max_mip=1)
    vol[:] = 7
    vol.mip = 1
    vol[:] = 8
    cut = vol[:, :, :]
    assert isinstance(cut, VolumeCutout)
    assert cut.mip == 1 and cut.layer_type == "image" and cut.bounds == vol.bounds
    assert list(cut.resolution) == [8, 8, 40] and cut.num_channels == 1
    assert cut.flags.f_contiguous


def test_save_images(layer_path, tmp_path):
    vol = new_volume(layer_path)
    vol[:] = random_array((100, 70, 30, 1), "uint8")
    out = vol[3:20, 5:30, 7:10].save_images(str(tmp_path / "pngs"))
    assert sorted(p.name for p in (tmp_path / "pngs").iterdir()) == [
        "00000.png",
        "00001.png",
        "00002.png",
    ]
    assert out.endswith("pngs")


def test_bounded_and_autocrop(layer_path):
    vol = new_volume(layer_path)
    vol[:] = 1
    with pytest.raises(OutOfBoundsError, match="bounds"):
        vol[0:10, 5:10, 7:10]
    vol.bounded = False
    vol.fill_missing = True
    img = vol[0:10, 5:10, 7:10]
    assert img.shape == (10, 5, 3, 1)
    assert (img[:3] == 0).all() and (img[3:] == 1).all()
    vol.bounded, vol.autocrop = False, True
    assert vol[0:10, 5:10, 7:10].shape == (7, 5, 3, 1)


def test_fill_missing_and_background(layer_path):
    vol = new_volume(layer_path, dtype="float32")
    with pytest.raises(EmptyVolumeException, match="3-35_5-37_7-23"):
        vol[3:10, 5:10, 7:10]
    vol.fill_missing = True
    vol.background_color = 2.5
    assert (vol[3:10, 5:10, 7:10] == 2.5).all()


def test_cutouts_of_plain_gzipped_and_missing_raw_chunks(tmp_path):
    """Local raw chunks are read by boxes straight into the output; gzipped and missing
    chunk files, and chunks at the volume's edge, take the general path beside them."""
    vol = new_volume(f"file://{tmp_path}", dtype="uint16", channels=2, fill_missing=True)
    data = random_array((100, 70, 30, 2), "uint16", seed=3)
    vol[:] = data
    scale_dir = tmp_path / "4_4_40"
    zipped = scale_dir / "35-67_37-69_7-23"
    zipped.with_name(zipped.name + ".gz").write_bytes(gzip.compress(zipped.read_bytes()))
    zipped.unlink()
    (scale_dir / "3-35_5-37_23-37").unlink()
    data[0:32, 0:32, 16:30] = 0  # the missing chunk reads as the background
    rng = np.random.default_rng(4)
    for _ in range(40):
        lo = [int(rng.integers(0, s - 1)) for s in (100, 70, 30)]
        hi = [int(rng.integers(a + 1, s + 1)) for a, s in zip(lo, (100, 70, 30))]
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        got = vol[tuple(slice(a + o, b + o) for a, b, o in zip(lo, hi, (3, 5, 7)))]
        np.testing.assert_array_equal(np.asarray(got), data[box], err_msg=str(box))


def test_non_aligned_writes(layer_path):
    vol = new_volume(layer_path, dtype="uint32")
    base = random_array((100, 70, 30, 1), "uint32")
    vol[:] = base
    patch = random_array((20, 30, 5, 1), "uint32", seed=3)
    with pytest.raises(AlignmentError, match="non_aligned_writes"):
        vol[10:30, 10:40, 10:15] = patch
    np.testing.assert_array_equal(vol[:], base)  # nothing written
    vol.non_aligned_writes = True
    vol[10:30, 10:40, 10:15] = patch
    expected = base.copy()
    expected[7:27, 5:35, 3:8] = patch
    np.testing.assert_array_equal(vol[:], expected)


def test_aligned_write_at_edge_is_allowed(layer_path):
    vol = new_volume(layer_path)
    vol[67:103, 69:75, 23:37] = 9  # ends at the volume's far edge
    vol.fill_missing = True
    assert (vol[67:103, 69:75, 23:37] == 9).all()


def test_delete_black_uploads_exists_delete(layer_path, tmp_path):
    vol = new_volume(layer_path, delete_black_uploads=True)
    vol[:] = 0
    assert not any(vol.exists(vol.bounds).values())
    vol[3:35, 5:37, 7:23] = 5
    report = vol.exists(vol.bounds)
    assert sum(report.values()) == 1 and report["4_4_40/3-35_5-37_7-23"]
    vol.delete(Bbox((3, 5, 7), (35, 37, 23)))
    assert not any(vol.exists(vol.bounds).values())
    with pytest.raises(AlignmentError):
        vol.delete(Bbox((4, 5, 7), (35, 37, 23)))


def test_download_point(layer_path):
    vol = new_volume(layer_path, max_mip=1)
    data = random_array((100, 70, 30, 1), "uint8")
    vol[:] = data
    cut = vol.download_point((50, 40, 20), size=10)
    assert cut.shape == (10, 10, 10, 1)
    np.testing.assert_array_equal(cut, data[42:52, 30:40, 8:18])


def test_wrong_dtype_and_shape_are_refused(layer_path):
    vol = new_volume(layer_path, dtype="uint16")
    with pytest.raises(EncodingError, match="dtype"):
        vol[3:35, 5:37, 7:23] = np.zeros((32, 32, 16), dtype=np.uint8)
    with pytest.raises(AlignmentError, match="shape"):  # cloud-volume's class for it
        vol[3:35, 5:37, 7:23] = np.zeros((32, 32, 15), dtype=np.uint16)
    assert not any(vol.exists(vol.bounds).values())


def test_mem_volumes_are_shared_in_process():
    vol = new_volume("mem://shared-test/layer")
    vol[:] = 3
    other = CloudVolume("mem://shared-test/layer")
    assert (other[:] == 3).all()


def test_from_numpy(tmp_path):
    arr = random_array((40, 30, 20), "uint64")
    vol = CloudVolume.from_numpy(
        arr, vol_path=f"file://{tmp_path}/np", chunk_size=(16, 16, 16), voxel_offset=(1, 2, 3)
    )
    assert vol.layer_type == "segmentation" and vol.voxel_offset.tolist() == [1, 2, 3]
    np.testing.assert_array_equal(CloudVolume(f"file://{tmp_path}/np")[:][..., 0], arr)


def test_metadata_properties_and_mip_twins(layer_path):
    vol = new_volume(layer_path, max_mip=2)
    assert vol.shape == (100, 70, 30, 1)
    assert vol.mip_volume_size(1).tolist() == [50, 35, 30]
    assert vol.mip_voxel_offset(1).tolist() == [1, 2, 7]
    assert vol.mip_resolution(2).tolist() == [16, 16, 40]
    assert vol.mip_key(2) == "16_16_40" and vol.key == "4_4_40"
    assert vol.downsample_ratio.tolist() == [1, 1, 1]
    assert vol.mip_downsample_ratio(2).tolist() == [4, 4, 1]
    assert vol.chunk_size.tolist() == [32, 32, 16] and vol.underlying.tolist() == [32, 32, 16]
    assert vol.dtype == "uint8" and vol.layer_type == "image" and vol.num_channels == 1
    assert vol.encoding == "raw" and vol.layer == "layer"
    vol.mip = [16, 16, 40]
    assert vol.mip == 2
    assert vol.bbox_to_mip(Bbox((0, 0, 0), (10, 10, 10)), 0, 1) == Bbox((0, 0, 0), (5, 5, 10))
    assert vol.point_to_mip((10, 11, 12), 0, 2).tolist() == [2, 2, 12]
    vol.mip = 1
    assert vol.slices_from_global_coords(np.s_[0:10, 0:10, 0:10]) == (
        slice(0, 5),
        slice(0, 5),
        slice(0, 10),
    )


def test_pickle_round_trip(layer_path):
    import pickle

    vol = new_volume(layer_path)
    vol[:] = 4
    again = pickle.loads(pickle.dumps(vol))
    assert (again[3:10, 5:10, 7:10] == 4).all()
