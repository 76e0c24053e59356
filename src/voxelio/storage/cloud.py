"""The obstore-backed :class:`CloudStore` shared by the S3, GCS and HTTP backends.

obstore (Rust ``object_store``) does the HTTP; this module adds our contract on top:

- its own retries are switched off; :mod:`voxelio.storage.retry` retries transient faults
  (429, 5xx, resets, timeouts, bodies shorter than their ``Content-Length``) with backoff and
  jitter inside a time budget, and never 401/403/404 or precondition failures;
- ``get`` returns decompressed bytes: objects carrying ``Content-Encoding: gzip|br|zstd`` are
  decoded; objects the server already decompressed (GCS transcoding, proxies) pass through;
- ``put`` sets ``Content-Type``, ``Content-Encoding`` and ``Cache-Control``;
- the obstore client is built lazily and dropped on pickling (it reconnects in the new
  process); a store already used before ``fork()`` raises a clear error in the child instead
  of hanging (obstore's runtime does not survive fork: use 'spawn' or 'forkserver').

Subclasses implement :meth:`CloudStore._build_client`. Stores are thread safe (one client is
shared by all threads; obstore releases the GIL) and pickle without their connections.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from voxelio.compression import Method, compress, decompress, normalize_method
from voxelio.errors import (
    AuthenticationError,
    DecodingError,
    ReadOnlyException,
    StorageError,
    WriteConflictError,
)
from voxelio.storage.base import (
    DEFAULT_CONCURRENCY,
    NO_OPTIONS,
    PlainObject,
    PutOptions,
    Store,
    cache_control_header,
    check_key,
)
from voxelio.storage.buffers import ReadBuffers
from voxelio.storage.retry import (
    RETRYABLE_STATUS,
    RetryPolicy,
    TransientError,
    as_policy,
    call_with_retry,
)

T = TypeVar("T")
_STATUS = re.compile(r"status code: (\d{3})")
_TRANSIENT_WORDS = (
    "error sending request",
    "timed out",
    "timeout",
    "connection",
    "reset",
    "broken pipe",
    "decoding response body",
    "body error",
    "error reading",
    "unexpected eof",
    "incomplete",
    "closed before",
    "end of file",
)
_JSON_NAMES = ("info", "provenance", "transform.json")


class _Missing(Exception):
    """Internal: the object does not exist (404)."""


def require_obstore(extra: str) -> Any:
    """Import obstore or raise an ImportError naming the pip extra."""
    try:
        import obstore
    except ImportError as exc:  # pragma: no cover - obstore is a test dependency
        raise ImportError(
            f"obstore is needed for this storage backend: pip install voxelio[{extra}]"
        ) from exc
    return obstore


def _strong_etag(meta: Any) -> str | None:
    """An object's ETag where it names one version (weak ones never match ``If-Match``,
    RFC 9110), else ``None``."""
    etag = meta.get("e_tag")
    return str(etag) if etag and not str(etag).startswith("W/") else None


def guess_content_type(key: str) -> str:
    """``application/json`` for info, provenance and ``*.json`` keys, else octet-stream."""
    name = key.rsplit("/", 1)[-1]
    if name.endswith(".json") or name in _JSON_NAMES:
        return "application/json"
    return "application/octet-stream"


def _short(exc: BaseException) -> str:
    text = str(exc).split("\n\nDebug source", 1)[0].strip()
    return text if len(text) <= 400 else text[:400] + "..."


def translate_error(exc: Exception, what: str, auth_hint: str) -> Exception:
    """Map an obstore exception to ours (``_Missing`` for 404)."""
    name = type(exc).__name__
    text = _short(exc)
    if name == "NotFoundError" or isinstance(exc, FileNotFoundError):
        return _Missing(what)
    if name in ("PermissionDeniedError", "UnauthenticatedError"):
        return AuthenticationError(f"{what}: access refused; credentials from {auth_hint} ({text})")
    if name in ("PreconditionError", "AlreadyExistsError"):
        return WriteConflictError(f"{what}: the object changed since it was read ({text})")
    match = _STATUS.search(text)
    if match:
        status = int(match.group(1))
        if status in (401, 403):
            return AuthenticationError(f"{what}: HTTP {status}; credentials from {auth_hint}")
        if status in RETRYABLE_STATUS:
            return TransientError(f"{what}: HTTP {status} ({text})")
        return StorageError(f"{what}: HTTP {status} ({text})")
    lowered = text.lower()
    if "non-partial" not in lowered and any(word in lowered for word in _TRANSIENT_WORDS):
        return TransientError(f"{what}: {text}")
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return TransientError(f"{what}: {text}")
    return StorageError(f"{what}: {text}")


def _identity(encoding: str | None) -> bool:
    """Whether a ``Content-Encoding`` value means the body is stored as it is."""
    return not encoding or encoding.lower() in ("identity", "none")


def decode_body(data: bytes | memoryview, encoding: str | None, what: str) -> bytes | memoryview:
    """Undo ``Content-Encoding``; bytes the transport already decoded pass through."""
    if encoding is None or _identity(encoding):
        return data
    try:
        method: Method | None = normalize_method(encoding.split(",")[-1].strip())
    except Exception as exc:
        raise StorageError(f"{what}: unsupported Content-Encoding {encoding!r}") from exc
    if method == "gzip" and data[:2] != b"\x1f\x8b":
        return data  # transparently decompressed on the way (e.g. GCS transcoding)
    if method == "zstd" and data[:4] != b"\x28\xb5\x2f\xfd":
        return data
    return decompress(bytes(data), method, what)


class CloudStore(Store):
    """Base of the obstore-backed stores; see the module docstring."""

    #: the pip extra that brings the backend's dependencies
    extra = "s3"
    #: whether byte-range reads use their own client (HTTP: without ``Accept-Encoding``)
    separate_range_client = False

    def __init__(
        self,
        url: str,
        *,
        read_only: bool = False,
        concurrency: int = DEFAULT_CONCURRENCY,
        retry: RetryPolicy | int | None = None,
        cdn_cache: bool | int | str | None = None,
    ) -> None:
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"{url}: concurrency must be an int >= 1, got {concurrency!r}")
        self.url = url.rstrip("/")
        self.read_only = read_only
        self.concurrency = concurrency
        self.retry = as_policy(retry)
        self.cache_control = None if cdn_cache is None else cache_control_header(cdn_cache)
        self._reset()

    # ------------------------------------------------------------------ lifecycle

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._pid = os.getpid()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for name in ("_lock", "_clients", "_pid"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    def _client(self, kind: str = "default") -> Any:
        if not self.separate_range_client:
            kind = "default"
        if self._pid != os.getpid():
            self._after_fork()
        client = self._clients.get(kind)
        if client is None:
            with self._lock:
                client = self._clients.get(kind)
                if client is None:
                    client = self._build_client(kind)
                    self._clients[kind] = client
        return client

    def _after_fork(self) -> None:
        if self._clients:
            # obstore's Rust runtime does not survive fork(): a call would hang forever.
            raise StorageError(
                f"{self.url}: this store was used before the process forked; obstore cannot "
                "run in a forked child. Use multiprocessing's 'spawn' or 'forkserver' start "
                "method, or pickle the store to the worker (it reconnects there)"
            )
        self._reset()

    def _build_client(self, kind: str) -> Any:
        """Build the obstore store; ``kind`` is ``"default"`` or ``"range"``."""
        raise NotImplementedError

    def _client_options(self, headers: dict[str, str] | None = None) -> dict[str, Any]:
        options: dict[str, Any] = {
            "timeout": f"{self.retry.request_timeout}s",
            "connect_timeout": f"{self.retry.connect_timeout}s",
            "allow_http": True,
        }
        if headers:
            options["default_headers"] = headers
        return options

    @staticmethod
    def _retry_config() -> dict[str, Any]:
        return {"max_retries": 0}

    def _auth_hint(self) -> str:
        """Where the credentials came from (for error messages)."""
        return "none (anonymous)"

    # ------------------------------------------------------------------ plumbing

    def _what(self, verb: str, key: str) -> str:
        return f"{verb} {self.url}/{key}"

    def _call(self, verb: str, key: str, fn: Callable[[], T]) -> T:
        what = self._what(verb, key)

        def attempt() -> T:
            try:
                return fn()
            except (_Missing, StorageError, DecodingError):  # ours: they name the object
                raise
            except Exception as exc:
                raise translate_error(exc, what, self._auth_hint()) from None

        return call_with_retry(attempt, self.retry, what)

    def _check_writable(self, key: str) -> None:
        if self.read_only:
            raise ReadOnlyException(f"{self.url}/{key}: store is read-only")

    # ------------------------------------------------------------------ reads

    def _fetch(self, key: str, options: dict[str, Any] | None) -> tuple[memoryview, Any]:
        """The body as a view of obstore's buffer (no copy), and the result's metadata."""
        obstore = require_obstore(self.extra)
        result = obstore.get(self._client("range" if options else "default"), key, options=options)
        return memoryview(result.bytes()), result

    def get(self, key: str) -> bytes | None:
        """The decompressed object at ``key``, or ``None`` when missing."""
        found = self.get_with_version(key)
        return None if found is None else found[0]

    def get_into(self, key: str, buffers: ReadBuffers) -> bytes | memoryview | None:
        """Like :meth:`get`, without copying the body out of obstore's buffer (``buffers``
        are not needed: the view stays valid)."""
        found = self._get(key)
        return None if found is None else found[0]

    def get_with_version(self, key: str) -> tuple[bytes, str] | None:
        """``(decompressed bytes, version)`` of ``key`` or ``None``; pass the version to
        :meth:`put_if`. The version is the object's ETag (GCS: its generation when known)."""
        found = self._get(key)
        if found is None:
            return None
        body, version = found
        return (bytes(body) if isinstance(body, memoryview) else body), version

    def _get(self, key: str) -> tuple[bytes | memoryview, str] | None:
        key = check_key(key)
        what = self._what("GET", key)

        def once() -> tuple[bytes | memoryview, str]:
            data, result = self._fetch(key, None)
            meta = result.meta
            if meta.get("size") is not None and len(data) < int(meta["size"]):
                raise TransientError(f"{what}: body truncated ({len(data)} of {meta['size']} B)")
            body = decode_body(data, result.attributes.get("Content-Encoding"), what)
            return body, self._version_of(meta)

        try:
            return self._call("GET", key, once)
        except _Missing:
            return None

    @staticmethod
    def _version_of(meta: Any) -> str:
        return str(meta.get("e_tag") or meta.get("version") or "")

    def get_range(self, key: str, start: int, length: int) -> bytes | None:
        """``length`` stored bytes from ``start`` (fewer at the end); ``None`` when missing."""
        key = check_key(key)
        if start < 0 or length < 0:
            raise ValueError(f"{self.url}/{key}: negative byte range {start}+{length}")
        if length == 0:
            return b"" if self.exists(key) else None
        return self._range(key, start, length, {})

    def _range(self, key: str, start: int, length: int, extra: dict[str, Any]) -> bytes | None:
        """``get_range`` with more request options (``if_match``)."""
        return self._range_versioned(key, start, length, extra)[0]

    def _range_versioned(
        self, key: str, start: int, length: int, extra: dict[str, Any]
    ) -> tuple[bytes | None, str | None]:
        """``_range``, and the object's ETag where it is a strong one (a version)."""
        what = self._what(f"GET bytes {start}+{length}", key)

        def once() -> tuple[bytes, str | None]:
            try:
                data, result = self._fetch(key, {"range": (start, start + length), **extra})
            except Exception as exc:
                if "status code: 416" in str(exc):
                    return b"", None
                raise
            size = result.meta.get("size")
            expected = length if size is None else max(0, min(length, int(size) - start))
            if len(data) < expected:
                raise TransientError(f"{what}: body truncated ({len(data)} of {expected} B)")
            return bytes(data[:length]), _strong_etag(result.meta)

        try:
            return self._call(f"GET bytes {start}+{length}", key, once)
        except _Missing:
            return None, None

    def get_pinned_ranges(
        self, requests: Iterable[tuple[str, int, int]], pins: Mapping[str, Any]
    ) -> list[tuple[bytes | None, Any]]:
        """Range reads that ask for the pinned version (``If-Match`` on its ETag); a server
        that answers 412 (replaced since) raises :class:`WriteConflictError`. Servers that
        ignore ``If-Match`` (fake-gcs-server) are not caught out."""

        def one(request: tuple[str, int, int]) -> tuple[bytes | None, Any]:
            key, start, length = request
            key = check_key(key)
            pin = pins.get(key)
            found = self._range_versioned(key, start, length, {"if_match": pin} if pin else {})
            if found[0] is None and pin:
                raise WriteConflictError(f"{self.url}/{key}: deleted since it was read")
            return found

        return self._map(one, list(requests))

    def open_plain(self, key: str) -> PlainObject | None:
        """One request (a HEAD) for the size, version and ``Content-Encoding``; reads of an
        object without one ask for that version (``If-Match``) when its ETag is strong (weak
        ones never match, RFC 9110). Servers that ignore ``If-Match`` (fake-gcs-server) and
        ETags of whole seconds (nginx) leave a quick same-size replacement unseen."""
        key = check_key(key)
        try:
            _, result = self._call("HEAD", key, lambda: self._fetch(key, {"head": True}))
        except _Missing:
            return None
        if not _identity(result.attributes.get("Content-Encoding")):
            return None
        etag = _strong_etag(result.meta)
        pin = {"if_match": etag} if etag else {}

        def read(start: int, length: int) -> bytes:
            data = self._range(key, start, length, pin) if length else b""
            if data is None or len(data) != length:
                raise StorageError(f"{self.url}/{key}: changed while it was being read")
            return data

        return PlainObject(int(result.meta["size"]), read)

    def _head(self, key: str) -> Any:
        obstore = require_obstore(self.extra)
        try:
            return self._call("HEAD", key, lambda: obstore.head(self._client(), key))
        except _Missing:
            return None

    def exists(self, key: str) -> bool:
        """Whether ``key`` exists (one HEAD request)."""
        return self._head(check_key(key)) is not None

    def size(self, key: str) -> int | None:
        """Stored (possibly compressed) size of ``key`` in bytes, or ``None``."""
        meta = self._head(check_key(key))
        return None if meta is None else int(meta["size"])

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with ``prefix`` (a string prefix, recursive)."""
        obstore = require_obstore(self.extra)
        directory = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        if directory:
            directory = check_key(directory)

        def collect() -> list[str]:
            listing = obstore.list(self._client(), prefix=directory or None)
            return [str(meta["path"]) for meta in listing.collect()]

        try:
            paths = self._call("LIST", prefix or "", collect)
        except _Missing:
            return iter(())
        return iter(sorted(p for p in paths if p.startswith(prefix)))

    # ------------------------------------------------------------------ writes

    def _attributes(self, key: str, options: PutOptions) -> dict[str, str]:
        attrs = {"Content-Type": options.content_type or guess_content_type(key)}
        if options.compress:
            attrs["Content-Encoding"] = options.compress
        cache = options.cache_control or self.cache_control
        if cache:
            attrs["Cache-Control"] = cache
        return attrs

    def _upload(self, key: str, data: bytes, options: PutOptions, mode: Any) -> str:
        key = check_key(key)
        self._check_writable(key)
        obstore = require_obstore(self.extra)
        method = normalize_method(options.compress)
        payload = compress(data, method, options.compress_level)
        attrs = self._attributes(key, options)

        def once() -> str:
            kwargs: dict[str, Any] = {"attributes": attrs, "use_multipart": False}
            if mode is not None:
                kwargs["mode"] = mode
            result = obstore.put(self._client(), key, payload, **kwargs)
            return self._version_of(result)

        try:
            return self._call("PUT", key, once)
        except _Missing as exc:
            raise StorageError(f"{self._what('PUT', key)}: bucket not found") from exc

    def put(self, key: str, data: bytes, options: PutOptions = NO_OPTIONS) -> None:
        """Upload ``data`` (compressed per ``options``) in one request; atomic on S3/GCS."""
        self._upload(key, data, options, None)

    def put_if(
        self,
        key: str,
        data: bytes,
        options: PutOptions = NO_OPTIONS,
        expected_version: str | None = None,
    ) -> str:
        """Upload only if ``key`` is still at ``expected_version`` (``None``: does not exist).

        Returns the new version; raises :class:`WriteConflictError` when another writer won.
        A retried request whose first try succeeded unseen also reports a conflict.
        """
        mode: Any = "create" if expected_version is None else self._update_mode(expected_version)
        return self._upload(key, data, options, mode)

    @staticmethod
    def _update_mode(expected_version: str) -> dict[str, str]:
        return {"e_tag": expected_version}

    def delete(self, key: str) -> None:
        """Delete ``key``; a missing key is not an error."""
        key = check_key(key)
        self._check_writable(key)
        obstore = require_obstore(self.extra)
        try:
            self._call("DELETE", key, lambda: obstore.delete(self._client(), key))
        except _Missing:
            return
