"""``vol.mesh.meta``: cloud-volume's mesh metadata over a
:class:`~voxelio.meshes.source.MeshSource` (see :mod:`voxelio.meta.editable`)::

    vol.mesh.meta.info["transform"] = [4, 0, 0, 0, 0, 4, 0, 0, 0, 0, 40, 0]
    vol.mesh.meta.commit_info()
"""

from __future__ import annotations

from typing import Any

from voxelio.meshes.info import LEGACY_TYPE, MULTIRES_TYPE, MeshInfo
from voxelio.meta.editable import EditableInfo


class MeshMeta(EditableInfo[MeshInfo]):
    """The mesh info as an editable dict, with cloud-volume's metadata calls."""

    def default_info(self) -> dict[str, Any]:
        """The info of a new (legacy) mesh directory."""
        return MeshInfo().to_json()

    def is_multires(self) -> bool:
        """Whether the (possibly edited) info is ``neuroglancer_multilod_draco``."""
        return self.info.get("@type", LEGACY_TYPE) == MULTIRES_TYPE

    def is_legacy(self) -> bool:
        """Whether the (possibly edited) info is ``neuroglancer_legacy_mesh``."""
        return not self.is_multires()
