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
    """The skeleton info as an editable dict, with cloud-volume's metadata calls."""

    def __init__(self, source: SkeletonSource) -> None:
        super().__init__(source, SkeletonInfo.from_json)
        self._skeletons = source

    def default_info(self) -> dict[str, Any]:
        """The info of a new skeleton layer: float32 attributes, which Neuroglancer draws, or
        cloud-volume's uint8 ``vertex_types`` where skeletons written so are already there."""
        return self._skeletons.default_info().to_json()

    @property
    def transform(self) -> np.ndarray:
        """The info's transform as a float32 3 x 4 matrix (stored-model units to nanometres);
        settable (12 numbers or a 3 x 4 matrix, not committed)."""
        return np.asarray(self.info["transform"], dtype=np.float32).reshape(3, 4)

    @transform.setter
    def transform(self, value: Any) -> None:
        self.info["transform"] = np.asarray(value, dtype=np.float64).reshape(12).tolist()
