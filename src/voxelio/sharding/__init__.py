"""The ``neuroglancer_uint64_sharded_v1`` format.

``voxelio.sharding.spec`` (L0) holds the pure maths and is re-exported here;
``voxelio.sharding.shardfile`` builds and parses whole shard files;
``voxelio.sharding.store`` (L3) holds :class:`~voxelio.sharding.store.ShardedKeyStore`;
``voxelio.sharding.image`` and ``voxelio.sharding.planning`` help the image engine and
writers. Import those submodules directly: this package imports only the L0 spec.
"""

from voxelio.sharding.spec import SHARDING_TYPE, MinishardIndex, ShardingSpec

__all__ = ["SHARDING_TYPE", "MinishardIndex", "ShardingSpec"]
