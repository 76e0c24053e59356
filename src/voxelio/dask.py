"""Dask arrays from and to precomputed layers, with downsampled pyramids built on Dask.

The functions of cloud-volume's ``cloudvolume.dask``: :func:`from_cloudvolume` reads a layer
lazily (``vol.to_dask()`` is the same), :func:`to_cloudvolume` creates a layer and stores an
array in it. Unlike cloud-volume, ``max_mip`` scales are written too, not only declared: each
is downsampled from the one before, on Dask, chunk by chunk (images by the mean, rounded for
integer types; segmentations by the most frequent label: :mod:`voxelio.image.downsample`),
and :func:`add_pyramid` adds such scales to an existing layer. Arrays are ``[x, y, z]`` or
``[x, y, z, channel]`` and indexed from 0 at the voxel offset (:class:`voxelio.window.MipArray`),
so layers with any offset work. Reads and writes run where Dask runs its tasks; volumes pickle
cheaply, so the processes and distributed schedulers work, and the threaded one too (voxelio
releases the GIL in its codecs and I/O). Needs the ``dask`` extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from voxelio.image.downsample import reduce_windows
from voxelio.volume import CloudVolume
from voxelio.window import MipArray

#: integer types stored as segmentations when ``layer_type`` is not given (cloud-volume's rule)
SEGMENTATION_TYPES = (np.dtype(bool), np.dtype(np.uint16), np.dtype(np.uint32), np.dtype(np.uint64))


def from_cloudvolume(
    cloudpath: str, chunks: Any = None, name: str | None = None, **kwargs: Any
) -> Any:
    """The layer at ``cloudpath`` as a dask array ``[x, y, z, channel]`` (``kwargs`` go to
    :class:`CloudVolume`, ``mip`` among them); see :meth:`CloudVolume.to_dask`."""
    return CloudVolume(cloudpath, progress=False, **kwargs).to_dask(chunks, name)


def to_cloudvolume(
    arr: Any,
    cloudpath: str,
    resolution: Sequence[float] = (1, 1, 1),
    voxel_offset: Sequence[int] = (0, 0, 0),
    layer_type: str | None = None,
    encoding: str = "raw",
    max_mip: int = 0,
    compute: bool = True,
    return_stored: bool = False,
    factor: Sequence[int] = (2, 2, 1),
    **kwargs: Any,
) -> Any:
    """Create a layer at ``cloudpath`` holding the dask array ``arr`` and ``max_mip``
    downsampled scales (each by ``factor`` from the one before), chunked as ``arr`` is.

    ``arr`` must be chunked regularly (``arr.rechunk(...)`` first otherwise); its channels
    are kept in one chunk, and bool values are stored as uint8. ``layer_type`` defaults to
    "segmentation" for bool, uint16, uint32 and uint64 and "image" for other numbers.
    ``kwargs`` go to :class:`CloudVolume` (``compress``, ...).
    Returns what ``dask.array.store`` returns: ``None``, or with ``compute=False`` a delayed
    value that writes when computed, or with ``return_stored`` the stored arrays (one per
    scale when ``max_mip`` > 0).
    """
    import dask.array as da

    if not da.core._check_regular_chunks(arr.chunks):
        raise ValueError(
            "to_cloudvolume: the array is chunked irregularly; call arr.rechunk(...) first"
        )
    if arr.ndim not in (3, 4):
        raise ValueError(f"to_cloudvolume: the array must be 3-D or 4-D, not {arr.ndim}-D")
    if arr.ndim == 4:
        arr = arr.rechunk({3: -1})  # a chunk holds every channel, as the layer stores them
    layer_type = layer_type or _layer_type(arr.dtype)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)  # precomputed has no bool type: 0 and 1 as uint8
    num_channels = 1 if arr.ndim == 3 else int(arr.shape[3])
    info = CloudVolume.create_new_info(
        num_channels, layer_type, arr.dtype.name, encoding, resolution, voxel_offset,
        arr.shape[:3], chunk_size=arr.chunksize[:3], max_mip=max_mip, factor=factor,
    )  # fmt: skip
    vol = CloudVolume(cloudpath, info=info, progress=False, **kwargs)
    vol.commit_info()
    vol.provenance["processing"].append({"method": "voxelio.dask.to_cloudvolume"})
    vol.commit_provenance()
    if max_mip == 0:
        target = MipArray(vol, 0, squeeze=arr.ndim == 3)
        return arr.store(target, lock=False, compute=compute, return_stored=return_stored)
    level = arr if arr.ndim == 4 else arr[..., None]
    sources, targets = _pyramid(vol, level, 0, max_mip)
    sources[0], targets[0] = arr, MipArray(vol, 0, squeeze=arr.ndim == 3)
    return da.store(sources, targets, lock=False, compute=compute, return_stored=return_stored)


def add_pyramid(
    cloudpath: str,
    mips: int = 1,
    factor: Sequence[int] = (2, 2, 1),
    compute: bool = True,
    **kwargs: Any,
) -> Any:
    """Add ``mips`` scales to the layer at ``cloudpath``, each downsampled by ``factor`` from
    the one before, starting from its last scale, computed on Dask as in
    :func:`to_cloudvolume` (nothing is read twice: every scale comes from the one before).
    The new scales take the last scale's encoding and chunk size, unsharded, and their other
    settings from mip 0 (as ``add_scale`` does). ``kwargs`` go to :class:`CloudVolume`.
    Returns ``None``, or with ``compute=False`` a delayed value that writes when computed
    (the info is committed at once). Refused, before anything is changed: ``mips`` below 1,
    a factor that does not downsample, a new scale at the resolution of one there is, and a
    last scale holding no data (an earlier run that stopped after adding it: remove it or
    fill it first)."""
    import dask.array as da

    vol = CloudVolume(cloudpath, progress=False, **kwargs)
    last = len(vol.info["scales"]) - 1
    steps = _pyramid_steps(vol, last, mips, factor)
    if not vol.image.has_data(last):
        raise ValueError(f"add_pyramid: {cloudpath} mip {last} holds no data to downsample")
    for step in steps:
        vol.add_scale(
            step, encoding=vol.mip_encoding(last), chunk_size=list(vol.mip_chunk_size(last))
        )
    vol.commit_info()
    vol.provenance["processing"].append(
        {"method": "voxelio.dask.add_pyramid", "mips": mips, "factor": [int(f) for f in factor]}
    )
    vol.commit_provenance()
    # read in blocks that downsample to whole chunks of the first new scale: no rechunking
    blocks = [int(c) * int(k) for c, k in zip(vol.mip_chunk_size(last + 1), factor)]
    source = vol.to_dask(chunks=(*blocks, vol.num_channels), mip=last)
    sources, targets = _pyramid(vol, source, last, last + mips)
    return da.store(sources[1:], targets[1:], lock=False, compute=compute)


def _pyramid_steps(
    vol: CloudVolume, last: int, mips: int, factor: Sequence[int]
) -> list[list[int]]:
    """The downsampling ratios to mip 0 of ``mips`` scales after scale ``last``, each by
    ``factor`` from the one before; ``ValueError`` where they would not be new scales."""
    if mips < 1:
        raise ValueError(f"add_pyramid: mips must be at least 1, got {mips}")
    step = np.asarray(factor, np.int64)
    if step.shape != (3,) or np.any(step < 1) or np.prod(step) < 2:
        raise ValueError(f"add_pyramid: factor must be 3 integers >= 1, not all 1, got {factor}")
    ratio = np.rint(np.asarray(vol.mip_downsample_ratio(last), float)).astype(np.int64)
    steps = [(ratio * step**mip).tolist() for mip in range(1, mips + 1)]
    base = np.asarray(vol.mip_resolution(0), float)
    for new in steps:
        for mip, scale in enumerate(vol.info["scales"]):
            if np.allclose(scale["resolution"], base * np.asarray(new)):
                raise ValueError(f"add_pyramid: a scale downsampled by {new} is mip {mip} already")
    return steps


def _pyramid(vol: CloudVolume, level: Any, first: int, last: int) -> tuple[list[Any], list[Any]]:
    """``level`` (scale ``first``, ``[x, y, z, channel]``) and the scales after it up to
    ``last``, each downsampled from the one before, with the arrays to store them in."""
    labels = vol.layer_type == "segmentation"
    sources: list[Any] = [level]
    targets: list[Any] = [MipArray(vol, first)]  # dask's types know no array-like objects
    for mip in range(first + 1, last + 1):
        sources.append(downsample(sources[-1], vol, mip, labels))
        targets.append(MipArray(vol, mip))
    return sources, targets


def _layer_type(dtype: np.dtype) -> str:
    if np.dtype(dtype) in SEGMENTATION_TYPES:
        return "segmentation"
    if np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating):
        return "image"
    raise ValueError(f"to_cloudvolume: no layer type holds data_type {np.dtype(dtype).name}")


def downsample(level: Any, vol: CloudVolume, mip: int, labels: bool) -> Any:
    """The dask array of scale ``mip`` of ``vol`` from ``level``, scale ``mip - 1``
    (``[x, y, z, channel]``), chunked as the scale's chunks.

    Voxel ``v`` of scale ``mip`` summarizes the voxels of scale ``mip - 1`` at ``v * f`` up
    to ``(v + 1) * f`` (``f`` the ratio of their resolutions; coordinates with the voxel
    offsets), those inside the scale only: windows cut by its bounds use the voxels they
    hold. ``labels`` takes the most frequent value of a window (ties: the first in x, y, z
    order), otherwise the mean (exact, rounded half up, for integer types). Scales whose
    bounds end before the fine scale's (offsets not a multiple of the factor, sizes rounded
    up as cloud-volume declares them) leave the voxels beyond out.
    """
    import dask.array as da

    fine, coarse = vol.mip_bounds(mip - 1), vol.mip_bounds(mip)
    f = [int(round(a / b)) for a, b in zip(vol.mip_resolution(mip), vol.mip_resolution(mip - 1))]
    # place level inside the windows of the coarse scale: pad in front and behind
    front = [int(lo) - int(c) * k for lo, c, k in zip(fine.minpt, coarse.minpt, f)]
    behind = [int(n) * k - p - int(s) for n, k, p, s in zip(coarse.size(), f, front, fine.size())]
    chunk = [int(c) for c in vol.mip_chunk_size(mip)]
    padded = level
    if any(front) or any(b > 0 for b in behind):
        padded = da.pad(level, [(p, max(0, b)) for p, b in zip(front, behind)] + [(0, 0)])
    if any(b < 0 for b in behind):
        padded = padded[tuple(slice(0, int(n) * k) for n, k in zip(coarse.size(), f))]
    padded = padded.rechunk([c * k for c, k in zip(chunk, f)] + [level.shape[3]])
    valid = (front, [p + int(s) for p, s in zip(front, fine.size())])
    out_chunks = tuple(tuple(n // k for n in sizes) for sizes, k in zip(padded.chunks[:3], f)) + (
        padded.chunks[3],
    )
    return da.map_blocks(
        _reduce_block, padded, dtype=level.dtype, chunks=out_chunks,
        factor=tuple(f), valid=valid, labels=labels,
    )  # fmt: skip


def _reduce_block(
    block: np.ndarray,
    factor: tuple[int, int, int],
    valid: tuple[list[int], list[int]],
    labels: bool,
    block_info: dict[Any, Any] | None = None,
) -> np.ndarray:
    """Downsample one block of the padded array (its extent a multiple of ``factor``)."""
    assert block_info is not None
    start = [lo for lo, _ in block_info[0]["array-location"][:3]]
    mask = np.ones(block.shape[:3], bool)
    for axis in range(3):
        index = np.arange(block.shape[axis]) + start[axis]
        inside = (index >= valid[0][axis]) & (index < valid[1][axis])
        shape = [1, 1, 1]
        shape[axis] = -1
        mask &= inside.reshape(shape)
    return reduce_windows(block, mask, factor, labels)
