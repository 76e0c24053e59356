"""``VolumeCutout``: the ``numpy.ndarray`` subclass returned by reads, carrying its provenance.

Shape ``[x, y, z, channel]``, Fortran order. Attributes: ``dataset_name``, ``layer``, ``mip``,
``layer_type``, ``bounds`` (``Bbox`` in voxels of ``mip``), ``resolution`` (nm), and
``num_channels``. Slicing and arithmetic keep the attributes (numpy's ``__array_finalize__``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from voxelio.codecs import get_codec
from voxelio.geometry import Bbox, Vec


class VolumeCutout(np.ndarray):
    """An image region read from a volume; see the module docstring."""

    dataset_name: str
    layer: str
    mip: int
    layer_type: str
    bounds: Bbox
    resolution: Vec
    cloudpath: str

    def __new__(
        cls,
        buf: np.ndarray,
        bounds: Bbox,
        mip: int = 0,
        layer_type: str = "image",
        resolution: Any = (1, 1, 1),
        dataset_name: str = "",
        layer: str = "",
        cloudpath: str = "",
    ) -> VolumeCutout:
        obj = np.asarray(buf).view(cls)
        obj.bounds = bounds
        obj.mip = mip
        obj.layer_type = layer_type
        obj.resolution = Vec(*resolution)
        obj.dataset_name = dataset_name
        obj.layer = layer
        obj.cloudpath = cloudpath
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        if obj is None:
            return
        for name, default in (
            ("bounds", None),
            ("mip", 0),
            ("layer_type", "image"),
            ("resolution", None),
            ("dataset_name", ""),
            ("layer", ""),
            ("cloudpath", ""),
        ):
            setattr(self, name, getattr(obj, name, default))

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (
            _rebuild,
            (
                np.asarray(self),
                self.bounds,
                self.mip,
                self.layer_type,
                tuple(np.asarray(self.resolution).tolist())
                if self.resolution is not None
                else (1, 1, 1),
                self.dataset_name,
                self.layer,
                self.cloudpath,
            ),
        )

    @property
    def num_channels(self) -> int:
        """Number of channels (the last axis)."""
        return int(self.shape[3]) if self.ndim >= 4 else 1

    def viewer(self, port: int = 8080, browser: bool = True) -> None:
        """Explore this cutout in microviewer, as cloud-volume's ``img.viewer()`` does: a
        local web app at ``http://127.0.0.1:PORT`` (opened in a browser unless ``browser`` is
        false) until Ctrl-C. Needs ``voxelio[viewer]``."""
        try:
            import microviewer
        except ImportError as exc:
            raise ImportError(
                "VolumeCutout.viewer needs microviewer: pip install 'voxelio[viewer]'"
            ) from exc
        where = self.cloudpath or "IN MEMORY"
        microviewer.view(
            np.asarray(self),
            seg=self.layer_type == "segmentation",
            resolution=np.asarray(self.resolution if self.resolution is not None else (1, 1, 1)),
            offset=np.asarray(self.bounds.minpt if self.bounds is not None else (0, 0, 0)),
            cloudpath=where,
            hostname="127.0.0.1",
            port=port,
            browser=browser,
        )

    def save_images(
        self,
        directory: str | None = None,
        axis: str = "z",
        channel: int | None = None,
        image_format: str = "png",
    ) -> str:
        """Write one PNG per slice along ``axis`` into ``directory`` (default ``./saved_images``).

        Segmentation is written as its low 8 bits; images are scaled to 0-255 when not uint8.
        Returns the directory.
        """
        directory = directory or os.path.join(os.getcwd(), "saved_images")
        os.makedirs(directory, exist_ok=True)
        arr = np.asarray(self)
        arr = arr[..., channel : channel + 1] if channel is not None else arr[..., :1]
        img8 = _to_uint8(arr)
        index = "xyz".index(axis)
        codec = get_codec("png")
        for i in range(img8.shape[index]):
            plane = np.take(img8, [i], axis=index)
            plane = np.moveaxis(plane, index, 2)
            data = codec.encode(np.asfortranarray(plane), {})
            with open(os.path.join(directory, f"{i:05d}.{image_format}"), "wb") as fh:
                fh.write(data)
        return directory


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind in "ui":
        return (arr & 0xFF).astype(np.uint8)
    lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    return np.nan_to_num((arr - lo) * scale).astype(np.uint8)


def _rebuild(
    arr: np.ndarray,
    bounds: Bbox,
    mip: int,
    layer_type: str,
    resolution: Any,
    dataset_name: str,
    layer: str,
    cloudpath: str = "",
) -> VolumeCutout:
    return VolumeCutout(arr, bounds, mip, layer_type, resolution, dataset_name, layer, cloudpath)
