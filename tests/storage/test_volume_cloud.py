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
