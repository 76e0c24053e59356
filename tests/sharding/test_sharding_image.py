"""Image helpers: chunk ids, shard grouping, shard coverage; planning rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxelio.errors import ShardingError
from voxelio.geometry.morton import morton_bits
from voxelio.sharding.image import (
    chunk_coords,
    chunk_ids,
    covers_whole_shards,
    grid_shape,
    group_by_shard,
    image_sharding_problems,
    image_sharding_valid,
    shard_chunk_coords,
    shard_chunk_ids,
    shard_shape_in_chunks,
)
from voxelio.sharding.planning import plan_image_sharding, plan_label_sharding
from voxelio.sharding.spec import ShardingSpec


def _all_ids(grid: tuple[int, ...]) -> np.ndarray:
    return chunk_ids(np.indices(grid).reshape(3, -1).T, grid)


@st.composite
def grids_and_specs(
    draw: st.DrawFn, max_preshift: int, max_shard_bits: int
) -> tuple[tuple[int, int, int], ShardingSpec]:
    """A chunk grid of up to 9 per axis, and a sharding spec of either hash."""
    grid = draw(st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 9)))
    spec = ShardingSpec(
        draw(st.integers(0, max_preshift)),
        draw(st.sampled_from(["identity", "murmurhash3_x86_128"])),
        draw(st.integers(0, 3)),
        draw(st.integers(0, max_shard_bits)),
    )
    return grid, spec


def test_grid_shape_and_ids() -> None:
    assert grid_shape((100, 70, 30), (16, 16, 8)) == (7, 5, 4)
    with pytest.raises(ShardingError, match="chunk size"):
        grid_shape((100, 70, 30), (16, 0, 8))
    ids = chunk_ids(np.array([[5, 3, 2], [6, 4, 2]]), (7, 5, 3))
    assert ids.tolist() == [115, 232]
    assert chunk_coords(ids, (7, 5, 3)).tolist() == [[5, 3, 2], [6, 4, 2]]


@settings(max_examples=60, deadline=None)
@given(grids_and_specs(max_preshift=4, max_shard_bits=4))
def test_shard_membership_matches_brute_force(
    case: tuple[tuple[int, int, int], ShardingSpec],
) -> None:
    grid, spec = case
    ids = _all_ids(grid)
    groups = group_by_shard(ids, spec)
    assert sorted(np.concatenate(list(groups.values())).tolist()) == list(range(ids.size))
    for shard in range(spec.num_shards):
        expected = np.sort(ids[groups[shard]]) if shard in groups else np.zeros(0, np.uint64)
        assert shard_chunk_ids(shard, spec, grid).tolist() == expected.tolist()
    assert all(covers_whole_shards(ids, spec, grid).values())
    if ids.size > 1:
        partial = covers_whole_shards(ids[1:], spec, grid)
        first_shard = int(spec.shards_and_minishards(ids[:1])[0][0])
        assert partial.get(first_shard, False) is False
        assert all(v for k, v in partial.items() if k != first_shard)


@settings(max_examples=60, deadline=None)
@given(grids_and_specs(max_preshift=3, max_shard_bits=6), st.integers(0, 2**32 - 1))
def test_shard_coverage_of_any_subset_matches_listing(
    case: tuple[tuple[int, int, int], ShardingSpec], seed: int
) -> None:
    grid, spec = case
    ids = _all_ids(grid)
    rng = np.random.default_rng(seed)
    # whole shards kept, some others thinned: both answers occur
    shards = spec.shards_and_minishards(ids)[0]
    thinned = rng.random(spec.num_shards) < 0.5
    keep = ~thinned[shards.astype(np.int64)] | (rng.random(ids.size) < 0.7)
    subset = ids[keep]
    truth = {
        shard: set(shard_chunk_ids(shard, spec, grid).tolist()) <= set(subset.tolist())
        for shard in set(spec.shards_and_minishards(subset)[0].tolist())
    }
    assert covers_whole_shards(subset, spec, grid) == truth
    unlisted = covers_whole_shards(subset, spec, grid, may_list=False)
    assert unlisted.keys() == truth.keys()
    assert all(truth[k] for k, v in unlisted.items() if v)  # never claims a partial shard
    if shard_shape_in_chunks(spec, grid) is not None:
        assert unlisted == truth


def test_coverage_of_a_large_murmur_grid_without_listing() -> None:
    spec = ShardingSpec(3, "murmurhash3_x86_128", 6, 10)
    grid = (256, 256, 128)  # more cells than a shard may be listed over
    ids = chunk_ids(np.indices((2, 2, 2)).reshape(3, -1).T, grid)
    with pytest.raises(ShardingError, match="cannot list"):
        covers_whole_shards(ids, spec, grid)
    assert not any(covers_whole_shards(ids, spec, grid, may_list=False).values())


def test_shard_boxes() -> None:
    spec = ShardingSpec(2, "identity", 1, 3)  # 2**3 chunks per shard: a 2x2x2 box
    grid = (4, 4, 2)  # 2 + 2 + 1 = 5 bits = 3 low bits + 2 shard bits... shard_bits 3 covers it
    assert shard_shape_in_chunks(spec, grid) == (2, 2, 2)
    for shard in range(4):
        cells = shard_chunk_coords(shard, spec, grid)
        assert cells.shape == (8, 3)
        lo = cells.min(axis=0)
        assert (cells.max(axis=0) - lo).tolist() == [1, 1, 1] and (lo % 2 == 0).all()
    assert shard_shape_in_chunks(ShardingSpec(2, "identity", 1, 1), grid) is None
    assert shard_shape_in_chunks(ShardingSpec(2, "murmurhash3_x86_128", 1, 3), grid) is None
    assert shard_shape_in_chunks(ShardingSpec(1, "identity", 1, 9), (8, 1, 2)) == (2, 1, 2)


def test_image_sharding_valid() -> None:
    spec = ShardingSpec(0, "identity", 0, 0)
    assert image_sharding_valid(spec, (7, 5, 3))
    assert not image_sharding_valid(spec, (2**30, 2**30, 2**10))
    assert "64" in image_sharding_problems(spec, (2**30, 2**30, 2**10))[0]


def test_enumeration_limit_for_murmur_images() -> None:
    spec = ShardingSpec(0, "murmurhash3_x86_128", 0, 2)
    with pytest.raises(ShardingError, match="shard 1"):
        shard_chunk_ids(1, spec, (4096, 4096, 4096))


def test_plan_image_matches_tensorstore_example() -> None:
    spec = plan_image_sharding(
        (34432, 39552, 51508), (64, 64, 64), 64**3, target_shard_bytes=8 << 30
    )
    assert (spec.preshift_bits, spec.minishard_bits, spec.shard_bits) == (9, 6, 15)
    assert spec.hash == "identity"


@settings(max_examples=100, deadline=None)
@given(
    st.tuples(*[st.integers(1, 5000)] * 3),
    st.tuples(*[st.sampled_from([8, 16, 32, 64, 100])] * 3),
    st.integers(1, 8),
    st.integers(10, 34),
)
def test_plan_image_invariants(
    size: tuple[int, ...], chunk: tuple[int, ...], bpv: int, target_log2: int
) -> None:
    bytes_per_chunk = int(np.prod(chunk)) * bpv
    target = 1 << target_log2
    spec = plan_image_sharding(size, chunk, bytes_per_chunk, target_shard_bytes=target)
    bits = sum(morton_bits(grid_shape(size, chunk)))
    low = spec.preshift_bits + spec.minishard_bits
    assert low + spec.shard_bits == bits  # shards are compact Morton blocks, none shared
    assert (1 << low) * bytes_per_chunk <= max(target, bytes_per_chunk)
    assert spec.minishard_bits <= 6 and spec.minishard_bits <= spec.preshift_bits + 1


@pytest.mark.parametrize("labels", [0, 1, 10, 1000, 10**6, 10**9])
def test_plan_labels(labels: int) -> None:
    spec = plan_label_sharding(labels, bytes_per_label=10_000, target_shard_bytes=100 << 20)
    assert spec.hash == "murmurhash3_x86_128" and spec.preshift_bits == 0
    shards = 1 << spec.shard_bits
    assert shards <= max(1, labels)
    per_shard = max(1, labels) / shards
    assert per_shard * 10_000 <= 2 * (100 << 20) or spec.shard_bits == 0
    assert per_shard / (1 << spec.minishard_bits) <= 1024 or spec.minishard_bits == 9


def test_plan_rejects_bad_sizes() -> None:
    with pytest.raises(ShardingError):
        plan_image_sharding((10, 10, 10), (4, 4, 4), 0)
    with pytest.raises(ShardingError):
        plan_label_sharding(-1)
