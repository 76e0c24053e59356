"""Legacy single-resolution meshes (``neuroglancer_legacy_mesh``).

Unsharded layout (format notes 3.1): ``<segid>:0`` holds JSON ``{"fragments": [names]}``;
each name is a key relative to the mesh directory whose object is a precomputed fragment
(``uint32 n``, ``n*3`` float32 xyz in nm, uint32 triangles). cloud-volume writes one
fragment per segment named ``<segid>:0:1``, gzip-compressed (``.gz`` on local disk).

Sharded layout (read only, as cloud-volume's older writers produced): the shard value for
key ``segid`` is one precomputed fragment (or a Draco mesh).

:class:`LegacyMeshes` is stateless apart from its store and info, thread safe for reads,
and picklable (its store pickles cheaply).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

import numpy as np

from voxelio.compression import Method, normalize_method
from voxelio.errors import MeshDecodeError, UnsupportedOptionError
from voxelio.meshes import sharded
from voxelio.meshes.common import MeshMissingError, segid_list, write_mesh_file
from voxelio.meshes.info import MeshInfo
from voxelio.meshes.mesh import Mesh, is_mesh
from voxelio.meshes.multires import apply_transform
from voxelio.storage.base import PutOptions, Store, check_key


def manifest_key(segid: int) -> str:
    """``"<segid>:0"``: the key of a segment's legacy manifest."""
    return f"{segid}:0"


def encode_manifest(fragments: Sequence[str]) -> bytes:
    """The JSON manifest bytes listing ``fragments``."""
    return json.dumps({"fragments": list(fragments)}).encode("utf8")


