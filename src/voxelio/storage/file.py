"""Local-disk store (``file://``): plain files, atomic replace, cloud-volume's suffixes.

Writes go to a temporary file in the same directory, are flushed, then renamed over the
target, so readers never see half a file. Compressed objects are written as ``NAME.gz``,
``NAME.br`` or ``NAME.zstd`` (cloud-files' layout) and any stale twin under another suffix
is removed; uncompressed ones are written as ``NAME``, readable by TensorStore and static
servers. Reads try ``NAME`` first, then each suffix.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from voxelio.compression import METHODS, SUFFIXES, Method, compress, decompress
from voxelio.errors import ReadOnlyException, StorageError, WriteConflictError
from voxelio.storage.base import NO_OPTIONS, PutOptions, Store, check_key

_SUFFIX_TO_METHOD: dict[str, Method] = {SUFFIXES[m]: m for m in METHODS}
_READ_ORDER: tuple[tuple[str, Method | None], ...] = (("", None),) + tuple(
    (SUFFIXES[m], m) for m in METHODS
)


class FileStore(Store):
    """Files below ``root`` (an absolute directory). Thread and process safe for whole objects."""

    def __init__(self, root: str | os.PathLike[str], read_only: bool = False) -> None:
        self.root = Path(os.path.abspath(os.fspath(root)))
        self._root_str = str(self.root)
        self.url = "file://" + str(self.root)
        self.read_only = read_only

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (FileStore, (str(self.root), self.read_only))

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _find(self, key: str) -> tuple[Path, Method | None] | None:
        base = self._path(key)
        if base.is_file():
            return base, None
        for method in METHODS:
            candidate = base.with_name(base.name + SUFFIXES[method])
            if candidate.is_file():
                return candidate, method
        return None

    def get(self, key: str) -> bytes | None:
        base = os.path.join(self._root_str, check_key(key))
        for suffix, method in _READ_ORDER:
            path = base + suffix
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except (FileNotFoundError, NotADirectoryError):
                continue
            except IsADirectoryError:
                return None
            except OSError as exc:
                raise StorageError(f"{path}: cannot read ({exc})") from exc
            return decompress(data, method, path)
        return None

    def get_range(self, key: str, start: int, length: int) -> bytes | None:
        path = self._path(key)
        try:
            with open(path, "rb") as fh:
                fh.seek(start)
                return fh.read(length)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"{path}: cannot read bytes {start}+{length} ({exc})") from exc

    def size(self, key: str) -> int | None:
        found = self._find(key)
        return None if found is None else found[0].stat().st_size

    def put(self, key: str, data: bytes, options: PutOptions = NO_OPTIONS) -> None:
        self._check_writable(key)
        base = self._path(key)
        payload = compress(data, options.compress, options.compress_level)
        suffix = SUFFIXES[options.compress] if options.compress else ""
        target = base.with_name(base.name + suffix)
        atomic_write(target, payload)
        self._remove_twins(base, keep=target)

    def _remove_twins(self, base: Path, keep: Path) -> None:
        for candidate in [base] + [base.with_name(base.name + s) for s in SUFFIXES.values()]:
            if candidate != keep:
                candidate.unlink(missing_ok=True)

    def delete(self, key: str) -> None:
        self._check_writable(key)
        base = self._path(key)
        self._remove_twins(base, keep=Path())

    def exists(self, key: str) -> bool:
        return self._find(key) is not None

    def list(self, prefix: str = "") -> Iterator[str]:
        start = self.root / check_key(prefix) if prefix else self.root
        directory = start if start.is_dir() else start.parent
        if not directory.is_dir():
            return
        seen: set[str] = set()
        for dirpath, _dirs, files in os.walk(directory):
            for name in files:
                if name.startswith(".voxelio-tmp"):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, name), self.root).replace(os.sep, "/")
                key = _strip_suffix(rel)
                if key.startswith(prefix) and key not in seen:
                    seen.add(key)
                    yield key

    def _check_writable(self, key: str) -> None:
        if self.read_only:
            raise ReadOnlyException(f"{self.url}/{key}: store is read-only")

    # ---- conditional writes (compare-and-swap on a content version) ---------------------

    def get_with_version(self, key: str) -> tuple[bytes, str] | None:
        """``(decompressed bytes, version)`` of ``key`` or ``None``; pass the version to
        :meth:`put_if`. The version is the SHA-256 of the stored bytes."""
        found = self._find(key)
        if found is None:
            return None
        path, method = found
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        return decompress(raw, method, str(path)), hashlib.sha256(raw).hexdigest()

    def put_if(
        self,
        key: str,
        data: bytes,
        options: PutOptions = NO_OPTIONS,
        expected_version: str | None = None,
    ) -> str:
        """Write ``key`` only if it is still at ``expected_version`` (``None``: missing).

        The check and the replace run under an exclusive ``flock`` on a lock file in the
        system temporary directory chosen by the key's path, so they are atomic against
        every thread and process of this machine using ``put_if`` (not against plain
        ``put``, nor against other machines sharing the directory over a network file
        system). Returns the new version; raises :class:`WriteConflictError` otherwise.
        """
        self._check_writable(key)
        base = self._path(key)
        payload = compress(data, options.compress, options.compress_level)
        suffix = SUFFIXES[options.compress] if options.compress else ""
        target = base.with_name(base.name + suffix)
        with _path_lock(base):
            current = self.get_with_version(key)
            version = None if current is None else current[1]
            if version != expected_version:
                raise WriteConflictError(
                    f"{self.url}/{key}: the object changed since it was read "
                    f"(expected version {expected_version}, found {version})"
                )
            atomic_write(target, payload)
            self._remove_twins(base, keep=target)
        return hashlib.sha256(payload).hexdigest()


#: number of lock files conditional writes spread keys over
LOCK_BUCKETS = 4096


@contextlib.contextmanager
def _path_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` that every process on this machine shares for ``path``."""
    digest = hashlib.sha1(str(path).encode()).digest()
    bucket = int.from_bytes(digest[:4], "little") % LOCK_BUCKETS
    directory = Path(tempfile.gettempdir()) / "voxelio-locks"
    directory.mkdir(mode=0o777, exist_ok=True)
    fd = os.open(directory / f"{bucket:04d}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _strip_suffix(name: str) -> str:
    for suffix in _SUFFIX_TO_METHOD:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def atomic_write(target: Path, payload: bytes) -> None:
    """Write ``payload`` to ``target`` through a temporary file and ``os.replace``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".voxelio-tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StorageError(f"{target}: write failed ({exc})") from exc
        raise
