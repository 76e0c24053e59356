"""``Skeleton.viewer()``: a matplotlib 3D plot of a skeleton (needs ``voxelio[viewer]``).

Written here because osteoid 0.7's viewer calls ``matplotlib.cm.get_cmap``, which matplotlib
3.9 removed. Not thread safe (matplotlib's pyplot state is global).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from voxelio.errors import MissingCodecError

if TYPE_CHECKING:
    from voxelio.skeletons.skeleton import Skeleton


def view_skeleton(
    skel: Skeleton,
    units: str = "nm",
    draw_edges: bool = True,
    draw_vertices: bool = True,
    color_by: str = "radius",
    show: bool = True,
) -> Any:
    """Plot ``skel`` in 3D and return the matplotlib figure.

    ``color_by``: ``"radius"`` colours vertices by radius, ``"component"`` by connected
    component, anything else draws black. ``show=False`` returns without ``pyplot.show()``.
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingCodecError(
            "Skeleton.viewer needs matplotlib: pip install 'voxelio[viewer]'"
        ) from exc
    fig = plt.figure(figsize=(8, 8))
    ax = fig.add_subplot(projection="3d")
    for label, axis in zip(("x", "y", "z"), (ax.set_xlabel, ax.set_ylabel, ax.set_zlabel)):
        axis(f"{label} ({units})")
    verts = skel.vertices
    if draw_edges and skel.edges.size:
        for a, b in skel.edges:
            seg = verts[[a, b]]
            ax.plot(seg[:, 0], seg[:, 1], seg[:, 2], color="0.4", linewidth=0.8)
    if draw_vertices and verts.size:
        colors = _vertex_colors(skel, color_by)
        ax.scatter(verts[:, 0], verts[:, 1], verts[:, 2], c=colors, cmap="rainbow", s=6)
    if show:
        plt.show()
    return fig


def _vertex_colors(skel: Skeleton, color_by: str) -> Any:
    if color_by in ("radius", "radii", "r"):
        radius = skel.attribute("radius")
        if radius is not None:
            return np.asarray(radius, dtype=np.float64)
    if color_by in ("component", "components", "c"):
        return _component_ids(skel)
    return "black"


def _component_ids(skel: Skeleton) -> np.ndarray:
    parent = np.arange(skel.vertices.shape[0])

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for a, b in skel.edges.tolist():
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
    return np.array([find(i) for i in range(len(parent))], dtype=np.float64)
