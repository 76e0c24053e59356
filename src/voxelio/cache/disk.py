"""The disk cache: a store adapter keeping a local copy of what is read from a remote store.

Layout (cloud-volume's): ``<base>/<protocol>/<bucket and path>/<layer>/<key>`` where ``<base>``
is the ``cache=`` path, else ``$CLOUD_VOLUME_CACHE_DIR``, else ``$CLOUD_VOLUME_DIR/cache``
(default ``~/.cloudvolume/cache``). Objects are kept with gzip (``NAME.gz``) when the cache is
compressed, plain otherwise; both are read.

:class:`DiskCacheStore` reads the local copy first; on a miss it fetches the remote object and
writes it locally (atomically: a temporary file renamed into place). With ``locking`` the
fill runs under an exclusive ``flock`` shared by every process of the machine, and the local
copy is checked again once the lock is held, so concurrent processes download each object
once and never see half a file. Writes and deletes go to the remote store and to the cache
(write-through). Byte-range reads (shard files) go to the remote store unless the whole
object is cached. Thread and process safe.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from voxelio.storage.base import NO_OPTIONS, PutOptions, Store
from voxelio.storage.file import FileStore
from voxelio.storage.wrapper import StoreWrapper

#: lock files used by cache fills, below the cache base directory
LOCK_DIR = ".voxelio-locks"
LOCK_BUCKETS = 1024


def cache_base(cache: bool | str, environ: dict[str, str] | None = None) -> Path:
    """The cache base directory for a ``cache=`` value (see the module docstring)."""
    env = os.environ if environ is None else environ
    if isinstance(cache, str):
        return Path(os.path.expanduser(cache)).absolute()
    if env.get("CLOUD_VOLUME_CACHE_DIR"):
        return Path(os.path.expanduser(env["CLOUD_VOLUME_CACHE_DIR"])).absolute()
    cv_dir = env.get("CLOUD_VOLUME_DIR") or os.path.join(os.path.expanduser("~"), ".cloudvolume")
    return Path(cv_dir).absolute() / "cache"


def cache_path(cache: bool | str, protocol: str, location: str) -> Path:
    """The cache directory of the layer at ``protocol://location``."""
    parts = [p for p in location.replace("://", "/").split("/") if p and p not in (".", "..")]
    return cache_base(cache).joinpath(protocol, *parts)


class DiskCacheStore(StoreWrapper):
    """``remote`` with a local copy at ``root``; see the module docstring."""

    def __init__(
        self, remote: Store, root: str | os.PathLike[str], compress: bool = False,
        locking: bool = True,
    ) -> None:  # fmt: skip
        super().__init__(remote)
        self.local = FileStore(root)
        self.compress = compress
        self.locking = locking

    @property
    def remote(self) -> Store:
        """The store being cached (the authority)."""
        return self.inner

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (DiskCacheStore, (self.remote, str(self.local.root), self.compress, self.locking))

    def _local_options(self) -> PutOptions:
        return PutOptions(compress="gzip" if self.compress else None)

    @contextlib.contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        if not self.locking:
            yield
            return
        digest = hashlib.sha1(f"{self.local.root}/{key}".encode()).digest()
        bucket = int.from_bytes(digest[:4], "little") % LOCK_BUCKETS
        directory = self.local.root / LOCK_DIR
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory / f"{bucket:04d}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def get(self, key: str) -> bytes | None:
        data = self.local.get(key)
        if data is not None:
            return data
        with self._lock(key):
            data = self.local.get(key)
            if data is not None:
                return data
            data = self.remote.get(key)
            if data is not None:
                self.local.put(key, data, self._local_options())
        return data

    def get_range(self, key: str, start: int, length: int) -> bytes | None:
        if self.local.exists(key) and not self.compress:
            return self.local.get_range(key, start, length)
        return self.remote.get_range(key, start, length)

    def put(self, key: str, data: bytes, options: PutOptions = NO_OPTIONS) -> None:
        self.remote.put(key, data, options)
        with self._lock(key):
            self.local.put(key, data, self._local_options())

    def delete(self, key: str) -> None:
        self.remote.delete(key)
        with self._lock(key):
            self.local.delete(key)

    def put_if(
        self,
        key: str,
        data: bytes,
        options: PutOptions = NO_OPTIONS,
        expected_version: str | None = None,
    ) -> str:
        """The remote store's ``put_if``; the cached copy is replaced once it succeeds."""
        with self._lock(key):
            self.local.delete(key)
            version: str = self.remote.put_if(  # type: ignore[attr-defined]
                key, data, options, expected_version
            )
            self.local.put(key, data, self._local_options())
        return version

    def delete_if(self, key: str, expected_version: str) -> None:
        """The remote store's ``delete_if``; the cached copy is dropped first."""
        with self._lock(key):
            self.local.delete(key)
            self.remote.delete_if(key, expected_version)  # type: ignore[attr-defined]
