"""Storage backends behind one :class:`~voxelio.storage.base.Store` interface.

:func:`open_store` turns a storage URL into a store: ``file://``, ``mem://``, ``s3://``
(also ``s3://https://host/bucket/...``), ``gs://``, ``http(s)://`` and S3 aliases
(``matrix://``, ``tigerdata://``, ``nokura://`` and those of ``~/.cloudfiles/aliases.json``).
Cloud backends are imported only when used.
"""

from __future__ import annotations

from typing import Any

from voxelio.errors import UnsupportedProtocolError
from voxelio.storage.base import NO_OPTIONS, PutOptions, Store, check_key, join_key
from voxelio.storage.file import FileStore
from voxelio.storage.mem import MemoryStore

_CLOUD_OPTIONS = frozenset({"endpoint", "region", "concurrency", "retry", "cdn_cache", "use_https"})


def open_store(url: str, *, secrets: Any = None, read_only: bool = False, **options: Any) -> Store:
    """Open the store rooted at ``url`` (``file:///abs/dir``, ``mem://name``, ``s3://b/p`` ...).

    ``secrets``: explicit credentials (dict, JSON string or token) for cloud backends; when
    ``None`` they are discovered as cloud-volume does (:mod:`voxelio.storage.secrets`).
    Cloud ``options``: ``endpoint`` (S3/GCS server URL), ``region`` (S3), ``concurrency``
    (requests in flight for ``get_many`` & co.), ``retry`` (a
    :class:`~voxelio.storage.retry.RetryPolicy` or an attempt count), ``cdn_cache``
    (``Cache-Control`` of uploads: bool, seconds or str), ``use_https`` (read gs/s3/aliases
    through their public read-only HTTPS endpoints). Unknown options raise ``TypeError``.
    """
    protocol, sep, rest = url.partition("://")
    if not sep:
        raise UnsupportedProtocolError(f"{url!r}: storage URL needs a protocol, e.g. file://")
    if protocol == "file":
        return FileStore(rest, read_only=read_only)
    if protocol == "mem":
        return MemoryStore(rest)
    unknown = set(options) - _CLOUD_OPTIONS
    if unknown:
        raise TypeError(f"{url!r}: unknown storage option(s) {sorted(unknown)}")
    return _open_cloud(url, protocol, secrets, read_only, dict(options))


def _open_cloud(
    url: str, protocol: str, secrets: Any, read_only: bool, options: dict[str, Any]
) -> Store:
    from voxelio.storage.aliases import parse_cloud_url, to_https_url

    use_https = bool(options.pop("use_https", False))
    endpoint = options.pop("endpoint", None)
    region = options.pop("region", None)
    if protocol in ("http", "https"):
        from voxelio.storage.http import HTTPStore

        options.pop("cdn_cache", None)
        return HTTPStore(url, secrets=secrets, **options)
    location = parse_cloud_url(url)
    if use_https:
        from voxelio.storage.http import HTTPStore

        options.pop("cdn_cache", None)
        return HTTPStore(to_https_url(location), **options)
    if location.protocol == "gs":
        from voxelio.storage.gcs import GCSStore

        return GCSStore(
            location.bucket, location.prefix, endpoint=endpoint, secrets=secrets,
            read_only=read_only, url=location.url, **options,
        )  # fmt: skip
    from voxelio.storage.s3 import S3Store

    return S3Store(
        location.bucket, location.prefix, endpoint=endpoint or location.endpoint, region=region,
        service=location.service, secrets=secrets, read_only=read_only, url=location.url,
        **options,
    )  # fmt: skip


__all__ = ["NO_OPTIONS", "PutOptions", "Store", "check_key", "join_key", "open_store"]
