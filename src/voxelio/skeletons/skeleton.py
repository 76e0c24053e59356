"""``Skeleton``: a stick figure (vertices, edges, per-vertex attributes) with cloud-volume's API.

Why our own class rather than ``osteoid.Skeleton`` itself: osteoid is an optional extra
(``pip install voxelio[skeleton]``) and pulls networkx, fastremap and fastosteoid at import
time, while ``voxelio.Skeleton`` must import without it. The value part and the operations that
need to be exact for interoperability are written here on numpy: the precomputed codec (osteoid
0.7's decoder raises ``NameError`` on short input), ``==`` (osteoid's compares attributes with
``all(!=)``), ``voxel_space`` (osteoid subtracts the translation after, not before, inverting),
``crop``, ``consolidate``, ``merge``, ``equivalent`` and an SWC reader that accepts any
whitespace. The graph algorithms (``paths``, ``interjoint_paths``, ``components``,
``downsample``, ``average_smoothing``, ``to_swc``, ``to_networkx``) are osteoid's,
called through :meth:`Skeleton.to_osteoid` / :meth:`Skeleton.from_osteoid`.

Attributes follow osteoid: ``skel.vertices`` (float32 ``(N, 3)``), ``skel.edges`` (uint32
``(E, 2)``), ``skel.id``, ``skel.space`` (``"voxel"`` = stored-model units, ``"physical"`` =
nanometres), ``skel.transform`` (``(3, 4)`` stored-model to nm), ``skel.extra_attributes`` (the
declared attribute list, JSON-like dicts) and one array attribute per declared id
(``skel.radius`` alias ``skel.radii``, ``skel.vertex_types``, ...). A skeleton is a mutable
value: not thread safe to mutate, cheap to pickle.
"""

from __future__ import annotations

import copy as copy_module
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from voxelio.errors import MissingCodecError, SkeletonDecodeError
from voxelio.skeletons.info import DEFAULT_ATTRIBUTES, VertexAttribute
from voxelio.skeletons.precomputed import decode_skeleton, encode_skeleton
from voxelio.skeletons.viewer import view_skeleton

IDENTITY: tuple[tuple[float, ...], ...] = ((1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0))


def _osteoid() -> Any:
    try:
        import osteoid
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingCodecError(
            "this skeleton operation needs osteoid: pip install 'voxelio[skeleton]'"
        ) from exc
    return osteoid


def _default_attribute_dicts() -> list[dict[str, Any]]:
    return [a.to_json() for a in DEFAULT_ATTRIBUTES]


