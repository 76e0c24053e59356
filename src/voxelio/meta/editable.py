"""cloud-volume's ``vol.skeleton.meta`` / ``vol.mesh.meta``: a source's info as a dict to edit.

Code written for cloud-volume edits such an info in place and commits it::

    vol.skeleton.meta.info["transform"] = [4, 0, 0, 0, 0, 4, 0, 0, 0, 0, 40, 0]
    vol.skeleton.meta.commit_info()

voxelio's sources hold their info parsed and immutable. :class:`EditableInfo` serves the dict
over such a source (an :class:`InfoHolder`): the dict is the JSON of the info a commit would
write, and ``commit_info`` parses it back first, so an invalid edit raises
:class:`~voxelio.errors.InfoError` naming the field, and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar


class ParsedInfo(Protocol):
    """A parsed, immutable info value."""

    def to_json(self) -> dict[str, Any]: ...


InfoT = TypeVar("InfoT", bound=ParsedInfo)


class InfoHolder(Protocol[InfoT]):
    """A source with a parsed info it reads and writes by."""

    info: InfoT

    def info_to_write(self) -> InfoT:
        """The info a commit would write now."""

    def use_info(self, info: InfoT) -> None:
        """Read and write by ``info`` from now on (not committed)."""

    def commit_info(self) -> None:
        """Write the info."""

    def refresh_info(self) -> InfoT:
        """Re-read the info from storage."""


class EditableInfo(Generic[InfoT]):
    """The info of ``source`` as an editable dict; ``parse`` turns the dict back (checked)."""

    def __init__(self, source: InfoHolder[InfoT], parse: Callable[[dict[str, Any]], InfoT]):
        self._source = source
        self._parse = parse
        self._parsed: InfoT | None = None  # the source's info the dict was made from
        self._info: dict[str, Any] = {}

    @property
    def info(self) -> dict[str, Any]:
        """The info as JSON; edits stay here until :meth:`commit_info`."""
        if self._parsed is not self._source.info:
            self._parsed = self._source.info
            self._info = self._source.info_to_write().to_json()
        return self._info

    @info.setter
    def info(self, value: dict[str, Any]) -> None:
        self._parsed = self._source.info
        self._info = value

    def commit_info(self) -> None:
        """Parse the dict into the source's info and write it."""
        self.adopt_edits()
        self._source.commit_info()

    def refresh_info(self) -> dict[str, Any]:
        """Re-read the info from storage, dropping edits not committed."""
        self._source.refresh_info()
        return self.info

    def is_sharded(self) -> bool:
        """Whether the (possibly edited) info holds a sharding spec."""
        return self.info.get("sharding") is not None

    def adopt_edits(self) -> None:
        """Parse the dict into the source's info (not committed)."""
        self._source.use_info(self._parse(self.info))
        self._parsed = None  # the next read shows the source's info
