"""``vol.skeleton.meta``: cloud-volume's skeleton metadata over a
:class:`~voxelio.skeletons.source.SkeletonSource` (see :mod:`voxelio.meta.editable`)::

    vol.skeleton.meta.info["transform"] = [4, 0, 0, 0, 0, 4, 0, 0, 0, 0, 40, 0]
    vol.skeleton.meta.to_sharded(num_labels=10_000)
    vol.skeleton.meta.commit_info()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from voxelio.meta.editable import EditableInfo
from voxelio.skeletons.info import SkeletonInfo

if TYPE_CHECKING:  # the source imports this module; the type is only named here
    from voxelio.skeletons.source import SkeletonSource


class SkeletonMeta(EditableInfo[SkeletonInfo]):
    """The skeleton info as an editable dict, with cloud-volume's metadata calls. A directory
    with no info and no skeletons starts from :meth:`default_info`, as a commit would write."""

    def __init__(self, source: SkeletonSource) -> None:
        super().__init__(source, SkeletonInfo.from_json)
        self._skeletons = source

    def default_info(self) -> dict[str, Any]:
        """The info of a new skeleton layer (float32 attributes, which Neuroglancer draws)."""
        return SkeletonInfo.default().to_json()

    def to_sharded(self, num_labels: int, **planning: Any) -> dict[str, Any]:
        """Plan a sharding for ``num_labels`` labels into the info (not committed); the spec."""
        self.adopt_edits()
        return self._skeletons.to_sharded(num_labels, **planning).to_json()

    def to_unsharded(self) -> None:
        """Drop the sharding from the info (not committed)."""
        self.adopt_edits()
        self._skeletons.to_unsharded()

    @property
    def transform(self) -> np.ndarray:
        """The info's transform as a 3 x 4 matrix (stored-model units to nanometres)."""
        return np.asarray(self.info["transform"], dtype=np.float64).reshape(3, 4)

    @property
    def spatial_index(self) -> dict[str, Any] | None:
        """The info's ``spatial_index`` entry."""
        return self.info.get("spatial_index")
