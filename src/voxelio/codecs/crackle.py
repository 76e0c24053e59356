"""The ``crackle`` encoding (seung-lab's crack-code segmentation codec; cloud-volume only).

One channel of unsigned labels (uint8-uint64), lossless; library ``crackle-codec`` (extra
``seg``). Neither Neuroglancer nor TensorStore reads it. Default transport compression: gzip.
Before native code runs, the header (magic ``crkl``, CRC-8), the z-index (CRC-32C) and, for
format version 1, the label section (CRC-32C) are verified. The crack codes are not: in
crackle-codec 0.55 a flipped bit there can make the decoder corrupt its heap (an abort or a
segmentation fault, measured), so whole chunks are decoded in child processes
(:class:`~voxelio.codecs.isolated.IsolatedDecoder`): a crash becomes a
:class:`~voxelio.errors.DecodingError` naming the chunk, and the caller's process lives on.
Such a flip can also decode to wrong labels without an error, although each slice carries a
CRC-32C of its boundary structure: the decoder does not catch it, and the CRCs cannot be
checked by encoding the labels again (a remapped stream keeps its original boundaries, which
the remapped labels no longer have).
Label lists, membership and remapping read only the checked label section, in this process.
Thread safe.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from voxelio.codecs.base import Shape4, import_optional
from voxelio.codecs.isolated import IsolatedDecoder
from voxelio.codecs.labelcodec import LabelCodec
from voxelio.errors import DecodingError


class CrackleCodec(LabelCodec):
    """crackle chunks: single-channel unsigned labels."""

    name = "crackle"

    def __init__(self) -> None:
        self._decoder = IsolatedDecoder("voxelio.codecs.crackle:decompress_in_child", "crackle")

    def _lib(self) -> Any:
        return _library()

    def _validate(self, data: bytes, shape: Shape4, dtype: np.dtype) -> None:
        lib = self._lib()
        data = bytes(data)
        try:
            head = lib.header(data)
            index = lib.codec.grid_index(data)
        except Exception as exc:  # FormatError, struct/index errors on short input
            raise DecodingError(f"crackle chunk: bad header or z-index: {exc}") from exc
        if (head.sx, head.sy, head.sz) != tuple(int(v) for v in shape[:3]):
            raise DecodingError(
                f"crackle chunk: size {(head.sx, head.sy, head.sz)}, expected {tuple(shape[:3])}"
            )
        if head.data_width != np.dtype(dtype).itemsize:
            raise DecodingError(
                f"crackle chunk: {head.data_width}-byte labels in a {np.dtype(dtype)} layer"
            )
        if len(index) and int(index[-1]) >= len(data):
            raise DecodingError("crackle chunk: the z-index points past the end of the data")
        if head.format_version >= 1:
            stored = lib.codec.labels_crc(data)
            if stored != lib.codec.crc32c(lib.codec.raw_labels(data)):
                raise DecodingError("crackle chunk: label section fails its CRC-32C check")

    def _compress(self, labels: np.ndarray) -> bytes:
        return bytes(self._lib().compress(labels, parallel=1))

    def _decompress(self, data: bytes) -> np.ndarray:
        return self._decoder.decode(data, "crackle chunk")

    def _labels(self, data: bytes) -> np.ndarray:
        return np.asarray(self._lib().labels(data))

    def _contains(self, data: bytes, label: int) -> bool:
        return bool(self._lib().contains(data, label))

    def _array(self, data: bytes) -> Any:
        return self._decompress(data)  # crackle's random access decodes crack codes too


def _library() -> Any:
    """The crackle-codec library (a :class:`~voxelio.errors.MissingCodecError` naming the
    ``seg`` extra)."""
    return import_optional("crackle", "crackle-codec", CrackleCodec.extra, CrackleCodec.name)


def decompress_in_child(data: bytes) -> np.ndarray:
    """crackle's decoder on one stream; runs in a decoder child process."""
    return np.asfortranarray(_library().decompress(bytes(data), parallel=1))