def decode_manifest(data: bytes, segid: int) -> list[str]:
    """Fragment names of a legacy manifest; malformed JSON raises MeshDecodeError."""
    try:
        obj = json.loads(data.decode("utf8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MeshDecodeError(f"segment {segid}: manifest {segid}:0 is not JSON ({exc})") from exc
    frags = obj.get("fragments") if isinstance(obj, dict) else None
    if not isinstance(frags, list) or not all(isinstance(f, str) for f in frags):
        raise MeshDecodeError(
            f"segment {segid}: manifest {segid}:0 needs a 'fragments' list of strings"
        )
    return frags


class LegacyMeshes:
    """Read and write legacy meshes below ``store`` (rooted at the mesh directory).

    ``layer_info`` (the segmentation's info, may be empty) supplies resolutions for
    ``chunk_size`` deduplication. Vertices are returned in nanometres, after the mesh
    info's ``transform`` when it has one.
    """

    def __init__(self, store: Store, info: MeshInfo, layer_info: Mapping[str, Any]) -> None:
        self.store = store
        self.info = info
        self.layer_info = layer_info

    # ------------------------------------------------------------------ read
    def exists(self, segids: Any) -> dict[int, str | None]:
        """``{segid: manifest key or None}`` (sharded: ``shard file`` or None)."""
        ids, _ = segid_list(segids)
        if self.info.sharding is not None:
            spec = self.info.sharding
            return {
                s: (loc.shard_file if (loc := sharded.locate(self.store, spec, s)) else None)
                for s in ids
            }
        found = self.store.exists_many([manifest_key(s) for s in ids])
        return {s: (manifest_key(s) if found[manifest_key(s)] else None) for s in ids}

    def manifests(self, segids: Iterable[int], allow_missing: bool = False) -> dict[int, Any]:
        """``{segid: [fragment names] or None}``; missing ones raise unless ``allow_missing``."""
        ids = list(segids)
        raw = self.store.get_many([manifest_key(s) for s in ids])
        out: dict[int, list[str] | None] = {}
        for segid in ids:
            data = raw[manifest_key(segid)]
            out[segid] = None if data is None else decode_manifest(data, segid)
        missing = [s for s, v in out.items() if v is None]
        if missing and not allow_missing:
            raise MeshMissingError(
                f"segment(s) {', '.join(map(str, missing))} have no mesh manifest "
                f"({manifest_key(missing[0])}) in {self.store.url}"
            )
        return out

    def fragments(
        self, segids: Sequence[int], allow_missing: bool = False
    ) -> dict[int, list[Mesh]]:
        """Each segment's decoded fragments (sorted by name), in stored coordinates."""
        if self.info.sharding is not None:
            return self._sharded_fragments(segids, allow_missing)
        manifests = self.manifests(segids, allow_missing)
        names = {s: sorted(f) for s, f in manifests.items() if f is not None}
        keys = [check_key(n) for frags in names.values() for n in frags]
        blobs = self.store.get_many(keys)
        out: dict[int, list[Mesh]] = {}
        for segid, frags in names.items():
            meshes = []
            for name in frags:
                blob = blobs[check_key(name)]
                if blob is None:
                    raise MeshDecodeError(
                        f"segment {segid}: fragment {name!r} listed in its manifest is missing"
                    )
                meshes.append(_decode_fragment(blob, segid, name))
            out[segid] = meshes
        return out

    def _sharded_fragments(
        self, segids: Sequence[int], allow_missing: bool
    ) -> dict[int, list[Mesh]]:
        assert self.info.sharding is not None
        out: dict[int, list[Mesh]] = {}
        missing = []
        for segid in segids:
            found = sharded.read_value(self.store, self.info.sharding, segid)
            if found is None:
                missing.append(segid)
                continue
            out[segid] = [_decode_fragment(found[1], segid, found[0].shard_file)]
        if missing and not allow_missing:
            raise MeshMissingError(
                f"segment(s) {', '.join(map(str, missing))} have no mesh in the shards of "
                f"{self.store.url}"
            )
        return out

    def _to_nm(self, mesh: Mesh) -> Mesh:
        mat = self.info.transform_matrix()
        if not np.array_equal(mat, np.eye(4)) and len(mesh):
            mesh.vertices = apply_transform(mesh.vertices.astype(np.float64), mat).astype(
                np.float32
            )
        return mesh

    def get(
        self,
        segids: Any,
        remove_duplicate_vertices: bool = True,
        fuse: bool = True,
        chunk_size: Sequence[float] | None = None,
        allow_missing: bool = False,
    ) -> Mesh | dict[int, Mesh]:
        """Meshes in nm: one fused Mesh (default) or ``{segid: Mesh}`` with ``fuse=False``.

        With ``fuse`` and ``remove_duplicate_vertices`` exactly equal vertices are merged;
        with ``chunk_size`` (voxels of the mesh's mip) only those on chunk boundaries are.
        """
        ids, single = segid_list(segids)
        frags = self.fragments(ids, allow_missing)
        if not fuse:
            return {s: self._to_nm(Mesh.concatenate(*frags[s], segid=s)) for s in ids if s in frags}
        ordered = [m for s in sorted(frags) for m in frags[s]]
        mesh = self._to_nm(Mesh.concatenate(*ordered, segid=ids[0] if single else None))
        if not remove_duplicate_vertices:
            return mesh
        if not chunk_size:
            return mesh.consolidate()
        resolution, offset = self._mesh_grid()
        return mesh.deduplicate_chunk_boundaries(
            np.asarray(chunk_size) * resolution, offset=offset * resolution
        )

    def _mesh_grid(self) -> tuple[np.ndarray, np.ndarray]:
        """(resolution nm/voxel, voxel_offset) of the scale the meshes were made from."""
        scales = self.layer_info.get("scales") or []
        mip = int(self.info.extra.get("mip", 0))
        if not 0 <= mip < len(scales):
            raise UnsupportedOptionError(
                f"chunk_size deduplication needs scale {mip} of the layer info, which is absent"
            )
        scale = scales[mip]
        return (
            np.asarray(scale["resolution"], dtype=np.float64),
            np.asarray(scale.get("voxel_offset", (0, 0, 0)), dtype=np.float64),
        )

    # ----------------------------------------------------------------- write
    def put(
        self,
        meshes: Any,
        compress: Method | bool | None | str = "auto",
        skip_delete: bool = False,
    ) -> None:
        """Write a mesh or an iterable of meshes (voxelio's or cloud-volume's; each needs its
        ``segid``) as ``<segid>:0`` + ``<segid>:0:1``.

        Vertices are written as given (nm; the info's transform is not inverted).
        ``compress="auto"`` gzips fragments except on local disk, where plain files stay
        readable by Neuroglancer and TensorStore; pass ``"gzip"`` for cloud-volume's
        ``.gz`` layout. Old fragments are deleted first unless ``skip_delete``.
        """
        if self.info.sharding is not None:
            raise UnsupportedOptionError("writing sharded legacy meshes is not supported")
        items = [Mesh.of(m) for m in ([meshes] if is_mesh(meshes) else meshes)]
        ids: list[int] = []
        for mesh in items:
            if mesh.segid is None:
                raise ValueError("every mesh to put needs a segid")
            ids.append(int(mesh.segid))
        if not skip_delete:
            self.delete(ids)
        method = self._method(compress)
        frags = {f"{s}:0:1": m.to_precomputed() for s, m in zip(ids, items)}
        manifests = {manifest_key(s): encode_manifest([f"{s}:0:1"]) for s in ids}
        self.store.put_many(
            frags, PutOptions(compress=method, content_type="application/octet-stream")
        )
        self.store.put_many(manifests, PutOptions(content_type="application/json"))

    def _method(self, compress: Any) -> Method | None:
        if compress == "auto":
            return None if self.store.url.startswith(("file://", "mem://")) else "gzip"
        return normalize_method(compress)

    def delete(self, segids: Any) -> None:
        """Remove each segment's fragments and manifest (missing ones are skipped)."""
        if self.info.sharding is not None:
            raise UnsupportedOptionError("deleting sharded legacy meshes is not supported")
        ids, _ = segid_list(segids)
        keys: list[str] = []
        for segid, frags in self.manifests(ids, allow_missing=True).items():
            if frags is not None:
                keys.extend(check_key(f) for f in frags)
                keys.append(manifest_key(segid))
        self.store.delete_many(keys)

    def save(
        self,
        segids: Any,
        filepath: str | os.PathLike[str] | IO[bytes] | None = None,
        file_format: str = "ply",
    ) -> str | None:
        """Fuse the segments into one mesh and write it as ply, obj or precomputed."""
        ids, _ = segid_list(segids)
        mesh = self.get(ids, fuse=True, remove_duplicate_vertices=True)
        assert isinstance(mesh, Mesh)
        return write_mesh_file(mesh, ids, filepath, file_format)


def _decode_fragment(blob: bytes, segid: int, name: str) -> Mesh:
    if blob[:5] == b"DRACO":
        mesh = Mesh.from_draco(blob, segid=segid)
    else:
        try:
            mesh = Mesh.from_precomputed(blob, segid=segid)
        except MeshDecodeError as exc:
            raise MeshDecodeError(f"{exc} (fragment {name!r})") from exc
    return mesh
