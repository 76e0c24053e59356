"""The image API of CloudVolume on s3:// (SeaweedFS) and http:// (nginx)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from tests.servers import HTTPServer, S3Server


def _info():  # type: ignore[no-untyped-def]
    from voxelio import CloudVolume

    return CloudVolume.create_new_info(
        num_channels=1, layer_type="image", data_type="uint8", encoding="raw",
        resolution=[4, 4, 40], voxel_offset=[0, 0, 0], chunk_size=[16, 16, 8],
        volume_size=[48, 32, 16],
    )  # fmt: skip


def test_s3_volume_roundtrip(s3_server: S3Server, s3_bucket: str) -> None:
    from voxelio import CloudVolume

    path = f"s3://{s3_server.endpoint}/{s3_bucket}/img"
    vol = CloudVolume(path, info=_info(), secrets=s3_server.secrets)
    vol.commit_info()
    data = np.random.default_rng(0).integers(0, 255, size=(48, 32, 16, 1), dtype=np.uint8)
    vol[:, :, :] = data
    again = CloudVolume(path, secrets=s3_server.secrets)
    assert np.array_equal(np.asarray(again[:, :, :]), data)
    assert np.array_equal(np.asarray(again[5:20, 3:30, 2:9]), data[5:20, 3:30, 2:9])


def test_http_volume_read_fill_missing(http_server: HTTPServer, http_root: Path,
                                       tmp_path: Path) -> None:  # fmt: skip
    from voxelio import CloudVolume

    local = tmp_path / "img"
    vol = CloudVolume(f"file://{local}", info=_info())
    vol.commit_info()
    data = np.random.default_rng(1).integers(1, 255, size=(48, 32, 16, 1), dtype=np.uint8)
    vol[:, :, :] = data
    shutil.copytree(local, http_root / "vol-img")
    chunks = sorted(p for p in (http_root / "vol-img").rglob("*") if p.is_file() and
                    p.name != "info" and "-" in p.name)  # fmt: skip
    chunks[0].unlink()
    remote = CloudVolume(f"{http_server.url}/vol-img", fill_missing=True)
    got = np.asarray(remote[:, :, :])
    assert (got == 0).sum() == 16 * 16 * 8
    mask = got != 0
    assert np.array_equal(got[mask], data[mask])


def test_gcs_volume_read(gcs_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A layer (gzip objects with Content-Encoding, like cloud-volume uploads) read via gs://."""
    import gzip

    from voxelio import CloudVolume

    local = tmp_path / "img"
    vol = CloudVolume(f"file://{local}", info=_info())
    vol.commit_info()
    data = np.random.default_rng(2).integers(0, 255, size=(48, 32, 16, 1), dtype=np.uint8)
    vol[:, :, :] = data
    bucket = "vol-bucket"
    gcs_server.create_bucket(bucket)
    for f in local.rglob("*"):
        if f.is_file():
            name = "ds/img/" + f.relative_to(local).as_posix()
            gcs_server.upload(bucket, name, gzip.compress(f.read_bytes()),
                              content_encoding="gzip")  # fmt: skip
    remote = CloudVolume(f"gs://{bucket}/ds/img",
                         storage_options={"endpoint": gcs_server.endpoint})  # fmt: skip
    assert np.array_equal(np.asarray(remote[:, :, :]), data)
    assert np.array_equal(np.asarray(remote[7:40, 1:31, 3:16]), data[7:40, 1:31, 3:16])


def test_s3_cache_control_of_chunks_and_infos(s3_server: S3Server, s3_bucket: str) -> None:
    """As cloud-volume writes them: chunks with ``cdn_cache`` (an hour by default), every info
    (the layer's, its meshes', skeletons', segment properties', an annotation set's) with
    ``no-cache``, so readers see an edit at once."""
    import pytest

    from voxelio import AnnotationWriter, CloudVolume, SegmentProperties, Skeleton

    client = s3_server.boto3_client()

    def cache_control(key: str) -> str:
        return client.head_object(Bucket=s3_bucket, Key=key)["CacheControl"]

    seg_info = CloudVolume.create_new_info(
        1, "segmentation", "uint64", "raw", [4, 4, 40], [0, 0, 0], [32, 32, 16],
        chunk_size=[16, 16, 16], mesh="mesh", skeletons="skeletons",
    )  # fmt: skip
    path = f"s3://{s3_server.endpoint}/{s3_bucket}/cached"
    vol = CloudVolume(path, info=seg_info, secrets=s3_server.secrets)
    vol.commit_info()
    vol[:, :, :] = np.ones((32, 32, 16, 1), np.uint64)
    vol.mesh.commit_info()
    vol.skeleton.commit_info()
    vol.skeleton.upload(Skeleton([[1, 1, 1], [2, 3, 4]], [[0, 1]], segid=1))
    vol.commit_segment_properties(SegmentProperties.build([1], labels=["one"]))
    assert cache_control("cached/4_4_40/0-16_0-16_0-16") == "max-age=3600, s-max-age=3600"
    for info in ("info", "mesh/info", "skeletons/info", "segment_properties/info"):
        assert cache_control(f"cached/{info}") == "no-cache", info
    for cdn_cache, expected in ((False, "no-cache"), (60, "max-age=60, s-max-age=60")):
        again = CloudVolume(path, cdn_cache=cdn_cache, secrets=s3_server.secrets)
        again[:16, :16, :16] = np.full((16, 16, 16, 1), 2, np.uint64)
        assert cache_control("cached/4_4_40/0-16_0-16_0-16") == expected
    writer = AnnotationWriter(f"s3://{s3_server.endpoint}/{s3_bucket}/points", "point",
                              secrets=s3_server.secrets)  # fmt: skip
    writer.add(np.array([[1.0, 2.0, 3.0]]))
    writer.write()
    assert cache_control("points/info") == "no-cache"
    with pytest.raises(ValueError, match="cdn_cache"):
        CloudVolume(path, cdn_cache=-1, secrets=s3_server.secrets)
