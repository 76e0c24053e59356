"""``vol.skeleton.meta``: cloud-volume's view of a skeleton layer's info, as a dict to edit.

Code written for cloud-volume edits the info in place and commits it::

    vol.skeleton.meta.info["transform"] = [4, 0, 0, 0, 0, 4, 0, 0, 0, 0, 40, 0]
    vol.skeleton.meta.to_sharded(num_labels=10_000)
    vol.skeleton.meta.commit_info()

:class:`SkeletonMeta` serves that over a :class:`~voxelio.skeletons.source.SkeletonSource`,
whose own info is a parsed, immutable :class:`~voxelio.skeletons.info.SkeletonInfo`: the dict
is that info's JSON, and ``commit_info`` parses it back (an invalid edit raises
:class:`~voxelio.errors.InfoError` naming the field, and writes nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from voxelio.skeletons.info import SkeletonInfo

if TYPE_CHECKING:  # the source imports this module; the type is only named here
    from voxelio.skeletons.source import SkeletonSource


class SkeletonMeta:
    """The info of ``source`` as an editable dict, with cloud-volume's metadata calls."""

    def __init__(self, source: SkeletonSource) -> None:
        self._source = source
        self._parsed: SkeletonInfo | None = None  # the source's info the dict was made from
        self._info: dict[str, Any] = {}

    @property
    def info(self) -> dict[str, Any]:
        """The info as JSON; edits stay here until :meth:`commit_info`. A directory with no
        info and no skeletons starts from :meth:`default_info`, as a commit would write."""
        if self._parsed is not self._source.info:
            self._parsed = self._source.info
            self._info = self._source.info_to_write().to_json()
        return self._info

    @info.setter
    def info(self, value: dict[str, Any]) -> None:
        self._parsed = self._source.info
        self._info = value

    def commit_info(self) -> None:
        """Parse the dict (checked) into the source's info and write it."""
        self._source.use_info(SkeletonInfo.from_json(self.info))
        self._source.commit_info()
        self._parsed = None  # the next read shows what was written

    def refresh_info(self) -> dict[str, Any]:
        """Re-read the info from storage, dropping edits not committed."""
        self._source.refresh_info()
        return self.info

    def default_info(self) -> dict[str, Any]:
        """The info of a new skeleton layer (float32 attributes, which Neuroglancer draws)."""
        return SkeletonInfo.default().to_json()

    def is_sharded(self) -> bool:
        """Whether the (possibly edited) info holds a sharding spec."""
        return self.info.get("sharding") is not None

    def to_sharded(self, num_labels: int, **planning: Any) -> dict[str, Any]:
        """Plan a sharding for ``num_labels`` labels into the info (not committed); the spec."""
        self._adopt_edits()
        return self._source.to_sharded(num_labels, **planning).to_json()

    def to_unsharded(self) -> None:
        """Drop the sharding from the info (not committed)."""
        self._adopt_edits()
        self._source.to_unsharded()

    @property
    def transform(self) -> np.ndarray:
        """The info's transform as a 3 x 4 matrix (stored-model units to nanometres)."""
        return np.asarray(self.info["transform"], dtype=np.float64).reshape(3, 4)

    @property
    def spatial_index(self) -> dict[str, Any] | None:
        """The info's ``spatial_index`` entry."""
        return self.info.get("spatial_index")

    def _adopt_edits(self) -> None:
        """Hand the dict's edits to the source before it changes the info itself."""
        self._source.use_info(SkeletonInfo.from_json(self.info))
        self._parsed = None
