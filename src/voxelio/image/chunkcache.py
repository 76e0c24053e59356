"""Decoded chunks kept in a volume's in-memory LRU, for ``lru_encoding`` other than "same".

cloud-volume's ``lru_encoding`` chooses how the LRU holds a chunk: ``"same"`` keeps the bytes
as stored (voxelio's store-level :class:`~voxelio.cache.lru.LRUStore`), ``"raw"`` keeps the
decoded values, and a codec name keeps the chunk transcoded to that codec (``"crackle"`` or
``"compressed_segmentation"`` hold a segmentation in a fraction of its raw size). A
:class:`ChunkCache` does the latter two: the image engine paints a hit without fetching or
decoding the stored chunk, and caches the whole decoded chunk on a miss. ``"raw"`` values are
the raw codec's bytes (the Fortran-ordered array), so a hit costs one copy into the output.
A lossy codec (jpeg) makes hits differ from the stored chunk by its error. Entries are keyed
by encoding, scale and chunk, so they never meet the store-level LRU's keys; a write drops
the entries of the chunks it touches, and a read that overlapped a write keeps nothing it
fetched. Thread safe (the LRU is locked).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np

from voxelio.cache.lru import LRU
from voxelio.codecs import get_codec, known_encodings
from voxelio.geometry import Bbox
from voxelio.meta import Scale

#: keeps the chunks as stored: no :class:`ChunkCache`
SAME = "same"


def check_lru_encoding(encoding: object) -> str:
    """``encoding`` in lower case if it is ``"same"`` or a known encoding, else a
    ``ValueError`` naming the choices."""
    name = str(encoding).lower()
    if name != SAME and name not in known_encodings():
        raise ValueError(
            f"lru_encoding {encoding!r} is not 'same' or one of the encodings "
            f"{', '.join(known_encodings())}"
        )
    return name


class ChunkCache:
    """The chunks of one scale held in ``lru`` as ``encoding`` (see the module docstring)."""

    def __init__(
        self, lru: LRU, encoding: str, scale: Scale, dtype: np.dtype, num_channels: int
    ) -> None:
        self.encoding = check_lru_encoding(encoding)
        self.codec = get_codec(self.encoding)
        self.codec.check(dtype, num_channels)  # names the encoding and what it cannot hold
        self.lru = lru
        self.scale = scale
        self.dtype = np.dtype(dtype)
        self.num_channels = num_channels
        self._drops = 0
        self._lock = threading.Lock()

    def _key(self, chunk: Bbox) -> tuple[str, str, str, str]:
        return ("chunk", self.encoding, self.scale.key, chunk.to_filename())

    def get(self, chunk: Bbox) -> np.ndarray | None:
        """The decoded chunk, or ``None`` when it is not held."""
        blob = self.lru.get(self._key(chunk))
        if blob is None:
            return None
        shape = (*(int(v) for v in chunk.size()), self.num_channels)
        return self.codec.decode(blob, shape, self.dtype, self.scale.params)  # type: ignore[arg-type]

    def stamp(self) -> int:
        """A stamp to take before fetching chunks that :meth:`put` may keep."""
        return self._drops

    def put(self, chunk: Bbox, whole: np.ndarray, since: int) -> None:
        """Hold the decoded chunk ``whole`` (``[x, y, z, c]``), unless entries were dropped
        since the stamp ``since``: the chunk may have been fetched before a write that
        replaced it, and must not outlive the write's drop."""
        blob = self.codec.encode(whole, self.scale.params)
        with self._lock:
            if self._drops == since:
                self.lru.set(self._key(chunk), blob)

    def drop(self, chunks: Iterable[Bbox]) -> None:
        """Forget ``chunks`` (after they were written or deleted)."""
        with self._lock:
            self._drops += 1
            for chunk in chunks:
                self.lru.pop(self._key(chunk))
