"""Meshes: the ``Mesh`` value, legacy and multi-resolution (Draco) precomputed meshes.

``from voxelio.meshes import Mesh, open_mesh_source``. See :mod:`voxelio.meshes.source` for
``vol.mesh`` and :mod:`voxelio.meshes.multires` for the multi-resolution format.
"""

from voxelio.meshes.common import MeshMissingError
from voxelio.meshes.info import (
    LEGACY_TYPE,
    MULTIRES_TYPE,
    MeshInfo,
    create_legacy_mesh_info,
    create_multires_mesh_info,
    transform_from_resolution,
)
from voxelio.meshes.mesh import Mesh
from voxelio.meshes.multires import MultiresManifest, encode_multires_mesh
from voxelio.meshes.source import MeshSource, open_mesh_source, read_mesh_info

__all__ = [
    "LEGACY_TYPE",
    "MULTIRES_TYPE",
    "Mesh",
    "MeshInfo",
    "MeshMissingError",
    "MeshSource",
    "MultiresManifest",
    "create_legacy_mesh_info",
    "create_multires_mesh_info",
    "encode_multires_mesh",
    "open_mesh_source",
    "read_mesh_info",
    "transform_from_resolution",
]
