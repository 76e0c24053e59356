"""Neuroglancer's web client (the one shipped in the neuroglancer package, in headless
Chromium) shows what voxelio writes, fetched from voxelio's HTTP server.

Each test writes a layer, points the viewer at it, takes a screenshot and compares pixels with
the data: every voxel of a cross-section for images and segmentations, the colour of every
point for annotations (computed by a shader from their properties). Segment properties are
checked in the segment list the client builds from them. Needs ``chromium`` and
``chromium-driver`` (Debian) and ``selenium``; scripts/test.sh installs them.
"""

from __future__ import annotations

import io
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voxelio import AnnotationWriter, CloudVolume, Mesh, SegmentProperties, Skeleton
from voxelio.meshes import create_multires_mesh_info, open_mesh_source
from voxelio.storage import open_store
from voxelio.storage.httpserver import StoreServer

# a viewer that never finishes loading (a layer it cannot draw) makes screenshots wait forever
pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

BACKGROUND = (255, 0, 255)  # a colour no layer below uses


def hex_colour(rgb: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{c:02x}" for c in rgb)


SIZE, CHUNK = (64, 48, 8), (32, 24, 8)
Z = 4  # the section shown


class Browser:
    """A Neuroglancer viewer in headless Chromium, and voxelio's server of ``root``."""

    def __init__(self, root: Path) -> None:
        import neuroglancer
        import neuroglancer.webdriver

        self.root = root
        self.server = StoreServer(open_store(f"file://{root}"), port=0).start()
        neuroglancer.set_server_bind_address("127.0.0.1")
        self.viewer = neuroglancer.Viewer()
        self.driver = neuroglancer.webdriver.Webdriver(
            self.viewer, headless=True, docker=True, print_logs=False,
            extra_command_line_args=["--enable-unsafe-swiftshader"],
        )  # fmt: skip

    def url(self, name: str) -> str:
        return f"precomputed://{self.server.url}/{name}"

    def show(self, layers: dict[str, Any], layout: str = "xy", zoom: float = 1 / 8) -> None:
        """Show ``layers`` centred on the volume, ``zoom`` voxels (of x) per pixel, nothing
        else."""
        import neuroglancer

        with self.viewer.txn() as s:
            s.layers.clear()
            for name, layer in layers.items():
                s.layers[name] = layer
            s.dimensions = neuroglancer.CoordinateSpace(
                names=["x", "y", "z"], units="nm", scales=[4, 4, 40]
            )
            s.position = [SIZE[0] / 2, SIZE[1] / 2, Z + 0.5]
            s.cross_section_scale = zoom
            s.layout = layout
            s.show_axis_lines = False
            s.show_scale_bar = False
            s.show_default_annotations = False
            s.cross_section_background_color = hex_colour(BACKGROUND)
            s.projection_background_color = hex_colour(BACKGROUND)
        self.driver.sync()

    def screenshot(self) -> np.ndarray:
        """RGB pixels of the view once every visible chunk has loaded."""
        from PIL import Image

        for _ in range(3):  # a first screenshot can come before the layers' info arrived
            shot = self.viewer.screenshot()
            pixels = np.asarray(Image.open(io.BytesIO(shot.screenshot.image)))[:, :, :3]
            if _data_box(pixels) is not None:
                return pixels
            time.sleep(1)
        return pixels

    def page(self) -> str:
        return str(self.driver.driver.page_source)

    def close(self) -> None:
        import neuroglancer

        self.driver.__exit__(None, None, None)
        neuroglancer.stop()
        self.server.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    assert not missing, f"{missing} missing (Debian: apt-get install chromium chromium-driver)"
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never look online
    os.environ.setdefault("SE_AVOID_STATS", "true")
    opened = Browser(tmp_path_factory.mktemp("ng-served"))
    opened.driver.__enter__()
    yield opened
    opened.close()


def _bounds(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _data_box(pixels: np.ndarray) -> tuple[int, int, int, int] | None:
    """(row0, row1, col0, col1) of what the panel shows on its background, or ``None``."""
    background = np.all(pixels == BACKGROUND, axis=2)
    panel = _bounds(background)
    if panel is None:
        return None
    r0, r1, c0, c1 = panel
    found = _bounds(~background[r0:r1, c0:c1])
    if found is None:
        return None
    return found[0] + r0, found[1] + r0, found[2] + c0, found[3] + c0


def _voxel_pixels(pixels: np.ndarray) -> np.ndarray:
    """The colour at the centre of each voxel of the section: ``[x, y, rgb]``."""
    box = _data_box(pixels)
    assert box is not None, "the viewer shows nothing"
    r0, r1, c0, c1 = box
    xs = (c0 + (np.arange(SIZE[0]) + 0.5) * (c1 - c0) / SIZE[0]).astype(int)
    ys = (r0 + (np.arange(SIZE[1]) + 0.5) * (r1 - r0) / SIZE[1]).astype(int)
    return pixels[ys[None, :], xs[:, None]]


def _layer(path: Path, data: np.ndarray, encoding: str = "raw", compress: str | None = None,
           **kw: Any) -> CloudVolume:  # fmt: skip
    """``data`` (``SIZE`` and a channel; uint8 an image, uint64 a segmentation) written as a
    layer at ``path``; ``kw`` go to the info (sharding, mesh, skeletons)."""
    kind = "image" if data.dtype == np.uint8 else "segmentation"
    info = CloudVolume.create_new_info(1, kind, data.dtype.name, encoding, [4, 4, 40],
                                       [0, 0, 0], SIZE, chunk_size=CHUNK, **kw)  # fmt: skip
    vol = CloudVolume(f"file://{path}", info=info, compress=compress)
    vol.commit_info()
    vol[:, :, :] = data
    return vol


def _image(path: Path, encoding: str, **kw: Any) -> np.ndarray:
    rng = np.random.default_rng(5)
    if encoding == "jpeg":  # smooth, so that jpeg keeps it within a few levels
        x, y, z = np.meshgrid(*(np.arange(n) for n in SIZE), indexing="ij")
        data = (20 + x + 2 * y + 5 * z).astype(np.uint8)[..., None]
    else:
        data = rng.integers(0, 256, SIZE + (1,), dtype=np.uint8)
    vol = _layer(path, data, encoding, "gzip" if encoding == "raw" else None, **kw)
    return np.asarray(vol[:, :, :])  # what the stored chunks decode to (jpeg is lossy)


def _no_labels(browser: Browser, name: str, **kw: Any) -> CloudVolume:
    """A segmentation layer of zeros (no segment) named ``name``; ``kw`` go to the info."""
    return _layer(browser.root / name, np.zeros(SIZE + (1,), dtype=np.uint64), **kw)


def _backdrop(browser: Browser, name: str) -> Any:
    """A black image layer over the volume, so that the view shows where the volume lies."""
    import neuroglancer

    _layer(browser.root / name, np.zeros(SIZE + (1,), dtype=np.uint8))
    return neuroglancer.ImageLayer(source=browser.url(name))


def _pixel(box: tuple[int, int, int, int], x: float, y: float) -> tuple[int, int]:
    """The (row, column) of the screenshot at voxel coordinates ``x, y`` of the section."""
    r0, r1, c0, c1 = box
    return int(r0 + y * (r1 - r0) / SIZE[1]), int(c0 + x * (c1 - c0) / SIZE[0])


SHARDING = {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0,
            "hash": "murmurhash3_x86_128", "minishard_bits": 1, "shard_bits": 1,
            "minishard_index_encoding": "gzip", "data_encoding": "gzip"}  # fmt: skip


@pytest.mark.parametrize(
    ("encoding", "sharded", "tolerance"),
    [("raw", False, 0), ("raw", True, 0), ("png", False, 0), ("jpeg", False, 1)],
    ids=["raw-gzip-files", "raw-sharded", "png", "jpeg"],
)
def test_client_shows_every_voxel_of_an_image(
    browser: Browser, encoding: str, sharded: bool, tolerance: int
) -> None:
    name = f"img-{encoding}-{sharded}"
    data = _image(browser.root / name, encoding, **({"sharding": SHARDING} if sharded else {}))
    import neuroglancer

    browser.show({"img": neuroglancer.ImageLayer(source=browser.url(name))})
    shown = _voxel_pixels(browser.screenshot()).astype(int)
    assert np.all(shown[..., 0] == shown[..., 1]), "grayscale expected"
    diff = np.abs(shown[..., 0] - data[:, :, Z, 0].astype(int))
    assert diff.max() <= tolerance, f"{np.count_nonzero(diff > tolerance)} voxels differ"


def test_client_shows_a_sharded_compressed_segmentation(browser: Browser) -> None:
    import neuroglancer

    labels = np.arange(1, 13, dtype=np.uint64)
    colours = {int(v): (40 + 15 * i, 200 - 12 * i, 30 + 17 * i) for i, v in enumerate(labels)}
    x, y = np.meshgrid(np.arange(SIZE[0]), np.arange(SIZE[1]), indexing="ij")
    plane = labels[(x // 11 + 6 * (y // 25)) % 12]  # 12 patches across chunk borders
    data = np.repeat(plane[:, :, None, None], SIZE[2], axis=2)
    _layer(browser.root / "seg", data, "compressed_segmentation", sharding=SHARDING)
    layer = neuroglancer.SegmentationLayer(
        source=browser.url("seg"), selected_alpha=1.0, segments=[int(v) for v in labels],
        segment_colors={k: hex_colour(c) for k, c in colours.items()},
    )  # fmt: skip
    browser.show({"seg": layer})
    shown = _voxel_pixels(browser.screenshot())
    expected = np.array([colours[int(v)] for v in plane.ravel()]).reshape(shown.shape)
    wrong = np.any(np.abs(shown.astype(int) - expected) > 1, axis=2)
    assert not wrong.any(), f"{np.count_nonzero(wrong)} voxels differ"


ANNOTATION_SHADER = """
void main() {
  setColor(vec3(float(prop_red()) / 255.0, float(prop_green()) / 65535.0, prop_blue()));
  setPointMarkerSize(12.0);
  setPointMarkerBorderWidth(0.0);
}
"""


@pytest.mark.parametrize("sharded", [False, True], ids=["unsharded", "sharded"])
def test_client_draws_annotations_with_their_properties(browser: Browser, sharded: bool) -> None:
    """Points whose colour the shader computes from a uint8, a uint16 and a float32 property:
    every point must show the colour of its own properties."""
    import neuroglancer

    name = f"points-{sharded}"
    rng = np.random.default_rng(7)
    count = 12
    cells = np.array([(x, y) for x in range(4, 64, 12) for y in range(6, 48, 14)])[:count]
    points = np.column_stack([cells + 0.5, np.full(count, Z + 0.5)])
    red = rng.integers(0, 256, count).astype(np.uint8)
    green = rng.integers(0, 65536, count).astype(np.uint16)
    blue = rng.random(count).astype(np.float32)
    writer = AnnotationWriter(
        f"file://{browser.root}/{name}", "point", resolution=(4, 4, 40),
        properties=[{"id": "blue", "type": "float32"}, {"id": "red", "type": "uint8"},
                    {"id": "green", "type": "uint16"}],
        lower_bound=(0, 0, 0), upper_bound=SIZE, sharded=sharded,
    )  # fmt: skip
    writer.add(points, properties={"red": red, "green": green, "blue": blue})
    writer.write()
    browser.show({
        "backdrop": _backdrop(browser, f"backdrop-{sharded}"),
        "points": neuroglancer.AnnotationLayer(source=browser.url(name), shader=ANNOTATION_SHADER),
    })  # fmt: skip
    pixels = browser.screenshot()
    box = _data_box(pixels) or (0, 0, 0, 0)
    for i, (px, py) in enumerate(points[:, :2]):
        row, col = _pixel(box, px, py)
        want = np.array([red[i], green[i] / 65535 * 255, blue[i] * 255])
        got = pixels[row, col].astype(float)
        assert np.abs(got - want).max() <= 2, f"point {i}: shown {got}, properties say {want}"


def test_client_lists_segment_properties(browser: Browser) -> None:
    import neuroglancer

    vol = _layer(browser.root / "labelled", np.full(SIZE + (1,), 7, dtype=np.uint64))
    labels = {7: "mitochondrion-seven", 42: "synapse-forty-two", 1000: "soma-one-thousand"}
    vol.commit_segment_properties(SegmentProperties.build(
        list(labels), labels=list(labels.values()), tags=[["organelle"], ["contact"], []],
        numbers={"volume": [1.5, 2.5, 3.5]},
    ))  # fmt: skip
    layer = neuroglancer.SegmentationLayer(source=browser.url("labelled"))
    browser.show({"labelled": layer})
    with browser.viewer.txn() as s:
        s.layers["labelled"].tab = "segments"
        s.selected_layer.layer = "labelled"
        s.selected_layer.visible = True
    browser.driver.sync()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        page = browser.page()
        if all(label in page for label in labels.values()):
            break
        time.sleep(0.5)
    missing = [label for label in labels.values() if label not in page]
    assert not missing, f"the segment list lacks {missing}"
    assert "organelle" in page


def _sphere(radius: float, center: tuple[float, float, float], segid: int, steps: int) -> Mesh:
    """A UV sphere in nm (``steps`` rings), outward-facing triangles."""
    theta = np.linspace(0, np.pi, steps + 1)
    phi = np.linspace(0, 2 * np.pi, 2 * steps, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    xyz = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], axis=-1)
    vertices = (xyz.reshape(-1, 3) * radius + center).astype(np.float32)
    ring = 2 * steps
    faces = []
    for i in range(steps):
        for j in range(ring):
            a, b = i * ring + j, i * ring + (j + 1) % ring
            faces += [[a, a + ring, b], [b, a + ring, b + ring]]
    return Mesh(vertices, np.array(faces), segid=segid)


@pytest.mark.parametrize("kind", ["legacy", "multires", "multires-sharded"])
def test_client_draws_meshes(browser: Browser, kind: str) -> None:
    """Two spheres (segment 7 red on the left, 9 blue on the right) in the 3d view."""
    import neuroglancer

    name = f"meshes-{kind}"
    vol = _no_labels(browser, name, mesh="mesh")
    centers = {7: (64.0, 96.0, 160.0), 9: (192.0, 96.0, 160.0)}  # nm
    if kind == "legacy":
        vol.mesh.put([_sphere(40, centers[s], s, 16) for s in centers])
    else:
        mesh_info = create_multires_mesh_info(
            (4, 4, 40), sharding=SHARDING if kind.endswith("sharded") else None
        )
        source = open_mesh_source(vol.mesh.store, vol.info, info=mesh_info)
        source.commit_info()
        source.put({s: [_sphere(40, centers[s], s, n) for n in (24, 12, 6)] for s in centers})
    layer = neuroglancer.SegmentationLayer(
        source=browser.url(name), segments=list(centers),
        segment_colors={7: "#ff0000", 9: "#0000ff"},
    )  # fmt: skip
    browser.show({name: layer}, layout="3d")
    pixels = browser.screenshot().astype(int)
    red = (pixels[..., 0] > 20) & (pixels[..., 1] == 0) & (pixels[..., 2] == 0)
    blue = (pixels[..., 2] > 20) & (pixels[..., 0] == 0) & (pixels[..., 1] == 0)
    assert red.sum() > 500 and blue.sum() > 500, (red.sum(), blue.sum())
    red_cols, blue_cols = np.nonzero(red)[1], np.nonzero(blue)[1]
    assert red_cols.max() < blue_cols.min(), "segment 7 must lie left of segment 9"
    width = [np.ptp(cols) for cols in (red_cols, blue_cols)]
    assert width[0] == pytest.approx(width[1], rel=0.1), "equal spheres, equal widths"
    apart = blue_cols.mean() - red_cols.mean()  # 128 nm between centres, 80 nm wide
    assert apart / np.mean(width) == pytest.approx(128 / 80, rel=0.1)


def test_client_draws_skeletons(browser: Browser) -> None:
    """Two skeletons (segment 7 red on the left, 9 blue on the right) in the 3d view."""
    import neuroglancer

    vol = _no_labels(browser, "skeletons", skeletons="skeletons")
    vol.skeleton.commit_info()
    path = np.array([[0, 0, 0], [30, 50, 0], [60, 110, 0], [20, 140, 0]], dtype=np.float32)
    vol.skeleton.upload([
        Skeleton(path + (30, 20, 160), [[0, 1], [1, 2], [2, 3]], segid=7),
        Skeleton(path + (150, 20, 160), [[0, 1], [1, 2], [2, 3]], segid=9),
    ])  # fmt: skip
    layer = neuroglancer.SegmentationLayer(
        source=browser.url("skeletons"), segments=[7, 9],
        segment_colors={7: "#ff0000", 9: "#0000ff"},
    )  # fmt: skip
    browser.show({"skeletons": layer}, layout="3d")
    pixels = browser.screenshot().astype(int)
    red = (pixels[..., 0] > 100) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
    blue = (pixels[..., 2] > 100) & (pixels[..., 0] < 60) & (pixels[..., 1] < 60)
    assert red.sum() > 50 and blue.sum() > 50, (red.sum(), blue.sum())
    red_rows, red_cols = np.nonzero(red)
    blue_rows, blue_cols = np.nonzero(blue)
    assert red_cols.max() < blue_cols.min(), "segment 7 must lie left of segment 9"
    assert np.ptp(red_rows) == pytest.approx(np.ptp(blue_rows), abs=3), "the same shape"


SHAPE_SHADER = """
void main() {
  setColor(prop_colour());
  setLineWidth(5.0);
  setEndpointMarkerSize(0.0);
  setBoundingBoxBorderWidth(5.0);
  setEllipsoidFillColor(vec4(prop_colour(), 1.0));
}
"""
CENTRES = np.array([[12.0, 12.0], [48.0, 12.0], [12.0, 36.0], [48.0, 36.0]])  # voxels
COLOURS = np.array([[230, 40, 40], [40, 230, 40], [40, 40, 230], [230, 230, 40]], np.uint8)


def _shapes(kind: str) -> Any:
    """Four annotations of ``kind`` in the shown section, one around each of CENTRES."""
    z = Z + 0.5
    if kind == "polyline":  # a closed square of side 10
        corners = np.array([[-5, -5], [5, -5], [5, 5], [-5, 5], [-5, -5]], dtype=float)
        return [np.column_stack([c + corners, np.full(5, z)]) for c in CENTRES]
    lo = np.column_stack([CENTRES - 5, np.full(4, z - 1)])
    hi = np.column_stack([CENTRES + 5, np.full(4, z + 1)])
    if kind == "line":  # a diagonal in the section
        lo[:, 2] = hi[:, 2] = z
    if kind == "ellipsoid":  # centre and radii
        lo, hi = np.column_stack([CENTRES, np.full(4, z)]), np.tile([5.0, 5.0, 1.0], (4, 1))
    return np.stack([lo, hi], axis=2)


@pytest.mark.parametrize("kind", ["line", "axis_aligned_bounding_box", "ellipsoid", "polyline"])
def test_client_draws_every_annotation_type(browser: Browser, kind: str) -> None:
    """Each annotation drawn in the colour of its rgb property, around its own centre."""
    import neuroglancer

    name = f"shapes-{kind}"
    writer = AnnotationWriter(
        f"file://{browser.root}/{name}", kind, resolution=(4, 4, 40),
        properties=[{"id": "colour", "type": "rgb"}], lower_bound=(0, 0, 0), upper_bound=SIZE,
    )  # fmt: skip
    writer.add(_shapes(kind), properties={"colour": COLOURS})
    writer.write()
    browser.show({
        "backdrop": _backdrop(browser, f"backdrop-{kind}"),
        "shapes": neuroglancer.AnnotationLayer(source=browser.url(name), shader=SHAPE_SHADER),
    })  # fmt: skip
    pixels = browser.screenshot().astype(int)
    r0, r1, c0, c1 = _data_box(pixels) or (0, 0, 0, 0)
    per_voxel = np.array([(c1 - c0) / SIZE[0], (r1 - r0) / SIZE[1]])
    for colour, (cx, cy) in zip(COLOURS, CENTRES):
        rows, cols = np.nonzero(np.all(np.abs(pixels - colour) <= 2, axis=2))
        assert len(rows) > 30, f"{kind} {colour.tolist()}: not drawn"
        centre = np.array([(cols.mean() - c0), (rows.mean() - r0)]) / per_voxel
        assert np.abs(centre - (cx, cy)).max() < 1.5, f"{kind} {colour.tolist()} at {centre}"
        if kind == "ellipsoid":  # a disc of radius 5 voxels in the section
            assert len(rows) == pytest.approx(np.pi * 25 * per_voxel.prod(), rel=0.05)


def test_client_shows_the_downsampled_scale_when_zoomed_out(browser: Browser) -> None:
    """Zoomed out to 2 voxels per pixel, the viewer draws mip 1 (which add_pyramid computed on
    Dask): every pixel is a voxel of mip 1."""
    import neuroglancer

    from voxelio.dask import add_pyramid

    path = browser.root / "pyramid"
    _image(path, "raw")
    add_pyramid(f"file://{path}", mips=1, factor=(2, 2, 1))
    mip1 = np.asarray(CloudVolume(f"file://{path}", mip=1)[:, :, Z])[:, :, 0, 0]
    assert mip1.shape == (SIZE[0] // 2, SIZE[1] // 2)
    browser.show({"img": neuroglancer.ImageLayer(source=browser.url("pyramid"))}, zoom=2.0)
    pixels = browser.screenshot()
    r0, r1, c0, c1 = _data_box(pixels) or (0, 0, 0, 0)
    assert abs(c1 - c0 - mip1.shape[0]) <= 1 and abs(r1 - r0 - mip1.shape[1]) <= 1
    shown = pixels[r0:r1, c0:c1, 0].T
    # one pixel per voxel: where pixel centres meet voxel edges the first column can go either
    # way, so the section must equal mip 1 (random values) at one of the shifts -1, 0, 1
    inner = shown[2:-2, 2:-2]
    matches = [
        (dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)
        if np.array_equal(inner, mip1[2 + dx : 2 + dx + inner.shape[0],
                                      2 + dy : 2 + dy + inner.shape[1]])
    ]  # fmt: skip
    assert matches, "the view is not mip 1"


@pytest.mark.parametrize("sharded", [False, True], ids=["unsharded", "sharded"])
def test_client_filters_annotations_by_related_segment(browser: Browser, sharded: bool) -> None:
    """Filtered by a linked segmentation, the viewer fetches the relationship index and draws
    only the points related to the selected segment."""
    import neuroglancer

    name = f"related-{sharded}"
    points = np.array([[x + 0.5, y + 0.5, Z + 0.5] for x in (10, 30, 50) for y in (10, 35)])
    owners = np.array([5, 6, 5, 7, 6, 5], dtype=np.uint64)
    writer = AnnotationWriter(
        f"file://{browser.root}/{name}", "point", resolution=(4, 4, 40),
        relationships=["owner"], lower_bound=(0, 0, 0), upper_bound=SIZE, sharded=sharded,
    )  # fmt: skip
    writer.add(points, relationships={"owner": owners})
    writer.write()
    labels = f"labels-{sharded}"
    _no_labels(browser, labels)
    backdrop = _backdrop(browser, f"backdrop-related-{sharded}")
    for wanted in (5, 6):
        browser.show({
            "backdrop": backdrop,
            "seg": neuroglancer.SegmentationLayer(source=browser.url(labels), segments=[wanted]),
            "points": neuroglancer.AnnotationLayer(
                source=browser.url(name), linked_segmentation_layer={"owner": "seg"},
                filter_by_segmentation=["owner"], annotation_color="#ffff00",
                shader="void main() { setColor(defaultColor()); setPointMarkerSize(12.0); }",
            ),
        })  # fmt: skip
        pixels = browser.screenshot().astype(int)
        box = _data_box(pixels) or (0, 0, 0, 0)
        for (px, py, _), owner in zip(points, owners):
            row, col = _pixel(box, px, py)
            drawn = bool(np.all(np.abs(pixels[row, col] - (255, 255, 0)) <= 2))
            assert drawn == (owner == wanted), f"segment {wanted}: point of {owner} at {px, py}"
