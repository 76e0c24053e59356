"""``vol.skeleton``: read and write the skeletons of a segmentation layer.

One class serves unsharded layers (one file ``<segid>`` per skeleton) and sharded ones (the
skeleton binary is the shard value keyed by segid). Unlike cloud-volume, sharded uploads take
any set of skeletons: they are grouped by shard and merged into the existing shard files.

Coordinates: :meth:`SkeletonSource.get` returns skeletons in nanometres (``space ==
"physical"``, the info transform applied), like cloud-volume. :meth:`SkeletonSource.upload`
writes ``space == "voxel"`` skeletons as they are (stored-model units) and maps
``"physical"`` ones back through the inverse of the info transform, so ``upload(get(x))`` is
an identity for any transform (cloud-volume writes physical vertices unchanged, which only
round-trips with the identity transform).

Thread safety: reads are safe from many threads; concurrent uploads into the same shard from
different processes race (last writer wins), as with every read-modify-write of shards.
"""

from __future__ import annotations

import builtins
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from voxelio.compression import Method
from voxelio.errors import (
    EncodingError,
    InfoError,
    SkeletonDecodeError,
    SpatialIndexError,
    UnsupportedOptionError,
)
from voxelio.sharding.planning import plan_label_sharding
from voxelio.sharding.spec import ShardingSpec
from voxelio.sharding.store import ShardedKeyStore
from voxelio.skeletons.info import SkeletonInfo
from voxelio.skeletons.meta import SkeletonMeta
from voxelio.skeletons.precomputed import encode_skeleton
from voxelio.skeletons.skeleton import Skeleton, invert_transform
from voxelio.spatial_index.index import SpatialIndex
from voxelio.storage.base import PutOptions, Store
from voxelio.storage.jsonfile import write_json

log = logging.getLogger(__name__)

_MAX_U64 = (1 << 64) - 1


