"""Reading and writing multi-resolution meshes in a store (unsharded or sharded).

Unsharded: ``<segid>.index`` is the manifest and ``<segid>`` the fragment data (never
transport-compressed: Neuroglancer fetches it with byte ranges). Sharded: see
:mod:`voxelio.meshes.sharded`. :class:`MultiresMeshes` holds only its store and info;
reads are thread safe, writes to one shard must not run concurrently.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

from voxelio.errors import MeshDecodeError, ShardingError
from voxelio.meshes import sharded
from voxelio.meshes.common import MeshMissingError, segid_list, write_mesh_file
from voxelio.meshes.info import MeshInfo
from voxelio.meshes.mesh import Mesh, is_mesh
from voxelio.meshes.multires import MultiresManifest, decode_lod, encode_multires_mesh
from voxelio.storage.base import PutOptions, Store

LodInput = Mesh | Sequence[Mesh]


def _normalize_put(meshes: Any) -> dict[int, list[Mesh]]:
    """``{segid: [lod0, lod1, ...]}`` from a Mesh, an iterable of Meshes or a mapping."""
    if is_mesh(meshes):
        meshes = [meshes]
    if isinstance(meshes, Mapping):
        out = {}
        for segid, lods in meshes.items():
            out[int(segid)] = [Mesh.of(m) for m in ([lods] if is_mesh(lods) else lods)]
        return out
    result: dict[int, list[Mesh]] = {}
    for mesh in map(Mesh.of, meshes):
        if mesh.segid is None:
            raise ValueError("every mesh to put needs a segid (or pass {segid: [lods]})")
        result[int(mesh.segid)] = [mesh]
    return result


class MultiresMeshes:
    """``neuroglancer_multilod_draco`` meshes below ``store`` (rooted at the mesh directory)."""

    def __init__(self, store: Store, info: MeshInfo) -> None:
        self.store = store
        self.info = info

    # ------------------------------------------------------------------ read
    def get_manifest(self, segid: int) -> MultiresManifest | None:
        """The segment's manifest, or ``None`` when it has none."""
        return self._locate(segid)[0]

    def _locate(self, segid: int) -> tuple[MultiresManifest | None, str, int]:
        """(manifest, data key, absolute offset of the fragment data in that key)."""
        spec = self.info.sharding
        if spec is None:
            raw = self.store.get(f"{segid}.index")
            if raw is None:
                return None, str(segid), 0
            return MultiresManifest.from_bytes(raw, segid), str(segid), 0
        try:
            found = sharded.read_value(self.store, spec, segid)
        except ShardingError as exc:
            raise MeshDecodeError(f"segment {segid}: {exc}") from exc
        if found is None:
            return None, "", 0
        loc, raw = found
        manifest = MultiresManifest.from_bytes(raw, segid)
        start = loc.start - manifest.data_length
        if start < spec.index_length:
            raise MeshDecodeError(
                f"segment {segid}: {loc.shard_file}: the manifest needs {manifest.data_length} "
                f"bytes of fragment data before byte {loc.start}, which would overlap the "
                "shard index"
            )
        return manifest, loc.shard_file, start

    def exists(self, segids: Any) -> dict[int, bool]:
        """``{segid: whether a manifest exists}``."""
        ids, _ = segid_list(segids)
        if self.info.sharding is None:
            found = self.store.exists_many([f"{s}.index" for s in ids])
            return {s: found[f"{s}.index"] for s in ids}
        return {s: sharded.locate(self.store, self.info.sharding, s) is not None for s in ids}

    def get_lod(self, segid: int, lod: int = 0) -> list[Mesh] | None:
        """The non-empty fragments of ``lod`` (``-1``: coarsest) in nm; None when missing."""
        manifest, key, base = self._locate(segid)
        if manifest is None:
            return None
        if lod == -1:
            lod = manifest.num_lods - 1
        if not 0 <= lod < manifest.num_lods:
            raise MeshDecodeError(
                f"segment {segid}: lod {lod} is out of range (0 - {manifest.num_lods - 1})"
            )
        start, end = manifest.lod_range(lod)
        data = b"" if end == start else self.store.get_range(key, base + start, end - start)
        if data is None:
            raise MeshDecodeError(f"segment {segid}: fragment data {key!r} is missing")
        return decode_lod(data, manifest, lod, self.info, segid)

    def get(
        self, segids: Any, lod: int = 0, concat: bool = True, allow_missing: bool = False
    ) -> dict[int, Any]:
        """``{segid: Mesh}`` at ``lod`` (``{segid: [fragments]}`` with ``concat=False``).

        Missing segments raise :class:`MeshMissingError` unless ``allow_missing``.
        """
        ids, _ = segid_list(segids)
        out: dict[int, Any] = {}
        missing = []
        for segid in ids:
            frags = self.get_lod(segid, lod)
            if frags is None:
                missing.append(segid)
            else:
                out[segid] = Mesh.concatenate(*frags, segid=segid) if concat else frags
        if missing and not allow_missing:
            raise MeshMissingError(
                f"segment(s) {', '.join(map(str, missing))} have no multi-resolution mesh "
                f"manifest in {self.store.url}"
            )
        return out

    # ----------------------------------------------------------------- write
    def put(
        self,
        meshes: Mesh | Iterable[Mesh] | Mapping[int, LodInput],
        *,
        chunk_shape: Sequence[float] | None = None,
        lod_scales: Sequence[float] | None = None,
    ) -> dict[int, MultiresManifest]:
        """Encode and store meshes; returns the manifests written.

        ``meshes`` is a Mesh or iterable of Meshes (one lod each, ``segid`` required) or a
        mapping ``{segid: [lod0, lod1, ...]}`` (lod 0 finest, vertices in nm). See
        :func:`~voxelio.meshes.multires.encode_multires_mesh` for ``chunk_shape`` and
        ``lod_scales``.
        """
        encoded = {
            segid: encode_multires_mesh(
                lods, self.info, chunk_shape=chunk_shape, lod_scales=lod_scales, segid=segid
            )
            for segid, lods in _normalize_put(meshes).items()
        }
        if self.info.sharding is not None:
            sharded.write_multires(self.store, self.info.sharding, encoded)
        else:
            plain = PutOptions(content_type="application/octet-stream")
            self.store.put_many({str(s): data for s, (_, data) in encoded.items()}, plain)
            self.store.put_many(
                {f"{s}.index": m.to_bytes() for s, (m, _) in encoded.items()}, plain
            )
        return {segid: manifest for segid, (manifest, _) in encoded.items()}

    def delete(self, segids: Any) -> None:
        """Remove segments (their manifest and fragment data)."""
        ids, _ = segid_list(segids)
        if self.info.sharding is not None:
            sharded.delete_multires(self.store, self.info.sharding, ids)
            return
        self.store.delete_many([k for s in ids for k in (f"{s}.index", str(s))])

    def save(
        self,
        segids: Any,
        filepath: str | os.PathLike[str] | IO[bytes] | None = None,
        file_format: str = "ply",
        lod: int = 0,
    ) -> str | None:
        """Write the segments' ``lod`` meshes, fused into one file (ply, obj, precomputed)."""
        ids, _ = segid_list(segids)
        meshes = self.get(ids, lod=lod)
        fused = Mesh.concatenate(*[meshes[s] for s in ids], segid=ids[0] if len(ids) == 1 else None)
        return write_mesh_file(fused, ids, filepath, file_format)
