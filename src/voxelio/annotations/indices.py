"""The storage of one annotation index directory: uint64 key -> bytes, sharded or not.

Keys are annotation ids (``by_id``), segment ids (relationships) or, for spatial levels, the
compressed Morton code of a cell over the level's grid. Unsharded, each value is a file
named by the key in base 10, or by the cell coordinates joined with ``_``; sharded, the key
is the uint64 key of ``neuroglancer_uint64_sharded_v1``. Thread safe as the stores are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np

from voxelio.errors import DecodingError, UnsupportedOptionError
from voxelio.geometry.morton import compressed_morton_codes, decode_compressed_morton_codes
from voxelio.meta.annotations import KeyIndex, SpatialLevel
from voxelio.sharding.spec import ShardingSpec
from voxelio.sharding.store import ShardedKeyStore
from voxelio.storage.base import PutOptions, Store, join_key

#: where listing is impossible, sharded indices of at most this many shards are probed
MAX_PROBED_SHARDS = 4096
#: index values are written before the info that publishes them (see AnnotationWriter)
_UNPUBLISHED = PutOptions(content_type="application/octet-stream", unpublished=True)


def _decimal_names(keys: np.ndarray) -> list[str]:
    return [str(k) for k in np.asarray(keys, dtype=np.uint64).tolist()]


def _decimal(name: str) -> int | None:
    """``name`` as a uint64 written in ASCII base 10, else ``None`` (a foreign file)."""
    if not (name.isascii() and name.isdigit()) or int(name) >= 1 << 64:
        return None
    return int(name)


class IndexStore:
    """One index directory ``key`` below ``store``; ``to_names`` maps keys (an array, all at
    once) to unsharded file names and ``from_name`` one name back (``None`` for foreign
    files)."""

    def __init__(
        self,
        store: Store,
        key: str,
        sharding: ShardingSpec | None,
        to_names: Callable[[np.ndarray], list[str]] = _decimal_names,
        from_name: Callable[[str], int | None] = _decimal,
    ) -> None:
        self.store = store
        self.key = key
        self.to_names = to_names
        self.from_name = from_name
        self.sharded = None if sharding is None else ShardedKeyStore(store, sharding, prefix=key)

    def where(self, key: int) -> str:
        """Where a key's value lives, for error messages."""
        if self.sharded is not None:
            shard, _ = self.sharded.spec.shard_and_minishard(key)
            return f"{self.store.url}/{self.sharded.shard_key(shard)} (key {key})"
        return f"{self.store.url}/{self._names(np.array([key], dtype=np.uint64))[0]}"

    def _names(self, keys: np.ndarray) -> list[str]:
        """The unsharded keys of ``keys``, converted together (spatial names decode Morton
        codes: one numpy call for all, not one per key)."""
        return [join_key(self.key, name) for name in self.to_names(keys)]

    def read(self, keys: Iterable[int]) -> dict[int, bytes | None]:
        """``{key: value or None}``."""
        wanted = [int(k) for k in keys]
        if self.sharded is not None:
            return self.sharded.get_many(np.array(wanted, dtype=np.uint64))
        names = dict(zip(self._names(np.array(wanted, dtype=np.uint64)), wanted))
        return {names[name]: value for name, value in self.store.get_many(names).items()}

    def write(self, items: Mapping[int, bytes]) -> None:
        """Store every value; sharded, each touched shard is written whole (no merge)."""
        if self.sharded is not None:
            self.sharded.put_many(items, replace_shards=True)
            return
        keys = np.fromiter(items, dtype=np.uint64, count=len(items))
        named = dict(zip(self._names(keys), items.values()))
        self.store.put_many(named, _UNPUBLISHED)

    def keys(self) -> np.ndarray:
        """Every key present, sorted (one listing; sharded: each shard's indices). Where the
        store cannot list (HTTP), sharded indices probe every possible shard and unsharded
        ones raise :class:`UnsupportedOptionError`."""
        if self.sharded is not None:
            found = [self.sharded.list_keys(s) for s in self._shards()]
            return np.unique(np.concatenate(found)) if found else np.zeros(0, np.uint64)
        root = self.key + "/"
        parsed = (self.from_name(k[len(root) :]) for k in self.store.list(root))
        return np.unique(np.array([k for k in parsed if k is not None], dtype=np.uint64))

    def _shards(self) -> Iterable[int]:
        assert self.sharded is not None
        try:
            return self.sharded.list_shards()
        except UnsupportedOptionError:
            count = self.sharded.spec.num_shards
            if count > MAX_PROBED_SHARDS:
                raise UnsupportedOptionError(
                    f"{self.store.url}/{self.key}: cannot list here, and {count} shards are "
                    f"too many to probe (at most {MAX_PROBED_SHARDS})"
                ) from None
            return range(count)


def id_index(store: Store, index: KeyIndex) -> IndexStore:
    """The store of ``by_id`` or of a relationship."""
    return IndexStore(store, index.key, index.sharding)


def spatial_index(store: Store, level: SpatialLevel) -> IndexStore:
    """The store of a spatial level, keyed by the compressed Morton code of each cell."""
    grid = level.grid_shape

    def to_names(codes: np.ndarray) -> list[str]:
        cells = decode_compressed_morton_codes(np.asarray(codes, np.uint64), grid)
        return ["_".join(map(str, cell)) for cell in cells.tolist()]

    def from_name(name: str) -> int | None:
        parts = name.split("_")
        if len(parts) != len(grid) or not all(_decimal(p) is not None for p in parts):
            return None
        cell = np.array([[int(p) for p in parts]], dtype=np.int64)
        if np.any(cell[0] >= np.asarray(grid)):
            raise DecodingError(f"{store.url}/{level.key}/{name}: cell outside grid {list(grid)}")
        return int(compressed_morton_codes(cell, grid)[0])

    return IndexStore(store, level.key, level.sharding, to_names, from_name)


__all__ = ["IndexStore", "id_index", "spatial_index"]
