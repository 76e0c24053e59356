"""Metadata accessors of the ``CloudVolume`` facade: info, provenance, mips, paths.

:class:`VolumeMetadata` is a mixin: it reads ``self.meta`` (a
:class:`~voxelio.formats.precomputed.metadata.PrecomputedMetadata`), ``self._mip`` and
``self.max_redirects`` and offers cloud-volume's metadata API, each per-mip value also as a
``mip_*`` method. Coordinates are voxels of the named mip; resolutions are nm per voxel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from voxelio.formats.precomputed.metadata import PrecomputedMetadata
from voxelio.geometry import Bbox, Vec
from voxelio.meta import Provenance, add_scale, validate_info, validate_provenance


class VolumeMetadata:
    """cloud-volume's metadata API, over ``self.meta``; see the module docstring."""

    meta: PrecomputedMetadata
    _mip: int
    max_redirects: int

    def _load(self, path: Any, info: dict[str, Any] | None, max_redirects: int) -> Any:
        raise NotImplementedError

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
    def provenance(self) -> Provenance:
        """The provenance document, a dict with attributes (edit it, then
        ``commit_provenance()``)."""
        return self.meta.provenance

    @provenance.setter
    def provenance(self, value: dict[str, Any] | str) -> None:
        self.meta.provenance = validate_provenance(value)

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
        """Add a scale downsampled by ``factor`` from mip 0, as cloud-volume does (not
        committed); see :func:`voxelio.meta.add_scale`."""
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
        return self.meta.voxel_offset(self._m(mip))

    def mip_volume_size(self, mip: int | None = None) -> Vec:
        """Size in voxels (x, y, z) at ``mip``."""
        return self.meta.volume_size(self._m(mip))

    def mip_chunk_size(self, mip: int | None = None) -> Vec:
        """Chunk size in voxels at ``mip``."""
        return self.meta.chunk_size(self._m(mip))

    def mip_underlying(self, mip: int | None = None) -> Vec:
        """The storage chunk size (same as ``mip_chunk_size``)."""
        return self.mip_chunk_size(mip)

    def mip_key(self, mip: int | None = None) -> str:
        """The scale's key (directory) at ``mip``."""
        return self.meta.key(self._m(mip))

    def mip_bounds(self, mip: int | None = None) -> Bbox:
        """Voxel bounds at ``mip``."""
        return self.meta.bounds(self._m(mip))

    def mip_shape(self, mip: int | None = None) -> tuple[int, int, int, int]:
        """``(x, y, z, channels)`` at ``mip``: a tuple, as numpy's and cloud-volume's shapes."""
        x, y, z, c = (int(v) for v in self.meta.shape(self._m(mip)))
        return (x, y, z, c)

    def mip_encoding(self, mip: int | None = None) -> str:
        """The chunk encoding at ``mip``."""
        return self.meta.encoding(self._m(mip))

    def mip_downsample_ratio(self, mip: int | None = None) -> Vec:
        """Resolution of ``mip`` over that of mip 0."""
        return self.meta.downsample_ratio(self._m(mip))

    def mip_compressed_segmentation_block_size(self, mip: int | None = None) -> Vec | None:
        """The compressed_segmentation block size at ``mip`` (None for other encodings)."""
        block = self.mip_scale(mip).get("compressed_segmentation_block_size")
        return None if block is None else Vec(*block)

    @property
    def scale(self) -> dict[str, Any]:
        """The working scale dict (settable: replaces it in the info, not committed)."""
        return self.mip_scale()

    @scale.setter
    def scale(self, value: dict[str, Any]) -> None:
        self.info["scales"][self._mip] = value

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
    def available_mips(self) -> range:
        """Every mip level in the info (a ``range``, as cloud-volume's)."""
        return range(self.meta.num_mips)

    @property
    def available_resolutions(self) -> list[Vec]:
        """The resolution of each mip."""
        return [self.meta.resolution(m) for m in self.available_mips]

    @property
    def num_channels(self) -> int:
        """Channels per voxel."""
        return self.meta.num_channels

    @property
    def dtype(self) -> np.dtype:
        """The info's ``data_type`` as a numpy dtype (``np.dtype("uint8")``), as in
        cloud-volume."""
        return self.meta.dtype

    @property
    def data_type(self) -> str:
        """The info's ``data_type`` (``"uint8"``)."""
        return self.meta.data_type

    @property
    def layer_type(self) -> str:
        """``"image"`` or ``"segmentation"``."""
        return self.meta.layer_type

    @property
    def ndim(self) -> int:
        """Always 4: x, y, z, channel."""
        return 4

    def mip_ndim(self, mip: int | None = None) -> int:
        """Always 4, at every mip (cloud-volume's name)."""
        return self.ndim

    @property
    def cloudpath(self) -> str:
        """The layer's cloud path."""
        return self.meta.cloudpath

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
