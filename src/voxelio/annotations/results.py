"""What annotation queries return, with cloud-volume's names and fields.

:class:`MultiLabelAnnotation` is a batch (``ids``, ``geometry``, ``properties``) and
:class:`LabelAnnotation` one annotation (a batch of one plus its ``relationships``: related
segment ids by relationship id). Geometry is in the info's coordinate units: ``(n, rank)``
for points, ``(n, rank, 2)`` for lines, boxes and ellipsoids (``[..., 0]`` the first point or
the centre, ``[..., 1]`` the second point or the radii), a list of ``(k, rank)`` arrays for
polylines. ``properties_enum`` maps enum properties' values to labels, which
:meth:`MultiLabelAnnotation.pandas` shows as categories. Plain values: thread safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voxelio.annotations.records import Columns, Geometry
from voxelio.annotations.shapes import intersects
from voxelio.errors import MissingCodecError


def as_box(bbox: Any, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` of a Bbox, a pair of corners or a tuple of slices (closed on both sides)."""
    if hasattr(bbox, "minpt") and hasattr(bbox, "maxpt"):
        lo, hi = bbox.minpt, bbox.maxpt
    elif isinstance(bbox, tuple) and all(isinstance(s, slice) for s in bbox):
        lo = [-np.inf if s.start is None else s.start for s in bbox]
        hi = [np.inf if s.stop is None else s.stop for s in bbox]
    else:
        lo, hi = bbox
    lo_a, hi_a = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    if lo_a.shape != (rank,) or hi_a.shape != (rank,):
        raise ValueError(f"box {bbox!r}: expected {rank} coordinates per corner")
    return lo_a, hi_a


@dataclass
class MultiLabelAnnotation:
    """Annotations with their ids; see the module docstring."""

    type: str
    geometry: Geometry
    ids: np.ndarray
    properties: dict[str, np.ndarray]
    properties_enum: dict[str, dict[Any, str]] | None = None
    dimensions: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def of(
        cls, kind: str, cols: Columns, enums: dict[str, dict[Any, str]], dims: list[str]
    ) -> MultiLabelAnnotation:
        """Wrap decoded columns."""
        return cls(kind, cols.geometry, cols.ids, dict(cols.properties), enums, dims)

    def columns(self) -> Columns:
        """The batch as :class:`~voxelio.annotations.records.Columns`."""
        return Columns(self.geometry, self.ids, self.properties)

    def _subset(self, index: np.ndarray) -> MultiLabelAnnotation:
        return MultiLabelAnnotation.of(
            self.type, self.columns().take(index), self.properties_enum or {}, self.dimensions
        )

    def crop(self, bbox: Any) -> MultiLabelAnnotation:
        """The annotations meeting ``bbox`` (closed; exact for every type, see
        :mod:`voxelio.annotations.shapes`)."""
        lo, hi = as_box(bbox, len(self.dimensions))
        return self._subset(intersects(self.type, self.geometry, lo, hi))

    def split_by_id(self) -> dict[int, LabelAnnotation]:
        """``{id: LabelAnnotation}`` (without relationships, which batches do not carry)."""
        out = {}
        for pos in np.argsort(self.ids, kind="stable"):
            one = self._subset(np.array([pos]))
            out[int(self.ids[pos])] = LabelAnnotation.single(one, {})
        return out

    def pandas(self) -> Any:
        """A pandas DataFrame indexed by ``ID``: one column per coordinate and property.

        Two-point geometry gives columns ``x0``/``x1`` ... (cloud-volume's ``axis0_x`` style
        is not kept); polylines give one ``vertices`` column of arrays.
        """
        try:
            import pandas as pd
        except ImportError as exc:
            raise MissingCodecError(
                "pandas is needed for .pandas(); install it with pip install 'voxelio[pandas]'"
            ) from exc

        data: dict[str, Any] = {"ID": self.ids}
        data.update(self._geometry_columns())
        for name, values in self.properties.items():
            data[name] = list(values) if values.ndim > 1 else values
        frame = pd.DataFrame(data)
        for name, labels in (self.properties_enum or {}).items():
            frame[name] = frame[name].map(labels).astype("category")
        return frame.set_index("ID")

    def _geometry_columns(self) -> dict[str, Any]:
        if isinstance(self.geometry, list):
            return {"vertices": self.geometry}
        g = np.asarray(self.geometry)
        if g.ndim == 2:
            return {name: g[:, i] for i, name in enumerate(self.dimensions)}
        return {
            f"{name}{j}": g[:, i, j] for j in range(2) for i, name in enumerate(self.dimensions)
        }


@dataclass
class LabelAnnotation(MultiLabelAnnotation):
    """One annotation (``id``) and its related segment ids by relationship id."""

    id: int = 0
    relationships: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def single(
        cls, one: MultiLabelAnnotation, relationships: dict[str, np.ndarray]
    ) -> LabelAnnotation:
        """A batch of one annotation with its relationships."""
        return cls(
            one.type,
            one.geometry,
            one.ids,
            one.properties,
            one.properties_enum,
            one.dimensions,
            int(one.ids[0]),
            relationships,
        )


__all__ = ["LabelAnnotation", "MultiLabelAnnotation"]
