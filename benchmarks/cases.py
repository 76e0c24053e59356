"""What the benchmark measures: source volumes, cases (encoding x chunking) and their sizes.

Sizes are ``(x, y, z)`` voxels; every layer has one channel, resolution ``[4, 4, 40]`` nm and
voxel offset ``[0, 0, 0]``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

RESOLUTION = (4, 4, 40)
SCALE_KEY = "4_4_40"
JPEG_QUALITY = 85  # cloud-volume's default; written into the info so every writer uses it
PNG_LEVEL = 6  # written into the info so every writer uses it
GZIP_LEVEL_NEUTRAL = 6  # the neutral writer's gzip level (writers under test use their own)
CSEG_BLOCK = (8, 8, 8)


@dataclass(frozen=True)
class Source:
    """A generated volume: ``image`` (EM-like uint8) or ``seg`` (Voronoi uint64 labels)."""

    name: str
    shape: tuple[int, int, int]
    dtype: str
    layer_type: str
    labels: int = 0  # number of seeds for ``seg``

    @property
    def nbytes(self) -> int:
        import numpy as np

        x, y, z = self.shape
        return x * y * z * np.dtype(self.dtype).itemsize

    @property
    def voxels(self) -> int:
        x, y, z = self.shape
        return x * y * z


@dataclass(frozen=True)
class Case:
    """One layer layout: the source it holds, its encoding, chunking and storage options."""

    slug: str
    title: str
    source: str
    encoding: str
    chunk: tuple[int, int, int]
    gzip: bool = False
    sharded: bool = False
    s3: bool = False  # also measure the whole read over the loopback S3 server

    @property
    def lossless(self) -> bool:
        return self.encoding != "jpeg"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(d: dict[str, Any]) -> Case:
        d = dict(d)
        d["chunk"] = tuple(d["chunk"])
        return Case(**d)


@dataclass(frozen=True)
class Plan:
    """Sizes and repeat counts of one benchmark mode (full or quick)."""

    mode: str
    sources: dict[str, Source]
    cases: list[Case]
    read_repeats: int = 7  # 3 + 2 + 2 over the rounds: most runs are not the first of a process
    read_repeats_long: int = 3  # when one read takes more than LONG_SECONDS
    write_repeats: int = 3
    # a sub-box read takes ~10 ms: many runs, so that the first reads of a process after the
    # whole reads (fresh memory, which this VM backs slowly once freed) do not set the median
    subbox_repeats: int = 15
    cutout_repeats: int = 3
    cutouts: int = 200
    cutout_size: int = 64
    subbox_size: int = 100
    limit_repeats: int = 3
    # 0.1 s each: a new array's page faults now and then stall for a while (one run measured
    # the copy into a new 512 MiB array at 138 MVx/s, and 806-1182 right after)
    memcpy_repeats: int = 7
    s3_repeats: int = 9  # 3 per round: the first read of a process also connects
    cv_parallel: tuple[int, ...] = (1, 2)
    # cloud-volume parallel=2 (processes + shared memory) measured ~10x slower than parallel=1
    # for whole reads and writes of these sizes; it is kept on these cases only, as evidence
    cv_parallel_cases: tuple[str, ...] = ("img-raw-64", "img-gzip-64")
    # each implementation runs in this many fresh processes, order alternating; a process now
    # and then runs everything 2-3x slower on this VM, and with 3 processes one such process
    # cannot set the median of the writes and cutouts (one run in each)
    rounds: int = 3
    extra: dict[str, Any] = field(default_factory=dict)


LONG_SECONDS = 1.5  # whole reads longer than this get ``read_repeats_long`` repeats


def _cases() -> list[Case]:
    return [
        Case("img-raw-64", "image uint8, raw, 64³ chunks", "image", "raw", (64, 64, 64), s3=True),
        Case(
            "img-gzip-64",
            "image uint8, raw+gzip, 64³ chunks",
            "image",
            "raw",
            (64, 64, 64),
            gzip=True,
        ),
        Case("img-jpeg-64", "image uint8, jpeg, 64³ chunks", "image", "jpeg", (64, 64, 64)),
        Case("img-png-64", "image uint8, png, 64³ chunks", "image", "png", (64, 64, 64)),
        Case(
            "img-raw-128x16", "image uint8, raw, 128×128×16 chunks", "image", "raw", (128, 128, 16)
        ),
        Case(
            "img-gzip-128x16",
            "image uint8, raw+gzip, 128×128×16 chunks",
            "image",
            "raw",
            (128, 128, 16),
            gzip=True,
        ),
        Case(
            "seg-gzip-64",
            "segmentation uint64, raw+gzip, 64³ chunks",
            "seg",
            "raw",
            (64, 64, 64),
            gzip=True,
        ),
        Case(
            "seg-cseg-64",
            "segmentation uint64, compressed_segmentation, 64³ chunks",
            "seg",
            "compressed_segmentation",
            (64, 64, 64),
            s3=True,
        ),
        Case(
            "seg-cseg-sharded",
            "segmentation uint64, sharded compressed_segmentation, 64³ chunks",
            "seg",
            "compressed_segmentation",
            (64, 64, 64),
            sharded=True,
            s3=True,
        ),
    ]


def plan(quick: bool) -> Plan:
    """The full plan (512³ image, 512×512×256 segmentation) or the quick one (8x smaller)."""
    if quick:
        sources = {
            "image": Source("image", (256, 256, 256), "uint8", "image"),
            "seg": Source("seg", (256, 256, 128), "uint64", "segmentation", labels=1000),
        }
        return Plan(
            "quick",
            sources,
            _cases(),
            read_repeats=3,
            write_repeats=2,
            subbox_repeats=3,
            cutout_repeats=2,
            cutouts=50,
            limit_repeats=3,
            s3_repeats=2,
            cv_parallel=(1,),
            rounds=1,
        )
    sources = {
        "image": Source("image", (512, 512, 512), "uint8", "image"),
        "seg": Source("seg", (512, 512, 256), "uint64", "segmentation", labels=4000),
    }
    return Plan("full", sources, _cases())


def bit_length(n: int) -> int:
    return max(0, int(n - 1).bit_length())


def sharding_spec(shape: tuple[int, int, int], chunk: tuple[int, int, int]) -> dict[str, Any]:
    """A realistic sharding spec for the grid: about 64 chunks per shard, 8 per minishard.

    ``hash`` is identity, minishard indices are gzipped and chunk data is stored raw (the chunks
    are compressed_segmentation already), as igneous writes segmentation.
    """
    grid = [-(-s // c) for s, c in zip(shape, chunk)]
    total = sum(bit_length(g) for g in grid)
    shard_bits = max(0, total - 6)
    preshift = min(3, total - shard_bits)
    minishard_bits = total - shard_bits - preshift
    return {
        "@type": "neuroglancer_uint64_sharded_v1",
        "preshift_bits": preshift,
        "hash": "identity",
        "minishard_bits": minishard_bits,
        "shard_bits": shard_bits,
        "minishard_index_encoding": "gzip",
        "data_encoding": "raw",
    }


def layer_info(case: Case, source: Source) -> dict[str, Any]:
    """The ``info`` of a case's layer (every implementation writes and reads this)."""
    scale: dict[str, Any] = {
        "key": SCALE_KEY,
        "size": list(source.shape),
        "voxel_offset": [0, 0, 0],
        "resolution": list(RESOLUTION),
        "chunk_sizes": [list(case.chunk)],
        "encoding": case.encoding,
    }
    if case.encoding == "compressed_segmentation":
        scale["compressed_segmentation_block_size"] = list(CSEG_BLOCK)
    if case.encoding == "jpeg":
        scale["jpeg_quality"] = JPEG_QUALITY
    if case.encoding == "png":
        scale["png_level"] = PNG_LEVEL
    if case.sharded:
        scale["sharding"] = sharding_spec(source.shape, case.chunk)
    return {
        "@type": "neuroglancer_multiscale_volume",
        "type": source.layer_type,
        "data_type": source.dtype,
        "num_channels": 1,
        "scales": [scale],
    }
