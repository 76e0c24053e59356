"""Annotations across tools: Neuroglancer's Python reader and writer (PyPI ``neuroglancer``,
which reads through TensorStore's kvstores) and cloud-volume's reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.annotations.test_annotation_io import KINDS, make_dataset
from voxelio import AnnotationSource, from_cloudpath

pytestmark = pytest.mark.interop
ngw = pytest.importorskip("neuroglancer.write_annotations")
ngr = pytest.importorskip("neuroglancer.read_precomputed_annotations")
import neuroglancer  # noqa: E402


def _ng_geometry(annotation) -> list:
    obj = annotation.to_json()
    kind = obj["type"]
    if kind == "point":
        return [obj["point"]]
    if kind in ("line", "axis_aligned_bounding_box"):
        return [obj["pointA"], obj["pointB"]]
    if kind == "ellipsoid":
        return [obj["center"], obj["radii"]]
    return obj["points"]


def _ours(kind: str, geometry) -> list:
    g = np.asarray(geometry[0], np.float32)
    if kind == "point":
        return [g.tolist()]
    return g.tolist() if kind == "polyline" else g.T.tolist()


@pytest.mark.parametrize("sharded", [False, True], ids=["unsharded", "sharded"])
@pytest.mark.parametrize("kind", KINDS)
def test_neuroglancer_reads_what_voxelio_writes(tmp_path: Path, kind: str, sharded: bool) -> None:
    info, src = make_dataset(tmp_path, kind, 150, sharded)
    reader = ngr.AnnotationReader(f"file://{tmp_path}/")
    ours = AnnotationSource.open(f"file://{tmp_path}")
    names = [p["id"] for p in info.to_json()["properties"]]
    for i in (0, 33, 149):
        aid = int(src["ids"][i])
        theirs, mine = reader.by_id[aid], ours.get_by_id(aid)
        np.testing.assert_allclose(_ng_geometry(theirs), _ours(kind, mine.geometry), rtol=1e-6)
        props = dict(zip(names, theirs.to_json().get("props", [])))
        assert float(props["score"]) == pytest.approx(float(src["props"]["score"][i]), rel=1e-6)
        assert int(props["depth"]) == src["props"]["depth"][i]
        assert [int(c) for c in props["colour"]] == src["props"]["colour"][i].tolist()
        segments = [[int(s) for s in group] for group in theirs.to_json()["segments"]]
        assert segments[0] == [int(src["pre"][i])]
        assert sorted(segments[1]) == sorted(src["post"][i].tolist())
    related = {int(a.id) for a in reader.relationships["pre"][7]}
    assert related == set(src["ids"][src["pre"] == 7].tolist())
    listed = {int(a.id) for a in reader.get_within_spatial_bounds()}
    assert listed == set(src["ids"].tolist())
    if kind == "point":  # Neuroglancer's Python reader checks only points' bounds correctly
        lo, hi = (20.0, 30.0, 40.0), (210.0, 300.0, 150.0)
        theirs = {
            int(a.id) for a in reader.get_within_spatial_bounds(lower_bound=lo, upper_bound=hi)
        }
        assert theirs == set(ours.get_by_bbox((lo, hi)).ids.tolist())


def _neuroglancer_dataset(path: Path, kind: str) -> dict:
    rng = np.random.default_rng(3)
    space = neuroglancer.CoordinateSpace(names=["x", "y", "z"], units="nm", scales=[4, 4, 40])
    props = [neuroglancer.AnnotationPropertySpec(id="score", type="float32"),
             neuroglancer.AnnotationPropertySpec(id="level", type="int8"),
             neuroglancer.AnnotationPropertySpec(id="colour", type="rgb")]  # fmt: skip
    writer = ngw.AnnotationWriter(space, kind, relationships=["cell"], properties=props)
    truth = {}
    for aid in range(60):
        a = rng.uniform(0, 100, 3)
        b = a + rng.uniform(0.5, 9, 3)
        score, level, colour = (
            float(rng.random()),
            int(rng.integers(-5, 5)),
            rng.integers(0, 256, 3),
        )
        extra = {"score": score, "level": level, "colour": colour.tolist(), "cell": [aid % 7]}
        if kind == "point":
            writer.add_point(a, id=aid, **extra)
            geometry = [a]
        elif kind == "ellipsoid":
            writer.add_ellipsoid(a, b - a, id=aid, **extra)
            geometry = [a, b - a]
        elif kind == "polyline":
            geometry = [a, b, b + 1]
            writer.add_polyline(geometry, id=aid, **extra)
        else:
            getattr(writer, f"add_{kind}")(a, b, id=aid, **extra)
            geometry = [a, b]
        truth[aid] = (np.array(geometry, np.float32), score, level, colour)
    writer.write(path)
    return truth


@pytest.mark.parametrize("kind", KINDS)
def test_voxelio_reads_what_neuroglancer_writes(tmp_path: Path, kind: str) -> None:
    truth = _neuroglancer_dataset(tmp_path, kind)
    source = from_cloudpath(f"file://{tmp_path}")
    assert isinstance(source, AnnotationSource)
    assert source.ids().tolist() == sorted(truth)
    got = source.get_by_id(list(truth))
    for aid, (geometry, score, level, colour) in truth.items():
        one = got[aid]
        assert _ours(kind, one.geometry) == geometry.tolist()
        assert one.properties["score"][0] == np.float32(score)
        assert one.properties["level"].tolist() == [level]
        assert one.properties["colour"].tolist() == [colour.tolist()]
        assert one.relationships["cell"].tolist() == [aid % 7]
    assert sorted(source.get_all().ids.tolist()) == sorted(truth)
    assert sorted(source.get_by_relationship("cell", 3).ids.tolist()) == [
        a for a in truth if a % 7 == 3
    ]


@pytest.mark.parametrize("sharded", [False, True], ids=["unsharded", "sharded"])
def test_cloudvolume_reads_voxelio_points(tmp_path: Path, sharded: bool) -> None:
    from cloudvolume import Bbox as CVBbox
    from cloudvolume import from_cloudpath as cv_from_cloudpath

    # cloud-volume reads one level per query, and finds no cell unless the bounds are integers
    info, src = make_dataset(tmp_path, "point", 200, sharded, limit=1000,
                             lower_bound=[0, 0, 0], upper_bound=[400, 400, 400])  # fmt: skip
    assert len(info.spatial) == 1
    cv = cv_from_cloudpath(f"file://{tmp_path}")  # its ids() fails on any layout (12.15.2)
    aid = int(src["ids"][5])
    one = cv.get_by_id(aid)
    np.testing.assert_array_equal(one.geometry[0], src["geometry"][5].astype(np.float32))
    assert one.properties["depth"].tolist() == [src["props"]["depth"][5]]
    everything = cv.get_all()
    mine = AnnotationSource.open(f"file://{tmp_path}").get_all()
    assert sorted(everything.ids.tolist()) == sorted(mine.ids.tolist())
    related = cv.get_by_relationship("pre", 4)
    assert sorted(related.ids.tolist()) == sorted(src["ids"][src["pre"] == 4].tolist())
    lo, hi = (50, 60, 70), (200, 330, 260)
    boxed = cv.get_by_bbox(CVBbox(lo, hi))  # whole cells: it crops only boxes of several cells
    assert sorted(boxed.crop(CVBbox(lo, hi)).ids.tolist()) == sorted(
        mine.crop((lo, hi)).ids.tolist()
    )


def test_cloudvolume_reads_each_spatial_level(tmp_path: Path) -> None:
    from cloudvolume import Bbox as CVBbox
    from cloudvolume import from_cloudpath as cv_from_cloudpath

    info, _ = make_dataset(tmp_path, "point", 400, True, limit=40,
                           lower_bound=[0, 0, 0], upper_bound=[400, 400, 400])  # fmt: skip
    assert len(info.spatial) >= 3
    cv = cv_from_cloudpath(f"file://{tmp_path}")
    mine = AnnotationSource.open(f"file://{tmp_path}")
    for level in range(len(info.spatial)):
        theirs = cv.get_by_bbox(CVBbox((0, 0, 0), (400, 400, 400)), mip=level)
        assert sorted(theirs.ids.tolist()) == sorted(mine.get_all(mip=level).ids.tolist())
