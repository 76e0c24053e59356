"""The ``Mesh`` value: a triangle mesh in nanometres, cloud-volume compatible.

``Mesh.vertices`` is a float32 ``(N, 3)`` array of x, y, z positions in nanometres,
``Mesh.faces`` a uint32 ``(M, 3)`` array of vertex indices and ``Mesh.normals`` a float32
``(N, 3)`` array (or ``(0, 3)`` when absent). ``segid`` is the segment id (or ``None``).

As in cloud-volume the attributes are plain, assignable numpy arrays; a ``Mesh`` is not
thread safe while it is being mutated, but every method returns a new mesh and leaves the
receiver untouched. Meshes pickle like any object holding numpy arrays.

Only numpy is needed here; trimesh, DracoPy and matplotlib are imported inside the methods
that use them and a missing one raises :class:`~voxelio.errors.MissingCodecError`.
"""

from __future__ import annotations

import copy
import os
import struct
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from voxelio.errors import MeshDecodeError, MissingCodecError
from voxelio.meshes.formats import from_obj_text, from_ply_bytes, to_obj_bytes, to_ply_bytes

FloatArray = npt.NDArray[np.float32]
IndexArray = npt.NDArray[np.uint32]


def _as_points(values: Any, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float32)
    if arr.size == 0:
        return np.zeros((0, 3), dtype=np.float32)
    if arr.ndim == 1 and arr.size % 3 == 0:
        arr = arr.reshape(-1, 3)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"mesh {name} must have shape (N, 3), got {arr.shape}")
    return arr


def _as_faces(values: Any) -> IndexArray:
    arr = np.asarray(values)
    if arr.size == 0:
        return np.zeros((0, 3), dtype=np.uint32)
    if arr.ndim == 1 and arr.size % 3 == 0:
        arr = arr.reshape(-1, 3)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"mesh faces must have shape (M, 3), got {arr.shape}")
    if arr.dtype.kind == "i" and arr.size and int(arr.min()) < 0:
        raise ValueError("mesh faces must not hold negative vertex indices")
    return arr.astype(np.uint32, copy=False)


