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

from voxelio.cache.disk import cache_path
from voxelio.cache.lru import LRU, LRUStore
from voxelio.cache.service import CacheService
from voxelio.codecs import get_codec
from voxelio.compression import Method, normalize_method
from voxelio.cutout import VolumeCutout
from voxelio.errors import InfoUnavailableError, OutOfBoundsError
from voxelio.formats.precomputed.layer import image_layer
from voxelio.formats.precomputed.metadata import PrecomputedMetadata, fetch_info
from voxelio.geometry import Bbox, Vec
from voxelio.geometry.slicing import resolve
from voxelio.image import sharedmem
from voxelio.image.engine import Layer
from voxelio.image.options import ImageOptions
from voxelio.image.source import ImageSource
from voxelio.meta import add_scale, create_new_info, validate_info, validate_provenance
from voxelio.meta.info import Scale
from voxelio.paths import CloudPath, parse
from voxelio.storage import Store, open_store

INTERACTIVE = bool(getattr(sys, "ps1", sys.flags.interactive))


def cdn_cache_control(value: bool | int | str | None) -> str | None:
    """The ``Cache-Control`` header for ``cdn_cache``: bool, seconds or a literal string."""
    if value is None or value is True:
        return "max-age=3600" if value is True else None
    if value is False:
        return "no-cache"
    if isinstance(value, int):
        return "no-cache" if value <= 0 else f"max-age={value}"
    return str(value)


