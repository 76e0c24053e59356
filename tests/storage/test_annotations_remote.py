"""Annotation datasets over real servers: written to SeaweedFS (S3), served by nginx (HTTP
Range, which sharded indices need), read by voxelio and by Neuroglancer's Python reader."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest

from tests.servers import GCSServer, HTTPServer, S3Server
from voxelio import AnnotationSource, AnnotationWriter, from_cloudpath

pytestmark = pytest.mark.interop


def _write(url: str, sharded: bool, **options) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    points = rng.uniform(0, 500, (400, 3))
    cells = rng.integers(1, 20, 400)
    score = [{"id": "score", "type": "float32"}]
    writer = AnnotationWriter(url, "point", properties=score, relationships=["cell"],
                              sharded=sharded, limit=30, **options)  # fmt: skip
    writer.add(points, properties={"score": rng.random(400)}, relationships={"cell": cells})
    writer.write()
    return points.astype(np.float32), cells, np.arange(400)


def _check(source: AnnotationSource, points: np.ndarray, cells: np.ndarray) -> None:
    assert source.ids().tolist() == list(range(400))
    lo, hi = (100, 50, 0), (300, 400, 250)
    inside = np.all((points >= lo) & (points <= hi), axis=1)
    assert sorted(source.get_by_bbox((lo, hi)).ids.tolist()) == np.flatnonzero(inside).tolist()
    assert (
        sorted(source.get_by_relationship("cell", 4).ids.tolist())
        == np.flatnonzero(cells == 4).tolist()
    )
    np.testing.assert_array_equal(source.get_by_id(17).geometry[0], points[17])


@pytest.mark.parametrize("sharded", [False, True], ids=["unsharded", "sharded"])
def test_annotations_written_to_and_read_from_s3(s3_server: S3Server, s3_bucket: str,
                                                  sharded: bool) -> None:  # fmt: skip
    url = f"s3://{s3_server.endpoint}/{s3_bucket}/annotations"
    points, cells, _ = _write(url, sharded, secrets=s3_server.secrets)
    source = from_cloudpath(url, secrets=s3_server.secrets)
    assert isinstance(source, AnnotationSource)
    _check(source, points, cells)


@pytest.mark.parametrize("sharded", [False, True], ids=["unsharded", "sharded"])
def test_annotations_served_by_nginx(tmp_path: Path, http_server: HTTPServer, http_root: Path,
                                     sharded: bool) -> None:  # fmt: skip
    points, cells, _ = _write(f"file://{tmp_path / 'ann'}", sharded)
    name = "ann-" + uuid.uuid4().hex[:8]
    shutil.copytree(tmp_path / "ann", http_root / name)
    url = f"{http_server.url}/{name}"
    _check(AnnotationSource.open(url), points, cells)
    reader = pytest.importorskip("neuroglancer.read_precomputed_annotations")
    theirs = reader.AnnotationReader(url + "/")
    assert {int(a.id) for a in theirs.get_within_spatial_bounds()} == set(range(400))
    assert {int(a.id) for a in theirs.relationships["cell"][4]} == set(
        np.flatnonzero(cells == 4).tolist()
    )


@pytest.mark.parametrize("sharded", [False, True], ids=["unsharded", "sharded"])
def test_annotations_read_from_gcs(tmp_path: Path, gcs_server: GCSServer, sharded: bool) -> None:
    """Read only: fake-gcs-server takes no uploads through obstore (see test_http_gcs.py)."""
    points, cells, _ = _write(f"file://{tmp_path}", sharded)
    bucket = "a-" + uuid.uuid4().hex[:10]
    gcs_server.create_bucket(bucket)
    for f in tmp_path.rglob("*"):
        if f.is_file():
            gcs_server.upload(bucket, f"ann/{f.relative_to(tmp_path).as_posix()}", f.read_bytes())
    source = AnnotationSource.open(f"gs://{bucket}/ann",
                                   storage_options={"endpoint": gcs_server.endpoint})  # fmt: skip
    _check(source, points, cells)
