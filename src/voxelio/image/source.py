"""``vol.image``: the image methods of a volume, on top of the engine modules.

:class:`ImageSource` is what ``CloudVolume.image`` returns. It is bound to one volume (any
object with the facade's helpers: ``_layer(mip)``, ``_options()``, ``_bbox(box, mip)``,
``_m(mip)``, ``_cutout(arr, box, mip)``, ``_make_layer(mip)``, ``meta`` and the ``mip_*``
accessors) and reads the volume's current settings at each call. Boxes are voxels of the mip
unless ``coord_resolution`` (nm per unit of the given coordinates) says otherwise; arrays are
``[x, y, z, channel]``. Thread safety is that of the volume.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from voxelio.cache.lru import LRU
from voxelio.codecs.parallel import default_workers
from voxelio.errors import InfoUnavailableError, OutOfBoundsError
from voxelio.geometry import Bbox
from voxelio.image import conditional, engine, labels, parallel, sharedmem, transfer
from voxelio.image.chunks import UnshardedChunks
from voxelio.meta.info import set_encoding
from voxelio.meta.sharding import make_scale_sharded


class ImageSource:
    """Image I/O of one volume: downloads, uploads, label queries, shared memory, transfers."""

    def __init__(self, vol: Any, lru: LRU) -> None:
        self.vol = vol
        self.lru = lru
        self.shared_memory_id = sharedmem.generate_location()

    # ---- helpers ------------------------------------------------------------------------

    def _region(self, bbox: Any, mip: int, coord_resolution: Sequence[float] | None = None
                ) -> Bbox:  # fmt: skip
        if coord_resolution is None:
            return self.vol._bbox(bbox, mip)  # type: ignore[no-any-return]
        box = bbox if isinstance(bbox, Bbox) else Bbox.create(bbox)
        factor = np.asarray(self.vol.mip_resolution(mip)) / np.asarray(coord_resolution, float)
        lo = np.floor(np.asarray(box.minpt) / factor)
        hi = np.ceil(np.asarray(box.maxpt) / factor)
        scaled = Bbox(lo, hi, dtype=np.int64)
        if np.any(np.asarray(scaled.size()) <= 0):
            raise OutOfBoundsError(f"{box} at coord_resolution {list(coord_resolution)} "
                                      f"is smaller than a voxel of mip {mip}")  # fmt: skip
        return self.vol._bbox(scaled, mip)  # type: ignore[no-any-return]

    def _processes(self, parallel_: int | bool | None) -> int:
        value = self.vol.parallel if parallel_ is None else parallel_
        if value is True:
            value = default_workers()
        if self.vol.meta.path.protocol == "mem":
            return 1  # mem:// data lives in this process only
        return max(1, int(value or 1))

    def _start(self) -> str:
        """``fork`` for local files (no ``__main__`` guard needed), ``spawn`` for cloud stores
        (obstore does not survive a fork)."""
        return "fork" if self.vol.meta.path.protocol == "file" else "spawn"

    # ---- reads --------------------------------------------------------------------------

    def download(
        self, bbox: Any, mip: int | None = None, parallel: int | bool | None = None,
        segids: Sequence[int] | None = None, preserve_zeros: bool = False,
        renumber: bool = False, label: int | None = None,
        coord_resolution: Sequence[float] | None = None,
    ) -> Any:  # fmt: skip
        """Read a region; see ``CloudVolume.download``. Returns a cutout, or
        ``(cutout, {original: new})`` with ``renumber``."""
        m = self.vol._m(mip)
        box = self._region(bbox, m, coord_resolution)
        layer, options = self.vol._layer(m), self.vol._options()
        if label is not None:
            arr = labels.download_label(layer, box, int(label), options)
        elif self._processes(parallel) > 1:
            arr = self._download_processes(box, m, self._processes(parallel))
        else:
            arr = engine.download(layer, box, options)
        if segids is not None and label is None:
            arr = labels.mask_segids(arr, segids, preserve_zeros)
        if renumber:
            arr, mapping = labels.renumber(arr, options.background_color)
            return self.vol._cutout(arr, box, m), mapping
        return self.vol._cutout(arr, box, m)

    def _download_processes(self, box: Bbox, mip: int, processes: int) -> np.ndarray:
        location = sharedmem.generate_location()
        try:
            out = parallel.download(self.vol._make_layer(mip), box, location,
                                    self.vol._options(), processes, self._start())  # fmt: skip
        finally:
            sharedmem.unlink(location)  # the mapping stays valid until the array is freed
        return np.asarray(out)

    def unique(self, bbox: Any, mip: int | None = None,
               coord_resolution: Sequence[float] | None = None) -> set[int]:  # fmt: skip
        """The distinct values in a region, without painting it."""
        m = self.vol._m(mip)
        box = self._region(bbox, m, coord_resolution)
        return labels.unique(self.vol._layer(m), box, self.vol._options())

    def download_points(
        self, pts: Any, mip: int | None = None, coord_resolution: Sequence[float] | None = None
    ) -> dict[Any, Any]:
        """``{(x, y, z): value}`` for points in mip-0 voxels (or ``coord_resolution`` units),
        read at ``mip``; keys are the points converted to ``mip``."""
        m = self.vol._m(mip)
        arr = np.asarray(list(pts), dtype=float)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] < 3:
            raise ValueError(f"points must be (x, y, z) triples, got shape {arr.shape}")
        src = np.asarray(coord_resolution if coord_resolution is not None
                         else self.vol.mip_resolution(0), dtype=float)  # fmt: skip
        at_mip = np.floor(arr[:, :3] * src / np.asarray(self.vol.mip_resolution(m))).astype(int)
        bounds = self.vol.mip_bounds(m)
        if self.vol.bounded:
            for pt in at_mip:
                if not bounds.contains(pt):
                    raise OutOfBoundsError(f"{self.vol.cloudpath}: point {tuple(pt)} is "
                                           f"outside the bounds {bounds} of mip {m}")  # fmt: skip
        return labels.read_points(self.vol._layer(m), at_mip.tolist(), self.vol._options())

    def download_files(
        self,
        bbox: Any,
        mip: int | None = None,
        decompress: bool = True,
        coord_resolution: Sequence[float] | None = None,
    ) -> dict[Any, bytes]:
        """The stored chunks of a region without decoding (see
        :func:`voxelio.image.labels.download_files`)."""
        m = self.vol._m(mip)
        box = self._region(bbox, m, coord_resolution)
        return labels.download_files(self.vol._layer(m), box, self.vol._options())

    def exists(self, bbox: Any, mip: int | None = None) -> dict[str, bool]:
        """``{"SCALE_KEY/CHUNK": stored?}`` for the chunks a region touches."""
        m = self.vol._m(mip)
        layer = self.vol._layer(m)
        report, missing = labels.exists_report(layer, self.vol._bbox(bbox, m))
        if isinstance(layer.chunks, UnshardedChunks):  # the store-level LRU's entries
            for chunk in missing:
                self.lru.pop((layer.chunks.key(chunk), None))
        if layer.cache is not None:
            layer.cache.drop(missing)
        return report

    def is_sharded(self, mip: int | None = None) -> bool:
        """Whether the scale ``mip`` (default: the working one) stores its chunks in shards."""
        return self.vol.meta.scale(self.vol._m(mip)).sharding is not None

    def has_data(self, mip: int | None = None) -> bool:
        """Whether anything is stored for ``mip``."""
        m = self.vol._m(mip)
        empty = self.vol._layer(m).chunks.empty_object_size
        return labels.has_data(self.vol.meta.store, self.vol.mip_key(m), empty)

    # ---- writes -------------------------------------------------------------------------

    def upload(self, bbox: Bbox, img: np.ndarray, mip: int | None = None) -> None:
        """Write ``img`` at a validated box (see ``CloudVolume.upload``)."""
        conditional.upload(self.vol._layer(self.vol._m(mip)), bbox, img, self.vol._options())

    def delete(self, bbox: Any, mip: int | None = None) -> None:
        """Delete the chunks of a chunk-aligned region."""
        m = self.vol._m(mip)
        engine.delete(self.vol._layer(m), self.vol._bbox(bbox, m), self.vol._options())

    # ---- shared memory and files --------------------------------------------------------

    def download_to_shared_memory(self, bbox: Any, location: str | None = None,
                                  mip: int | None = None) -> Any:  # fmt: skip
        """Read a region into the shared array at ``location`` (default
        ``shared_memory_id``) and return a cutout viewing it; the caller unlinks it."""
        m = self.vol._m(mip)
        box = self.vol._bbox(bbox, m)
        out = parallel.download(
            self.vol._make_layer(m),
            box,
            location or self.shared_memory_id,
            self.vol._options(),
            self._processes(None),
            self._start(),
        )
        return self.vol._cutout(out, box, m)

    def download_to_file(self, path: str, bbox: Any, mip: int | None = None) -> Any:
        """Read a region into the file ``path`` (a raw Fortran-order array) and return a
        memory-mapped cutout of it."""
        return self.download_to_shared_memory(bbox, location=_as_file(path), mip=mip)

    def upload_from_shared_memory(
        self,
        location: str,
        bbox: Any,
        order: str = "F",
        cutout_bbox: Any = None,
        mip: int | None = None,
    ) -> None:
        """Write the shared array at ``location``, which covers ``bbox``, into the layer
        (only ``cutout_bbox`` of it when given)."""
        m = self.vol._m(mip)
        box = self.vol._bbox(bbox, m)
        cut = None if cutout_bbox is None else self.vol._bbox(cutout_bbox, m)
        try:
            parallel.upload(self.vol._make_layer(m), box, location, self.vol._options(),
                            self._processes(None), order, cut, self._start())  # fmt: skip
        finally:  # other processes wrote: nothing here dropped what they replaced
            self.lru.clear()

    def upload_from_file(self, path: str, bbox: Any, order: str = "F",
                         cutout_bbox: Any = None, mip: int | None = None) -> None:  # fmt: skip
        """:meth:`upload_from_shared_memory` from the raw array file ``path``."""
        self.upload_from_shared_memory(_as_file(path), bbox, order, cutout_bbox, mip)

    def unlink_shared_memory(self) -> bool:
        """Unlink the default shared memory location; returns whether it existed."""
        return sharedmem.unlink(self.shared_memory_id)

    # ---- copies -------------------------------------------------------------------------

    def memory_cutout(self, bbox: Any, mip: int | None = None, encoding: str | None = None,
                      compress: Any = None, compress_level: int | None = None) -> Any:  # fmt: skip
        """A new ``mem://`` volume (unsharded) holding a region of this one."""
        m = self.vol._m(mip)
        box = self.vol._bbox(bbox, m)
        info = copy.deepcopy(self.vol.info)
        scale = info["scales"][m]
        scale.pop("sharding", None)
        if encoding is not None:
            set_encoding(scale, encoding)
        info["scales"] = info["scales"][: m + 1]
        dest = type(self.vol)(f"mem://voxelio-cutout/{sharedmem.generate_location()}",
                              info=info, mip=m, compress=compress, progress=False,
                              fill_missing=True)  # fmt: skip
        dest.compress_level = compress_level
        dest.commit_info()
        self._copy_into(dest, box, m, None)
        return dest

    def transfer_to(self, cloudpath: str, bbox: Any, mip: int | None = None,
                    block_size: int | None = None, compress: Any = "auto",
                    encoding: str | None = None, sharded: bool | None = None) -> Any:  # fmt: skip
        """Copy a region to the layer at ``cloudpath`` (created from this info and provenance
        when absent) in blocks; returns the destination volume."""
        m = self.vol._m(mip)
        box = self.vol._bbox(bbox, m)
        transfer.check_block_size(block_size)
        dest = self._destination(cloudpath, m, compress, encoding, sharded)
        self._copy_into(dest, box, m, block_size)
        return dest

    def _destination(self, cloudpath: str, mip: int, compress: Any, encoding: str | None,
                     sharded: bool | None) -> Any:  # fmt: skip
        cls = type(self.vol)
        kw = {"compress": None if compress == "auto" else compress, "progress": self.vol.progress,
              "secrets": self.vol._secrets, "mip": mip, "non_aligned_writes": True}  # fmt: skip
        try:
            return cls(cloudpath, **kw)
        except InfoUnavailableError:
            pass
        info = copy.deepcopy(self.vol.info)
        scale = info["scales"][mip]
        if encoding is not None:
            set_encoding(scale, encoding)
        if sharded is False:
            scale.pop("sharding", None)
        elif sharded is True and not scale.get("sharding"):
            make_scale_sharded(info, mip)
        provenance = copy.deepcopy(self.vol.provenance)  # as cloud-volume: the source's
        dest = cls(cloudpath, info=info, provenance=provenance, **kw)
        dest.commit_info()
        dest.commit_provenance()
        return dest

    def _copy_into(self, dest: Any, box: Bbox, mip: int, block_size: int | None) -> None:
        src_options = self.vol._options()
        transfer.transfer(self.vol._layer(mip), dest._layer(mip), box, src_options,
                          dest._options(), block_size)  # fmt: skip


def _as_file(path: str) -> str:
    import os

    return os.path.abspath(path.removeprefix("file://"))


__all__ = ["ImageSource"]