class Skeleton:
    """A skeleton; the constructor takes osteoid's / cloud-volume's arguments.

    ``vertices`` ``(N, 3)`` and ``edges`` ``(E, 2)`` (vertex index pairs); ``radii`` and
    ``vertex_types`` (SWC types) per vertex; with ``default_attributes`` those two are created
    (radius -1, type 0) when not given. ``extra_attributes`` declares further attributes as
    ``{"id", "data_type", "num_components"}`` dicts whose arrays are then set as attributes.
    """

    def __init__(
        self,
        vertices: Any = None,
        edges: Any = None,
        radii: Any = None,
        vertex_types: Any = None,
        segid: int | None = None,
        transform: Any = None,
        space: str = "voxel",
        extra_attributes: Sequence[dict[str, Any]] | None = None,
        default_attributes: bool = True,
    ) -> None:
        self.id = None if segid is None else int(segid)
        self.space = space
        self.vertices = _as_vertices(vertices)
        self.edges = _as_edges(edges)
        nv = self.vertices.shape[0]
        if extra_attributes is None:
            extra_attributes = _default_attribute_dicts() if default_attributes else []
        self.extra_attributes: list[dict[str, Any]] = copy_module.deepcopy(list(extra_attributes))
        self.default_attributes = bool(default_attributes)
        if radii is not None:
            self.radius = np.asarray(radii, dtype=np.float32)
        elif default_attributes:
            self.radius = np.full(nv, -1, dtype=np.float32)
        if vertex_types is not None:
            self.vertex_types = np.asarray(vertex_types, dtype=np.uint8)
        elif default_attributes:
            self.vertex_types = np.zeros(nv, dtype=np.uint8)
        self.transform = IDENTITY if transform is None else transform
        self._materialize_attributes()

    # ---- attributes -------------------------------------------------------------------

    @property
    def transform(self) -> np.ndarray:
        """The ``(3, 4)`` float32 matrix from stored-model (voxel) space to nanometres."""
        return self._transform

    @transform.setter
    def transform(self, value: Any) -> None:
        self._transform = np.array(value, dtype=np.float32).reshape(3, 4)

    @property
    def radii(self) -> np.ndarray:
        """Alias of ``radius`` (float32 per vertex, -1 when unknown)."""
        return self.radius  # type: ignore[no-any-return]

    @radii.setter
    def radii(self, value: Any) -> None:
        self.radius = value

    @property
    def vertex_attributes(self) -> tuple[VertexAttribute, ...]:
        """The declared attributes as typed values, in order."""
        return tuple(VertexAttribute.from_json(a) for a in self.extra_attributes)

    def attribute(self, name: str) -> np.ndarray | None:
        """The array of attribute ``name``, or ``None`` when the skeleton has none."""
        value = getattr(self, name, None)
        return None if value is None else np.asarray(value)

    def attribute_arrays(self) -> dict[str, np.ndarray]:
        """``{id: array}`` for every declared attribute."""
        out = {}
        for attr in self.extra_attributes:
            value = self.attribute(attr["id"])
            if value is not None:
                out[attr["id"]] = value
        return out

    def add_vertex_attribute(self, name: str, values: Any) -> None:
        """Declare a new per-vertex attribute ``name`` with ``values`` (``(N,)`` or ``(N, C)``)."""
        arr = np.asarray(values)
        if arr.shape[0] != self.vertices.shape[0]:
            raise ValueError(f"attribute {name!r} needs {self.vertices.shape[0]} rows")
        self.extra_attributes = [a for a in self.extra_attributes if a["id"] != name]
        comps = 1 if arr.ndim == 1 else int(np.prod(arr.shape[1:]))
        self.extra_attributes.append(
            {"id": name, "data_type": arr.dtype.name, "num_components": comps}
        )
        setattr(self, name, arr)

    def _materialize_attributes(self) -> None:
        nv = self.vertices.shape[0]
        for attr in self.extra_attributes:
            if getattr(self, attr["id"], None) is None:
                comps = int(attr.get("num_components", 1))
                shape = (nv,) if comps == 1 else (nv, comps)
                fill = -1 if attr["id"] == "radius" else 0
                setattr(self, attr["id"], np.full(shape, fill, dtype=attr["data_type"]))

    def _with_arrays(
        self, vertices: np.ndarray, edges: np.ndarray, index: np.ndarray | None
    ) -> Skeleton:
        """A skeleton like this one with new arrays; attributes gathered by ``index``."""
        skel = Skeleton(
            vertices,
            edges,
            segid=self.id,
            transform=self.transform.copy(),
            space=self.space,
            extra_attributes=self.extra_attributes,
            default_attributes=False,
        )
        skel.default_attributes = self.default_attributes
        for name, arr in self.attribute_arrays().items():
            picked = arr[index] if index is not None else arr[:0]
            setattr(skel, name, np.array(picked, copy=True))
        return skel

    # ---- precomputed binary -----------------------------------------------------------

    def encode(self, vertex_attributes: Sequence[Any] | None = None) -> bytes:
        """The precomputed binary of this skeleton (vertices written as they are).

        ``vertex_attributes`` (typed or JSON dicts) picks the attributes written, in order;
        by default this skeleton's own declared attributes.
        """
        attrs = _attrs(self.extra_attributes if vertex_attributes is None else vertex_attributes)
        return encode_skeleton(self.vertices, self.edges, self.attribute_arrays(), attrs, self.id)

    to_precomputed = encode

    @classmethod
    def decode(
        cls,
        data: bytes,
        segid: int | None = None,
        vertex_attributes: Sequence[Any] | None = None,
    ) -> Skeleton:
        """Decode a precomputed binary; ``vertex_attributes`` as declared in the skeleton info
        (cloud-volume's default ``radius`` + ``vertex_types`` when ``None``).

        Raises :class:`~voxelio.errors.SkeletonDecodeError` naming ``segid`` on bad bytes.
        """
        if vertex_attributes is None:
            vertex_attributes = DEFAULT_ATTRIBUTES
        attrs = _attrs(vertex_attributes)
        decoded = decode_skeleton(data, attrs, segid)
        skel = cls(
            decoded.vertices,
            decoded.edges,
            segid=segid,
            extra_attributes=[a.to_json() for a in attrs],
            default_attributes=False,
        )
        for name, arr in decoded.attributes.items():
            setattr(skel, name, arr)
        skel._materialize_attributes()
        return skel

    @classmethod
    def from_precomputed(
        cls, data: bytes, segid: int | None = None, vertex_attributes: Sequence[Any] | None = None
    ) -> Skeleton:
        """Alias of :meth:`decode` (osteoid's name)."""
        return cls.decode(data, segid=segid, vertex_attributes=vertex_attributes)

    # ---- spaces -----------------------------------------------------------------------

    def physical_space(self, copy: bool = True) -> Skeleton:
        """This skeleton with vertices in nanometres (applies ``transform`` unless already)."""
        skel = self.clone() if copy else self
        if skel.space != "physical":
            skel.vertices = apply_transform(skel.vertices, skel.transform.astype(np.float64))
            skel.space = "physical"
        return skel

    def voxel_space(self, copy: bool = True) -> Skeleton:
        """This skeleton with vertices in stored-model units (inverts ``transform``)."""
        skel = self.clone() if copy else self
        if skel.space != "voxel":
            skel.vertices = invert_transform(skel.vertices, skel.transform.astype(np.float64))
            skel.space = "voxel"
        return skel

    def apply_transform(self) -> None:
        """Bring the vertices into nanometres in place (osteoid's name; a skeleton already
        there is left alone, where osteoid would transform it twice)."""
        self.physical_space(copy=False)

    def apply_inverse_transform(self) -> None:
        """Bring the vertices into stored-model units in place (osteoid's name)."""
        self.voxel_space(copy=False)

    @staticmethod
    def transform_vertices(vertices: Any, transform: Any) -> np.ndarray:
        """``vertices`` (N x 3) mapped by the ``(3, 4)`` affine ``transform`` (osteoid's)."""
        affine = np.asarray(transform, dtype=np.float64).reshape(3, 4)
        return apply_transform(np.asarray(vertices), affine)

    @classmethod
    def from_path(cls, vertices: Any) -> Skeleton:
        """A skeleton of one path through ``vertices`` (N x 3), in their order."""
        verts = _as_vertices(vertices)
        n = verts.shape[0]
        edges = np.stack([np.arange(n - 1), np.arange(1, n)], axis=1) if n > 1 else None
        return cls(verts, edges)

    # ---- simple operations ------------------------------------------------------------

    def clone(self) -> Skeleton:
        """A deep copy."""
        return self._with_arrays(
            self.vertices.copy(), self.edges.copy(), np.arange(self.vertices.shape[0])
        )

    def __copy__(self) -> Skeleton:
        return self.clone()

    def empty(self) -> bool:
        """True when there are no vertices."""
        return self.vertices.size == 0

    def cable_length(self) -> float:
        """Sum of edge lengths in nanometres (the transform applied when in voxel space)."""
        pts = self.vertices if self.space == "physical" else self.physical_space().vertices
        if self.edges.size == 0:
            return 0.0
        diff = pts[self.edges[:, 0]].astype(np.float64) - pts[self.edges[:, 1]]
        return float(np.sqrt((diff * diff).sum(axis=1)).sum())

    def terminals(self) -> np.ndarray:
        """Indices of vertices with exactly one edge."""
        ids, counts = np.unique(self.edges, return_counts=True)
        return ids[counts == 1]

    def branches(self) -> np.ndarray:
        """Indices of vertices with three or more edges."""
        ids, counts = np.unique(self.edges, return_counts=True)
        return ids[counts >= 3]

    def crop(self, bbox: Any) -> Skeleton:
        """Keep the vertices inside ``bbox`` (faces inclusive, same units as the vertices) and
        the edges between them; returns a new consolidated skeleton."""
        lo, hi = _bbox_corners(bbox)
        inside = np.all((self.vertices >= lo) & (self.vertices <= hi), axis=1)
        return self._subset(inside).consolidate()

    def _subset(self, keep: np.ndarray) -> Skeleton:
        index = np.flatnonzero(keep)
        remap = np.full(self.vertices.shape[0], -1, dtype=np.int64)
        remap[index] = np.arange(index.size)
        edges = remap[self.edges.astype(np.int64)] if self.edges.size else np.zeros((0, 2))
        edges = edges[np.all(edges >= 0, axis=1)] if edges.size else edges.reshape(0, 2)
        return self._with_arrays(self.vertices[index], edges.astype(np.uint32), index)

    def consolidate(self, remove_disconnected_vertices: bool = True) -> Skeleton:
        """Merge duplicate vertices (first one's attributes win), drop duplicate and
        self-loop edges, and by default vertices without edges. Returns a new skeleton."""
        if self.empty():
            return self._with_arrays(self.vertices[:0], self.edges[:0], np.zeros(0, np.int64))
        uniq, first, inverse = np.unique(
            self.vertices, axis=0, return_index=True, return_inverse=True
        )
        inverse = inverse.reshape(-1)
        edges = np.sort(inverse[self.edges.astype(np.int64)], axis=1) if self.edges.size else None
        if edges is not None:
            edges = np.unique(edges[edges[:, 0] != edges[:, 1]], axis=0)
        else:
            edges = np.zeros((0, 2), dtype=np.int64)
        skel = self._with_arrays(uniq, edges.astype(np.uint32), first)
        if remove_disconnected_vertices and len(uniq) > 1:
            return skel.remove_disconnected_vertices()
        return skel

    def remove_disconnected_vertices(self) -> Skeleton:
        """A copy without the vertices that no edge touches (vertex order kept)."""
        used = np.zeros(self.vertices.shape[0], dtype=bool)
        used[self.edges.reshape(-1)] = True
        return self._subset(used)

    @classmethod
    def simple_merge(cls, skeletons: Iterable[Skeleton]) -> Skeleton:
        """Concatenate skeletons without joining them; attributes must be declared alike."""
        skels = [s for s in skeletons if not s.empty()]
        if not skels:
            return cls()
        first = skels[0]
        ids = [a["id"] for a in first.extra_attributes]
        for other in skels[1:]:
            if [a["id"] for a in other.extra_attributes] != ids:
                raise ValueError(
                    f"cannot merge skeletons with different vertex attributes: "
                    f"{ids} vs {[a['id'] for a in other.extra_attributes]}"
                )
        parts = [s.physical_space() if first.space == "physical" else s for s in skels]
        offsets = np.cumsum([0] + [s.vertices.shape[0] for s in parts[:-1]])
        verts = np.concatenate([s.vertices for s in parts])
        edges = np.concatenate([s.edges.astype(np.int64) + o for s, o in zip(parts, offsets)])
        merged = first._with_arrays(verts, edges.astype(np.uint32), None)
        for name in ids:
            setattr(merged, name, np.concatenate([np.asarray(getattr(s, name)) for s in parts]))
        return merged

    def merge(self, other: Skeleton) -> Skeleton:
        """Combine with ``other`` and consolidate (shared vertices join the two)."""
        return Skeleton.simple_merge([self, other]).consolidate()

    @classmethod
    def equivalent(cls, first: Skeleton, second: Skeleton) -> bool:
        """Same shape regardless of vertex and edge numbering: equal vertex sets, equal edge
        sets (by endpoint coordinates) and equal attributes per vertex."""
        a, b = first.consolidate(False), second.consolidate(False)
        if a.vertices.shape != b.vertices.shape or a.edges.shape != b.edges.shape:
            return False
        if not np.array_equal(a.vertices, b.vertices):  # both sorted by np.unique
            return False
        if not np.array_equal(_sorted_rows(a.edges), _sorted_rows(b.edges)):
            return False
        attrs_a, attrs_b = a.attribute_arrays(), b.attribute_arrays()
        if attrs_a.keys() != attrs_b.keys():
            return False
        return all(np.array_equal(attrs_a[k], attrs_b[k]) for k in attrs_a)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Skeleton):
            return NotImplemented
        if self.id != other.id or self.extra_attributes != other.extra_attributes:
            return False
        if not (
            np.array_equal(self.vertices, other.vertices)
            and np.array_equal(self.edges, other.edges)
        ):
            return False
        mine, theirs = self.attribute_arrays(), other.attribute_arrays()
        return mine.keys() == theirs.keys() and all(
            np.array_equal(mine[k], theirs[k]) for k in mine
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        names = [a["id"] for a in self.extra_attributes]
        return (
            f"Skeleton(segid={self.id}, vertices={self.vertices.shape[0]}, "
            f"edges={self.edges.shape[0]}, space={self.space!r}, attributes={names})"
        )

    # ---- SWC ------------------------------------------------------------------------------

    @classmethod
    def from_swc(cls, swc: str) -> Skeleton:
        """Parse an SWC file (``id type x y z radius parent`` rows, any whitespace, ``#``
        comments). Parents that are -1 or absent make roots. Raises SkeletonDecodeError on a
        malformed row, naming its line number."""
        rows = _parse_swc_rows(swc)
        if not rows:
            return cls()
        index = {row[0]: i for i, row in enumerate(rows)}
        verts = np.array([row[2:5] for row in rows], dtype=np.float32)
        edges = [
            (index[row[6]], i) for i, row in enumerate(rows) if row[6] >= 0 and row[6] in index
        ]
        edge_arr = np.array(edges, dtype=np.uint32).reshape(-1, 2)
        edge_arr = np.sort(edge_arr, axis=1)
        radii = np.array([row[5] for row in rows], dtype=np.float32)
        types = np.array([row[1] for row in rows], dtype=np.uint8)
        return cls(verts, edge_arr, radii, types)

    def to_swc(self, contributors: str = "") -> str:
        """This skeleton as an SWC file string (osteoid's writer: one tree per component)."""
        return str(self.to_osteoid().to_swc(contributors=contributors))

    # ---- osteoid-backed graph operations -----------------------------------------------

    def to_osteoid(self) -> Any:
        """A copy as an ``osteoid.Skeleton`` (needs ``voxelio[skeleton]``)."""
        osteoid = _osteoid()
        skel = osteoid.Skeleton(
            self.vertices.copy(),
            self.edges.copy(),
            segid=self.id,
            transform=self.transform.copy(),
            space=self.space,
            extra_attributes=copy_module.deepcopy(self.extra_attributes),
            default_attributes=False,
        )
        for name, arr in self.attribute_arrays().items():
            setattr(skel, name, arr.copy())
        if not hasattr(skel, "radius"):
            skel.radius = np.full(self.vertices.shape[0], -1, dtype=np.float32)
        if not hasattr(skel, "vertex_types"):
            skel.vertex_types = np.zeros(self.vertices.shape[0], dtype=np.uint8)
        return skel

    @classmethod
    def from_osteoid(cls, other: Any) -> Skeleton:
        """A voxelio skeleton from an ``osteoid.Skeleton`` (or cloud-volume's ``Skeleton``)."""
        skel = cls(
            np.asarray(other.vertices),
            np.asarray(other.edges),
            segid=other.id,
            transform=other.transform,
            space=other.space,
            extra_attributes=list(other.extra_attributes),
            default_attributes=False,
        )
        for attr in skel.extra_attributes:
            value = getattr(other, attr["id"], None)
            if value is not None:
                setattr(skel, attr["id"], np.asarray(value).copy())
        skel._materialize_attributes()
        return skel

    def paths(self, return_indices: bool = False) -> list[np.ndarray]:
        """Every root-to-leaf traversal of each tree (osteoid)."""
        return list(self.to_osteoid().paths(return_indices=return_indices))

    def interjoint_paths(self, return_indices: bool = False) -> list[np.ndarray]:
        """The paths between branch points and terminals (osteoid)."""
        return list(self.to_osteoid().interjoint_paths(return_indices=return_indices))

    def components(self) -> list[Skeleton]:
        """The connected components as separate skeletons (osteoid)."""
        return [Skeleton.from_osteoid(c) for c in self.to_osteoid().components()]

    def downsample(self, factor: int) -> Skeleton:
        """Keep every ``factor``-th vertex along each inter-joint path, endpoints kept (osteoid)."""
        if int(factor) != factor or factor < 1:
            raise ValueError(f"downsample factor must be an integer >= 1, got {factor!r}")
        result = Skeleton.from_osteoid(self.to_osteoid().downsample(int(factor)))
        result.transform, result.space = self.transform.copy(), self.space
        return result

    def average_smoothing(self, n: int, check_boundary: bool = False) -> Skeleton:
        """Moving-average smoothing of the vertex positions over ``n`` neighbours (osteoid)."""
        smoothed = self.to_osteoid().average_smoothing(n, check_boundary=check_boundary)
        return Skeleton.from_osteoid(smoothed)

    def to_networkx(self) -> Any:
        """The edge graph as a ``networkx.Graph`` (osteoid)."""
        return self.to_osteoid().to_networkx()

    def viewer(self, **kwargs: Any) -> Any:
        """Plot in 3D with matplotlib (needs ``voxelio[viewer]``); see
        :func:`voxelio.skeletons.viewer.view_skeleton` for the options."""
        return view_skeleton(self, **kwargs)


def apply_transform(vertices: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """``transform[:, :3] @ v + transform[:, 3]`` for each row, as float32."""
    out = vertices.astype(np.float64) @ transform[:, :3].T + transform[:, 3]
    return out.astype(np.float32)


def invert_transform(vertices: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """The inverse of :func:`apply_transform`."""
    inv = np.linalg.inv(transform[:, :3])
    out = (vertices.astype(np.float64) - transform[:, 3]) @ inv.T
    return out.astype(np.float32)


def _as_vertices(value: Any) -> np.ndarray:
    if value is None:
        return np.zeros((0, 3), dtype=np.float32)
    arr = np.asarray(value, dtype=np.float32)
    return arr.reshape(-1, 3) if arr.size == 0 or arr.ndim == 1 else arr


def _as_edges(value: Any) -> np.ndarray:
    if value is None:
        return np.zeros((0, 2), dtype=np.uint32)
    arr = np.asarray(value)
    return arr.astype(np.uint32, copy=False).reshape(-1, 2)


def _attrs(values: Sequence[Any]) -> tuple[VertexAttribute, ...]:
    return tuple(
        v if isinstance(v, VertexAttribute) else VertexAttribute.from_json(v) for v in values
    )


def _sorted_rows(edges: np.ndarray) -> np.ndarray:
    rows = np.sort(edges, axis=1)
    return rows[np.lexsort(rows.T[::-1])] if rows.size else rows


def _bbox_corners(bbox: Any) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(bbox, "minpt") and hasattr(bbox, "maxpt"):
        return np.asarray(bbox.minpt, dtype=np.float64), np.asarray(bbox.maxpt, dtype=np.float64)
    if isinstance(bbox, (tuple, list)) and bbox and all(isinstance(s, slice) for s in bbox):
        return (
            np.array([s.start for s in bbox], dtype=np.float64),
            np.array([s.stop for s in bbox], dtype=np.float64),
        )
    arr = np.asarray(bbox, dtype=np.float64).reshape(-1)
    if arr.size != 6:
        raise ValueError(f"crop needs a Bbox, 3 slices or 6 numbers, got {bbox!r}")
    return arr[:3], arr[3:]


_SWC_SPLIT = re.compile(r"\s+")


def _parse_swc_rows(swc: str) -> list[tuple[int, int, float, float, float, float, int]]:
    rows = []
    for lineno, raw in enumerate(swc.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = _SWC_SPLIT.split(line)
        if len(fields) < 7:
            raise SkeletonDecodeError(f"SWC line {lineno}: expected 7 fields, got {raw!r}")
        try:
            radius = float(fields[5])
        except ValueError:
            radius = -1.0  # "NA" and similar
        try:
            rows.append(
                (
                    int(fields[0]),
                    int(float(fields[1])),
                    float(fields[2]),
                    float(fields[3]),
                    float(fields[4]),
                    radius,
                    int(fields[6]),
                )
            )
        except ValueError as exc:
            raise SkeletonDecodeError(f"SWC line {lineno}: malformed row {raw!r}") from exc
    return rows