class SkeletonSource:
    """Skeletons below ``store`` (rooted at the skeleton directory; key ``"info"``).

    ``layer_info``: the segmentation layer's info dict (scales give the bounds and resolution
    the spatial index needs). ``spatial_index_db``: optional SQL URL for the spatial index.
    ``compress``: transport compression of unsharded skeleton files (``None``: plain files,
    readable by every tool; ``"gzip"``: cloud-volume's choice). ``progress`` is accepted for
    cloud-volume compatibility.
    """

    def __init__(
        self,
        store: Store,
        *,
        layer_info: Mapping[str, Any],
        spatial_index_db: str | None = None,
        progress: bool = False,
        compress: Method | None = None,
    ) -> None:
        self.store = store
        self.layer_info = layer_info
        self.spatial_index_db = spatial_index_db
        self.progress = progress
        self.compress = compress
        self.info = self._fetch_info()
        self._sharded: ShardedKeyStore | None = None
        self._meta: SkeletonMeta | None = None
        self._configure()

    def __repr__(self) -> str:
        kind = "sharded" if self.info.is_sharded else "unsharded"
        return f"SkeletonSource({self.store.url!r}, {kind})"

    # ---- info -------------------------------------------------------------------------

    def _fetch_info(self) -> SkeletonInfo:
        data = self.store.get("info")
        self._info_stored = data is not None
        if data is None:
            return SkeletonInfo.assumed()
        try:
            obj = json.loads(data)
        except ValueError as exc:
            raise InfoError(f"{self.store.url}/info: skeleton info is not valid JSON") from exc
        return SkeletonInfo.from_json(obj)

    def _configure(self) -> None:
        self._sharded = None
        if self.info.sharding is not None:
            spec = ShardingSpec.from_json(self.info.sharding)
            self._sharded = ShardedKeyStore(self.store, spec)
        self.spatial_index = self._make_spatial_index()

    def _make_spatial_index(self) -> SpatialIndex | None:
        params = self.info.spatial_index
        if params is None:
            return None
        scales = self.layer_info.get("scales") or []
        mip = self.info.mip or 0
        if mip >= len(scales):
            raise SpatialIndexError(
                f"{self.store.url}/info: spatial_index needs scale {mip} of the layer, "
                f"which has {len(scales)} scales"
            )
        scale = scales[mip]
        offset = np.asarray(scale.get("voxel_offset", [0, 0, 0]), dtype=np.int64)
        bounds = (offset, offset + np.asarray(scale["size"], dtype=np.int64))
        resolution = params.get("resolution") or scale["resolution"]
        return SpatialIndex(
            self.store, bounds, params["chunk_size"], resolution, sql_db=self.spatial_index_db
        )

    @property
    def meta(self) -> SkeletonMeta:
        """cloud-volume's ``vol.skeleton.meta``: the info as a dict to edit, then commit."""
        if self._meta is None:
            self._meta = SkeletonMeta(self)
        return self._meta

    def commit_info(self) -> None:
        """Write the info (no ``null`` keys, transform always set), with the edits made to
        ``meta.info``.

        In a directory that had no info and holds no skeleton yet, attributes still those
        readers assume (cloud-volume's: uint8 ``vertex_types``) become float32, which
        Neuroglancer's viewer draws; skeletons already there keep theirs. An info the viewer
        cannot draw is logged."""
        if self._meta is not None:
            self._meta.adopt_edits()
        self.use_info(self._viewable_if_new(self.info))
        hidden = self.info.hidden_from_neuroglancer
        if hidden:
            log.warning(
                "%s/info: Neuroglancer's viewer draws no skeleton of this layer: its vertex "
                "attributes %s are not float32", self.store.url, ", ".join(hidden),
            )  # fmt: skip
        write_json(self.store, "info", self.info.to_json())
        self._info_stored = True

    def _viewable_if_new(self, info: SkeletonInfo) -> SkeletonInfo:
        """``info`` with float32 attributes where its attributes are the assumed ones and the
        directory holds neither an info nor a skeleton."""
        assumed = SkeletonInfo.assumed().vertex_attributes
        if self._info_stored or info.vertex_attributes != assumed or self._holds_skeletons():
            return info
        return replace(info, vertex_attributes=SkeletonInfo.default().vertex_attributes)

    def default_info(self) -> SkeletonInfo:
        """The info of a new skeleton directory: float32 attributes, or cloud-volume's (uint8
        ``vertex_types``) where skeletons written with those are already there."""
        return SkeletonInfo.assumed() if self._holds_skeletons() else SkeletonInfo.default()

    def _holds_skeletons(self) -> bool:
        """Whether the directory holds skeletons: files named by a segment id, or shards."""
        try:
            return any(key.isdigit() or key.endswith(".shard") for key in self.store.list())
        except UnsupportedOptionError:  # cannot list (HTTP): assume it does
            return True

    def refresh_info(self) -> SkeletonInfo:
        """Re-read the info from storage."""
        self.use_info(self._fetch_info())
        return self.info

    def is_sharded(self) -> bool:
        """Whether skeletons are stored in shard files."""
        return self.info.is_sharded

    def to_sharded(self, num_labels: int, **planning: Any) -> ShardingSpec:
        """Switch the (in-memory) info to a sharding planned for ``num_labels`` labels.

        ``planning`` goes to :func:`voxelio.sharding.planning.plan_label_sharding`. Call
        :meth:`commit_info` to save it.
        """
        spec = plan_label_sharding(num_labels, **planning)
        self.use_info(self.info.with_sharding(spec.to_json()))
        return spec

    def to_unsharded(self) -> None:
        """Drop the sharding from the (in-memory) info."""
        self.use_info(self.info.with_sharding(None))

    def use_info(self, info: SkeletonInfo) -> None:
        """Read and write by ``info`` from now on (not committed)."""
        self.info = info
        self._configure()

    # ---- reads ------------------------------------------------------------------------

    def get_raw(self, segids: Iterable[int]) -> dict[int, bytes | None]:
        """Stored binaries ``{segid: bytes or None}``."""
        ids = [_segid(s) for s in segids]
        if self._sharded is not None:
            return self._sharded.get_many(ids)
        found = self.store.get_many([str(s) for s in ids])
        return {s: found[str(s)] for s in ids}

    def get(self, segids: Any, allow_missing: bool = False) -> Any:
        """Skeleton(s) in nanometres: one for an int, a list for a list of ids.

        Raises :class:`SkeletonDecodeError` naming the segments that are missing (unless
        ``allow_missing``, which leaves them out, or returns ``None`` for a single id) or
        malformed.
        """
        single = isinstance(segids, (int, np.integer))
        ids = [_segid(segids)] if single else [_segid(s) for s in segids]
        raw = self.get_raw(ids)
        missing = [s for s in ids if raw[s] is None]
        if missing and not allow_missing:
            raise SkeletonDecodeError(
                f"{self.store.url}: skeleton(s) for segment(s) "
                f"{', '.join(map(str, missing))} do not exist"
            )
        out = [self.decode(s, data) for s, data in raw.items() if data is not None]
        if single:
            return out[0] if out else None
        return out

    def decode(self, segid: int, data: bytes) -> Skeleton:
        """Decode one stored binary with this layer's attributes and transform (nm result)."""
        skel = Skeleton.decode(data, segid=segid, vertex_attributes=self.info.vertex_attributes)
        skel.transform = self.info.transform_matrix
        return skel.physical_space(copy=False)

    def exists(self, segids: Any) -> Any:
        """Whether skeletons exist: a bool for an int, ``{segid: bool}`` for a list."""
        single = isinstance(segids, (int, np.integer))
        ids = [_segid(segids)] if single else [_segid(s) for s in segids]
        if self._sharded is not None:
            found = self._sharded.exists_many(ids)
        else:
            present = self.store.exists_many([str(s) for s in ids])
            found = {s: present[str(s)] for s in ids}
        return found[ids[0]] if single else found

    def list(self) -> np.ndarray:
        """Every segid with a skeleton, sorted uint64 (from the spatial index when present)."""
        if self.spatial_index is not None:
            labels: Iterable[int] = self.spatial_index.query()
        elif self._sharded is not None:
            sharded = self._sharded
            labels = {int(k) for s in sharded.list_shards() for k in sharded.list_keys(s)}
        else:
            labels = {int(k) for k in self.store.list() if "/" not in k and k.isdigit()}
        return np.array(sorted(labels), dtype=np.uint64)

    def get_bbox(self, bbox: Any, allow_missing: bool = False) -> builtins.list[Skeleton]:
        """Skeletons whose spatial-index box meets ``bbox`` (nanometres)."""
        if self.spatial_index is None:
            raise SpatialIndexError(f"{self.store.url}: this layer has no spatial index")
        labels = sorted(self.spatial_index.query(bbox))
        return list(self.get(labels, allow_missing=allow_missing))

    get_by_bbox = get_bbox

    # ---- writes -----------------------------------------------------------------------

    def encode(self, skel: Any) -> bytes:
        """The stored binary for ``skel`` (attributes as the info declares them)."""
        skeleton = skel if isinstance(skel, Skeleton) else Skeleton.from_osteoid(skel)
        if skeleton.id is None:
            raise EncodingError("cannot upload a skeleton whose id (segid) is None")
        vertices = skeleton.vertices
        if skeleton.space == "physical":
            vertices = invert_transform(vertices, self.info.transform_matrix)
        elif skeleton.space != "voxel":
            raise InfoError(f"skeleton {skeleton.id}: unknown space {skeleton.space!r}")
        return encode_skeleton(
            vertices,
            skeleton.edges,
            skeleton.attribute_arrays(),
            self.info.vertex_attributes,
            skeleton.id,
        )

    def upload(self, skeletons: Any) -> None:
        """Write one skeleton or many (any segids; sharded layers merge into their shards)."""
        items = [skeletons] if not isinstance(skeletons, (list, tuple)) else list(skeletons)
        if not self._info_stored and self.store.exists("info"):
            log.info("%s/info: committed by another writer since; encoding as it says",
                     self.store.url)  # fmt: skip
            self.refresh_info()
        blobs = {_segid(s.id): self.encode(s) for s in items}
        self.put_raw(blobs)

    put = upload

    def upload_raw(
        self,
        segid: int,
        vertices: Any,
        edges: Any,
        radii: Any = None,
        vertex_types: Any = None,
    ) -> None:
        """Write one skeleton from arrays (stored-model units)."""
        self.upload(Skeleton(vertices, edges, radii, vertex_types, segid=segid))

    def put_raw(self, blobs: Mapping[int, bytes]) -> None:
        """Store already-encoded binaries ``{segid: bytes}``."""
        if self._sharded is not None:
            self._sharded.put_many(dict(blobs))
            return
        options = PutOptions(compress=self.compress, content_type="application/octet-stream")
        self.store.put_many({str(s): data for s, data in blobs.items()}, options)

    def delete(self, segids: Any) -> None:
        """Remove skeletons; absent ones are ignored."""
        ids = [_segid(segids)] if isinstance(segids, (int, np.integer)) else list(segids)
        ids = [_segid(s) for s in ids]
        if self._sharded is not None:
            self._sharded.delete_many(ids)
        else:
            self.store.delete_many([str(s) for s in ids])


def open_skeleton_source(
    store: Store, layer_info: Mapping[str, Any], **options: Any
) -> SkeletonSource:
    """The skeleton source of a layer; ``options`` go to :class:`SkeletonSource`."""
    return SkeletonSource(store, layer_info=layer_info, **options)


def _segid(value: Any) -> int:
    try:
        segid = int(value)
    except (TypeError, ValueError):
        raise SkeletonDecodeError(f"segment id {value!r} is not an integer") from None
    if segid != value or not 0 <= segid <= _MAX_U64:
        raise SkeletonDecodeError(f"segment id {value!r} is not a uint64")
    return segid
