"""Chunk-level interop with TensorStore (raw, png, jpeg, compressed_segmentation) and
cloud-volume (every encoding it writes), in both directions."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.codecs.cases import make_chunk, smooth_uint8
from voxelio.codecs import get_codec

ts = importlib.import_module("tensorstore")
cv_chunks = importlib.import_module("cloudvolume.chunks")

pytestmark = pytest.mark.interop

SIZE, OFFSET, CHUNK = (30, 20, 9), (3, 5, 7), (13, 7, 5)  # edge chunks of 4, 6 and 4 voxels

TS_CASES: list[tuple[str, str, int, dict[str, Any]]] = [
    ("raw", "uint16", 2, {}),
    ("raw", "float32", 1, {}),
    ("png", "uint8", 1, {}),
    ("png", "uint8", 3, {}),
    ("png", "uint16", 1, {}),
    ("jpeg", "uint8", 1, {"jpeg_quality": 90}),
    ("jpeg", "uint8", 3, {"jpeg_quality": 90}),
    ("compressed_segmentation", "uint32", 1, {"compressed_segmentation_block_size": [4, 3, 2]}),
    ("compressed_segmentation", "uint64", 2, {"compressed_segmentation_block_size": [8, 8, 8]}),
]


def _volume_data(enc: str, dtype: str, nc: int) -> np.ndarray:
    shape = (*SIZE, nc)
    return smooth_uint8(shape) if enc == "jpeg" else make_chunk(shape, dtype, seed=5)


def _ts_open(path: Path, enc: str, dtype: str, nc: int, extra: dict[str, Any]) -> Any:
    scale: dict[str, Any] = {
        "size": list(SIZE),
        "voxel_offset": list(OFFSET),
        "resolution": [4, 4, 40],
    }
    scale.update({"chunk_size": list(CHUNK), "encoding": enc, **extra})
    kind = "segmentation" if enc == "compressed_segmentation" else "image"
    spec = {
        "driver": "neuroglancer_precomputed",
        "kvstore": {"driver": "file", "path": str(path)},
        "multiscale_metadata": {"type": kind, "data_type": dtype, "num_channels": nc},
        "scale_metadata": scale,
    }
    return ts.open(spec, create=True, open=True).result()


def _chunk_files(path: Path) -> dict[str, tuple[slice, slice, slice]]:
    """Chunk file name -> local slices into the volume, for the single scale's directory."""
    info = json.loads((path / "info").read_text())
    scale_dir = path / info["scales"][0]["key"]
    out = {}
    for name in os.listdir(scale_dir):
        bounds = [tuple(int(v) for v in part.split("-")) for part in name.split("_")]
        out[str(scale_dir / name)] = tuple(
            slice(lo - off, hi - off) for (lo, hi), off in zip(bounds, OFFSET)
        )
    return out  # type: ignore[return-value]


@pytest.mark.parametrize(("enc", "dtype", "nc", "extra"), TS_CASES)
def test_tensorstore_writes_we_read(
    tmp_path: Path, enc: str, dtype: str, nc: int, extra: dict[str, Any]
) -> None:
    data = _volume_data(enc, dtype, nc)
    vol = _ts_open(tmp_path, enc, dtype, nc, extra)
    vol[...] = data
    stored = vol.read().result()  # what TensorStore reads back (jpeg: after its loss)
    params = json.loads((tmp_path / "info").read_text())["scales"][0]
    files = _chunk_files(tmp_path)
    assert len(files) == 3 * 3 * 2
    codec = get_codec(enc)
    for fname, sl in files.items():
        want = np.asarray(stored[sl])
        blob = Path(fname).read_bytes()
        got = codec.decode(blob, want.shape, np.dtype(dtype), params)
        np.testing.assert_array_equal(got, want, err_msg=fname)
        if enc == "compressed_segmentation":  # byte-identical writes
            assert codec.encode(np.asfortranarray(data[sl]), params) == blob, fname


@pytest.mark.parametrize(("enc", "dtype", "nc", "extra"), TS_CASES)
def test_we_write_tensorstore_reads(
    tmp_path: Path, enc: str, dtype: str, nc: int, extra: dict[str, Any]
) -> None:
    data = _volume_data(enc, dtype, nc)
    vol = _ts_open(tmp_path, enc, dtype, nc, extra)
    vol[...] = np.zeros_like(data) + 1  # creates every chunk file name, then we overwrite them
    params = json.loads((tmp_path / "info").read_text())["scales"][0]
    codec = get_codec(enc)
    files = _chunk_files(tmp_path)
    for fname, sl in files.items():
        Path(fname).write_bytes(codec.encode(np.asfortranarray(data[sl]), params))
    fresh = _ts_open(tmp_path, enc, dtype, nc, extra)
    back = np.asarray(fresh.read().result())
    if enc == "jpeg":
        assert np.abs(back.astype(int) - data.astype(int)).mean() < 3
        for fname, sl in files.items():  # and TensorStore's decoder agrees with ours
            blob = Path(fname).read_bytes()
            ours = codec.decode(blob, back[sl].shape, np.dtype(dtype), params)
            np.testing.assert_array_equal(ours, back[sl])
    else:
        np.testing.assert_array_equal(back, data)


