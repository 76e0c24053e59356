"""Shared test data for the codec tests: every (encoding, dtype, channels) a codec holds."""

from __future__ import annotations

import numpy as np

#: odd chunk shapes (x, y, z): edge chunks are not multiples of anything
SHAPES = [(13, 7, 5), (1, 1, 1), (64, 3, 2)]

#: encoding -> list of (dtype, channels) the codec must round-trip
SUPPORTED: dict[str, list[tuple[str, int]]] = {
    "raw": [
        (dt, nc)
        for dt in ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64")
        + ("float32", "float64")
        for nc in (1, 3)
    ],
    "png": [("uint8", 1), ("uint8", 2), ("uint8", 3), ("uint8", 4), ("uint16", 1)]
    + [("uint16", 2), ("uint16", 3), ("uint16", 4)],
    "jpeg": [("uint8", 1), ("uint8", 3)],
    "jxl": [("uint8", 1), ("uint8", 3), ("uint8", 4)],
    "compressed_segmentation": [("uint32", 1), ("uint64", 1), ("uint32", 3), ("uint64", 2)],
    "compresso": [(dt, 1) for dt in ("uint8", "uint16", "uint32", "uint64")],
    "crackle": [(dt, 1) for dt in ("uint8", "uint16", "uint32", "uint64")],
    "fpzip": [("float32", 1), ("float64", 1), ("float32", 3)],
    "kempressed": [("float32", 1), ("float64", 1), ("float32", 2)],
    "zfpc": [("float32", 1), ("float32", 3)],
}

#: parameters for each encoding in the round-trip tests (jxl at 100 is lossless)
PARAMS: dict[str, dict[str, object]] = {
    "jxl": {"jxl_quality": 100},
    "compressed_segmentation": {"compressed_segmentation_block_size": [4, 3, 2]},
}

EXACT = {"raw", "png", "compressed_segmentation", "compresso", "crackle", "fpzip", "jxl", "zfpc"}


def make_chunk(shape: tuple[int, ...], dtype: str, seed: int = 0) -> np.ndarray:
    """A Fortran-ordered chunk with structure (smooth images, blocky labels) and extremes."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    grids = np.meshgrid(*(np.arange(s) for s in shape), indexing="ij")
    if dt.kind == "f":
        arr = np.sin(grids[0] / 3.0) + np.cos(grids[1] / 2.0) + rng.normal(0, 0.1, shape)
        return np.asfortranarray(arr.astype(dt))
    info = np.iinfo(dt)
    if dt.itemsize >= 4 and dt.kind == "u":  # labels: blocks of few values plus big ids
        arr = (grids[0] // 3 + 5 * (grids[1] // 2) + 11 * grids[2] + grids[3] * 2).astype(dt)
        arr[0, 0, 0, :] = info.max
        return np.asfortranarray(arr)
    arr = rng.integers(info.min, int(info.max) + 1, size=shape, dtype=dt)
    smooth = (grids[0] * 7 + grids[1] * 3 + grids[2]) % 97
    arr = np.where(rng.random(shape) < 0.7, smooth.astype(dt), arr)
    return np.asfortranarray(arr)


def smooth_uint8(shape: tuple[int, ...]) -> np.ndarray:
    """A smooth uint8 image chunk, the kind lossy jpeg handles well."""
    grids = np.meshgrid(*(np.arange(s) for s in shape), indexing="ij")
    arr = 128 + 60 * np.sin(grids[0] / 6.0) * np.cos(grids[1] / 5.0) + 10 * grids[3]
    return np.asfortranarray(arr.astype(np.uint8))
