"""``http://`` and ``https://``: read-only, with Range requests, through obstore's HTTP client.

Full gets send ``Accept-Encoding: gzip`` so servers with precompressed files (nginx
``gzip_static``) answer with ``Content-Encoding: gzip``, which ``get`` decodes; byte ranges use a
second client that asks for ``identity`` so ranges address the stored bytes. A 404 is a
missing key. Listing is not possible over plain HTTP. ``secrets=`` may be a bearer token (sent
as ``Authorization``; never shown in reprs or errors). Thread safe; pickles without connections.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from voxelio.errors import ReadOnlyException, UnsupportedOptionError
from voxelio.storage.base import NO_OPTIONS, PutOptions
from voxelio.storage.cloud import CloudStore, require_obstore
from voxelio.storage.secrets import Credentials, find_credentials


class HTTPStore(CloudStore):
    """Objects below an ``http(s)://host/path`` URL, read-only.

    Keyword arguments are those of :class:`~voxelio.storage.cloud.CloudStore` except
    ``read_only`` (always true) and ``cdn_cache`` (meaningless here).
    """

    extra = "http"
    separate_range_client = True

    def __init__(self, url: str, *, secrets: Any = None, **options: Any) -> None:
        options.pop("read_only", None)
        options.pop("cdn_cache", None)
        self.credentials: Credentials | None = (
            None if secrets is None else find_credentials("http", "", secrets)
        )
        super().__init__(url, read_only=True, **options)

    def _auth_hint(self) -> str:
        return "none (anonymous)" if self.credentials is None else self.credentials.source

    def _build_client(self, kind: str) -> Any:
        obstore = require_obstore(self.extra)
        headers = {"Accept-Encoding": "identity" if kind == "range" else "gzip"}
        token = None if self.credentials is None else self.credentials.get("token")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return obstore.store.HTTPStore(
            self.url,
            client_options=self._client_options(headers),  # type: ignore[arg-type]
            retry_config=self._retry_config(),  # type: ignore[arg-type]
        )

    def put(self, key: str, data: bytes, options: PutOptions = NO_OPTIONS) -> None:
        """Always raises :class:`ReadOnlyException`: HTTP stores are read-only."""
        raise ReadOnlyException(f"{self.url}/{key}: http(s) storage is read-only")

    def list(self, prefix: str = "") -> Iterator[str]:
        """Always raises :class:`UnsupportedOptionError`: plain HTTP cannot list."""
        raise UnsupportedOptionError(f"{self.url}: listing is not supported over http(s)")
