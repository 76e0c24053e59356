"""transfer_to (streaming, re-encoding, sharded destinations) and peak memory in fresh processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.image_api.conftest import SHARDING, Backend, make_layer, seg_array
from voxelio import CloudVolume


def test_transfer_to(backend: Backend) -> None:
    path, kw = backend("src")
    arr = seg_array()
    src = make_layer(path, arr, **kw)
    same = src.transfer_to(backend("same")[0], src.bounds, block_size=3)
    assert np.array_equal(same[:, :, :][..., 0], arr) and same.encoding == "raw"
    cseg = src.transfer_to(backend("cseg")[0], src.bounds, encoding="compressed_segmentation")
    assert cseg.encoding == "compressed_segmentation"
    assert np.array_equal(CloudVolume(cseg.cloudpath, **kw)[:, :, :][..., 0], arr)
    part = src.transfer_to(backend("part")[0], [5, 6, 7, 40, 41, 33], block_size=2)
    part.fill_missing = True
    expected = np.zeros_like(arr)
    expected[0:48, 0:48, 0:40] = arr[0:48, 0:48, 0:40]  # byte copies move whole chunks
    assert np.array_equal(part[:, :, :][..., 0], expected)


def test_transfer_to_sharded(tmp_path: Path) -> None:
    arr = seg_array()
    src = make_layer(f"file://{tmp_path}/src", arr)
    info = json.loads(json.dumps(src.info))
    info["scales"][0]["sharding"] = SHARDING
    dest = CloudVolume(f"file://{tmp_path}/dst", info=info)
    dest.commit_info()
    out = src.transfer_to(dest.cloudpath, src.bounds)
    assert any(p.suffix == ".shard" for p in (tmp_path / "dst" / "4_4_40").iterdir())
    assert np.array_equal(out[:, :, :][..., 0], arr)
    back = out.transfer_to(f"file://{tmp_path}/back", src.bounds, sharded=False)
    assert "sharding" not in back.info["scales"][0]
    assert np.array_equal(back[:, :, :][..., 0], arr)


def test_bad_transfer(tmp_path: Path) -> None:
    src = make_layer(f"file://{tmp_path}/src", seg_array())
    with pytest.raises(ValueError):
        src.transfer_to(f"file://{tmp_path}/x", src.bounds, block_size=0)


def test_transfer_unsharded_to_planned_shards(tmp_path: Path) -> None:
    arr = seg_array()
    src = make_layer(f"file://{tmp_path}/src", arr)
    out = src.transfer_to(f"file://{tmp_path}/y", src.bounds, sharded=True)
    spec = out.info["scales"][0]["sharding"]
    assert spec["hash"] == "identity" and spec["@type"] == "neuroglancer_uint64_sharded_v1"
    files = list((tmp_path / "y" / out.key).iterdir())
    assert files and all(p.suffix == ".shard" for p in files)
    assert np.array_equal(CloudVolume(f"file://{tmp_path}/y")[:, :, :][..., 0], arr)


def test_make_scale_sharded_plans_by_target_size() -> None:
    from voxelio.meta.sharding import make_scale_sharded, make_scale_unsharded

    info = CloudVolume.create_new_info(1, "image", "uint8", "raw", [4, 4, 40], [0, 0, 0],
                                       [1024, 1024, 512], chunk_size=[64, 64, 64])  # fmt: skip
    spec = make_scale_sharded(info, 0, target_shard_bytes=8 << 20)  # 32 chunks of 256 KiB
    from voxelio.sharding.spec import ShardingSpec

    parsed = ShardingSpec.from_json(spec)
    assert parsed.preshift_bits + parsed.minishard_bits == 5  # 2**5 chunks per shard
    assert parsed.shard_bits == 11 - 5  # a 16x16x8 grid: 11 bits of Morton code
    make_scale_unsharded(info, 0)
    assert "sharding" not in info["scales"][0]


# ---- peak memory, measured in fresh processes ---------------------------------------------

BIG = (256, 256, 256)  # uint32: 64 MiB
MiB = 1 << 20


@pytest.fixture(scope="module")
def big_layer(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("big")
    info = CloudVolume.create_new_info(1, "segmentation", "uint32", "raw", [4, 4, 40],
                                       [0, 0, 0], BIG, chunk_size=[64, 64, 64])  # fmt: skip
    vol = CloudVolume(f"file://{root}/big", info=info)
    vol.commit_info()
    for z in range(0, BIG[2], 64):  # write slab by slab
        slab = np.arange(BIG[0] * BIG[1] * 64, dtype=np.uint32).reshape((256, 256, 64), order="F")
        vol[:, :, z : z + 64] = slab + z
    return vol.cloudpath


def _peak(script: str) -> dict[str, float]:
    code = (
        "import json, numpy as np\n"
        "from voxelio import CloudVolume\n"
        "def _kb(f): return [int(ln.split()[1]) for ln in open('/proc/self/status')"
        " if ln.startswith(f)][0] * 1024\n"
        "def rss(): return _kb('VmHWM:')  # peak RSS of this process (not inherited)\n"
        "def now(): return _kb('VmRSS:')\n"
        "base = rss()\n" + script + "\nprint(json.dumps({'base': base, 'peak': rss(), **out}))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_whole_volume_download_peak_rss(big_layer: str) -> None:
    got = _peak(f"img = CloudVolume({big_layer!r})[:, :, :]\nout = {{'nbytes': img.nbytes}}")
    extra = (got["peak"] - got["base"] - got["nbytes"]) / MiB
    print(f"download: output {got['nbytes'] / MiB:.0f} MiB, peak above it {extra:.1f} MiB")
    assert extra < 48


def test_transfer_peak_rss(big_layer: str, tmp_path: Path) -> None:
    dest = f"file://{tmp_path}/copy"
    got = _peak(
        f"src = CloudVolume({big_layer!r})\n"
        f"src.transfer_to({dest!r}, src.bounds, block_size=4, encoding='compressed_segmentation')\n"
        "out = {}"
    )
    used = (got["peak"] - got["base"]) / MiB
    print(f"transfer of a 64 MiB volume: peak {used:.1f} MiB above start")
    assert used < 40  # a 64 MiB volume never held at once
    copy = CloudVolume(dest)
    assert copy.encoding == "compressed_segmentation"
    assert np.array_equal(copy[:, :, 0:64][..., 0], CloudVolume(big_layer)[:, :, 0:64][..., 0])


def test_lru_keeps_rss_flat(big_layer: str) -> None:
    got = _peak(
        f"vol = CloudVolume({big_layer!r}, lru_bytes=16 << 20)\n"
        "rng = np.random.default_rng(0)\n"
        "def run(n):\n"
        "    for _ in range(n):\n"
        "        x, y, z = rng.integers(0, 224, 3)\n"
        "        vol[x:x + 32, y:y + 32, z:z + 32]\n"
        "run(600)\nwarm = now()\nrun(1500)\n"
        "out = {'warm': warm, 'end': now(), 'lru': vol.image.lru.nbytes}"
    )
    growth = (got["end"] - got["warm"]) / MiB
    print(f"LRU run: growth after warm-up {growth:.1f} MiB, lru holds {got['lru'] / MiB:.1f} MiB")
    assert got["lru"] <= 16 << 20 and growth < 12  # flat: well under the LRU bound
