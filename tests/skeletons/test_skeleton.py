"""The ``Skeleton`` value: codec round trips, operations, SWC, comparisons, bad input."""

from __future__ import annotations

import importlib
import pickle
import struct

import numpy as np
import pytest

from voxelio.errors import EncodingError, SkeletonDecodeError
from voxelio.geometry import Bbox
from voxelio.skeletons import Skeleton, VertexAttribute


def random_tree(seed: int, n: int = 30, segid: int = 9) -> Skeleton:
    """A random tree: vertex i > 0 hangs off a random earlier vertex."""
    rng = np.random.default_rng(seed)
    verts = rng.uniform(0, 100, size=(n, 3)).astype(np.float32)
    parents = [int(rng.integers(0, i)) for i in range(1, n)]
    edges = np.array([[p, i] for i, p in zip(range(1, n), parents)], dtype=np.uint32)
    radii = rng.uniform(0.5, 5, size=n).astype(np.float32)
    types = rng.integers(0, 8, size=n).astype(np.uint8)
    return Skeleton(verts, edges, radii, types, segid=segid)


def test_encode_layout_is_the_precomputed_binary() -> None:
    skel = Skeleton([[1, 2, 3], [4, 5, 6]], [[0, 1]], radii=[7, 8], vertex_types=[1, 2], segid=3)
    data = skel.encode()
    nv, ne = struct.unpack_from("<II", data)
    assert (nv, ne) == (2, 1)
    verts = np.frombuffer(data, "<f4", 6, 8).reshape(2, 3)
    edges = np.frombuffer(data, "<u4", 2, 32)
    radii = np.frombuffer(data, "<f4", 2, 40)
    types = np.frombuffer(data, "u1", 2, 48)
    assert verts.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert edges.tolist() == [0, 1] and radii.tolist() == [7, 8] and types.tolist() == [1, 2]
    assert len(data) == 50


@pytest.mark.parametrize("seed", range(4))
def test_encode_decode_round_trip(seed: int) -> None:
    skel = random_tree(seed)
    back = Skeleton.decode(skel.encode(), segid=9)
    assert back == skel
    assert back is not skel and Skeleton.equivalent(back, skel)


def test_custom_vertex_attributes_round_trip() -> None:
    attrs = [
        VertexAttribute("radius", "float32"),
        VertexAttribute("color", "uint8", 3),
        VertexAttribute("weight", "int16"),
    ]
    skel = Skeleton(
        [[0, 0, 0], [1, 1, 1]],
        [[0, 1]],
        segid=4,
        extra_attributes=[a.to_json() for a in attrs],
        default_attributes=False,
    )
    skel.radius = np.array([1.5, 2.5], dtype=np.float32)
    skel.color = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)
    skel.weight = np.array([-7, 300], dtype=np.int16)
    back = Skeleton.decode(skel.encode(), segid=4, vertex_attributes=attrs)
    assert back.color.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert back.weight.tolist() == [-7, 300]
    assert back == skel


def test_decode_of_truncated_or_bad_files_names_the_segment() -> None:
    data = random_tree(1).encode()
    for cut in (0, 5, 8, 20, len(data) - 1):
        with pytest.raises(SkeletonDecodeError, match="skeleton 77"):
            Skeleton.decode(data[:cut], segid=77)
    bad_edge = bytearray(Skeleton([[0, 0, 0], [1, 1, 1]], [[0, 1]]).encode())
    struct.pack_into("<I", bad_edge, 8 + 24 + 4, 9)
    with pytest.raises(SkeletonDecodeError, match="skeleton 5: edge refers to vertex 9"):
        Skeleton.decode(bytes(bad_edge), segid=5)
    huge = struct.pack("<II", 2**31, 2**31)
    with pytest.raises(SkeletonDecodeError, match="skeleton 6: header declares"):
        Skeleton.decode(huge, segid=6)


def test_decode_without_attribute_bytes_and_with_trailing_bytes() -> None:
    skel = Skeleton([[0, 0, 0], [1, 1, 1]], [[0, 1]], radii=[3, 4], segid=1)
    bare = skel.encode(vertex_attributes=[])
    plain = Skeleton.decode(bare, segid=1)
    assert plain.radius.tolist() == [-1, -1]  # cloud-volume's "unknown"
    assert plain.vertices.tolist() == skel.vertices.tolist()
    extra = Skeleton.decode(skel.encode() + b"\x00" * 7, segid=1)
    assert extra == skel


