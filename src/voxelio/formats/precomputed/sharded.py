"""Sharded image scales: chunks addressed by compressed Morton id inside shard files.

Reads group chunks by minishard, so one task fetches one minishard's chunks with coalesced
range reads; on remote stores a read that covers a whole shard fetches it in one request (one
task per shard); writes group chunks by shard and rewrite each shard once (read-modify-write,
keeping the chunks a write does not cover; a write covering a whole shard skips the read).
The shard and minishard index caches live on the :class:`ShardedChunks` object, so keep one
per open volume and scale. Thread safe.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from voxelio.errors import ShardingError
from voxelio.geometry import Bbox
from voxelio.image.chunks import ChunkIO, ChunkUpdate
from voxelio.meta import Scale
from voxelio.sharding.image import chunk_ids, covers_whole_shards, image_sharding_problems
from voxelio.sharding.spec import ShardingSpec
from voxelio.sharding.store import ShardedKeyStore
from voxelio.storage import PutOptions, Store
from voxelio.storage.base import supports_conditional


class WholeShard(list[Bbox]):
    """A read group of :meth:`ShardedChunks.groups` holding every chunk of one shard, which
    :meth:`ShardedChunks.fetch` reads in one request."""


class ShardedChunks(ChunkIO):
    """Chunk I/O for a scale with a ``sharding`` spec."""

    batches_reads = True

    def __init__(self, store: Store, scale: Scale) -> None:
        assert scale.sharding is not None
        self.scale = scale
        self.spec = ShardingSpec.from_json(dict(scale.sharding))
        self.grid_shape = scale.grid.grid_shape
        problems = image_sharding_problems(self.spec, self.grid_shape)
        if problems:
            raise ShardingError(
                f"{store.url}/{scale.key}: invalid image sharding: " + "; ".join(problems)
            )
        self.keys = ShardedKeyStore(store, self.spec, prefix=scale.key)

    def ids(self, chunks: Sequence[Bbox]) -> np.ndarray:
        """Compressed Morton ids of chunk extents."""
        if not chunks:
            return np.zeros(0, dtype=np.uint64)
        off = [int(v) for v in self.scale.voxel_offset]
        cs = [int(v) for v in self.scale.chunk_size]
        cells = [[(int(a) - o) // c for a, o, c in zip(ch._min, off, cs)] for ch in chunks]
        return chunk_ids(np.array(cells, dtype=np.int64), self.grid_shape)

    def describe(self, chunk: Bbox) -> str:
        cid = int(self.ids([chunk])[0])
        shard, _ = self.spec.shard_and_minishard(cid)
        return (
            f"{self.keys.store.url}/{self.keys.shard_key(shard)} "
            f"(chunk {chunk.to_filename()}, id {cid})"
        )

    def groups(self, chunks: Sequence[Bbox], for_write: bool) -> list[list[Bbox]]:
        ids = self.ids(chunks)
        shards, minishards = self.spec.shards_and_minishards(ids)
        high = shards.astype(np.uint64) * np.uint64(1 << 32)
        keys = shards if for_write else high + minishards
        whole = set() if for_write else self._whole_shard_reads(ids)
        if whole:  # one task per shard read whole
            keys = np.where(np.isin(shards, np.fromiter(whole, np.uint64)), high, keys)
        order = np.argsort(keys, kind="stable")
        out: list[list[Bbox]] = []
        last = None
        for pos in order:
            if keys[pos] != last:
                out.append(WholeShard() if int(shards[pos]) in whole else [])
                last = keys[pos]
            out[-1].append(chunks[int(pos)])
        return out

    def _whole_shard_reads(self, ids: np.ndarray) -> set[int]:
        """The shards a read of ``ids`` covers whole, where each is best fetched in one
        request (remote stores: one GET instead of the shard index, a minishard index and a
        data range per minishard, which on a real bucket come in dependent rounds). Shards
        whose chunks would have to be listed to tell are read by minishard."""
        if not self.keys.store.networked or ids.size == 0:
            return set()
        covered = covers_whole_shards(ids, self.spec, self.grid_shape, may_list=False)
        return {shard for shard, whole in covered.items() if whole}

    def fetch(self, chunks: Sequence[Bbox]) -> list[bytes | None]:
        ids = self.ids(chunks)
        shards = self.spec.shards_and_minishards(ids)[0]
        if isinstance(chunks, WholeShard):  # decided by groups(), which saw the whole read
            whole = {int(shards[0])}
        else:
            whole = self._whole_shard_reads(ids)
        found: dict[int, bytes | None] = {}
        for shard in sorted(whole):
            found.update(self.keys.read_shard(shard))
        rest = ids[~np.isin(shards, np.fromiter(whole, np.uint64))] if whole else ids
        found.update(self.keys.get_many(rest))
        return [found.get(int(i)) for i in ids]

    def store(self, items: Sequence[tuple[Bbox, bytes | None]], options: PutOptions) -> None:
        self.update(items)  # shard files carry no per-chunk upload options

    @property
    def conditional(self) -> bool:
        return supports_conditional(self.keys.store)

    @property
    def empty_object_size(self) -> int:
        """An emptied shard is its index alone (kept where a store cannot delete it
        conditionally)."""
        return self.spec.index_length

    def update(self, items: Sequence[tuple[Bbox, ChunkUpdate]]) -> None:
        """Write the chunks, each shard by one compare-and-swap where the store offers it
        (patches are applied to the chunk the shard holds at each attempt:
        :meth:`ShardedKeyStore.put_many`). Shards written whole with bytes alone are
        replaced without being read."""
        ids = self.ids([chunk for chunk, _ in items])
        values = {
            int(i): functools.partial(value, chunk) if callable(value) else value
            for i, (chunk, value) in zip(ids, items)
        }
        whole = covers_whole_shards(ids, self.spec, self.grid_shape)
        replace = bool(whole) and all(whole.values()) and not any(map(callable, values.values()))
        self.keys.put_many(values, replace_shards=replace)

    def exists(self, chunks: Sequence[Bbox]) -> list[bool]:
        ids = self.ids(chunks)
        found = self.keys.exists_many(ids)
        return [bool(found.get(int(i))) for i in ids]
