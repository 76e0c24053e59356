import os

import pytest

from voxelio.errors import PathError, UnsupportedFormatError, UnsupportedProtocolError
from voxelio.paths import parse


@pytest.mark.parametrize(
    "text,protocol,location",
    [
        ("gs://bucket/dataset/layer", "gs", "bucket/dataset/layer"),
        ("precomputed://s3://bucket/dataset/layer/", "s3", "bucket/dataset/layer"),
        ("gs://bucket/layer|neuroglancer-precomputed:", "gs", "bucket/layer"),
        ("mem://scratch/layer", "mem", "scratch/layer"),
        ("https://example.org/data/layer", "https", "example.org/data/layer"),
        ("matrix://bucket/layer", "matrix", "bucket/layer"),
        ("s3://https://host.example/bucket/ds/layer", "s3", "https://host.example/bucket/ds/layer"),
    ],
)
def test_cloud_paths(text, protocol, location):
    p = parse(text)
    assert (p.format, p.protocol, p.location) == ("precomputed", protocol, location)


def test_local_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = parse("data/layer")
    assert p.protocol == "file" and p.location == os.path.join(str(tmp_path), "data", "layer")
    assert parse("file://" + str(tmp_path / "x")).location == str(tmp_path / "x")


def test_parts_and_join():
    p = parse("gs://bucket/ds/layer")
    assert (p.bucket, p.dataset, p.layer) == ("bucket", "ds", "layer")
    assert p.join("../mesh").url == "gs://bucket/ds/mesh"
    assert p.join("mesh").url == "gs://bucket/ds/layer/mesh"
    with pytest.raises(PathError, match="climbs above"):
        parse("mem://a").join("../../x")


@pytest.mark.parametrize(
    "bad,error",
    [
        ("", PathError),
        ("ftp://x/y", UnsupportedProtocolError),
        ("gs://", PathError),
        ("n5://gs://bucket/layer", UnsupportedFormatError),
        ("gs://b/l|weird-format:", UnsupportedFormatError),
        ("file:///tmp/a\x00b", PathError),  # was os's bare ValueError: embedded null byte
        ("/tmp/a\x00b", PathError),
    ],
)
def test_bad_paths(bad, error):
    with pytest.raises(error):
        parse(bad)
