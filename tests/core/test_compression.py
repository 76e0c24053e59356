"""Transport compression: options, on-disk layouts, and reading what cloud-volume wrote."""

import gzip

import brotli
import numpy as np
import pytest
import zstandard

from tests.core.conftest import new_volume, random_array
from voxelio import CloudVolume
from voxelio.compression import compress, decompress


@pytest.mark.parametrize("method", ["gzip", "br", "zstd"])
def test_compress_round_trip(method):
    data = bytes(range(256)) * 100
    assert decompress(compress(data, method, 5), method) == data


def test_file_default_is_plain_files(tmp_path):
    vol = new_volume(f"file://{tmp_path}")
    vol[:] = 3
    names = [p.name for p in (tmp_path / "4_4_40").iterdir()]
    assert names and all("." not in n for n in names)


@pytest.mark.parametrize(
    "method,suffix,opener",
    [
        ("gzip", ".gz", gzip.decompress),
        ("br", ".br", brotli.decompress),
        (True, ".gz", gzip.decompress),
    ],
)
def test_explicit_compression_layout(tmp_path, method, suffix, opener):
    vol = new_volume(f"file://{tmp_path}", compress=method, compress_level=3)
    data = random_array((100, 70, 30, 1), "uint8")
    vol[:] = data
    files = list((tmp_path / "4_4_40").iterdir())
    assert files and all(f.name.endswith(suffix) for f in files)
    first = sorted(files)[0]
    raw = opener(first.read_bytes())
    assert (
        len(raw)
        == np.prod(
            [
                int(a) - int(b)
                for a, b in (r.split("-") for r in first.name[: -len(suffix)].split("_"))
            ][::-1]
        )
        or len(raw) > 0
    )
    np.testing.assert_array_equal(CloudVolume(f"file://{tmp_path}")[:], data)


def test_rewrite_with_other_compression_removes_twin(tmp_path):
    vol = new_volume(f"file://{tmp_path}", compress="gzip")
    vol[:] = 1
    vol.compress = False
    vol[:] = 2
    names = [p.name for p in (tmp_path / "4_4_40").iterdir()]
    assert all(not n.endswith(".gz") for n in names)
    assert (CloudVolume(f"file://{tmp_path}")[:] == 2).all()


def test_reads_zstd_suffixed_files(tmp_path):
    vol = new_volume(f"file://{tmp_path}")
    data = random_array((100, 70, 30, 1), "uint8")
    vol[:] = data
    for f in (tmp_path / "4_4_40").iterdir():
        f.with_name(f.name + ".zstd").write_bytes(
            zstandard.ZstdCompressor().compress(f.read_bytes())
        )
        f.unlink()
    np.testing.assert_array_equal(CloudVolume(f"file://{tmp_path}")[:], data)


def test_mem_default_compresses_with_codec_default():
    vol = new_volume("mem://compress-test/layer")
    vol[:] = 1
    from voxelio.storage.mem import MemorySpace

    stored = [
        v
        for k, v in MemorySpace.default().objects.items()
        if k.startswith("compress-test/layer/4_4_40/")
    ]
    assert stored and all(method == "gzip" for _, method in stored)
