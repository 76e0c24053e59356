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
import stat
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from voxelio.compression import METHODS, SUFFIXES, Method, compress, decompress
from voxelio.errors import ReadOnlyException, StorageError, WriteConflictError
from voxelio.storage._boxread import read_box
from voxelio.storage.base import (
    NO_OPTIONS,
    PlainObject,
    PutOptions,
    Store,
    check_key,
    check_version,
)
from voxelio.storage.buffers import ReadBuffers
from voxelio.streaming import bypasses_caches

#: the most bytes a box read asks the file for at once (whole planes are read together)
_BOX_READ_BYTES = 256 * 1024
_SUFFIX_TO_METHOD: dict[str, Method] = {SUFFIXES[m]: m for m in METHODS}
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
_READ_ORDER: tuple[tuple[str, Method | None], ...] = (("", None),) + tuple(
    (SUFFIXES[m], m) for m in METHODS
)


class FileStore(Store):
    """Files below ``root`` (an absolute directory). Thread and process safe for whole objects."""

    networked = False

    def __init__(self, root: str | os.PathLike[str], read_only: bool = False) -> None:
        self.root = Path(os.path.abspath(os.fspath(root)))
        self._root_str = str(self.root)
        self.url = "file://" + str(self.root)
        self.read_only = read_only

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (FileStore, (str(self.root), self.read_only))

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _file(self, key: str) -> str:
        """The path of ``key`` as a string (cheaper than :meth:`_path` on hot paths)."""
        return os.path.join(self._root_str, check_key(key))

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
        return self._read(self._file(key), _READ_ORDER)

    def _read(self, base: str, order: tuple[tuple[str, Method | None], ...]) -> bytes | None:
        """The first of ``base`` + suffix (in ``order``) that exists, decompressed. When
        none does, every name is tried once more: a writer that changes the transport
        compression renames the new file in, then removes the old name, and a reader that
        asked between them for the new name too early must not find neither."""
        found = self._read_once(base, order)
        return found if found is not None else self._read_once(base, _READ_ORDER)

    def _read_once(self, base: str, order: tuple[tuple[str, Method | None], ...]) -> bytes | None:
        for suffix, method in order:
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

    def get_into(self, key: str, buffers: ReadBuffers) -> bytes | memoryview | None:
        """The plain file read into this thread's buffer with one open; compressed twins and
        files that grow meanwhile take :meth:`_read`."""
        path = self._file(key)
        try:
            fd = os.open(path, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError):  # a compressed twin, or missing
            return self._read(path, _READ_ORDER[1:])
        except OSError as exc:
            raise StorageError(f"{path}: cannot read ({exc})") from exc
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                return None  # as get() answers for a directory
            view = buffers.view(info.st_size + 1)  # one byte more: a file that grew shows
            n = os.readv(fd, [view])
        except OSError as exc:
            raise StorageError(f"{path}: cannot read ({exc})") from exc
        finally:
            os.close(fd)
        return self.get(key) if n > info.st_size else view[:n]

    def read_box_into(
        self,
        key: str,
        shape: tuple[int, int, int, int],
        origin: tuple[int, int, int],
        out: np.ndarray,
        buffers: ReadBuffers,
    ) -> bool:
        """Reads the rows of the box from the plain file, without the GIL (``_boxread``)."""
        path = self._file(key)
        row = shape[0] * out.itemsize
        size = row * shape[1] * shape[2] * shape[3]
        scratch = buffers.view(max(row * out.shape[1], min(size, _BOX_READ_BYTES)))
        try:
            stream = bypasses_caches(out)
            return read_box(path, size, shape, out.itemsize, origin, out, scratch, stream)
        except OSError as exc:
            raise StorageError(f"{path}: cannot read ({exc.strerror})") from exc

    def get_range(self, key: str, start: int, length: int) -> bytes | None:
        return self._pinned_range((key, start, length), None)[0]

    def get_pinned_ranges(
        self, requests: Iterable[tuple[str, int, int]], pins: Mapping[str, Any]
    ) -> list[tuple[bytes | None, Any]]:
        """Range reads of plain files; a file's version is its identity (device, inode,
        modification time, size), which every write changes (writes are renames)."""
        return self._map(lambda r: self._pinned_range(r, pins.get(r[0])), list(requests))

    def _pinned_range(self, request: tuple[str, int, int], pin: Any) -> tuple[bytes | None, Any]:
        key, start, length = request
        path = self._file(key)
        try:
            fd = os.open(path, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError):
            if pin is not None:
                raise WriteConflictError(f"{path}: deleted since it was read") from None
            return None, None
        except OSError as exc:
            raise StorageError(f"{path}: cannot read bytes {start}+{length} ({exc})") from exc
        try:
            info = os.fstat(fd)
            version = (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size)
            if pin is not None and pin != version:
                raise WriteConflictError(f"{path}: replaced since it was read")
            return _pread_fully(fd, path, start, length, info.st_size), version
        finally:
            os.close(fd)

    def size(self, key: str) -> int | None:
        found = self._find(key)
        return None if found is None else found[0].stat().st_size

    def open_plain(self, key: str) -> PlainObject | None:
        """The file named ``key`` itself (compressed twins do not count), opened once: every
        read comes from that file even if it is replaced meanwhile (writes are renames)."""
        path = self._file(key)
        try:
            fd = os.open(path, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as exc:
            raise StorageError(f"{path}: cannot open ({exc})") from exc
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            return None

        def read(start: int, length: int) -> bytes:
            data = _pread_fully(fd, path, start, length, info.st_size)
            if len(data) != length:
                raise StorageError(f"{path}: ends before byte {start + length} (truncated)")
            return data

        closed = threading.Event()  # a second close must not close a reused descriptor

        def close() -> None:
            if not closed.is_set():
                closed.set()
                os.close(fd)

        return PlainObject(info.st_size, read, close)

    def put(self, key: str, data: bytes, options: PutOptions = NO_OPTIONS) -> None:
        self._check_writable(key)
        base = self._path(key)
        payload = compress(data, options.compress, options.compress_level)
        suffix = SUFFIXES[options.compress] if options.compress else ""
        if options.unpublished:
            write_in_place(str(base) + suffix, payload)
            return
        atomic_write(str(base) + suffix, payload)
        self._remove_twins(str(base), keep=suffix)

    def _remove_twins(self, base: str, keep: str | None) -> None:
        """Remove ``base`` under every suffix but ``keep`` (a stale twin would shadow it).

        Each twin is looked up before it is unlinked: a lookup takes no lock, while an unlink
        takes the directory's lock even for a missing name, and the writer threads of one
        directory then wait for each other (10-15% of the CPU time of writing 512 jpeg chunks
        with 2 threads, measured)."""
        for suffix, _method in _READ_ORDER:
            if suffix == keep:
                continue
            try:
                os.lstat(base + suffix)
            except FileNotFoundError:
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(base + suffix)

    def delete(self, key: str) -> None:
        self._check_writable(key)
        self._remove_twins(str(self._path(key)), keep=None)

    def exists(self, key: str) -> bool:
        return self._find(key) is not None

    def list(self, prefix: str = "") -> Iterator[str]:
        if prefix:
            check_key(prefix)
        # keys starting with ``prefix`` (a string prefix, as on the cloud) lie below the
        # directory of its last "/"; deeper directories that cannot match are not walked
        head = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        directory = self.root / head if head else self.root
        if not directory.is_dir():  # (a root that does not exist yet holds nothing)
            return
        seen: set[str] = set()
        for dirpath, dirs, files in os.walk(directory):
            rel_dir = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            rel_dir = "" if rel_dir == "." else rel_dir + "/"
            dirs[:] = [d for d in dirs if _may_hold(rel_dir + d + "/", prefix)]
            for name in files:
                if name.startswith(".voxelio-tmp"):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, name), self.root).replace(os.sep, "/")
                key = strip_suffix(rel)
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
        found = self._stored(key)
        if found is None:
            return None
        raw, method, path = found
        return decompress(raw, method, str(path)), hashlib.sha256(raw).hexdigest()

    def _stored(self, key: str) -> tuple[bytes, Method | None, Path] | None:
        """The stored (still compressed) bytes of ``key``, their method and file."""
        found = self._find(key)
        if found is None:
            return None
        path, method = found
        try:
            return path.read_bytes(), method, path
        except FileNotFoundError:
            return None

    def _version(self, key: str) -> str | None:
        """The version of ``key`` (``None``: missing), without decompressing it."""
        found = self._stored(key)
        return None if found is None else hashlib.sha256(found[0]).hexdigest()

    def put_if(
        self,
        key: str,
        data: bytes,
        options: PutOptions = NO_OPTIONS,
        expected_version: str | None = None,
    ) -> str:
        """Write ``key`` only if it is still at ``expected_version`` (``None``: missing).

        The new file is written under a temporary name first; the check and the rename run
        under an exclusive ``flock`` on the directory that holds the key, so they are atomic
        against every thread and process of this machine using ``put_if``, whatever path
        (a symlink) or temporary directory each uses (not against plain ``put``, nor against
        other machines sharing the directory over a network file system). Returns the new
        version; raises :class:`WriteConflictError` otherwise.
        """
        self._check_writable(key)
        base = self._path(key)
        payload = compress(data, options.compress, options.compress_level)
        suffix = SUFFIXES[options.compress] if options.compress else ""
        target = str(base) + suffix
        tmp = write_temporary(target, payload)
        with _directory_lock(base.parent):
            try:
                check_version(f"{self.url}/{key}", expected_version, self._version(key))
                publish(tmp, target)
            except BaseException:
                _discard(tmp)
                raise
            self._remove_twins(str(base), keep=suffix)
        return hashlib.sha256(payload).hexdigest()

    def delete_if(self, key: str, expected_version: str) -> None:
        """Delete ``key`` only if it is still at ``expected_version``, under the lock of
        :meth:`put_if`; a key already gone counts as deleted. Raises
        :class:`WriteConflictError` when another writer changed it."""
        self._check_writable(key)
        base = self._path(key)
        if not base.parent.is_dir():
            return  # no directory, no key
        with _directory_lock(base.parent):
            found = self._version(key)
            if found is not None:
                check_version(f"{self.url}/{key}", expected_version, found)
                self._remove_twins(str(base), keep=None)


