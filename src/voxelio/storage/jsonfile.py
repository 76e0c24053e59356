"""Reading a JSON object (an ``info``) from a store, with errors that name it, and writing one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from voxelio.errors import InfoError, InfoUnavailableError
from voxelio.meta.info import parse_json, to_json_bytes
from voxelio.storage.base import PutOptions, Store

T = TypeVar("T")

#: how every info is put: JSON, and never served from a cache (cloud-volume writes its infos
#: the same way), so that readers see an edit at once
JSON_OPTIONS = PutOptions(content_type="application/json", cache_control="no-cache")


def read_parsed(store: Store, key: str, what: str, parse: Callable[[Any], T]) -> T:
    """``parse`` applied to the JSON at ``key``. A missing object raises
    :class:`InfoUnavailableError` ("no ``what`` there"); malformed JSON, or an
    :class:`InfoError` from ``parse``, raises :class:`InfoError` naming the object."""
    where = f"{store.url}/{key}"
    data = store.get(key)
    if data is None:
        raise InfoUnavailableError(f"{where}: no {what} there")
    obj = parse_json(data, where)
    try:
        return parse(obj)
    except InfoError as exc:
        raise InfoError(f"{where}: {exc}") from exc


def write_json(store: Store, key: str, obj: Any) -> None:
    """Put ``obj`` at ``key`` as indented JSON with :data:`JSON_OPTIONS`, through
    :func:`voxelio.meta.to_json_bytes` as every info (no ``null`` entries, numpy values plain)."""
    store.put(key, to_json_bytes(obj), JSON_OPTIONS)


__all__ = ["JSON_OPTIONS", "read_parsed", "write_json"]
