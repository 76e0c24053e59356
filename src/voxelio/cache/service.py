"""``vol.cache``: the disk cache's user API (inspect, flush, check the cached info).

:class:`CacheService` manages the cache directory of one layer (see :mod:`voxelio.cache.disk`
for the layout). Chunk counts and sizes are per mip directory (the scale's key); regions are
``Bbox`` values in voxels. The service learns the layer's scales through a :class:`LayerView`
(the ``CloudVolume`` facade satisfies it). Flushing while another process fills the same cache
may leave files behind, never half files. Not meant to be shared between threads while
flushing.
"""

from __future__ import annotations

import builtins
import copy
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Protocol

from voxelio.cache.disk import LOCK_DIR, DiskCacheStore
from voxelio.geometry import Bbox
from voxelio.storage.base import Store
from voxelio.storage.file import atomic_write, strip_suffix


class LayerView(Protocol):
    """What the cache service asks of a layer (``CloudVolume`` provides it)."""

    mip: int

    @property
    def available_mips(self) -> range: ...

    @property
    def info(self) -> dict[str, Any]: ...

    def mip_key(self, mip: int | None = None) -> str: ...

    def mip_bounds(self, mip: int | None = None) -> Bbox: ...

    def bbox_to_mip(self, bbox: Any, mip: int, to_mip: int) -> Bbox: ...


class CacheService:
    """The disk cache of one layer: ``enabled``, ``path``, ``compress`` and maintenance calls.

    ``enabled`` may be switched at any time (reads use the cache from the next call on).
    """

    def __init__(
        self, layer: LayerView, path: str | os.PathLike[str], enabled: bool = False,
        compress: bool = False, locking: bool = True,
    ) -> None:  # fmt: skip
        self._layer = layer
        self.path = str(path)
        self.enabled = bool(enabled)
        self.compress = bool(compress)
        self.locking = bool(locking)

    def __repr__(self) -> str:
        return f"CacheService(enabled={self.enabled}, compress={self.compress}, path={self.path!r})"

    def wrap(self, store: Store) -> Store:
        """``store`` behind this cache when enabled, ``store`` itself otherwise."""
        if not self.enabled:
            return store
        return DiskCacheStore(store, self.path, compress=self.compress, locking=self.locking)

    # ---- inspection ---------------------------------------------------------------------

    def _dir(self, name: str) -> Path:
        return Path(self.path) / name

    def _names(self, name: str) -> builtins.list[str]:
        directory = self._dir(name)
        if not directory.is_dir():
            return []
        return sorted(
            f for f in os.listdir(directory)
            if not f.startswith(".voxelio-tmp") and (directory / f).is_file()
        )  # fmt: skip

    def list(self, mip: int | None = None) -> builtins.list[str]:
        """File names cached for ``mip`` (default: the layer's working mip)."""
        return self._names(self._layer.mip_key(self._layer.mip if mip is None else mip))

    def list_meshes(self) -> builtins.list[str]:
        """File names cached in the mesh directory."""
        return self._names(str(self._layer.info.get("mesh") or "mesh"))

    def list_skeletons(self) -> builtins.list[str]:
        """File names cached in the skeleton directory."""
        return self._names(str(self._layer.info.get("skeletons") or "skeletons"))

    def _per_mip(self, all_mips: bool, fn: Any) -> Any:
        if not all_mips:
            return fn(self._layer.mip)
        return [fn(m) for m in self._layer.available_mips]

    def num_files(self, all_mips: bool = False) -> int | builtins.list[int]:
        """Number of cached files of the working mip (a list over mips with ``all_mips``)."""
        return self._per_mip(all_mips, lambda m: len(self.list(m)))  # type: ignore[no-any-return]

    def num_bytes(self, all_mips: bool = False) -> int | builtins.list[int]:
        """Bytes of cached files of the working mip (a list over mips with ``all_mips``)."""

        def size(mip: int) -> int:
            directory = self._dir(self._layer.mip_key(mip))
            return sum(os.path.getsize(directory / f) for f in self.list(mip))

        return self._per_mip(all_mips, size)  # type: ignore[no-any-return]

    # ---- flushing -----------------------------------------------------------------------

    def flush(self, preserve: Any = None) -> None:
        """Delete the layer's cache; with ``preserve`` (a box in mip-0 voxels), keep the
        chunks of every mip that intersect it (and the info)."""
        if not os.path.exists(self.path):
            return
        if preserve is None:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        box = Bbox.create(preserve, context=self._layer.mip_bounds(0))
        for mip in self._layer.available_mips:
            self._remove_chunks(mip, self._layer.bbox_to_mip(box, 0, mip), keep_inside=True)

    def flush_region(self, region: Any, mips: Any = None) -> None:
        """Delete cached chunks intersecting ``region`` (mip-0 voxels) at ``mips`` (an int, a
        list, or ``None`` for the working mip)."""
        box = Bbox.create(region, context=self._layer.mip_bounds(0))
        if mips is None:
            mips = [self._layer.mip]
        elif isinstance(mips, int):
            mips = [mips]
        for mip in mips:
            self._remove_chunks(int(mip), self._layer.bbox_to_mip(box, 0, int(mip)), False)

    def _remove_chunks(self, mip: int, box: Bbox, keep_inside: bool) -> None:
        directory = self._dir(self._layer.mip_key(mip))
        for name in self.list(mip):
            try:
                chunk = Bbox.from_filename(strip_suffix(name))
            except ValueError:
                continue
            if Bbox.intersects(chunk, box) != keep_inside:
                (directory / name).unlink(missing_ok=True)

    def flush_info(self) -> None:
        """Delete the cached info."""
        self._remove("info")

    def flush_provenance(self) -> None:
        """Delete the cached provenance."""
        self._remove("provenance")

    def _remove(self, name: str) -> None:
        for suffix in ("", ".gz", ".br", ".zstd"):
            self._dir(name + suffix).unlink(missing_ok=True)

    # ---- the cached info ----------------------------------------------------------------

    def cached_json(self, name: str) -> Any:
        """The cached ``info``/``provenance`` as JSON, or ``None``."""
        path = self._dir(name)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_bytes())
        except ValueError:
            return None

    def check_info_validity(self, fresh: dict[str, Any]) -> None:
        """Compare the cached info with the remote ``fresh`` one: raise :class:`ValueError`
        when they differ in anything but the scales' sizes (which only warns)."""
        cached = self.cached_json("info")
        if not cached:
            return
        a, b = copy.deepcopy(cached), copy.deepcopy(fresh)
        try:
            sizes_a = [s.pop("size") for s in a["scales"]]
            sizes_b = [s.pop("size") for s in b["scales"]]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"cached info at {self.path}/info is malformed") from exc
        if a != b:
            raise ValueError(
                f"the layer's info differs from the cached one at {self.path}/info; if the "
                "cache is still valid delete the cached info (vol.cache.flush_info()), "
                "otherwise flush the cache (vol.cache.flush())"
            )
        if sizes_a != sizes_b:
            warnings.warn(
                f"volume sizes differ from the cached info at {self.path}/info: "
                f"cached {sizes_a}, source {sizes_b}",
                stacklevel=2,
            )

    def save_json(self, name: str, value: Any) -> None:
        """Write ``info``/``provenance`` into the cache (when enabled)."""
        if self.enabled:
            atomic_write(self._dir(name), json.dumps(value).encode())


__all__ = ["LOCK_DIR", "CacheService", "LayerView"]