class CloudVolume:
    """A Neuroglancer Precomputed layer, read and written like cloud-volume's ``CloudVolume``.

    Every option of cloud-volume's constructor is accepted. ``cache`` (True or a directory)
    keeps a disk copy of what is read (``vol.cache``; ``compress_cache`` gzips it, ``None``
    means plain files; ``cache_locking`` serializes fills across processes with ``flock``).
    ``lru_bytes`` bounds an in-memory LRU of stored chunks (``vol.image.lru``; ``lru_encoding``
    is accepted, chunks are always kept as stored). ``parallel=N`` (or True: all cores) reads
    and writes with N processes sharing memory; each process also uses threads.
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
    ) -> None:
        self._secrets = secrets
        self._use_https = use_https
        self.bounded = bounded
        self.autocrop = autocrop
        self.fill_missing = fill_missing
        self.cdn_cache = cdn_cache
        self.progress = INTERACTIVE if progress is None else bool(progress)
        self.compress = compress
        self.compress_level = compress_level
        self.non_aligned_writes = non_aligned_writes
        self.parallel = parallel
        self.delete_black_uploads = delete_black_uploads
        self.background_color = background_color
        self.green_threads = green_threads
        self.mesh_dir = mesh_dir
        self.skel_dir = skel_dir
        self.agglomerate = agglomerate
        self.spatial_index_db = spatial_index_db
        self.max_redirects = max_redirects
        self.lru_encoding = lru_encoding
        path = parse(cloudpath)
        self._lru = LRU(int(lru_bytes))
        self.cache = CacheService(
            self, cache_path(cache if isinstance(cache, str) else True, path.protocol,
                             path.location),
            enabled=bool(cache), compress=bool(compress_cache), locking=cache_locking,
        )  # fmt: skip
        self.meta = self._load(path, info, max_redirects)
        if info is None and self.cache.enabled:
            self.cache.check_info_validity(self.meta.info)
            self.cache.save_json("info", self.meta.info)
        if provenance is not None:
            self.meta.provenance = _provenance(provenance)
        elif info is None:
            self._try_fetch_provenance()
        self._mip = 0
        self.mip = mip

    # ---- construction helpers -----------------------------------------------------------

    def _open_store(self, path: CloudPath) -> Store:
        return open_store(path.url, secrets=self._secrets, use_https=self._use_https)

    def _load(
        self, path: CloudPath, info: dict[str, Any] | None, max_redirects: int
    ) -> PrecomputedMetadata:
        if info is not None:
            validate_info(info, f"{path.url}/info (given as info=)")
            return PrecomputedMetadata(path, self._open_store(path), info)
        found, final, store = fetch_info(path, self._open_store, max_redirects)
        return PrecomputedMetadata(final, store, found, redirected=final.url != path.url)

    def _try_fetch_provenance(self) -> None:
        try:
            self.meta.fetch_provenance()
        except Exception:  # a missing or odd provenance must not stop reads
            self.meta.provenance = _provenance({})

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

    # ---- metadata -----------------------------------------------------------------------

    @property
    def info(self) -> dict[str, Any]:
        """The info dict (edit it, then ``commit_info()``)."""
        return self.meta.info

    @info.setter
    def info(self, value: dict[str, Any]) -> None:
        validate_info(value, f"{self.meta.path.url}/info")
        self.meta.info = value

    @property
    def provenance(self) -> dict[str, Any]:
        """The provenance dict (edit it, then ``commit_provenance()``)."""
        return self.meta.provenance

    @provenance.setter
    def provenance(self, value: dict[str, Any] | str) -> None:
        self.meta.provenance = _provenance(value)

    def commit_info(self) -> None:
        """Write the info file."""
        self.meta.commit_info()

    def refresh_info(self) -> dict[str, Any]:
        """Re-read the info file (following redirects)."""
        self.meta = self._load(self.meta.path, None, self.max_redirects)
        return self.meta.info

    def commit_provenance(self) -> None:
        """Write the provenance file."""
        self.meta.commit_provenance()

    def refresh_provenance(self) -> dict[str, Any]:
        """Re-read the provenance file."""
        return self.meta.fetch_provenance()

    def add_scale(
        self,
        factor: Sequence[int],
        encoding: str | None = None,
        chunk_size: Sequence[int] | None = None,
        info: dict[str, Any] | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """Add a scale downsampled by ``factor`` from the last one (not committed)."""
        return add_scale(
            self.info if info is None else info, factor, encoding, chunk_size, **params
        )

    def reset_scales(self) -> None:
        """Drop every scale but mip 0 (not committed)."""
        self.info["scales"] = self.info["scales"][:1]
        self._mip = 0

    @property
    def mip(self) -> int:
        """The working mip level; set it by level or by resolution ``[x, y, z]`` in nm."""
        return self._mip

    @mip.setter
    def mip(self, value: int | Sequence[float]) -> None:
        self._mip = self.meta.to_mip(value)

    def _m(self, mip: int | Sequence[float] | None) -> int:
        return self._mip if mip is None else self.meta.to_mip(mip)

    def mip_scale(self, mip: int | None = None) -> dict[str, Any]:
        """The scale dict of ``mip``."""
        return self.info["scales"][self._m(mip)]

    def mip_resolution(self, mip: int | None = None) -> Vec:
        """nm per voxel at ``mip``."""
        return self.meta.resolution(self._m(mip))

    def mip_voxel_offset(self, mip: int | None = None) -> Vec:
        """Voxel offset at ``mip``."""
        return Vec(*self.meta.scale(self._m(mip)).voxel_offset)

    def mip_volume_size(self, mip: int | None = None) -> Vec:
        """Size in voxels (x, y, z) at ``mip``."""
        return Vec(*self.meta.scale(self._m(mip)).size)

    def mip_chunk_size(self, mip: int | None = None) -> Vec:
        """Chunk size in voxels at ``mip``."""
        return Vec(*self.meta.scale(self._m(mip)).chunk_size)

    def mip_underlying(self, mip: int | None = None) -> Vec:
        """The storage chunk size (same as ``mip_chunk_size``)."""
        return self.mip_chunk_size(mip)

    def mip_key(self, mip: int | None = None) -> str:
        """The scale's key (directory) at ``mip``."""
        return self.meta.scale(self._m(mip)).key

    def mip_bounds(self, mip: int | None = None) -> Bbox:
        """Voxel bounds at ``mip``."""
        return self.meta.bounds(self._m(mip))

    def mip_shape(self, mip: int | None = None) -> Vec:
        """``(x, y, z, channels)`` at ``mip``."""
        return Vec(*self.mip_volume_size(mip), self.num_channels)

    def mip_encoding(self, mip: int | None = None) -> str:
        """The chunk encoding at ``mip``."""
        return self.meta.scale(self._m(mip)).encoding

    def mip_downsample_ratio(self, mip: int | None = None) -> Vec:
        """Resolution of ``mip`` over that of mip 0."""
        return self.meta.downsample_ratio(self._m(mip))

    def mip_compressed_segmentation_block_size(self, mip: int | None = None) -> Vec | None:
        """The compressed_segmentation block size at ``mip`` (None for other encodings)."""
        block = self.mip_scale(mip).get("compressed_segmentation_block_size")
        return None if block is None else Vec(*block)

    scale = property(lambda self: self.mip_scale(), doc="The working scale dict.")
    resolution = property(lambda self: self.mip_resolution(), doc="nm per voxel.")
    voxel_offset = property(lambda self: self.mip_voxel_offset(), doc="Voxel offset.")
    volume_size = property(lambda self: self.mip_volume_size(), doc="Size (x, y, z) in voxels.")
    chunk_size = property(lambda self: self.mip_chunk_size(), doc="Chunk size in voxels.")
    underlying = property(lambda self: self.mip_underlying(), doc="Storage chunk size.")
    key = property(lambda self: self.mip_key(), doc="The scale key.")
    bounds = property(lambda self: self.mip_bounds(), doc="Voxel bounds.")
    shape = property(lambda self: self.mip_shape(), doc="(x, y, z, channels).")
    encoding = property(lambda self: self.mip_encoding(), doc="Chunk encoding.")
    downsample_ratio = property(lambda self: self.mip_downsample_ratio(), doc="Ratio to mip 0.")
    compressed_segmentation_block_size = property(
        lambda self: self.mip_compressed_segmentation_block_size(), doc="cseg block size."
    )

    @property
    def scales(self) -> list[dict[str, Any]]:
        """``info["scales"]``."""
        return list(self.info["scales"])

    @property
    def available_mips(self) -> list[int]:
        """Every mip level in the info."""
        return list(range(self.meta.num_mips))

    @property
    def available_resolutions(self) -> list[Vec]:
        """The resolution of each mip."""
        return [self.meta.resolution(m) for m in self.available_mips]

    @property
    def num_channels(self) -> int:
        """Channels per voxel."""
        return int(self.info["num_channels"])

    @property
    def dtype(self) -> str:
        """The info's ``data_type``."""
        return str(self.info["data_type"])

    data_type = dtype

    @property
    def layer_type(self) -> str:
        """``"image"`` or ``"segmentation"``."""
        return str(self.info["type"])

    @property
    def ndim(self) -> int:
        """Always 4: x, y, z, channel."""
        return 4

    @property
    def cloudpath(self) -> str:
        """The layer's cloud path."""
        return self.meta.path.cloudpath

    layer_cloudpath = cloudpath

    @property
    def base_cloudpath(self) -> str:
        """The directory holding the layer."""
        return self.meta.path.basepath

    @property
    def info_cloudpath(self) -> str:
        """The info file's path."""
        return self.meta.path.url + "/info"

    @property
    def dataset_name(self) -> str:
        """The dataset (second to last path segment)."""
        return self.meta.path.dataset

    @property
    def layer(self) -> str:
        """The layer name (last path segment)."""
        return self.meta.path.layer

    # ---- coordinate helpers -------------------------------------------------------------

    def bbox_to_mip(self, bbox: Any, mip: int, to_mip: int) -> Bbox:
        """Convert a box in voxels of ``mip`` to voxels of ``to_mip`` (outward rounding)."""
        box = Bbox.create(bbox, context=self.mip_bounds(mip))
        ratio = np.asarray(self.mip_resolution(mip)) / np.asarray(self.mip_resolution(to_mip))
        lo = np.floor(np.asarray(box.minpt) * ratio)
        hi = np.ceil(np.asarray(box.maxpt) * ratio)
        return Bbox(lo, hi, dtype=np.int64)

    def point_to_mip(self, pt: Sequence[float], mip: int, to_mip: int) -> Vec:
        """Convert a voxel coordinate from ``mip`` to ``to_mip`` (floored)."""
        ratio = np.asarray(self.mip_resolution(mip)) / np.asarray(self.mip_resolution(to_mip))
        return Vec(*np.floor(np.asarray(pt[:3], dtype=float) * ratio).astype(np.int64))

    def slices_from_global_coords(self, slices: Any) -> tuple[slice, ...]:
        """Mip-0 slices (or box) converted to slices at the working mip."""
        box = Bbox.create(slices, context=self.mip_bounds(0))
        return self.bbox_to_mip(box, 0, self.mip).to_slices()

    def slices_to_global_coords(self, slices: Any) -> tuple[slice, ...]:
        """Working-mip slices (or box) converted to mip-0 slices."""
        box = Bbox.create(slices, context=self.bounds)
        return self.bbox_to_mip(box, self.mip, 0).to_slices()

    # ---- image I/O ----------------------------------------------------------------------

    def _options(self) -> ImageOptions:
        workers = 0 if self.parallel in (1, True, False) else int(self.parallel)
        return ImageOptions(
            fill_missing=self.fill_missing,
            background_color=self.background_color,
            compress=self._compress_method(),
            compress_level=self.compress_level,
            cache_control=cdn_cache_control(self.cdn_cache),
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
        if self._lru.size > 0:
            store = LRUStore(store, self._lru)
        return store, (
            self.cache.enabled,
            self.cache.path,
            self.cache.compress,
            self._lru.size > 0,
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
            or layer.dtype != np.dtype(self.dtype)
            or layer.num_channels != self.num_channels
        ):
            layer = image_layer(store, scale, self.dtype, self.num_channels)
            cache[mip] = (stack, layer)
        return layer

    def _make_layer(self, mip: int) -> functools.partial[Layer]:
        """A picklable callable that rebuilds the layer of ``mip`` (for worker processes)."""
        return functools.partial(_layer_of, self, mip)

    def _bbox(self, bbox: Any, mip: int) -> Bbox:
        box = bbox if isinstance(bbox, Bbox) else Bbox.create(bbox, context=self.mip_bounds(mip))
        if box.unit != "vx":
            box = box.convert_units("vx", self.mip_resolution(mip))
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
        return VolumeCutout(
            arr, box, mip, self.layer_type, self.mip_resolution(mip), self.dataset_name, self.layer
        )

    def __getitem__(self, index: Any) -> Any:
        if (
            isinstance(index, tuple)
            and len(index) == 3
            and all(isinstance(i, (list, np.ndarray)) for i in index)
        ):
            return self._coordinate_indexing(index)
        if isinstance(index, Bbox) and index.unit != "vx":
            index = index.convert_units("vx", self.resolution)
        req = resolve(index, self.bounds, self.num_channels, self.bounded, self.autocrop)
        img = self.download(req.bbox)
        sx, sy, sz = req.steps
        return img[::sx, ::sy, ::sz, req.channels]

    def upload(self, bbox: Any, img: np.ndarray | int | float, mip: int | None = None) -> None:
        """Write ``img`` at ``bbox`` (voxels of ``mip``); a scalar fills the region."""
        m = self._m(mip)
        box = self._bbox(bbox, m)
        arr = self._as_image(img, box)
        if self.autocrop and box != Bbox.create(bbox, context=self.mip_bounds(m)):
            arr = self._crop_to(arr, Bbox.create(bbox, context=self.mip_bounds(m)), box)
        self.image.upload(box, arr, m)

    def _as_image(self, img: np.ndarray | int | float, box: Bbox) -> np.ndarray:
        if np.isscalar(img):
            shape = tuple(int(v) for v in box.size()) + (self.num_channels,)
            return np.full(shape, img, dtype=self.dtype, order="F")
        return np.asarray(img)

    @staticmethod
    def _crop_to(arr: np.ndarray, requested: Bbox, cropped: Bbox) -> np.ndarray:
        lo = np.asarray(cropped.minpt) - np.asarray(requested.minpt)
        hi = lo + np.asarray(cropped.size())
        return arr[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]

    def __setitem__(self, index: Any, img: np.ndarray | int | float) -> None:
        req = resolve(index, self.bounds, self.num_channels, self.bounded, self.autocrop)
        if req.steps != (1, 1, 1):
            raise ValueError(f"writes do not support steps, got {req.steps}")
        if req.channels != slice(None) and (req.channels.start, req.channels.stop) != (
            0,
            self.num_channels,
        ):
            raise ValueError("writes must cover every channel")
        self.upload(req.bbox, img)

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
        """``{chunk path: exists}`` for the chunks ``bbox`` touches."""
        return self.image.exists(bbox, mip)

    def delete(self, bbox: Any, mip: int | None = None) -> None:
        """Delete the chunks inside a chunk-aligned ``bbox``."""
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

    def _coordinate_indexing(self, index: tuple[Any, ...]) -> np.ndarray:
        pts = list(zip(*(np.asarray(i).tolist() for i in index)))
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
        return self._open_store(self.meta.path.join(name))

    @property
    def mesh(self) -> Any:
        """Mesh access (``get``, ``put``, ``save``...); see :mod:`voxelio.meshes`."""
        if "_mesh" not in self.__dict__:
            from voxelio.meshes import open_mesh_source

            name = self.mesh_dir or self.info.get("mesh") or "mesh"
            self.__dict__["_mesh"] = open_mesh_source(
                self._subdir_store(name), self.info, progress=self.progress
            )
        return self.__dict__["_mesh"]

    @property
    def skeleton(self) -> Any:
        """Skeleton access (``get``, ``upload``...); see :mod:`voxelio.skeletons`."""
        if "_skeleton" not in self.__dict__:
            from voxelio.skeletons import open_skeleton_source

            name = self.skel_dir or self.info.get("skeletons") or "skeletons"
            self.__dict__["_skeleton"] = open_skeleton_source(
                self._subdir_store(name),
                self.info,
                spatial_index_db=self.spatial_index_db,
                progress=self.progress,
            )
        return self.__dict__["_skeleton"]

    def __repr__(self) -> str:
        return f"CloudVolume({self.cloudpath!r}, mip={self.mip})"


def _layer_of(vol: CloudVolume, mip: int) -> Layer:
    return vol._layer(mip)


def _provenance(value: dict[str, Any] | str) -> dict[str, Any]:
    return validate_provenance(value)


def exists_layer(cloudpath: str) -> bool:
    """Whether a layer has an info file at ``cloudpath``."""
    try:
        path = parse(cloudpath)
        return open_store(path.url).exists("info")
    except InfoUnavailableError:
        return False


__all__ = ["CloudVolume", "cdn_cache_control", "exists_layer"]
