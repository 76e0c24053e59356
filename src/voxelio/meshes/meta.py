"""``vol.mesh.meta``: cloud-volume's mesh metadata over a
:class:`~voxelio.meshes.source.MeshSource` (see :mod:`voxelio.meta.editable`)::

    vol.mesh.meta.info["transform"] = [4, 0, 0, 0, 0, 4, 0, 0, 0, 0, 40, 0]
    vol.mesh.meta.commit_info()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from voxelio.meshes.info import LEGACY_TYPE, MULTIRES_TYPE, MeshInfo
from voxelio.meta.editable import EditableInfo

if TYPE_CHECKING:  # the source imports this module; the type is only named here
    from voxelio.meshes.source import MeshSource


class MeshMeta(EditableInfo[MeshInfo]):
    """The mesh info as an editable dict, with cloud-volume's metadata calls."""

    def __init__(self, source: MeshSource) -> None:
        super().__init__(source, MeshInfo.from_json)
        self._meshes = source

    @property
    def chunk_size(self) -> Any:
        """The info's ``chunk_size`` entry (``None`` when unset)."""
        return self.info.get("chunk_size")

    def to_multi_resolution(self, vertex_quantization_bits: int) -> None:
        """Make the info ``neuroglancer_multilod_draco`` (not committed), its transform the
        resolution of the layer's scale :attr:`mip` (0 when unnamed), as cloud-volume does."""
        if vertex_quantization_bits not in (10, 16):
            raise ValueError(
                f"vertex_quantization_bits must be 10 or 16, got {vertex_quantization_bits}"
            )
        mip = self.mip or 0
        scales = self._meshes.layer_info.get("scales") or []
        if len(scales) <= mip:
            raise ValueError(
                f"{self._meshes.store.url}: to_multi_resolution needs the resolution of the "
                f"segmentation's scale {mip}: open the meshes through its CloudVolume"
            )
        x, y, z = scales[mip]["resolution"]
        self.info.update({
            "@type": MULTIRES_TYPE, "vertex_quantization_bits": vertex_quantization_bits,
            "transform": [x, 0, 0, 0, 0, y, 0, 0, 0, 0, z, 0], "lod_scale_multiplier": 1.0,
        })  # fmt: skip
        self.adopt_edits()

    def to_single_resolution(self) -> None:
        """Make the info ``neuroglancer_legacy_mesh`` (not committed)."""
        self.info["@type"] = LEGACY_TYPE
        for key in ("vertex_quantization_bits", "transform", "lod_scale_multiplier"):
            self.info.pop(key, None)
        self.adopt_edits()

    def default_info(self) -> dict[str, Any]:
        """The info of a new (legacy) mesh directory."""
        return MeshInfo().to_json()

    def is_multires(self) -> bool:
        """Whether the (possibly edited) info is ``neuroglancer_multilod_draco``."""
        return self.info.get("@type", LEGACY_TYPE) == MULTIRES_TYPE

    def is_legacy(self) -> bool:
        """Whether the (possibly edited) info is ``neuroglancer_legacy_mesh``."""
        return not self.is_multires()
