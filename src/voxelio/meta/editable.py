"""cloud-volume's ``vol.skeleton.meta`` / ``vol.mesh.meta``: a source's info as a dict to edit.

Code written for cloud-volume edits such an info in place and commits it::

    vol.skeleton.meta.info["transform"] = [4, 0, 0, 0, 0, 4, 0, 0, 0, 0, 40, 0]
    vol.skeleton.meta.commit_info()

voxelio's sources hold their info parsed and immutable. :class:`EditableInfo` serves the dict
over such a source (an :class:`InfoHolder`): the dict is the JSON of the source's info, and
``commit_info`` parses it back first, so an invalid edit raises
:class:`~voxelio.errors.InfoError` naming the field, and writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from voxelio.meta.info import strip_nulls
from voxelio.sharding.planning import plan_label_sharding


class ParsedInfo(Protocol):
    """A parsed, immutable info value."""

    def to_json(self) -> dict[str, Any]: ...


InfoT = TypeVar("InfoT", bound=ParsedInfo)


class InfoHolder(Protocol[InfoT]):
    """A source with a parsed info it reads and writes by."""

    info: InfoT
    #: the store of the directory the info is in (its ``url`` names the directory)
    store: Any

    def use_info(self, info: InfoT) -> None:
        """Read and write by ``info`` from now on (not committed)."""

    def commit_info(self) -> None:
        """Write the info, with the edits of its editable view (``meta``) if it has one."""

    def refresh_info(self) -> InfoT:
        """Re-read the info from storage."""


class EditableInfo(Generic[InfoT]):
    """The info of ``source`` as an editable dict; ``parse`` turns the dict back (checked).

    The dict is one object for the life of this view, as cloud-volume's: a reference kept by
    the caller sees every later change (commits, sharding plans, refreshes). Optional keys a
    caller may ``del`` are there, ``None`` when unset, as in cloud-volume's dict."""

    #: keys present even when unset (their ``None`` is dropped when written)
    OPTIONAL_KEYS: tuple[str, ...] = ("sharding", "spatial_index")

    def __init__(self, source: InfoHolder[InfoT], parse: Callable[[Any], InfoT]):
        self._source = source
        self._parse = parse
        #: the name of the directory the info is in (``"skeletons"``, ``"mesh_mip_2_err_40"``)
        self.dirname = source.store.url.rstrip("/").rsplit("/", 1)[-1]
        self._parsed: InfoT | None = None  # the source's info the dict shows
        self._info: dict[str, Any] = {}

    @property
    def info(self) -> dict[str, Any]:
        """The info as JSON; edits stay here until :meth:`commit_info`."""
        if self._parsed is not self._source.info:
            self._show(self._source.info)
        return self._info

    @info.setter
    def info(self, value: dict[str, Any]) -> None:
        self._parsed = self._source.info
        self._info = value

    def commit_info(self) -> None:
        """Parse the dict into the source's info and write it (the source's own
        ``commit_info`` takes this view's edits too)."""
        self._source.commit_info()
        self._show(self._source.info)

    def refresh_info(self) -> dict[str, Any]:
        """Re-read the info from storage, dropping edits not committed."""
        self._source.refresh_info()
        return self.info

    def is_sharded(self) -> bool:
        """Whether the (possibly edited) info holds a sharding spec."""
        return self.info.get("sharding") is not None

    def to_sharded(self, num_labels: int, **planning: Any) -> dict[str, Any]:
        """Plan a sharding for ``num_labels`` labels into the info (not committed) and return
        its spec. ``planning`` goes to :func:`voxelio.sharding.planning.plan_label_sharding`
        (voxelio's knobs, not cloud-volume's)."""
        spec = plan_label_sharding(num_labels, **planning).to_json()
        self.info["sharding"] = spec
        self.adopt_edits()
        return spec

    def to_unsharded(self) -> None:
        """Drop the sharding from the info (not committed)."""
        self.info["sharding"] = None
        self.adopt_edits()

    @property
    def spatial_index(self) -> dict[str, Any] | None:
        """The info's ``spatial_index`` entry."""
        return self.info.get("spatial_index")

    @property
    def mip(self) -> int | None:
        """The layer mip the info's ``mip`` names or, as cloud-volume reads Igneous's
        directory names, the ``N`` of ``..._mip_N`` in the directory's name; else ``None``."""
        if self.info.get("mip") is not None:
            return int(self.info["mip"])
        found = re.search(r"_mip_(\d+)", self.dirname)
        return int(found.group(1)) if found else None

    def adopt_edits(self) -> None:
        """Parse the dict into the source's info (not committed). Numpy values are taken as
        the numbers and lists they hold."""
        self._source.use_info(self._parse(strip_nulls(self.info)))
        self._show(self._source.info)

    def _show(self, info: InfoT) -> None:
        """Make the dict (the same object) show ``info``."""
        self._parsed = info
        self._info.clear()
        self._info.update(dict.fromkeys(self.OPTIONAL_KEYS))
        self._info.update(info.to_json())
