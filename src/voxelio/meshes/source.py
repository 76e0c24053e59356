"""``vol.mesh``: the mesh source the facade exposes, legacy or multi-resolution.

:class:`MeshSource` reads the mesh directory's ``info`` (key ``"info"`` in a store rooted at
the mesh directory; a missing info means legacy meshes) and delegates to
:class:`~voxelio.meshes.legacy.LegacyMeshes` or
:class:`~voxelio.meshes.multires_source.MultiresMeshes`. Its method names and defaults follow
cloud-volume (``get``, ``put``, ``delete``, ``exists``, ``save``, ``get_bbox``).

Thread safe for reads; picklable (store, layer info and mesh info are all that is kept).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import IO, Any

import numpy as np

from voxelio.errors import InfoError, SpatialIndexError
from voxelio.meshes.info import MeshInfo
from voxelio.meshes.legacy import LegacyMeshes
from voxelio.meshes.meta import MeshMeta
from voxelio.meshes.multires_source import MultiresMeshes
from voxelio.spatial_index.index import SpatialIndex
from voxelio.storage.base import Store
from voxelio.storage.jsonfile import write_json

INFO_KEY = "info"


def read_mesh_info(store: Store) -> MeshInfo:
    """Parse the mesh directory's ``info`` (absent: legacy); malformed JSON raises InfoError."""
    raw = store.get(INFO_KEY)
    if raw is None:
        return MeshInfo()
    try:
        obj = json.loads(raw.decode("utf8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InfoError(f"{store.url}/{INFO_KEY}: mesh info is not JSON ({exc})") from exc
    return MeshInfo.from_json(obj)


class MeshSource:
    """Mesh access for one layer (``vol.mesh``).

    ``store`` is rooted at the mesh directory; ``layer_info`` is the segmentation's info
    (used for resolutions and the spatial index bounds). ``info`` overrides the stored mesh
    info (a :class:`MeshInfo` or its JSON). Legacy ``get`` returns a fused Mesh or a dict;
    multi-resolution ``get`` returns ``{segid: Mesh}`` as in cloud-volume.
    """

    def __init__(
        self,
        store: Store,
        *,
        layer_info: Mapping[str, Any] | None = None,
        progress: bool = False,
        info: MeshInfo | Mapping[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.layer_info: Mapping[str, Any] = dict(layer_info or {})
        self.progress = progress
        self._impl: LegacyMeshes | MultiresMeshes
        self._meta: MeshMeta | None = None
        if info is None:
            self.use_info(read_mesh_info(store))
        else:
            self.use_info(info if isinstance(info, MeshInfo) else MeshInfo.from_json(info))

    def __reduce__(self) -> Any:
        return (_rebuild, (self.store, dict(self.layer_info), self.progress, self.info.to_json()))

    def __repr__(self) -> str:
        return f"MeshSource({self.store.url!r}, {self.info.type})"

    # ------------------------------------------------------------- queries
    @property
    def meta(self) -> MeshMeta:
        """cloud-volume's ``vol.mesh.meta``: the info as a dict to edit, then commit."""
        if self._meta is None:
            self._meta = MeshMeta(self)
        return self._meta

    def use_info(self, info: MeshInfo) -> None:
        """Read and write by ``info`` from now on (not committed)."""
        self.info = info
        if info.is_multires:
            self._impl = MultiresMeshes(self.store, info)
        else:
            self._impl = LegacyMeshes(self.store, info, self.layer_info)

    def refresh_info(self) -> MeshInfo:
        """Re-read the info from storage."""
        self.use_info(read_mesh_info(self.store))
        return self.info

    def is_sharded(self) -> bool:
        """Whether the meshes are sharded."""
        return self.info.is_sharded

    def is_multires(self) -> bool:
        """Whether the meshes are ``neuroglancer_multilod_draco``."""
        return self.info.is_multires

    def is_legacy(self) -> bool:
        """Whether the meshes are ``neuroglancer_legacy_mesh``."""
        return self.info.is_legacy

    # -------------------------------------------------------------- access
    def get(self, segids: Any, *args: Any, **kwargs: Any) -> Any:
        """Fetch meshes. Legacy: ``get(segids, remove_duplicate_vertices=True, fuse=True,
        chunk_size=None, allow_missing=False)``; multires: ``get(segids, lod=0, concat=True,
        allow_missing=False)``. Vertices in nm."""
        return self._impl.get(segids, *args, **kwargs)

    def put(self, meshes: Any, **kwargs: Any) -> Any:
        """Write meshes (legacy: ``compress``, ``skip_delete``; multires: ``chunk_shape``,
        ``lod_scales``, and ``{segid: [lod0, lod1, ...]}`` input)."""
        return self._impl.put(meshes, **kwargs)

    def delete(self, segids: Any) -> None:
        """Remove the segments' meshes."""
        self._impl.delete(segids)

    def exists(self, segids: Any) -> dict[int, Any]:
        """``{segid: key/shard or None}`` (legacy) or ``{segid: bool}`` (multires)."""
        return self._impl.exists(segids)

    def get_manifest(self, segid: int) -> Any:
        """Multires: the :class:`MultiresManifest` or None; legacy: the fragment name list."""
        if isinstance(self._impl, MultiresMeshes):
            return self._impl.get_manifest(int(segid))
        return self._impl.manifests([int(segid)], allow_missing=True)[int(segid)]

    def save(
        self,
        segids: Any,
        filepath: str | os.PathLike[str] | IO[bytes] | None = None,
        file_format: str = "ply",
        **kwargs: Any,
    ) -> str | None:
        """Fuse the segments and write one ``ply``/``obj``/``precomputed`` file."""
        return self._impl.save(segids, filepath, file_format, **kwargs)

    def commit_info(self) -> None:
        """Write the mesh info (no null keys) to the mesh directory's ``info``, with the
        edits made to ``meta.info``."""
        if self._meta is not None:
            self._meta.adopt_edits()
        write_json(self.store, INFO_KEY, self.info.to_json())

    # ------------------------------------------------------- spatial index
    @property
    def spatial_index(self) -> SpatialIndex | None:
        """The spatial index when the mesh info declares one, else ``None``."""
        spec = self.info.extra.get("spatial_index")
        if not spec:
            return None
        scales = self.layer_info.get("scales") or []
        mip = int(self.info.extra.get("mip", 0))
        if not 0 <= mip < len(scales):
            raise SpatialIndexError(
                f"{self.store.url}: spatial index needs scale {mip} of the layer info for bounds"
            )
        scale = scales[mip]
        offset = np.asarray(scale.get("voxel_offset", (0, 0, 0)), dtype=np.int64)
        bounds = (offset, offset + np.asarray(scale["size"], dtype=np.int64))
        return SpatialIndex(
            self.store,
            bounds,
            spec["chunk_size"],
            resolution=spec.get("resolution", scale["resolution"]),
        )

    def get_bbox(self, bbox: Any) -> Any:
        """Meshes of every segment the spatial index lists in ``bbox`` (nm), unfused."""
        index = self.spatial_index
        if index is None:
            raise SpatialIndexError(f"{self.store.url}: no spatial index has been created")
        segids = sorted(index.query(bbox))
        if isinstance(self._impl, MultiresMeshes):
            return self._impl.get(segids)
        return self._impl.get(segids, fuse=False)


def _rebuild(
    store: Store, layer_info: dict[str, Any], progress: bool, info: dict[str, Any]
) -> MeshSource:
    return MeshSource(store, layer_info=layer_info, progress=progress, info=info)


def open_mesh_source(
    store: Store, layer_info: Mapping[str, Any] | None = None, **options: Any
) -> MeshSource:
    """The mesh source for a mesh directory; legacy vs multires is read from its info.

    ``options``: ``progress`` and ``info`` (an override of the stored mesh info).
    """
    return MeshSource(store, layer_info=layer_info, **options)