CV_CASES = [
    ("raw", "uint32", 2, {}),
    ("png", "uint8", 1, {"png_level": 9}),
    ("png", "uint8", 3, {"png_level": 6}),
    ("png", "uint16", 4, {}),
    ("jpeg", "uint8", 1, {"jpeg_quality": 85}),
    ("jpeg", "uint8", 3, {"jpeg_quality": 70}),
    ("jxl", "uint8", 1, {"jxl_quality": 100}),
    ("jxl", "uint8", 1, {"jxl_quality": 80}),
    ("compressed_segmentation", "uint64", 1, {"compressed_segmentation_block_size": [4, 3, 2]}),
    ("compressed_segmentation", "uint32", 1, {"compressed_segmentation_block_size": [8, 8, 8]}),
    ("compresso", "uint64", 1, {}),
    ("compresso", "uint8", 1, {}),
    ("crackle", "uint32", 1, {}),
    ("crackle", "uint16", 1, {}),
    ("fpzip", "float32", 2, {}),
    ("fpzip", "float64", 1, {"fpzip_precision": 30}),
    ("kempressed", "float32", 1, {}),
    ("kempressed", "float32", 3, {}),
    ("zfpc", "float32", 2, {}),
    ("zfpc", "float32", 1, {"zfpc_tolerance": 0.001}),
]


def _cv_params(enc: str, params: dict[str, Any]) -> dict[str, Any]:
    """cloud-volume's compression_params for a scale (its metadata.compression_params)."""
    level_key = {"png": "png_level", "jpeg": "jpeg_quality", "jxl": "jxl_quality"}
    level_key["fpzip"] = "fpzip_precision"
    if enc == "zfpc":
        out = {k: params.get(f"zfpc_{k}", -1) for k in ("rate", "precision", "tolerance")}
        return {**out, "correlated_dims": params.get("zfpc_correlated_dims", [True] * 4)}
    if enc in level_key:
        return {"level": params.get(level_key[enc])}
    return {}


def _cv_block(params: dict[str, Any]) -> Any:
    return params.get("compressed_segmentation_block_size")


@pytest.mark.parametrize(("enc", "dtype", "nc", "params"), CV_CASES)
def test_cloudvolume_both_ways(enc: str, dtype: str, nc: int, params: dict[str, Any]) -> None:
    codec = get_codec(enc)
    image_like = enc in ("jpeg", "jxl")
    chunk = smooth_uint8((13, 7, 5, nc)) if image_like else make_chunk((13, 7, 5, nc), dtype)
    shape, dt = chunk.shape, np.dtype(dtype)
    theirs = cv_chunks.encode(
        chunk, enc, block_size=_cv_block(params), compression_params=_cv_params(enc, params)
    )
    ours_of_theirs = codec.decode(theirs, shape, dt, params)
    if nc > 1 and enc in ("png", "jpeg"):
        # cloud-volume 12.15 decodes its own multi-channel png/jpeg wrongly (it reshapes the
        # interleaved pixels as planar), so only our reading of its bytes is checked
        err = np.abs(ours_of_theirs.astype(float) - chunk.astype(float))
        assert err.max() == 0 if enc == "png" else err.mean() < 6
        return
    cv_of_theirs = cv_chunks.decode(
        theirs, enc, shape=shape, dtype=dt, block_size=_cv_block(params)
    )
    np.testing.assert_array_equal(
        ours_of_theirs, np.asarray(cv_of_theirs).reshape(shape, order="F")
    )
    ours = codec.encode(chunk, params)
    cv_of_ours = cv_chunks.decode(ours, enc, shape=shape, dtype=dt, block_size=_cv_block(params))
    cv_of_ours = np.asarray(cv_of_ours).reshape(shape, order="F")
    np.testing.assert_array_equal(cv_of_ours, codec.decode(ours, shape, dt, params))
    lossy_fpzip = bool(params.get("fpzip_precision"))
    if codec.lossless and not lossy_fpzip or enc == "jxl" and params["jxl_quality"] >= 100:
        np.testing.assert_array_equal(cv_of_ours, chunk)
        np.testing.assert_array_equal(ours_of_theirs, chunk)
    elif enc == "zfpc" and "zfpc_tolerance" not in params:
        np.testing.assert_array_equal(cv_of_ours, chunk)
    elif enc in ("jpeg", "jxl"):
        assert np.abs(cv_of_ours.astype(int) - chunk.astype(int)).mean() < 6
    else:
        atol = 1e-4 if lossy_fpzip else max(params.get("zfpc_tolerance", 0), 1e-6)
        np.testing.assert_allclose(cv_of_ours, chunk, atol=atol)


def test_cloudvolume_rgb_jxl_layout_is_read() -> None:
    """cloud-volume 12 writes RGB jxl planar; voxelio reads it (and writes interleaved RGB)."""
    chunk = smooth_uint8((13, 7, 5, 3))
    theirs = cv_chunks.encode(chunk, "jxl", compression_params={"level": 100})
    got = get_codec("jxl").decode(theirs, chunk.shape, np.dtype("uint8"), {})
    np.testing.assert_array_equal(got, chunk)
