"""Where chunk bytes live: unsharded chunk files, or chunks inside shard files.

Both adapters map chunk extents (``Bbox`` in voxels of the scale) to stored bytes, so the image
engine never knows which layout a scale uses. Thread safe.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np

from voxelio.geometry import Bbox
from voxelio.meta import Scale
from voxelio.storage import PutOptions, Store, join_key
from voxelio.storage.base import supports_conditional
from voxelio.storage.buffers import ReadBuffers

#: the bytes of one chunk: owned, a view of a read buffer, or ``None`` when missing
Data = bytes | memoryview | None


#: a chunk's new encoded bytes from its extent and its stored bytes (``None``: missing);
#: returning ``None`` deletes it
ChunkPatch = Callable[[Bbox, bytes | None], bytes | None]
#: what a conditional update writes to a chunk: its encoded bytes, ``None`` (delete it) or a
#: :data:`ChunkPatch` of what is stored
ChunkUpdate = bytes | None | ChunkPatch


class ChunkIO(ABC):
    """Fetch and store encoded chunks by their extent."""

    #: one :meth:`fetch` of many chunks costs much less than one per group (sharded layouts
    #: look up their indices once and coalesce the reads): small reads fetch all at once
    batches_reads: bool = False

    @property
    def empty_object_size(self) -> int | None:
        """The size of a stored object that holds no chunk (``None``: there is none)."""
        return None

    @abstractmethod
    def describe(self, chunk: Bbox) -> str:
        """A human-readable location of the chunk (its key or shard), for error messages."""

    def groups(self, chunks: Sequence[Bbox], for_write: bool) -> list[list[Bbox]]:
        """Split chunks into batches that are best fetched (or written) together.

        Each batch becomes one task of the engine; the default is one chunk per batch.
        """
        return [[c] for c in chunks]

    @abstractmethod
    def fetch(self, chunks: Sequence[Bbox]) -> list[bytes | None]:
        """Encoded bytes of each chunk (transport compression removed), ``None`` when missing."""

    @property
    def conditional(self) -> bool:
        """Whether the store under this layout offers compare-and-swap writes."""
        return False

    def update(self, items: Sequence[tuple[Bbox, ChunkUpdate]]) -> None:
        """Write each chunk (bytes, ``None`` to delete, or a :data:`ChunkPatch` applied to
        what is stored) by compare-and-swap of the objects holding them, each object once,
        so concurrent writers lose nothing (layouts that keep many chunks in one object;
        unsharded chunks are swapped one by one by the caller)."""
        raise NotImplementedError(f"{type(self).__name__} has no conditional update")

    def fetch_into(self, chunks: Sequence[Bbox], buffers: ReadBuffers) -> list[Data]:
        """Like :meth:`fetch`, but the bytes may be views of the calling thread's buffer in
        ``buffers``, valid until its next ``fetch_into``: the caller decodes and copies them
        out first."""
        return list(self.fetch(chunks))

    def fetch_box_into(
        self,
        chunk: Bbox,
        shape: tuple[int, int, int, int],
        origin: tuple[int, int, int],
        out: np.ndarray,
        buffers: ReadBuffers,
    ) -> bool:
        """Copy a box of a chunk stored as a plain array straight into ``out``, as
        :meth:`Store.read_box_into` does; ``False`` when that did not happen (the default)."""
        return False

    @abstractmethod
    def store(self, items: Sequence[tuple[Bbox, bytes | None]], options: PutOptions) -> None:
        """Write each chunk; ``None`` deletes it."""

    @abstractmethod
    def exists(self, chunks: Sequence[Bbox]) -> list[bool]:
        """Whether each chunk is stored."""


class UnshardedChunks(ChunkIO):
    """One object per chunk, named ``<scale key>/x0-x1_y0-y1_z0-z1``."""

    def __init__(self, store: Store, scale: Scale) -> None:
        self.store_ = store
        self.scale = scale
        # the scale key, checked once; chunk file names are digits, dashes and underscores
        self._prefix = join_key(scale.key, "x")[:-1]

    @property
    def conditional(self) -> bool:
        return supports_conditional(self.store_)

    def key(self, chunk: Bbox) -> str:
        """The storage key of a chunk."""
        return self._prefix + chunk.to_filename()

    def describe(self, chunk: Bbox) -> str:
        return f"{self.store_.url}/{self.key(chunk)}"

    def fetch(self, chunks: Sequence[Bbox]) -> list[bytes | None]:
        return [self.store_.get(self.key(c)) for c in chunks]

    def fetch_into(self, chunks: Sequence[Bbox], buffers: ReadBuffers) -> list[Data]:
        if len(chunks) != 1:  # each later read would overwrite the one before
            return list(self.fetch(chunks))
        return [self.store_.get_into(self.key(chunks[0]), buffers)]

    def fetch_box_into(
        self,
        chunk: Bbox,
        shape: tuple[int, int, int, int],
        origin: tuple[int, int, int],
        out: np.ndarray,
        buffers: ReadBuffers,
    ) -> bool:
        return self.store_.read_box_into(self.key(chunk), shape, origin, out, buffers)

    def store(self, items: Sequence[tuple[Bbox, bytes | None]], options: PutOptions) -> None:
        for chunk, data in items:
            if data is None:
                self.store_.delete(self.key(chunk))
            else:
                self.store_.put(self.key(chunk), data, options)

    def exists(self, chunks: Sequence[Bbox]) -> list[bool]:
        return [self.store_.exists(self.key(c)) for c in chunks]
