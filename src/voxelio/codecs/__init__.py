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
}


def known_encodings() -> list[str]:
    """Every encoding name the registry knows, sorted."""
    return sorted(REGISTRY)


@cache
def get_codec(encoding: str) -> Codec:
    """The codec for ``encoding`` (case-insensitive); raises for unknown names."""
    target = REGISTRY.get(str(encoding).lower())
    if target is None:
        raise UnsupportedEncodingError(
            f"unknown encoding {encoding!r}; known: {', '.join(known_encodings())}"
        )
    module_name, cls_name = target.split(":")
    module = importlib.import_module(module_name)
    codec: Codec = getattr(module, cls_name)()
    return codec


__all__ = ["Codec", "REGISTRY", "get_codec", "known_encodings"]
