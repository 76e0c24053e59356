"""The three implementations behind one small interface, each used as its users would use it.

- voxelio: ``voxelio.CloudVolume(url, parallel=1, progress=False, fill_missing=False)``.
- cloud-volume: ``cloudvolume.CloudVolume(url, parallel=P, progress=False, fill_missing=False)``
  (P = 1 by default; 2 is tried for whole reads and writes).
- TensorStore: the ``neuroglancer_precomputed`` driver on a ``file`` (or ``s3``) kvstore with
  ``cache_pool.total_bytes_limit = 0`` (no cache, so every read fetches and decodes its chunks,
  as the other two do) and default concurrency; reads ask for Fortran order, the layout the
  other two return.

Each adapter turns "not supported" into :class:`NotSupported` with a reason; anything else that
goes wrong propagates and is reported as an error, never as a number.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from benchmarks.cases import Case
from benchmarks.data import Box


class NotSupported(Exception):
    """The implementation cannot do this case (the message says why)."""


def _slices(box: Box) -> tuple[slice, slice, slice]:
    (x0, y0, z0), (x1, y1, z1) = box
    return slice(x0, x1), slice(y0, y1), slice(z0, z1)


class Impl:
    name = ""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    def check(self, case: Case, op: str) -> None:
        """Raise :class:`NotSupported` when ``op`` ("read"/"write") cannot run on ``case``."""

    def open(self, url: str) -> Any:
        raise NotImplementedError

    def read(self, handle: Any, box: Box | None) -> np.ndarray:
        raise NotImplementedError

    def write(
        self,
        url: str,
        info: dict[str, Any],
        arr: np.ndarray,
        case: Case,
        shard_boxes: dict[int, Box] | None,
    ) -> None:
        raise NotImplementedError

    def counts(self) -> dict[str, int] | None:
        """Storage requests since the last call (None when this implementation cannot say)."""
        return None


class CountingImpl(Impl):
    """A cloud-volume-like implementation (reads by slicing) whose storage requests are
    tallied in ``self._counter``."""

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self._counter: Counter[str] = Counter()

    def counts(self) -> dict[str, int]:
        out = dict(self._counter)
        self._counter.clear()
        return out

    def read(self, handle: Any, box: Box | None) -> np.ndarray:
        if box is None:
            return np.asarray(handle[:, :, :])
        return np.asarray(handle[_slices(box)])


# ----------------------------------------------------------------------------- voxelio


class VoxelioImpl(CountingImpl):
    name = "voxelio"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self._cls = self._counting_class()

    def _counting_class(self) -> Any:
        import voxelio
        from voxelio.storage.wrapper import StoreWrapper

        counter = self._counter

        class CountingStore(StoreWrapper):
            """Counts the requests that reach the backend store (after any coalescing)."""

            def get(self, key: str) -> bytes | None:
                counter["get"] += 1
                return self.inner.get(key)

            def get_into(self, key, buffers):  # type: ignore[no-untyped-def]
                counter["get"] += 1  # the backend's own buffered read, as without the wrapper
                return self.inner.get_into(key, buffers)

            def read_box_into(self, key, shape, origin, out, buffers):  # type: ignore[no-untyped-def]
                done = self.inner.read_box_into(key, shape, origin, out, buffers)
                counter["get"] += done  # one read of a chunk file; otherwise get_into reads it
                return done

            def get_range(self, key: str, start: int, length: int) -> bytes | None:
                counter["get_range"] += 1
                return self.inner.get_range(key, start, length)

            def get_many(self, keys):  # type: ignore[no-untyped-def]
                keys = list(keys)
                counter["get"] += len(keys)
                return self.inner.get_many(keys)

            def get_ranges(self, requests):  # type: ignore[no-untyped-def]
                requests = list(requests)
                counter["get_range"] += len(requests)
                return self.inner.get_ranges(requests)

            def put(self, key, data, options=None):  # type: ignore[no-untyped-def]
                counter["put"] += 1
                return self.inner.put(key, data, options) if options else self.inner.put(key, data)

            def put_many(self, items, options=None):  # type: ignore[no-untyped-def]
                counter["put"] += len(items)
                return (
                    self.inner.put_many(items, options) if options else self.inner.put_many(items)
                )

            def delete(self, key: str) -> None:
                counter["delete"] += 1
                self.inner.delete(key)

            def exists(self, key: str) -> bool:
                counter["exists"] += 1
                return self.inner.exists(key)

            def size(self, key: str) -> int | None:
                counter["size"] += 1
                return self.inner.size(key)

            def list(self, prefix: str = ""):  # type: ignore[no-untyped-def]
                counter["list"] += 1
                return self.inner.list(prefix)

            def __getattr__(self, name: str) -> Any:
                return getattr(self.inner, name)

        class CountingCloudVolume(voxelio.CloudVolume):  # type: ignore[misc]
            def _open_store(self, path, read_only=False):  # type: ignore[no-untyped-def]
                return CountingStore(super()._open_store(path, read_only))

        return CountingCloudVolume

    def _kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"parallel": 1, "progress": False, "fill_missing": False}
        if self.options.get("secrets"):
            kw["secrets"] = self.options["secrets"]
        return kw

    def open(self, url: str) -> Any:
        return self._cls(url, **self._kwargs())

    def write(
        self,
        url: str,
        info: dict[str, Any],
        arr: np.ndarray,
        case: Case,
        shard_boxes: dict[int, Box] | None,
    ) -> None:
        vol = self._cls(url, info=info, compress="gzip" if case.gzip else False, **self._kwargs())
        vol.commit_info()
        vol[:, :, :] = arr


# ----------------------------------------------------------------------------- cloud-volume


class CloudVolumeImpl(CountingImpl):
    name = "cloud-volume"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        import cloudvolume  # noqa: F401  (import cost outside timings)

        self._patch_counting()

    def _patch_counting(self) -> None:
        from cloudfiles import interfaces

        counter = self._counter
        iface = interfaces.FileInterface
        for method in ("get_file", "head", "exists", "size", "files_exist"):
            orig = getattr(iface, method, None)
            if orig is None or getattr(orig, "_counted", False):
                continue

            def wrapper(self, *a, __orig=orig, __m=method, **k):  # type: ignore[no-untyped-def]
                counter[__m] += 1
                return __orig(self, *a, **k)

            wrapper._counted = True  # type: ignore[attr-defined]
            setattr(iface, method, wrapper)

    def _kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "parallel": int(self.options.get("parallel", 1)),
            "progress": False,
            "fill_missing": False,
        }
        if self.options.get("secrets"):
            # cloud-files indexes the session token and region directly
            kw["secrets"] = {
                "AWS_SESSION_TOKEN": None,
                "AWS_DEFAULT_REGION": "us-east-1",
                **self.options["secrets"],
            }
        return kw

    def open(self, url: str) -> Any:
        from cloudvolume import CloudVolume

        return CloudVolume(self._url(url), **self._kwargs())

    def _url(self, url: str) -> str:
        """cloud-volume's path parser refuses ``s3://http://host/...``; an alias reaches it."""
        s3 = self.options.get("s3")
        if not s3 or not url.startswith("s3://"):
            return url
        import cloudfiles.paths

        cloudfiles.paths.add_alias("vxbench", f"s3://{s3['endpoint']}/")
        return f"vxbench://{s3['bucket']}/{s3['prefix']}"

    def write(
        self,
        url: str,
        info: dict[str, Any],
        arr: np.ndarray,
        case: Case,
        shard_boxes: dict[int, Box] | None,
    ) -> None:
        from cloudvolume import CloudVolume

        vol = CloudVolume(url, info=info, compress="gzip" if case.gzip else False, **self._kwargs())
        vol.commit_info()
        if shard_boxes is None:
            vol[:, :, :] = arr
            return
        for box in shard_boxes.values():  # cloud-volume writes one whole shard per upload
            vol[_slices(box)] = arr[_slices(box)]