@contextlib.contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``directory`` itself: every process of this machine
    that reaches it, by any path, locks the same inode, and no lock file is left behind."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise StorageError(f"{directory}: cannot lock the directory ({exc})") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def strip_suffix(name: str) -> str:
    """``name`` without a transport-compression suffix (``.gz``, ``.br``, ``.zstd``)."""
    for suffix in _SUFFIX_TO_METHOD:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _create(path: str) -> int:
    """A descriptor of ``path`` opened for writing; parent directories are made only when the
    first attempt finds them missing."""
    try:
        return os.open(path, _WRITE_FLAGS, 0o644)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return os.open(path, _WRITE_FLAGS, 0o644)


def write_in_place(target: str, payload: bytes) -> None:
    """Write ``payload`` straight to ``target`` (making parent directories when missing): for
    objects no reader can reach yet (:attr:`PutOptions.unpublished`)."""
    try:
        with os.fdopen(_create(target), "wb") as fh:
            fh.write(payload)
    except OSError as exc:
        raise StorageError(f"{target}: write failed ({exc})") from exc


def atomic_write(target: Path | str, payload: bytes) -> None:
    """Write ``payload`` to ``target`` through a temporary file and ``os.replace``.

    The temporary name is unique per process and thread; parent directories are made only
    when the first attempt finds them missing.
    """
    path = os.fspath(target)
    tmp = write_temporary(path, payload)
    try:
        publish(tmp, path)
    except BaseException:
        _discard(tmp)
        raise


