"""Session-scoped real servers for the storage tests, and an isolated credential environment."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import GCSServer, HTTPServer, S3Server, fake_gcs, nginx_static, seaweedfs_s3


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """SeaweedFS with one identity, started once per session."""
    with seaweedfs_s3() as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A fresh bucket on the S3 server."""
    name = "t-" + uuid.uuid4().hex[:12]
    s3_server.create_bucket(name)
    return name


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[GCSServer]:
    """fake-gcs-server, started once per session."""
    with fake_gcs() as server:
        yield server


@pytest.fixture(scope="session")
def http_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory nginx serves."""
    return tmp_path_factory.mktemp("www")


@pytest.fixture(scope="session")
def http_server(http_root: Path) -> Iterator[HTTPServer]:
    """nginx serving ``http_root`` with Range and gzip_static."""
    with nginx_static(http_root) as server:
        yield server


@pytest.fixture(autouse=True)
def isolated_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point credential and alias discovery at an empty temporary home; drop cloud env vars."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CLOUD_VOLUME_DIR", str(home / ".cloudvolume"))
    monkeypatch.setenv("CLOUD_FILES_DIR", str(home / ".cloudfiles"))
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "GOOGLE_APPLICATION_CREDENTIALS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return home
