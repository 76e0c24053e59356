"""Sharded image scales: chunks addressed by compressed Morton id inside shard files.

Reads group chunks by minishard, so one task fetches one minishard's chunks with coalesced
range reads; writes group chunks by shard and rewrite each shard once (read-modify-write,
keeping the chunks a write does not cover; a write covering a whole shard skips the read).
The shard and minishard index caches live on the :class:`ShardedChunks` object, so keep one
per open volume and scale. Thread safe.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from voxelio.errors import ShardingError
from voxelio.geometry import Bbox
from voxelio.image.chunks import ChunkIO
from voxelio.meta import Scale
from voxelio.sharding.image import chunk_ids, covers_whole_shards, image_sharding_problems
from voxelio.sharding.spec import ShardingSpec
from voxelio.sharding.store import ShardedKeyStore
from voxelio.storage import PutOptions, Store


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
        keys = shards if for_write else shards.astype(np.uint64) * np.uint64(1 << 32) + minishards
        order = np.argsort(keys, kind="stable")
        out: list[list[Bbox]] = []
        last = None
        for pos in order:
            if keys[pos] != last:
                out.append([])
                last = keys[pos]
            out[-1].append(chunks[int(pos)])
        return out

    def fetch(self, chunks: Sequence[Bbox]) -> list[bytes | None]:
        ids = self.ids(chunks)
        found = self.keys.get_many(ids)
        return [found.get(int(i)) for i in ids]

    def store(self, items: Sequence[tuple[Bbox, bytes | None]], options: PutOptions) -> None:
        ids = self.ids([c for c, _ in items])
        updates = {int(i): data for i, (_, data) in zip(ids, items)}
        whole = covers_whole_shards(ids, self.spec, self.grid_shape)
        self.keys.put_many(updates, replace_shards=bool(whole) and all(whole.values()))

    def exists(self, chunks: Sequence[Bbox]) -> list[bool]:
        ids = self.ids(chunks)
        found = self.keys.exists_many(ids)
        return [bool(found.get(int(i))) for i in ids]