def write_temporary(target: str, payload: bytes) -> str:
    """``payload`` written to a temporary file beside ``target`` (unique per process and
    thread), for :func:`publish`; its name is returned."""
    tmp = f"{os.path.dirname(target)}/.voxelio-tmp-{os.getpid()}-{threading.get_ident()}"
    try:
        with os.fdopen(_create(tmp), "wb") as fh:
            fh.write(payload)
    except BaseException as exc:
        _discard(tmp)
        if isinstance(exc, OSError):
            raise StorageError(f"{target}: write failed ({exc})") from exc
        raise
    return tmp


def _discard(tmp: str) -> None:
    """Remove a temporary file that will not be published (gone already is fine)."""
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def publish(tmp: str, target: str) -> None:
    """Rename the temporary file ``tmp`` to ``target`` (readers see the old or the new)."""
    try:
        os.replace(tmp, target)
    except OSError as exc:
        raise StorageError(f"{target}: write failed ({exc})") from exc


def _pread_fully(fd: int, path: str, start: int, length: int, size: int) -> bytes:
    """``length`` bytes of ``fd`` (``size`` bytes long) from ``start``; fewer only where the
    file ends (a range past the end, such as a corrupt shard index asks for, allocates
    nothing for it)."""
    try:
        length = max(0, min(length, size - start))
        data = os.pread(fd, length, start)
        while 0 < len(data) < length:  # reads stop short at the end, or past 2 GiB
            more = os.pread(fd, length - len(data), start + len(data))
            if not more:
                break
            data += more
    except OSError as exc:
        raise StorageError(f"{path}: cannot read bytes {start}+{length} ({exc})") from exc
    return data


def _may_hold(directory: str, prefix: str) -> bool:
    """Whether keys below ``directory`` (ending in "/") can start with ``prefix``."""
    return directory.startswith(prefix) or prefix.startswith(directory)
