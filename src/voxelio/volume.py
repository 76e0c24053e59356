"""``CloudVolume``: the cloud-volume compatible facade over the precomputed format.

The facade only translates the compatible API (options, ``vol.mip = 2``, ``mip_*`` twins,
``download``/``upload`` aliases) into calls on the metadata and the image engine. Coordinates are
voxels of the working mip unless a method says otherwise; arrays are ``[x, y, z, channel]``.

Thread safety: reads from several threads on one volume are safe; changing settings
(``vol.mip = ...``) while another thread reads is not. Volumes pickle cheaply (the info is
carried, stores reconnect lazily), so they can be sent to worker processes.
"""

from __future__ import annotations

import functools
import sys
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from voxelio.annotations import AnnotationSource
from voxelio.annotations.source import annotation_info
from voxelio.cache.disk import cache_path
from voxelio.cache.lru import LRU, LRUStore
from voxelio.cache.service import CacheService
from voxelio.codecs import get_codec
from voxelio.codecs.parallel import default_workers
from voxelio.compression import Method, normalize_method
from voxelio.cutout import VolumeCutout
from voxelio.errors import (
    AlignmentError,
    IndexingError,
    InfoError,
    OutOfBoundsError,
    ReadOnlyException,
    SubvoxelVolumeError,
)
from voxelio.formats.precomputed.layer import image_layer
from voxelio.formats.precomputed.metadata import PrecomputedMetadata, fetch_info
from voxelio.geometry import Bbox
from voxelio.geometry.slicing import resolve
from voxelio.image import sharedmem
from voxelio.image.chunkcache import SAME, check_lru_encoding
from voxelio.image.engine import Layer, exact_scalar
from voxelio.image.options import ImageOptions
from voxelio.image.source import ImageSource
from voxelio.meshes import open_mesh_source
from voxelio.meta import create_new_info, parse_json, validate_info, validate_provenance
from voxelio.meta.annotations import ANNOTATION_TYPE
from voxelio.meta.info import Scale
from voxelio.meta.segment_properties import SegmentProperties
from voxelio.paths import CloudPath, parse
from voxelio.segment_properties import read_segment_properties, write_segment_properties
from voxelio.skeletons import open_skeleton_source
from voxelio.storage import Store, open_store
from voxelio.storage.base import cache_control_header
from voxelio.storage.httpserver import DEFAULT_PORT, StoreServer
from voxelio.volume_meta import VolumeMetadata
from voxelio.window import MipArray

INTERACTIVE = bool(getattr(sys, "ps1", sys.flags.interactive))
#: the channel index of ``vol[x, y, z]``: every channel
_ALL = slice(None)


