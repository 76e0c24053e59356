"""Throwaway MariaDB and PostgreSQL servers on 127.0.0.1, one per test session.

Each server gets a fresh data directory in a temp dir, a free port and is stopped (then
killed if it lingers) at the end of the session. A missing server binary FAILS the tests that
need it: the Debian packages ``mariadb-server`` and ``postgresql`` are listed in
``.ci/apt-packages.txt``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _find_binary(name: str, patterns: list[str]) -> str:
    found = shutil.which(name)
    for pattern in patterns:
        if found:
            break
        matches = sorted(glob.glob(pattern))
        found = matches[-1] if matches else None
    if not found:
        pytest.fail(f"{name} not found: install the Debian packages in .ci/apt-packages.txt")
    return found


def _wait_for_port(
    port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    pytest.fail(f"server did not listen on 127.0.0.1:{port} within {timeout}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _run(cmd: list[str], log: Path) -> None:
    with open(log, "ab") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=180)
    if result.returncode != 0:
        pytest.fail(f"{cmd[0]} failed ({result.returncode}): {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def mariadb_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mysql://root:@127.0.0.1:<port>/`` of a throwaway MariaDB server (no database)."""
    mariadbd = _find_binary("mariadbd", ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"])
    install = _find_binary("mariadb-install-db", ["/usr/bin/mysql_install_db"])
    root = tmp_path_factory.mktemp("mariadb")
    log = root / "server.log"
    _run(
        [
            install,
            "--no-defaults",
            f"--datadir={root / 'data'}",
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        log,
    )
    port = _free_port()
    cmd = [
        mariadbd,
        "--no-defaults",
        f"--datadir={root / 'data'}",
        "--user=root",
        "--bind-address=127.0.0.1",
        f"--port={port}",
        f"--socket={root / 'mysqld.sock'}",
        f"--pid-file={root / 'mysqld.pid'}",
        "--skip-name-resolve",
        "--innodb-buffer-pool-size=32M",
        f"--log-error={log}",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, proc, log)
        yield f"mysql://root:@127.0.0.1:{port}"
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``postgres://postgres:x@127.0.0.1:<port>`` of a throwaway PostgreSQL (trust auth)."""
    initdb = _find_binary("initdb", ["/usr/lib/postgresql/*/bin/initdb"])
    postgres = _find_binary("postgres", ["/usr/lib/postgresql/*/bin/postgres"])
    root = tmp_path_factory.mktemp("postgres")
    as_nobody: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as nobody
        as_nobody = [_find_binary("runuser", ["/usr/sbin/runuser", "/sbin/runuser"])]
        as_nobody += ["-u", "nobody", "--"]
        shutil.chown(root, user="nobody")
        for parent in list(root.parents)[:3]:
            parent.chmod(parent.stat().st_mode | 0o711)
    data = root / "data"
    log = Path(str(root) + ".log")
    _run(as_nobody + [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync"], log)
    port = _free_port()
    cmd = [postgres, "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(root)]
    cmd += ["-F", "-c", "shared_buffers=16MB"]
    with open(log, "ab") as out:
        proc = subprocess.Popen(as_nobody + cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, proc, log)
        yield f"postgres://postgres:unused@127.0.0.1:{port}"
    finally:
        _stop(proc)