# ----------------------------------------------------------------------------- TensorStore


class TensorStoreImpl(Impl):
    name = "TensorStore"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        import tensorstore as ts

        self.ts = ts
        self._last: dict[str, int] = self._metrics()

    def check(self, case: Case, op: str) -> None:
        if case.gzip and not case.sharded:
            if op == "write":
                raise NotSupported(
                    "TensorStore writes no gzip transport compression for unsharded chunks"
                )
            raise NotSupported(
                "TensorStore's file kvstore does not read cloud-volume's "
                "gzipped NAME.gz chunk files"
            )

    def _kvstore(self, url: str) -> dict[str, Any]:
        if url.startswith("file://"):
            return {"driver": "file", "path": url[len("file://") :].rstrip("/") + "/"}
        if url.startswith("s3://"):
            s3 = self.options["s3"]
            return {
                "driver": "s3",
                "bucket": s3["bucket"],
                "path": s3["prefix"].rstrip("/") + "/",
                "endpoint": s3["endpoint"],
                "aws_region": s3["region"],
            }
        raise NotSupported(f"no kvstore for {url}")

    def _context(self) -> dict[str, Any]:
        return {"cache_pool": {"total_bytes_limit": 0}}

    def open(self, url: str) -> Any:
        spec = {
            "driver": "neuroglancer_precomputed",
            "kvstore": self._kvstore(url),
            "context": self._context(),
        }
        return self.ts.open(spec, read=True).result()

    def read(self, handle: Any, box: Box | None) -> np.ndarray:
        view = handle if box is None else handle[_slices(box)]
        return view.read(order="F").result()

    def write(
        self,
        url: str,
        info: dict[str, Any],
        arr: np.ndarray,
        case: Case,
        shard_boxes: dict[int, Box] | None,
    ) -> None:
        scale = dict(info["scales"][0])
        scale_meta = {
            "key": scale["key"],
            "resolution": scale["resolution"],
            "size": scale["size"],
            "voxel_offset": scale["voxel_offset"],
            "chunk_size": scale["chunk_sizes"][0],
            "encoding": scale["encoding"],
        }
        for extra in (
            "compressed_segmentation_block_size",
            "jpeg_quality",
            "png_level",
            "sharding",
        ):
            if extra in scale:
                scale_meta[extra] = scale[extra]
        spec = {
            "driver": "neuroglancer_precomputed",
            "kvstore": self._kvstore(url),
            "context": self._context(),
            "multiscale_metadata": {
                "type": info["type"],
                "data_type": info["data_type"],
                "num_channels": info["num_channels"],
            },
            "scale_metadata": scale_meta,
        }
        store = self.ts.open(spec, create=True, delete_existing=True).result()
        store.write(arr).result()

    def _metrics(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for prefix in ("/tensorstore/kvstore/file/", "/tensorstore/kvstore/s3/"):
            for m in self.ts.experimental_collect_matching_metrics(prefix):
                name = m["name"].rsplit("/", 1)[-1]
                if name in ("read", "write", "list", "delete_range"):
                    vals = m.get("values") or [{}]
                    out[name] = out.get(name, 0) + int(vals[0].get("value", 0))
        return out

    def counts(self) -> dict[str, int]:
        now = self._metrics()
        diff = {k: v - self._last.get(k, 0) for k, v in now.items() if v - self._last.get(k, 0)}
        self._last = now
        return diff


IMPLS: dict[str, type[Impl]] = {
    "voxelio": VoxelioImpl,
    "cloud-volume": CloudVolumeImpl,
    "TensorStore": TensorStoreImpl,
}
