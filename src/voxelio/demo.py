"""The built-in local example: a synthetic EM-like image and its segmentation, two mips.

Used by ``voxelio demo``; public so that tests and notebooks can make the same data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxelio.image.downsample import downsample_array
from voxelio.volume import CloudVolume

log = logging.getLogger(__name__)


def synthetic_em(
    shape: tuple[int, int, int], seed: int = 0, cell: int = 24
) -> tuple[np.ndarray, np.ndarray]:
    """An EM-like uint8 image and a uint64 segmentation of the same ``(x, y, z)`` shape.

    Cells are Voronoi regions of jittered seeds, one per ``cell``-sized block (so the nearest
    seed is always among the 27 neighbouring blocks); membranes (cell borders) are dark,
    cytoplasm is bright with noise. Labels are large, distinct uint64 ids.
    """
    rng = np.random.default_rng(seed)
    blocks = np.asarray([-(-s // cell) for s in shape])
    seeds = (
        np.indices(tuple(int(b) for b in blocks)).reshape(3, -1).T
        + rng.uniform(0.1, 0.9, (blocks.prod(), 3))
    ) * cell
    coords = [np.arange(s, dtype=np.float32) + 0.5 for s in shape]
    block_of = [np.minimum((c // cell).astype(np.int64), b - 1) for c, b in zip(coords, blocks)]
    best = np.full(shape, np.inf, dtype=np.float32)
    second = np.full(shape, np.inf, dtype=np.float32)
    labels = np.zeros(shape, dtype=np.int64)
    for off in np.ndindex(3, 3, 3):
        nb = [np.clip(b + o - 1, 0, n - 1) for b, o, n in zip(block_of, off, blocks)]
        idx = (nb[0][:, None, None] * blocks[1] + nb[1][None, :, None]) * blocks[2] + nb[2][
            None, None, :
        ]
        pts = seeds[idx]
        dist = np.sqrt(
            (coords[0][:, None, None] - pts[..., 0]) ** 2
            + (coords[1][None, :, None] - pts[..., 1]) ** 2
            + (coords[2][None, None, :] - pts[..., 2]) ** 2
        ).astype(np.float32)
        same = idx == labels
        closer = (dist < best) & ~same
        second = np.where(closer, best, np.where(same, second, np.minimum(second, dist)))
        labels = np.where(closer, idx, labels)
        best = np.where(closer, dist, best)
    membrane = (second - best) < 1.5
    ids = np.unique(rng.integers(1, 2**40, size=2 * len(seeds)))[: len(seeds)]
    rng.shuffle(ids)
    seg = ids[labels].astype(np.uint64)
    noise = rng.normal(0, 12, size=shape)
    image = np.clip(170 + noise - 110 * membrane, 0, 255).astype(np.uint8)
    return np.asfortranarray(image), np.asfortranarray(seg)


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its layers and what it checked."""

    image_path: str
    segmentation_path: str
    shape: tuple[int, int, int]
    mips: int
    labels: int


def run_demo(
    directory: str | Path, shape: tuple[int, int, int] = (256, 256, 64), progress: bool = False
) -> DemoResult:
    """Write, read back and verify the example layers below ``directory``."""
    root = Path(directory).absolute()
    image, seg = synthetic_em(shape)
    factor = (2, 2, 1)
    results = []
    for name, data, layer_type, encoding in (
        ("image", image, "image", "raw"),
        ("segmentation", seg, "segmentation", "raw"),
    ):
        path = "file://" + str(root / name)
        info = CloudVolume.create_new_info(
            num_channels=1,
            layer_type=layer_type,
            data_type=data.dtype.name,
            encoding=encoding,
            resolution=[8, 8, 40],
            voxel_offset=[0, 0, 0],
            volume_size=data.shape,
            chunk_size=[64, 64, 32],
            max_mip=1,
            factor=factor,
        )
        vol = CloudVolume(path, info=info, progress=progress)
        vol.commit_info()
        levels = [
            data,
            downsample_array(data[..., None], factor, layer_type == "segmentation")[..., 0],
        ]
        for mip, level in enumerate(levels):
            vol.mip = mip
            vol[:, :, :] = level
            log.info("wrote %s mip %d %s", path, mip, level.shape)
        check = CloudVolume(path, progress=progress)
        for mip, level in enumerate(levels):
            check.mip = mip
            back = np.asarray(check[:, :, :])[..., 0]
            if not np.array_equal(back, level):
                raise RuntimeError(f"{path} mip {mip}: data read back differs from data written")
        results.append(path)
    return DemoResult(results[0], results[1], shape, 2, int(len(np.unique(seg))))
