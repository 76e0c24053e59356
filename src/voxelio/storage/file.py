"""Local-disk store (``file://``): plain files, atomic replace, cloud-volume's suffixes.

Writes go to a temporary file in the same directory, are flushed, then renamed over the
target, so readers never see half a file. Compressed objects are written as ``NAME.gz``,
``NAME.br`` or ``NAME.zstd`` (cloud-files' layout) and any stale twin under another suffix
is removed; uncompressed ones are written as ``NAME``, readable by TensorStore and static
servers. Reads try ``NAME`` first, then each suffix.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from voxelio.compression import METHODS, SUFFIXES, Method, compress, decompress
from voxelio.errors import ReadOnlyException, StorageError
from voxelio.storage.base import NO_OPTIONS, PutOptions, Store, check_key

_SUFFIX_TO_METHOD: dict[str, Method] = {SUFFIXES[m]: m for m in METHODS}


class FileStore(Store):
    """Files below ``root`` (an absolute directory). Thread and process safe for whole objects."""

    def __init__(self, root: str | os.PathLike[str], read_only: bool = False) -> None:
        self.root = Path(os.path.abspath(os.fspath(root)))
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
        found = self._find(key)
        if found is None:
            return None
        path, method = found
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"{path}: cannot read ({exc})") from exc
        return decompress(data, method, str(path))

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