class CloudVolume(VolumeMetadata):
    """A Neuroglancer Precomputed layer, read and written like cloud-volume's ``CloudVolume``.

    Every option of cloud-volume's constructor is accepted. ``cache`` (True or a directory)
    keeps a disk copy of what is read (``vol.cache``; ``compress_cache`` gzips it, ``None``
    means plain files; ``cache_locking`` serializes fills across processes with ``flock``).
    ``lru_bytes`` bounds an in-memory LRU of chunks (``vol.image.lru``), held as stored
    (``lru_encoding="same"``), decoded (``"raw"``) or transcoded to the encoding named (see
    :mod:`voxelio.image.chunkcache`). ``parallel=N`` (or True: all cores) reads
    and writes with N processes sharing memory; each process also uses threads.
    ``storage_options`` (voxelio only) go to the storage backend: ``endpoint``, ``region``,
    ``concurrency``, ``retry`` (see :func:`voxelio.storage.open_store`).
    ``green_threads`` is accepted and has no effect: voxelio uses threads, which overlap I/O
    as well as gevent would and also decode in parallel.
    """

    def __init__(
        self,
        cloudpath: str,
        mip: int | Sequence[float] = 0,
        bounded: bool = True,
        autocrop: bool = False,
        fill_missing: bool = False,
        cache: bool | str = False,
        compress_cache: bool | None = None,
        cdn_cache: bool | int | str = True,
        progress: bool | None = None,
        info: dict[str, Any] | None = None,
        provenance: dict[str, Any] | str | None = None,
        compress: bool | str | None = None,
        compress_level: int | None = None,
        non_aligned_writes: bool = False,
        parallel: int | bool = 1,
        delete_black_uploads: bool = False,
        background_color: int | float = 0,
        green_threads: bool = False,
        use_https: bool = False,
        max_redirects: int = 10,
        mesh_dir: str | None = None,
        skel_dir: str | None = None,
        agglomerate: bool = False,
        secrets: Any = None,
        spatial_index_db: str | None = None,
        lru_bytes: int = 0,
        cache_locking: bool = True,
        lru_encoding: str = "same",
        timestamp: int | None = None,
        codec_threads: int = 1,
        overwrite_partial_chunks: bool = False,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self._secrets = secrets
        self._storage_options = dict(storage_options or {})
        self._use_https = use_https
        self.bounded = bounded
        self.autocrop = autocrop
        self.fill_missing = fill_missing
        cache_control_header(cdn_cache)  # a bad value fails here, not at the first upload
        self.cdn_cache = cdn_cache
        self.progress = INTERACTIVE if progress is None else bool(progress)
        self.compress = compress
        self.compress_level = compress_level
        self.non_aligned_writes = non_aligned_writes
        self.parallel = parallel
        self.delete_black_uploads = delete_black_uploads
        self.background_color = background_color
        self.green_threads = green_threads
        self.agglomerate = agglomerate
        self.spatial_index_db = spatial_index_db
        self.max_redirects = max_redirects
        self._lru_encoding = check_lru_encoding(lru_encoding)
        path = parse(cloudpath)
        self._lru = LRU(int(lru_bytes))
        self.cache = CacheService(
            self, cache_path(cache if isinstance(cache, str) else True, path.protocol,
                             path.location),
            enabled=bool(cache), compress=bool(compress_cache), locking=cache_locking,
        )  # fmt: skip
        self.meta = self._load(path, info, max_redirects)
        exact_scalar(self.meta.dtype, background_color, f"{path.url}: background_color")
        if info is None and self.cache.enabled:
            self.cache.check_info_validity(self.meta.info)
            self.cache.save_json("info", self.meta.info)
        for name, subdir in (("mesh", mesh_dir), ("skeletons", skel_dir)):
            if subdir:  # as cloud-volume: the info names the directory (a commit keeps it)
                self.meta.info[name] = str(subdir)
        if provenance is not None:
            self.meta.provenance = validate_provenance(provenance)
        elif info is not None:
            self.meta.provenance = validate_provenance({})
        self._mip = 0
        self.mip = mip

    @property
    def lru_encoding(self) -> str:
        """How the LRU holds chunks: "same" (as stored), "raw" (decoded) or an encoding to
        transcode them to. Changing it empties the LRU."""
        return self._lru_encoding

    @lru_encoding.setter
    def lru_encoding(self, value: str) -> None:
        encoding = check_lru_encoding(value)
        if encoding != self._lru_encoding:
            self._lru.clear()  # entries of either kind would outlive writes the other drops
        self._lru_encoding = encoding

    # ---- construction helpers -----------------------------------------------------------

    def _open_store(self, path: CloudPath, read_only: bool = False) -> Store:
        return open_store(path.url, secrets=self._secrets, use_https=self._use_https,
                          read_only=read_only, **self._storage_options)  # fmt: skip

    def _load(
        self, path: CloudPath, info: dict[str, Any] | None, max_redirects: int
    ) -> PrecomputedMetadata:
        if info is not None:
            validate_info(info, f"{path.url}/info (given as info=)")
            return PrecomputedMetadata(path, self._open_store(path), info)
        # a layer reached by a redirect is read-only, as in cloud-volume: its store, through
        # which every write of chunks goes, is opened read-only
        found, final, store = fetch_info(
            path, lambda hop: self._open_store(hop, read_only=hop.url != path.url), max_redirects
        )
        return PrecomputedMetadata(final, store, found, redirected=final.url != path.url)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_mesh", None)
        state.pop("_skeleton", None)
        state.pop("_layers", None)
        state.pop("_image", None)
        return state

    # ---- class helpers ------------------------------------------------------------------

    @staticmethod
    def create_new_info(*args: Any, **kwargs: Any) -> dict[str, Any]:
        """A new info dict; see :func:`voxelio.meta.create_new_info` for the parameters."""
        return create_new_info(*args, **kwargs)

    @classmethod
    def from_numpy(
        cls,
        arr: np.ndarray,
        vol_path: str | None = None,
        resolution: Sequence[float] = (4, 4, 40),
        voxel_offset: Sequence[int] = (0, 0, 0),
        chunk_size: Sequence[int] = (128, 128, 64),
        layer_type: str | None = None,
        mip: int = 0,
        encoding: str = "raw",
        max_mip: int = 0,
        compress: bool | str | None = None,
        progress: bool = False,
        **kwargs: Any,
    ) -> CloudVolume:
        """Create a layer at ``vol_path`` holding ``arr`` (``[x, y, z(, c)]``) and return it."""
        vol_path = vol_path or f"mem://voxelio-from-numpy/{uuid.uuid4().hex}"
        arr4 = arr if arr.ndim == 4 else arr.reshape(arr.shape + (1,) * (4 - arr.ndim))
        if layer_type is None:
            layer_type = (
                "segmentation"
                if np.dtype(arr.dtype).kind in "ui" and arr.dtype.itemsize >= 4
                else "image"
            )
        info = create_new_info(
            num_channels=arr4.shape[3],
            layer_type=layer_type,
            data_type=arr.dtype.name,
            encoding=encoding,
            resolution=resolution,
            voxel_offset=voxel_offset,
            volume_size=arr4.shape[:3],
            chunk_size=chunk_size,
            max_mip=max_mip,
        )
        vol = cls(vol_path, info=info, compress=compress, progress=progress, mip=mip, **kwargs)
        vol.commit_info()
        lo = np.asarray(voxel_offset)
        vol[Bbox(lo, lo + np.asarray(arr4.shape[:3]))] = arr4
        return vol

    # ---- image I/O ----------------------------------------------------------------------

    def _options(self) -> ImageOptions:
        workers = 0 if self.parallel in (1, True, False) else int(self.parallel)
        if workers == 0 and not self.meta.store.networked:
            # no network latency to hide: a thread per core (measured: 4 threads on 2 cores
            # read a raw layer 25% slower than 2)
            workers = default_workers()
        return ImageOptions(
            fill_missing=self.fill_missing,
            background_color=self.background_color,
            compress=self._compress_method(),
            compress_level=self.compress_level,
            cache_control=cache_control_header(self.cdn_cache),
            delete_black_uploads=self.delete_black_uploads,
            non_aligned_writes=self.non_aligned_writes,
            progress=self.progress,
            workers=workers,
        )

    def _compress_method(self) -> Method | None:
        if self.compress is not None:
            return normalize_method(self.compress)
        if self.meta.path.protocol == "file":
            return None  # TensorStore and static servers read plain chunk files only
        return normalize_method(get_codec(self.encoding).default_compress)

    @property
    def image(self) -> ImageSource:
        """The image methods (``download``, ``unique``, ``lru``, ``transfer_to``, ...)."""
        if "_image" not in self.__dict__:
            self.__dict__["_image"] = ImageSource(self, self._lru)
        return self.__dict__["_image"]  # type: ignore[no-any-return]

    def _store_stack(self) -> tuple[Store, tuple[Any, ...]]:
        """The store reads go through (LRU -> disk cache -> backend) and a key naming it."""
        store = self.cache.wrap(self.meta.store)
        encoding = self.lru_encoding
        if self._lru.size > 0 and encoding == SAME:
            store = LRUStore(store, self._lru)
        return store, (
            self.cache.enabled,
            self.cache.path,
            self.cache.compress,
            self._lru.size > 0,
            encoding,
            id(self.meta.store),
        )

    def _layer(self, mip: int) -> Layer:
        """The engine layer of ``mip``, kept while the scale and the store stack are unchanged
        (its shard index caches live on it)."""
        scale: Scale = self.meta.scale(mip)
        store, stack = self._store_stack()
        cache: dict[int, tuple[Any, Layer]] = self.__dict__.setdefault("_layers", {})
        known, layer = cache.get(mip, (None, None))
        if (
            layer is None
            or known != stack
            or layer.scale != scale
            or layer.dtype != self.dtype
            or layer.num_channels != self.num_channels
        ):
            layer = image_layer(
                store, scale, self.data_type, self.num_channels, self._lru, self.lru_encoding
            )
            cache[mip] = (stack, layer)
        return layer

    def _make_layer(self, mip: int) -> functools.partial[Layer]:
        """A picklable callable that rebuilds the layer of ``mip`` (for worker processes)."""
        return functools.partial(_layer_of, self, mip)

    def _voxel_box(self, bbox: Any, mip: int) -> Bbox:
        """``bbox`` in integer voxels of ``mip``, as given (not cropped or checked)."""
        box = bbox if isinstance(bbox, Bbox) else Bbox.create(bbox, context=self.mip_bounds(mip))
        if box.unit != "vx":
            box = box.convert_units("vx", self.mip_resolution(mip))
        if box.dtype.kind == "f":  # voxels: truncated to integers, as cloud-volume
            if not np.isfinite([*box.minpt, *box.maxpt]).all():
                raise IndexingError(f"{self.cloudpath}: {box} has coordinates that are not finite")
            box = box.astype(np.int64)
        if any(hi < lo for lo, hi in zip(box.minpt, box.maxpt)):
            raise SubvoxelVolumeError(f"{self.cloudpath}: {box} is inverted (a max below its min)")
        return box

    def _bbox(self, bbox: Any, mip: int) -> Bbox:
        """``bbox`` in integer voxels of ``mip``, cropped to the bounds with ``autocrop``,
        else checked against them when ``bounded``."""
        return self._bounded(self._voxel_box(bbox, mip), mip)

    def _bounded(self, box: Bbox, mip: int) -> Bbox:
        """A voxel box of ``mip`` cropped to the bounds with ``autocrop``, else checked
        against them when ``bounded``."""
        bounds = self.mip_bounds(mip)
        if self.autocrop:
            box = Bbox.intersection(box, bounds)
        elif self.bounded and not bounds.contains_bbox(box):
            raise OutOfBoundsError(
                f"{self.cloudpath}: {box} is outside the bounds {bounds} of mip {mip}"
            )
        return box

    def download(
        self, bbox: Any, mip: int | None = None, parallel: int | bool | None = None,
        segids: Sequence[int] | None = None, preserve_zeros: bool = False,
        agglomerate: bool | None = None, timestamp: int | None = None,
        stop_layer: int | None = None, renumber: bool = False,
        coord_resolution: Sequence[float] | None = None, label: int | None = None,
    ) -> Any:  # fmt: skip
        """Read ``bbox`` (voxels of ``mip``, or units of ``coord_resolution`` nm) into a
        :class:`VolumeCutout` ``[x, y, z, c]``.

        ``segids``: keep only these labels (others become 0, or the dtype's maximum with
        ``preserve_zeros``, which keeps 0). ``label``: a boolean mask of that label.
        ``renumber``: return ``(cutout relabelled 1..N, {original: new})``. ``parallel``:
        processes (default the volume's). ``agglomerate``/``timestamp``/``stop_layer`` are
        accepted for graphene compatibility and ignored.
        """
        return self.image.download(bbox, mip, parallel, segids, preserve_zeros, renumber,
                                   label, coord_resolution)  # fmt: skip

    def _cutout(self, arr: np.ndarray, box: Bbox, mip: int) -> VolumeCutout:
        return VolumeCutout(arr, box, mip, self.layer_type, self.mip_resolution(mip),
                            self.dataset_name, self.layer, self.cloudpath)  # fmt: skip

    def __getitem__(self, index: Any) -> Any:
        if (
            isinstance(index, tuple)
            and len(index) == 3
            and all(isinstance(i, (list, np.ndarray)) for i in index)
        ):
            return self.coordinate_indexing(index)
        index = self._in_voxels(index)
        req = resolve(index, self.bounds, self.num_channels, self.bounded, self.autocrop)
        img = self.download(req.bbox)
        if req.steps == (1, 1, 1) and req.channels == _ALL:
            return img
        sx, sy, sz = req.steps
        return img[::sx, ::sy, ::sz, req.channels]

    def upload(self, bbox: Any, img: np.ndarray | int | float, mip: int | None = None) -> None:
        """Write ``img`` at ``bbox`` (voxels of ``mip``); a scalar fills the region."""
        self._check_not_redirected()
        m = self._m(mip)
        requested = self._voxel_box(bbox, m)
        box = self._bounded(requested, m)
        arr = self._as_image(img, box)
        if self.autocrop and not np.isscalar(img) and box != requested:
            if tuple(arr.shape[:3]) != tuple(int(v) for v in requested.size()):
                raise AlignmentError(
                    f"{self.cloudpath}: image shape {arr.shape} does not fit the region "
                    f"{requested} it is written to (before autocrop)"
                )
            arr = self._crop_to(arr, requested, box)  # the image covers the region asked for
        if box.empty():  # autocrop left nothing inside the bounds: nothing to write
            return
        self.image.upload(box, arr, m)

    def _check_not_redirected(self) -> None:
        if self.meta.redirected:
            raise ReadOnlyException(
                f"{self.meta.path.url}: this layer was reached by a redirect and is read-only "
                "(as in cloud-volume); open it by its own path to write to it"
            )

    def _as_image(self, img: np.ndarray | int | float, box: Bbox) -> np.ndarray:
        if np.isscalar(img):
            value = exact_scalar(self.dtype, img, f"{self.cloudpath}: the value written")
            shape = tuple(int(v) for v in box.size()) + (self.num_channels,)
            return np.full(shape, value, dtype=self.dtype, order="F")
        return np.asarray(img)

    @staticmethod
    def _crop_to(arr: np.ndarray, requested: Bbox, cropped: Bbox) -> np.ndarray:
        lo = np.asarray(cropped.minpt) - np.asarray(requested.minpt)
        hi = lo + np.asarray(cropped.size())
        return arr[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]

    def _in_voxels(self, index: Any) -> Any:
        """``index``, a box in physical units converted to voxels of the working mip."""
        if isinstance(index, Bbox) and index.unit != "vx":
            return index.convert_units("vx", self.resolution)
        return index

    def __setitem__(self, index: Any, img: np.ndarray | int | float) -> None:
        index = self._in_voxels(index)
        # uncropped: with autocrop, upload crops the image along with its region
        req = resolve(index, self.bounds, self.num_channels, self.bounded and not self.autocrop)
        if req.steps != (1, 1, 1):
            raise IndexingError(f"{self.cloudpath}: writes do not support steps, got {req.steps}")
        if req.channels != slice(None) and (req.channels.start, req.channels.stop) != (
            0,
            self.num_channels,
        ):
            raise IndexingError(f"{self.cloudpath}: writes must cover every channel")
        self.upload(req.bbox, img)

    def to_dask(self, chunks: Any = None, name: str | None = None, mip: int | None = None) -> Any:
        """The scale ``mip`` (default: the working mip) as a dask array ``[x, y, z, channel]``
        indexed from 0 at its voxel offset (:class:`voxelio.window.MipArray`), one dask chunk
        per stored chunk unless ``chunks`` says otherwise; nothing is read until dask
        computes. Needs the ``dask`` extra. ``name`` keys the array in dask graphs (default:
        a fresh one per call, so a later call sees later writes)."""
        import dask.array as da

        window = MipArray(self, self._m(mip))
        if chunks is None:
            chunks = (*(int(c) for c in self.mip_chunk_size(window.mip)), self.num_channels)
        meta = np.empty((0, 0, 0, 0), window.dtype)
        return da.from_array(window, chunks=chunks, name=name or False, asarray=False, meta=meta)

    def download_point(
        self,
        pt: Sequence[int],
        size: int | Sequence[int] = 256,
        mip: int | None = None,
        coord_resolution: Sequence[float] | None = None,
    ) -> VolumeCutout:
        """Read a box of ``size`` voxels centred on ``pt`` (mip-0 voxels, or ``coord_resolution``
        nm per unit) at ``mip``."""
        m = self._m(mip)
        src_res = np.asarray(
            coord_resolution if coord_resolution is not None else self.mip_resolution(0),
            dtype=float,
        )
        center = np.asarray(pt[:3], dtype=float) * src_res / np.asarray(self.mip_resolution(m))
        half = np.asarray(size if np.ndim(size) else [size] * 3) // 2
        lo = np.floor(center).astype(np.int64) - half
        box = Bbox(lo, lo + 2 * half + (np.asarray(size if np.ndim(size) else [size] * 3) % 2))
        return self.download(box, mip=m)

    def exists(self, bbox: Any, mip: int | None = None) -> dict[str, bool]:
        """``{"SCALE_KEY/CHUNK": stored?}`` for the chunks ``bbox`` touches, as cloud-volume."""
        return self.image.exists(bbox, mip)

    def delete(self, bbox: Any, mip: int | None = None) -> None:
        """Delete the chunks inside a chunk-aligned ``bbox``."""
        self._check_not_redirected()
        self.image.delete(bbox, mip)

    def unique(self, bbox: Any, mip: int | None = None, agglomerate: bool | None = None,
               timestamp: int | None = None, stop_layer: int | None = None,
               coord_resolution: Sequence[float] | None = None) -> set[int]:  # fmt: skip
        """The set of labels in ``bbox``, without painting an image."""
        return self.image.unique(bbox, mip, coord_resolution)

    def scattered_points(
        self, pts: Any, mip: int | None = None, coord_resolution: Sequence[float] | None = None
    ) -> dict[Any, Any]:
        """``{(x, y, z) at mip: value}`` for points in mip-0 voxels (or ``coord_resolution``)."""
        return self.image.download_points(pts, mip, coord_resolution)

    def coordinate_indexing(self, slices: tuple[Any, ...]) -> np.ndarray:
        """The values at points ``(xs, ys, zs)`` (voxels of the working mip), as
        ``vol[xs, ys, zs]`` with three lists gives them (cloud-volume's name)."""
        pts = list(zip(*(np.asarray(i).tolist() for i in slices)))
        m0 = [tuple(self.bbox_to_mip(Bbox(p, np.asarray(p) + 1), self.mip, 0).minpt) for p in pts]
        found = self.image.download_points(m0, self.mip)
        return np.array([found[tuple(p)] for p in pts], dtype=self.dtype)

    def download_files(
        self,
        bbox: Any,
        mip: int | None = None,
        parallel: Any = None,
        segids: Any = None,
        agglomerate: Any = None,
        timestamp: Any = None,
        stop_layer: Any = None,
        coord_resolution: Sequence[float] | None = None,
        cache_only: bool = False,
        decompress: bool = True,
    ) -> dict[Any, bytes]:
        """The stored chunks of ``bbox`` undecoded (``{key or chunk id: bytes}``)."""
        files = self.image.download_files(bbox, mip, decompress, coord_resolution)
        return {} if cache_only else files

    def memory_cutout(self, bbox: Any, mip: int | None = None, encoding: str | None = None,
                      compress: Any = None, compress_level: int | None = None,
                      **kwargs: Any) -> CloudVolume:  # fmt: skip
        """A disposable ``mem://`` volume holding ``bbox`` (unsharded)."""
        return self.image.memory_cutout(bbox, mip, encoding, compress, compress_level)  # type: ignore[no-any-return]

    def transfer_to(
        self,
        cloudpath: str,
        bbox: Any,
        block_size: int | None = None,
        compress: Any = "auto",
        encoding: str | None = None,
        sharded: bool | None = None,
        mip: int | None = None,
    ) -> CloudVolume:
        """Copy ``bbox`` at the working mip to ``cloudpath`` in blocks of ``block_size``
        chunks, re-encoding when ``encoding`` is given; the destination is created from
        this info when it has none. Memory stays within a few blocks."""
        return self.image.transfer_to(
            cloudpath,
            bbox,
            mip,
            block_size,
            compress,
            encoding,  # type: ignore[no-any-return]
            sharded,
        )

    # ---- shared memory ------------------------------------------------------------------

    @property
    def shared_memory_id(self) -> str:
        """The default shared memory location of this volume."""
        return self.image.shared_memory_id

    @shared_memory_id.setter
    def shared_memory_id(self, value: str) -> None:
        self.image.shared_memory_id = value

    @staticmethod
    def generate_shared_memory_location() -> str:
        """A new unique shared memory location name."""
        return sharedmem.generate_location()

    def download_to_shared_memory(self, slices: Any, location: str | None = None,
                                  mip: int | None = None) -> Any:  # fmt: skip
        """Read ``slices`` into shared memory at ``location`` (default ``shared_memory_id``);
        the caller must unlink it (``unlink_shared_memory``)."""
        return self.image.download_to_shared_memory(slices, location, mip)

    def download_to_file(self, path: str, bbox: Any, mip: int | None = None) -> Any:
        """Read ``bbox`` into the raw array file ``path``; returns a memory-mapped cutout."""
        return self.image.download_to_file(path, bbox, mip)

    def upload_from_shared_memory(self, location: str, bbox: Any, order: str = "F",
                                  cutout_bbox: Any = None) -> None:  # fmt: skip
        """Write the shared array at ``location`` (covering ``bbox``) into the layer."""
        self.image.upload_from_shared_memory(location, bbox, order, cutout_bbox)

    def upload_from_file(self, location: str, bbox: Any, order: str = "F",
                         cutout_bbox: Any = None) -> None:  # fmt: skip
        """Write the raw array file ``location`` (covering ``bbox``) into the layer."""
        self.image.upload_from_file(location, bbox, order, cutout_bbox)

    def unlink_shared_memory(self) -> bool:
        """Unlink ``shared_memory_id``."""
        return self.image.unlink_shared_memory()

    # ---- meshes and skeletons -----------------------------------------------------------

    def _subdir_store(self, name: str) -> Store:
        """The store of a directory of the layer (meshes, skeletons, segment properties),
        read-only like the layer when a redirect led to it."""
        return self._open_store(self.meta.path.join(name), read_only=self.meta.redirected)

    @property
    def mesh(self) -> Any:
        """Mesh access (``get``, ``put``, ``save``...); see :mod:`voxelio.meshes`."""
        if "_mesh" not in self.__dict__:
            name = self.info.get("mesh") or "mesh"
            self.__dict__["_mesh"] = open_mesh_source(
                self._subdir_store(name), self.info, progress=self.progress
            )
        return self.__dict__["_mesh"]

    @property
    def skeleton(self) -> Any:
        """Skeleton access (``get``, ``upload``...); see :mod:`voxelio.skeletons`."""
        if "_skeleton" not in self.__dict__:
            name = self.info.get("skeletons") or "skeletons"
            self.__dict__["_skeleton"] = open_skeleton_source(
                self._subdir_store(name),
                self.info,
                spatial_index_db=self.spatial_index_db,
                progress=self.progress,
            )
        return self.__dict__["_skeleton"]

    # ---- segment properties -------------------------------------------------------------

    @property
    def segment_properties(self) -> SegmentProperties | None:
        """The layer's segment properties (labels, tags, numbers per segment id), read from
        the directory ``info["segment_properties"]`` names; ``None`` when it names none."""
        name = self.info.get("segment_properties")
        if not name:
            return None
        return read_segment_properties(self._subdir_store(name))

    def commit_segment_properties(
        self, properties: SegmentProperties, name: str | None = None
    ) -> None:
        """Write ``properties`` into directory ``name`` (default: the one the info names, else
        ``"segment_properties"``), then point the layer's info at it and commit the info."""
        name = name or self.info.get("segment_properties") or "segment_properties"
        write_segment_properties(self._subdir_store(name), properties)
        if self.info.get("segment_properties") != name:
            self.info["segment_properties"] = name
            self.commit_info()

    def viewer(self, port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> None:
        """Serve this layer over HTTP for Neuroglancer until Ctrl-C, as cloud-volume does:
        open ``precomputed://http://HOST:PORT`` in any Neuroglancer. Read-only; CORS, byte
        ranges and HEAD are answered (:mod:`voxelio.storage.httpserver`)."""
        server = StoreServer(self.meta.store, host, port)
        print(f"Neuroglancer: precomputed://{server.url}  (Ctrl-C stops the server)", flush=True)
        server.serve_forever()

    def __repr__(self) -> str:
        return f"CloudVolume({self.cloudpath!r}, mip={self.mip})"


def from_cloudpath(cloudpath: str, *args: Any, **kwargs: Any) -> Any:
    """What the ``info`` at ``cloudpath`` describes, as cloud-volume's ``from_cloudpath``:
    an :class:`~voxelio.annotations.AnnotationSource` for annotations (``mip`` picks its
    spatial level), a mesh source for a mesh directory, else a :class:`CloudVolume` built
    with these arguments. ``secrets`` and ``storage_options`` reach the store either way."""
    path = parse(cloudpath)
    store = open_store(path.url, secrets=kwargs.get("secrets"),
                       **(kwargs.get("storage_options") or {}))  # fmt: skip
    # annotation and mesh sources are built from this read; a volume's CloudVolume reads the
    # info again, as it follows redirects itself
    found = _stored_info(store)
    kind = found.get("@type") if found is not None else None
    if kind == ANNOTATION_TYPE:
        info = annotation_info(found, f"{store.url}/info")
        return AnnotationSource(store, info, mip=kwargs.get("mip"))
    if kind in ("neuroglancer_legacy_mesh", "neuroglancer_multilod_draco"):
        return open_mesh_source(store, progress=bool(kwargs.get("progress")), info=found)
    return CloudVolume(cloudpath, *args, **kwargs)


def _stored_info(store: Store) -> dict[str, Any] | None:
    data = store.get("info")
    try:
        info = parse_json(data, f"{store.url}/info") if data is not None else None
    except InfoError:
        return None  # CloudVolume reports a bad info with its own message
    return info if isinstance(info, dict) else None


def _layer_of(vol: CloudVolume, mip: int) -> Layer:
    return vol._layer(mip)


__all__ = ["CloudVolume", "from_cloudpath"]