def test_encode_rejects_wrong_shapes() -> None:
    skel = Skeleton([[0, 0, 0], [1, 1, 1]], [[0, 1]], segid=2)
    skel.radius = np.array([1, 2, 3], dtype=np.float32)
    with pytest.raises(EncodingError, match="skeleton 2: attribute 'radius'"):
        skel.encode()
    with pytest.raises(EncodingError, match="edges refer to vertices"):
        Skeleton([[0, 0, 0]], [[0, 3]], segid=2).encode()


def test_empty_clone_pickle() -> None:
    assert Skeleton().empty() and not random_tree(2).empty()
    skel = random_tree(3)
    twin = skel.clone()
    twin.vertices[0, 0] = -50
    assert skel.vertices[0, 0] != -50
    assert pickle.loads(pickle.dumps(skel)) == skel


def test_equality_sees_attribute_differences() -> None:
    a = random_tree(4)
    b = a.clone()
    b.radius[3] += 1
    assert a != b
    c = a.clone()
    c.vertex_types[0] = (int(c.vertex_types[0]) + 1) % 8
    assert a != c


def test_equivalent_ignores_numbering() -> None:
    skel = random_tree(5)
    perm = np.random.default_rng(0).permutation(len(skel.vertices))
    inverse = np.argsort(perm)
    shuffled = Skeleton(
        skel.vertices[perm],
        inverse[skel.edges][:, ::-1],
        skel.radius[perm],
        skel.vertex_types[perm],
        segid=skel.id,
    )
    assert shuffled != skel
    assert Skeleton.equivalent(shuffled, skel)
    shuffled.radius[0] += 1
    assert not Skeleton.equivalent(shuffled, skel)


def test_cable_length_applies_the_transform() -> None:
    skel = Skeleton([[0, 0, 0], [3, 4, 0], [3, 4, 2]], [[0, 1], [1, 2]])
    assert skel.cable_length() == pytest.approx(7.0)
    skel.transform = [[2, 0, 0, 5], [0, 2, 0, 0], [0, 0, 2, 0]]
    assert skel.cable_length() == pytest.approx(14.0)
    phys = skel.physical_space()
    assert phys.vertices[1].tolist() == [11, 8, 0]
    assert phys.voxel_space().vertices.tolist() == skel.vertices.tolist()


def test_crop_keeps_inside_vertices_and_their_edges() -> None:
    skel = Skeleton(
        [[0, 0, 0], [5, 5, 5], [10, 10, 10], [20, 20, 20]],
        [[0, 1], [1, 2], [2, 3]],
        radii=[1, 2, 3, 4],
    )
    cropped = skel.crop(Bbox([0, 0, 0], [10, 10, 10]))
    assert sorted(map(tuple, cropped.vertices.tolist())) == [(0, 0, 0), (5, 5, 5), (10, 10, 10)]
    assert len(cropped.edges) == 2
    by_vertex = {tuple(v): r for v, r in zip(cropped.vertices.tolist(), cropped.radius.tolist())}
    assert by_vertex[(5.0, 5.0, 5.0)] == 2
    assert skel.crop(Bbox([100, 100, 100], [200, 200, 200])).empty()


def test_consolidate_merges_duplicates_and_drops_loops() -> None:
    skel = Skeleton(
        [[0, 0, 0], [1, 0, 0], [1, 0, 0], [2, 0, 0], [9, 9, 9]],
        [[0, 1], [2, 3], [1, 0], [3, 3]],
        radii=[1, 2, 3, 4, 5],
    )
    out = skel.consolidate()
    assert out.vertices.tolist() == [[0, 0, 0], [1, 0, 0], [2, 0, 0]]
    assert sorted(map(tuple, out.edges.tolist())) == [(0, 1), (1, 2)]
    assert out.radius.tolist() == [1, 2, 4]
    kept = skel.consolidate(remove_disconnected_vertices=False)
    assert len(kept.vertices) == 4


