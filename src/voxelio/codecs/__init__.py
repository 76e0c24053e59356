"""Chunk codecs by encoding name: :func:`get_codec` is the registry lookup.

The registry maps each ``info`` encoding name to the module and class that implement it.
Modules are imported on first use, so optional libraries are only needed when their
encoding is used; a missing library raises :class:`~voxelio.errors.MissingCodecError`
naming the pip extra.
"""

from __future__ import annotations

import importlib
from functools import cache

from voxelio.codecs.base import Codec
from voxelio.errors import UnsupportedEncodingError

#: encoding name -> "module:Class"
REGISTRY: dict[str, str] = {
    "raw": "voxelio.codecs.raw:RawCodec",
    "png": "voxelio.codecs.png:PngCodec",
    "jpeg": "voxelio.codecs.jpeg:JpegCodec",
    "jxl": "voxelio.codecs.jxl:JxlCodec",
    "compressed_segmentation": "voxelio.codecs.compressed_segmentation:CompressedSegmentationCodec",
    "compresso": "voxelio.codecs.compresso:CompressoCodec",
    "crackle": "voxelio.codecs.crackle:CrackleCodec",
    "fpzip": "voxelio.codecs.fpzip:FpzipCodec",
    "kempressed": "voxelio.codecs.fpzip:KempressedCodec",
    "zfpc": "voxelio.codecs.zfpc:ZfpcCodec",
}


def known_encodings() -> list[str]:
    """Every encoding name the registry knows, sorted."""
    return sorted(REGISTRY)


def get_codec(encoding: str) -> Codec:
    """The codec for ``encoding`` (case-insensitive); raises for unknown names.

    Codecs are shared singletons, safe between threads (fpzip and kempressed keep their
    idle decoder processes, see :mod:`voxelio.codecs.isolated`).
    """
    return _load(str(encoding).lower())


@cache
def _load(encoding: str) -> Codec:
    """Import and instantiate the codec registered for a lower-case encoding name."""
    target = REGISTRY.get(encoding)
    if target is None:
        raise UnsupportedEncodingError(
            f"unknown encoding {encoding!r}; known: {', '.join(known_encodings())}"
        )
    module_name, cls_name = target.split(":")
    module = importlib.import_module(module_name)
    codec: Codec = getattr(module, cls_name)()
    return codec


def level_params(
    encoding: str, level: int | None = None, effort: int | None = None
) -> dict[str, int]:
    """The scale keys that cloud-volume's ``encoding_level``/``encoding_effort`` set.

    For example ``level_params("jpeg", 90) == {"jpeg_quality": 90}`` and
    ``level_params("jxl", 100, 7) == {"jxl_quality": 100, "jxl_effort": 7}``; encodings
    without such a knob give ``{}``. (cloud-volume checks for ``"jpegxl"`` and so drops the jxl
    quality; voxelio uses ``"jxl"``.)
    """
    codec = get_codec(encoding)
    out: dict[str, int] = {}
    if level is not None and codec.level_param:
        out[codec.level_param] = int(level)
    if effort is not None and codec.effort_param:
        out[codec.effort_param] = int(effort)
    return out


__all__ = ["Codec", "REGISTRY", "get_codec", "known_encodings", "level_params"]