def _bbox_corners(bbox: Any) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) corners of a Bbox-like object or a ``(min, max)`` pair, in nanometres."""
    if hasattr(bbox, "minpt") and hasattr(bbox, "maxpt"):
        lo, hi = bbox.minpt, bbox.maxpt
    else:
        lo, hi = bbox
    return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)


def is_mesh(obj: Any) -> bool:
    """Whether ``obj`` is one mesh, of voxelio or of another library (cloud-volume's), rather
    than a collection of them."""
    return isinstance(obj, Mesh) or hasattr(obj, "vertices")


class Mesh:
    """A triangle mesh: ``vertices`` (nm, float32 N x 3), ``faces`` (uint32 M x 3), ``normals``.

    ``encoding_type`` and ``encoding_options`` record where the mesh came from
    (``"precomputed"``, ``"draco"``), as in cloud-volume.
    """

    def __init__(
        self,
        vertices: Any,
        faces: Any,
        normals: Any = None,
        segid: int | None = None,
        encoding_type: Any = None,
        encoding_options: Any = None,
    ) -> None:
        self.vertices: FloatArray = _as_points(vertices, "vertices")
        self.faces: IndexArray = _as_faces(faces)
        self.normals: FloatArray = (
            np.zeros((0, 3), dtype=np.float32)
            if normals is None
            else _as_points(normals, "normals")
        )
        self.segid = segid
        self.encoding_type = encoding_type
        self.encoding_options = encoding_options

    @classmethod
    def of(cls, mesh: Any) -> Mesh:
        """``mesh`` as a voxelio Mesh: itself, or a copy of another library's mesh (such as
        cloud-volume's) from its ``vertices``, ``faces``, ``normals`` and ``segid``."""
        if isinstance(mesh, Mesh):
            return mesh
        normals = getattr(mesh, "normals", None)
        if normals is not None and np.size(normals) == 0:
            normals = None
        return cls(mesh.vertices, mesh.faces, normals, getattr(mesh, "segid", None))

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.vertices.shape[0])

    def __eq__(self, other: object) -> bool:
        """Strict equality of vertices, faces and (when either has them) normals."""
        if not isinstance(other, Mesh):
            return NotImplemented
        if (self.normals.size == 0) != (other.normals.size == 0):
            return False
        if self.vertices.shape != other.vertices.shape or self.faces.shape != other.faces.shape:
            return False
        same = bool(np.array_equal(self.vertices, other.vertices)) and bool(
            np.array_equal(self.faces, other.faces)
        )
        if self.normals.size == 0:
            return same
        return same and bool(np.array_equal(self.normals, other.normals))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Mesh(vertices<{len(self.vertices)}>, faces<{len(self.faces)}>, "
            f"normals<{len(self.normals)}>, segid={self.segid}, "
            f"encoding_type=<{self.encoding_type}>)"
        )

    def __sizeof__(self) -> int:
        arrays = self.vertices.nbytes + self.faces.nbytes + self.normals.nbytes
        return arrays + sum(
            sys.getsizeof(x) for x in (self.segid, self.encoding_type, self.encoding_options)
        )

    def empty(self) -> bool:
        """True when the mesh has no vertices or no faces."""
        return self.vertices.size == 0 or self.faces.size == 0

    def clone(self) -> Mesh:
        """A deep, independent copy."""
        return Mesh(
            self.vertices.copy(),
            self.faces.copy(),
            self.normals.copy() if self.normals.size else None,
            segid=self.segid,
            encoding_type=copy.deepcopy(self.encoding_type),
            encoding_options=copy.deepcopy(self.encoding_options),
        )

    def _derive(self, vertices: Any, faces: Any, normals: Any = None) -> Mesh:
        return Mesh(
            vertices,
            faces,
            normals,
            segid=self.segid,
            encoding_type=copy.deepcopy(self.encoding_type),
            encoding_options=copy.deepcopy(self.encoding_options),
        )

    def edges(self) -> Iterator[tuple[int, int]]:
        """Each face's three edges as ``(low, high)`` index pairs (not deduplicated)."""
        for a, b, c in self.faces.tolist():
            yield (a, b) if a < b else (b, a)
            yield (b, c) if b < c else (c, b)
            yield (a, c) if a < c else (c, a)

    def triangles(self) -> FloatArray:
        """The ``(M, 3, 3)`` array of each face's vertex positions (nm)."""
        return self.vertices[self.faces]

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        """``(min, max)`` corners of the vertices in nanometres; raises on an empty mesh."""
        if self.vertices.size == 0:
            raise ValueError(f"mesh {self.segid} has no vertices, so no bounds")
        return self.vertices.min(axis=0), self.vertices.max(axis=0)

    # --------------------------------------------------------------- geometry
    @classmethod
    def concatenate(cls, *meshes: Mesh, segid: int | None = None) -> Mesh:
        """One mesh holding all of ``meshes`` (faces re-indexed); normals kept if all have them."""
        if not meshes:
            return Mesh([], [], segid=segid)
        counts = np.cumsum([0] + [len(m) for m in meshes])
        vertices = np.concatenate([m.vertices for m in meshes])
        faces = np.concatenate(
            [m.faces.astype(np.uint64) + np.uint64(counts[i]) for i, m in enumerate(meshes)]
        )
        if int(counts[-1]) > np.iinfo(np.uint32).max:
            raise ValueError("concatenated mesh has more vertices than uint32 indices allow")
        has_normals = all(len(m.normals) == len(m) for m in meshes) and any(
            len(m.normals) for m in meshes
        )
        normals = np.concatenate([m.normals for m in meshes]) if has_normals else None
        kinds = {repr(m.encoding_type) for m in meshes}
        encoding = meshes[0].encoding_type if len(kinds) == 1 else [m.encoding_type for m in meshes]
        return Mesh(vertices, faces, normals, segid=segid, encoding_type=encoding)

    def consolidate(self) -> Mesh:
        """Merge exactly equal vertices and drop duplicate faces (cloud-volume's rule).

        Vertices come out sorted lexicographically and faces sorted and unique; normals are
        kept (one per merged vertex) when the mesh has one per vertex.
        """
        if self.empty():
            return self._derive([], [])
        uniq, first, inverse = np.unique(
            self.vertices, axis=0, return_index=True, return_inverse=True
        )
        faces = inverse.reshape(-1)[self.faces]
        faces = np.unique(faces, axis=0)
        normals = self.normals[first] if len(self.normals) == len(self) else None
        return self._derive(uniq, faces, normals)

    def deduplicate_vertices(self, is_chunk_aligned: npt.ArrayLike) -> Mesh:
        """Merge vertices that occur exactly twice and are flagged in ``is_chunk_aligned``.

        Unreferenced vertices are dropped; other duplicates stay distinct. Normals are dropped.
        """
        if self.empty():
            return self._derive([], [])
        flags = np.asarray(is_chunk_aligned, dtype=bool).reshape(-1)
        _, inverse, counts = np.unique(
            self.vertices, axis=0, return_inverse=True, return_counts=True
        )
        inverse = inverse.reshape(-1)
        merge = flags & (counts[inverse] == 2)
        tag = np.arange(len(self), dtype=np.float64)
        tag[merge] = -1.0
        keyed = np.column_stack([self.vertices.astype(np.float64), tag])
        used = self.faces.reshape(-1)
        table, new_faces = np.unique(keyed[used], axis=0, return_inverse=True)
        return self._derive(table[:, :3], new_faces.reshape(-1, 3))

    def deduplicate_chunk_boundaries(
        self,
        chunk_size: npt.ArrayLike,
        is_draco: bool = False,
        draco_grid_size: float | None = None,
        offset: npt.ArrayLike = (0, 0, 0),
    ) -> Mesh:
        """Merge the doubled vertices that sit on chunk boundaries (``chunk_size`` in nm).

        ``offset`` (nm) is the grid origin. With ``is_draco``, a vertex counts as on a
        boundary when it lies within half of ``draco_grid_size`` of one.
        """
        verts = self.vertices.astype(np.float64) - np.asarray(offset, dtype=np.float64)
        size = np.asarray(chunk_size, dtype=np.float64)
        behind = np.mod(verts, size)
        if is_draco:
            if draco_grid_size is None:
                raise ValueError("draco_grid_size is required to deduplicate draco meshes")
            half = draco_grid_size / 2
            aligned = np.any(behind < half, axis=1) | np.any(size - behind <= half, axis=1)
        else:
            aligned = np.any(behind == 0, axis=1)
        return self.deduplicate_vertices(aligned)

    def crop(self, bbox: Any) -> Mesh:
        """Keep the faces whose three vertices lie in ``bbox`` (nm, bounds inclusive).

        ``bbox`` is a ``Bbox`` (``minpt``/``maxpt``) or a ``(min, max)`` pair.
        """
        if self.empty():
            return self._derive([], [])
        lo, hi = _bbox_corners(bbox)
        inside = np.all((self.vertices >= lo) & (self.vertices <= hi), axis=1)
        keep_faces = np.all(inside[self.faces], axis=1)
        remap = np.cumsum(inside) - 1
        faces = remap[self.faces[keep_faces]]
        normals = self.normals[inside] if len(self.normals) == len(self) else None
        return self._derive(self.vertices[inside], faces, normals)

    # ------------------------------------------------------------ precomputed
    @classmethod
    def from_precomputed(cls, binary: bytes, segid: int | None = None) -> Mesh:
        """Decode a legacy precomputed fragment (uint32 n, n*3 float32 xyz, uint32 faces)."""
        if len(binary) < 4:
            raise MeshDecodeError(
                f"segment {segid}: legacy mesh fragment has {len(binary)} bytes, needs at least 4"
            )
        (num_vertices,) = struct.unpack("<I", binary[:4])
        face_start = 4 + 12 * num_vertices
        if face_start > len(binary):
            raise MeshDecodeError(
                f"segment {segid}: legacy mesh fragment declares {num_vertices} vertices "
                f"({face_start} bytes) but has only {len(binary)} bytes"
            )
        if (len(binary) - face_start) % 12:
            raise MeshDecodeError(
                f"segment {segid}: legacy mesh fragment has {len(binary) - face_start} bytes of "
                "triangle indices, not a multiple of 12"
            )
        vertices = np.frombuffer(binary, dtype="<f4", count=3 * num_vertices, offset=4)
        faces = np.frombuffer(binary, dtype="<u4", offset=face_start)
        if faces.size and int(faces.max()) >= num_vertices:
            raise MeshDecodeError(
                f"segment {segid}: legacy mesh fragment references vertex {int(faces.max())} "
                f"but has only {num_vertices} vertices"
            )
        return Mesh(
            vertices.reshape(-1, 3), faces.reshape(-1, 3), segid=segid, encoding_type="precomputed"
        )

    def to_precomputed(self) -> bytes:
        """Encode as a legacy precomputed fragment (normals are not stored)."""
        return b"".join(
            [
                struct.pack("<I", len(self)),
                self.vertices.astype("<f4", copy=False).tobytes("C"),
                self.faces.astype("<u4", copy=False).tobytes("C"),
            ]
        )

    # -------------------------------------------------------- obj / ply / draco
    @classmethod
    def from_obj(cls, text: str | bytes, segid: int | None = None) -> Mesh:
        """Parse a Wavefront OBJ text (vertices, optional normals, triangles or polygons)."""
        vertices, faces, normals = from_obj_text(text, segid)
        normals_arg = normals if len(normals) == len(vertices) and len(normals) else None
        return Mesh(vertices, faces, normals_arg, segid=segid, encoding_type="precomputed")

    def to_obj(self) -> bytes:
        """The mesh as Wavefront OBJ text (utf-8 bytes), with normals when present."""
        normals = self.normals if len(self.normals) == len(self) and len(self) else None
        return to_obj_bytes(self.vertices, self.faces, normals)

    @classmethod
    def from_ply(cls, data: bytes, segid: int | None = None) -> Mesh:
        """Parse a PLY file (ascii or binary, either endianness); polygons are fanned."""
        vertices, faces, normals = from_ply_bytes(data, segid)
        return Mesh(vertices, faces, normals, segid=segid, encoding_type="precomputed")

    def to_ply(self) -> bytes:
        """The mesh as binary little-endian PLY (cloud-volume's layout; normals when present)."""
        normals = self.normals if len(self.normals) == len(self) and len(self) else None
        return to_ply_bytes(self.vertices, self.faces, normals)

    @classmethod
    def from_draco(cls, binary: bytes, segid: int | None = None) -> Mesh:
        """Decode a Draco mesh (DracoPy); positions come back as stored (no transform)."""
        draco = _import_optional("DracoPy", "mesh")
        try:
            decoded = draco.decode(binary)
        except Exception as exc:  # DracoPy raises ValueError or its own FileTypeException
            raise MeshDecodeError(f"segment {segid}: not a valid Draco mesh ({exc})") from exc
        faces = getattr(decoded, "faces", None)
        if faces is None:
            raise MeshDecodeError(f"segment {segid}: Draco data is a point cloud, not a mesh")
        return Mesh(
            np.asarray(decoded.points, dtype=np.float32),
            faces,
            segid=segid,
            encoding_type="draco",
            encoding_options=getattr(decoded, "encoding_options", None),
        )

    def to_draco(self, quantization_bits: int = 16, compression_level: int = 7) -> bytes:
        """Encode with Draco (lossy: positions quantized to ``quantization_bits``)."""
        draco = _import_optional("DracoPy", "mesh")
        return bytes(
            draco.encode(
                self.vertices,
                self.faces,
                quantization_bits=quantization_bits,
                compression_level=compression_level,
            )
        )

    # ---------------------------------------------------------------- trimesh
    def trimesh(self, process: bool = False, validate: bool = False) -> Any:
        """This mesh as a ``trimesh.Trimesh`` (requires the ``mesh`` extra)."""
        trimesh = _import_optional("trimesh", "mesh")
        normals = self.normals if len(self.normals) == len(self) and len(self) else None
        return trimesh.Trimesh(
            vertices=self.vertices,
            faces=self.faces,
            vertex_normals=normals,
            process=process,
            validate=validate,
        )

    @classmethod
    def from_trimesh(cls, tmesh: Any, segid: int | None = None) -> Mesh:
        """A mesh from a ``trimesh.Trimesh`` (vertices, faces and vertex normals)."""
        return Mesh(tmesh.vertices, tmesh.faces, tmesh.vertex_normals, segid=segid)

    # -------------------------------------------------------------- save/load
    def save(self, filename: str | os.PathLike[str]) -> None:
        """Write to ``filename``: PLY for ``.ply``, precomputed for ``.precomputed``, else OBJ."""
        name = os.fspath(filename)
        if name.endswith(".ply"):
            data = self.to_ply()
        elif name.endswith(".precomputed"):
            data = self.to_precomputed()
        else:
            data = self.to_obj()
        with open(name, "wb") as fh:
            fh.write(data)

    @classmethod
    def load(cls, filename: str | os.PathLike[str], segid: int | None = None) -> Mesh:
        """Read a file written by :meth:`save` (chosen by extension; OBJ by default)."""
        name = os.fspath(filename)
        with open(name, "rb") as fh:
            data = fh.read()
        if name.endswith(".ply"):
            return cls.from_ply(data, segid=segid)
        if name.endswith(".precomputed"):
            return cls.from_precomputed(data, segid=segid)
        return cls.from_obj(data, segid=segid)

    # ----------------------------------------------------------------- viewer
    def viewer(self, show: bool = True) -> Any:
        """Plot the surface with matplotlib (``viewer`` extra); returns the figure."""
        plt = _import_optional("matplotlib.pyplot", "viewer")
        fig = plt.figure()
        axes = fig.add_subplot(projection="3d")
        if not self.empty():
            axes.plot_trisurf(
                self.vertices[:, 0],
                self.vertices[:, 1],
                self.vertices[:, 2],
                triangles=self.faces.astype(np.int64),
            )
        axes.set_xlabel("x (nm)")
        axes.set_ylabel("y (nm)")
        axes.set_zlabel("z (nm)")
        axes.set_title("Mesh" if self.segid is None else f"Mesh (label {self.segid})")
        if show:
            plt.show()
        return fig


def concatenate(meshes: Sequence[Mesh], segid: int | None = None) -> Mesh:
    """Functional alias of :meth:`Mesh.concatenate`."""
    return Mesh.concatenate(*meshes, segid=segid)


def _import_optional(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise MissingCodecError(
            f"{top} is required for this mesh operation; install it with pip install "
            f"'voxelio[{extra}]'"
        ) from exc