def test_merge_joins_at_shared_vertices() -> None:
    a = Skeleton([[0, 0, 0], [1, 0, 0]], [[0, 1]], segid=1)
    b = Skeleton([[1, 0, 0], [2, 0, 0]], [[0, 1]], segid=1)
    merged = a.merge(b)
    assert len(merged.vertices) == 3 and len(merged.edges) == 2
    assert merged.cable_length() == pytest.approx(2.0)
    assert len(merged.components()) == 1
    assert len(Skeleton.simple_merge([a, b]).vertices) == 4


def test_terminals_branches_components_paths() -> None:
    # a star: centre 0 with three arms of length 2, plus a separate segment
    verts = [[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0], [0, 2, 0], [0, 0, 1], [0, 0, 2]]
    verts += [[50, 50, 50], [51, 50, 50]]
    edges = [[0, 1], [1, 2], [0, 3], [3, 4], [0, 5], [5, 6], [7, 8]]
    skel = Skeleton(verts, edges, segid=3)
    assert sorted(skel.terminals().tolist()) == [2, 4, 6, 7, 8]
    assert skel.branches().tolist() == [0]
    comps = skel.components()
    assert sorted(len(c.vertices) for c in comps) == [2, 7]
    paths = skel.paths()
    assert sum(len(p) for p in paths) >= 9
    joints = skel.interjoint_paths()
    assert sorted(len(p) for p in joints) == [2, 3, 3, 3]


def test_downsample_keeps_endpoints_and_attributes() -> None:
    n = 21
    verts = np.stack([np.arange(n), np.zeros(n), np.zeros(n)], axis=1)
    edges = np.stack([np.arange(n - 1), np.arange(1, n)], axis=1)
    skel = Skeleton(verts, edges, radii=np.arange(n, dtype=np.float32), segid=8)
    small = skel.downsample(4)
    xs = sorted(small.vertices[:, 0].tolist())
    assert xs[0] == 0 and xs[-1] == n - 1 and len(xs) < n
    for v, r in zip(small.vertices, small.radius):
        assert r == v[0]
    assert small.cable_length() == pytest.approx(n - 1)
    with pytest.raises(ValueError, match="integer >= 1"):
        skel.downsample(0)


def test_swc_round_trip() -> None:
    skel = random_tree(6, n=25)
    text = skel.to_swc()
    back = Skeleton.from_swc(text)
    assert len(back.vertices) == 25 and len(back.edges) == 24
    assert np.allclose(np.sort(back.vertices, axis=0), np.sort(skel.vertices, axis=0), atol=1e-3)
    assert back.cable_length() == pytest.approx(skel.cable_length(), rel=1e-4)
    assert sorted(back.vertex_types.tolist()) == sorted(skel.vertex_types.tolist())


def test_swc_reader_accepts_tabs_comments_and_na() -> None:
    text = "# header\n1\t1\t0 0 0\t2.5\t-1\n2 3  1 0 0  NA 1 # tip\n\n3 3 2 0 0 1.0 2\n"
    skel = Skeleton.from_swc(text)
    assert skel.vertices.tolist() == [[0, 0, 0], [1, 0, 0], [2, 0, 0]]
    assert skel.radius.tolist() == [2.5, -1, 1.0]
    assert skel.vertex_types.tolist() == [1, 3, 3]
    assert sorted(map(tuple, skel.edges.tolist())) == [(0, 1), (1, 2)]


def test_swc_malformed_row_names_the_line() -> None:
    with pytest.raises(SkeletonDecodeError, match="SWC line 2"):
        Skeleton.from_swc("1 1 0 0 0 1 -1\n2 1 x 0 0 1 1\n")
    with pytest.raises(SkeletonDecodeError, match="SWC line 1: expected 7 fields"):
        Skeleton.from_swc("1 1 0 0\n")


def test_osteoid_conversion_round_trip() -> None:
    osteoid = importlib.import_module("osteoid")
    skel = random_tree(7)
    theirs = skel.to_osteoid()
    assert isinstance(theirs, osteoid.Skeleton)
    assert Skeleton.from_osteoid(theirs) == skel


def test_viewer_runs_headless(monkeypatch: pytest.MonkeyPatch) -> None:
    matplotlib = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda *a, **k: None)
    fig = random_tree(8).viewer(color_by="component")
    assert fig.axes and plt.get_fignums()
    random_tree(9).viewer(show=False)
    plt.close("all")
