"""Reading and writing a segment properties directory (its one ``info`` file).

See :mod:`voxelio.meta.segment_properties` for the value and its rules. The write is one
atomic put of the ``info``: readers see the old properties or the new ones.
"""

from __future__ import annotations

import json

from voxelio.errors import InfoError, InfoUnavailableError
from voxelio.meta.info import parse_json
from voxelio.meta.segment_properties import SegmentProperties
from voxelio.storage.base import PutOptions, Store


def read_segment_properties(store: Store) -> SegmentProperties:
    """The properties in the directory ``store`` is rooted at; errors name the file."""
    data = store.get("info")
    if data is None:
        raise InfoUnavailableError(f"{store.url}/info: no segment properties there")
    obj = parse_json(data, f"{store.url}/info")
    try:
        return SegmentProperties.from_json(obj)
    except InfoError as exc:
        raise InfoError(f"{store.url}/info: {exc}") from exc


def write_segment_properties(store: Store, properties: SegmentProperties) -> None:
    """Write ``properties`` as the directory's ``info``."""
    body = json.dumps(properties.to_json(), indent=2).encode()
    store.put("info", body, PutOptions(content_type="application/json"))


__all__ = ["SegmentProperties", "read_segment_properties", "write_segment_properties"]
