"""Reading and writing a segment properties directory (its one ``info`` file).

See :mod:`voxelio.meta.segment_properties` for the value and its rules. The write is one
atomic put of the ``info``: readers see the old properties or the new ones.
"""

from __future__ import annotations

from voxelio.meta.segment_properties import SegmentProperties
from voxelio.storage.base import Store
from voxelio.storage.jsonfile import read_parsed, write_json


def read_segment_properties(store: Store) -> SegmentProperties:
    """The properties in the directory ``store`` is rooted at; errors name the file."""
    return read_parsed(store, "info", "segment properties", SegmentProperties.from_json)


def write_segment_properties(store: Store, properties: SegmentProperties) -> None:
    """Write ``properties`` as the directory's ``info``."""
    write_json(store, "info", properties.to_json())


__all__ = ["SegmentProperties", "read_segment_properties", "write_segment_properties"]
