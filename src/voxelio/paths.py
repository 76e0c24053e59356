"""The cloud path grammar: ``[FORMAT://]PROTOCOL://BUCKET/DATASET/LAYER``.

Accepted forms, as in cloud-volume and cloud-files:

- ``gs://bucket/dataset/layer``, ``s3://...``, ``http(s)://host/...``, ``mem://...``,
  ``file:///abs/path``, S3-compatible aliases (``matrix://``, ``tigerdata://`` and user aliases,
  resolved by the storage layer), and ``s3://https://host/bucket/...`` custom endpoints;
- a format prefix: ``precomputed://gs://...`` (``precomputed`` is the default);
- Neuroglancer's new-style suffix: ``gs://bucket/layer|neuroglancer-precomputed:``;
- bare local paths (``./data/layer``, ``~/layer``, ``/abs/layer``), made absolute ``file://``.

Pure functions; nothing here touches storage.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from voxelio.errors import PathError, UnsupportedFormatError, UnsupportedProtocolError

FORMATS = ("precomputed", "graphene", "n5", "zarr", "zarr2", "zarr3", "boss")
SUPPORTED_FORMATS = ("precomputed",)
BUILTIN_PROTOCOLS = ("file", "mem", "gs", "s3", "http", "https", "matrix", "tigerdata")
_TAIL_FORMATS = {
    "neuroglancer-precomputed": "precomputed",
    "zarr2": "zarr2",
    "zarr3": "zarr3",
    "zarr": "zarr",
    "n5": "n5",
}
_SCHEME_RE = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)


@dataclass(frozen=True)
class CloudPath:
    """A parsed cloud path.

    ``format``: data format (``"precomputed"``...); ``protocol``: storage protocol;
    ``location``: everything after ``protocol://`` without a trailing slash (for ``file`` an
    absolute path; for custom S3 endpoints it starts with ``https://host/``).
    """

    format: str
    protocol: str
    location: str

    @property
    def url(self) -> str:
        """The storage URL of the layer, ``protocol://location``."""
        return f"{self.protocol}://{self.location}"

    @property
    def cloudpath(self) -> str:
        """The canonical cloud path: the URL, prefixed by the format when not precomputed."""
        prefix = "" if self.format == "precomputed" else f"{self.format}://"
        return prefix + self.url

    @property
    def _parts(self) -> list[str]:
        loc = self.location
        if self.protocol == "s3" and _SCHEME_RE.match(loc):
            loc = loc.split("://", 1)[1].split("/", 1)[-1]
        return [p for p in loc.split("/") if p]

    @property
    def bucket(self) -> str:
        """The bucket (or host, or first directory for local paths)."""
        parts = self._parts
        return parts[0] if parts else ""

    @property
    def layer(self) -> str:
        """The last path segment (the layer name)."""
        parts = self._parts
        return parts[-1] if parts else ""

    @property
    def dataset(self) -> str:
        """The segment before the layer."""
        parts = self._parts
        return parts[-2] if len(parts) >= 2 else ""

    @property
    def basepath(self) -> str:
        """The URL of the directory holding the layer."""
        return self.url.rsplit("/", 1)[0]

    def join(self, relative: str) -> CloudPath:
        """A path relative to this layer (``..`` allowed), e.g. the mesh directory."""
        segments = self.location.split("/")
        for part in relative.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if len(segments) <= 1:
                    raise PathError(f"{relative!r} climbs above the root of {self.url}")
                segments.pop()
            else:
                segments.append(part)
        return CloudPath(self.format, self.protocol, "/".join(segments))


def parse(path: str, extra_protocols: tuple[str, ...] = ()) -> CloudPath:
    """Parse a cloud path or local path; raise :class:`PathError` and friends when malformed."""
    if not isinstance(path, str) or not path.strip():
        raise PathError(f"cloud path must be a non-empty string, got {path!r}")
    if "\0" in path:
        raise PathError(f"{path!r}: a path cannot hold a NUL character")
    text, tail_format = _strip_tail(path.strip())
    fmt, rest = _split_format(text)
    if tail_format is not None:
        fmt = tail_format
    if fmt not in SUPPORTED_FORMATS:
        if fmt in FORMATS:
            raise UnsupportedFormatError(f"{path!r}: format {fmt!r} is not supported yet")
        raise UnsupportedFormatError(f"{path!r}: unknown format {fmt!r}")
    match = _SCHEME_RE.match(rest)
    if match is None:
        return CloudPath(fmt, "file", _local(rest))
    protocol = match.group(1).lower()
    location = rest[match.end() :].rstrip("/")
    if protocol not in BUILTIN_PROTOCOLS + extra_protocols:
        raise UnsupportedProtocolError(
            f"{path!r}: unknown protocol {protocol!r}; "
            f"use one of {', '.join(BUILTIN_PROTOCOLS + extra_protocols)}"
        )
    if protocol == "file":
        return CloudPath(fmt, "file", _local(location if location.startswith("/") else location))
    if not location:
        raise PathError(f"{path!r}: no bucket or path after {protocol}://")
    return CloudPath(fmt, protocol, location)


def _strip_tail(text: str) -> tuple[str, str | None]:
    if "|" not in text:
        return text, None
    head, _, tail = text.partition("|")
    name = tail.rstrip(":").strip().lower()
    if name not in _TAIL_FORMATS:
        raise UnsupportedFormatError(f"{text!r}: unknown Neuroglancer format suffix {tail!r}")
    return head, _TAIL_FORMATS[name]


def _split_format(text: str) -> tuple[str, str]:
    match = _SCHEME_RE.match(text)
    if match is None:
        return "precomputed", text
    head = match.group(1).lower()
    rest = text[match.end() :]
    if head in FORMATS and _SCHEME_RE.match(rest):
        return head, rest
    if head in FORMATS and head != "boss":
        return head, rest
    return "precomputed", text


def _local(path: str) -> str:
    if not path:
        raise PathError("empty local path")
    return os.path.abspath(os.path.expanduser(path)).rstrip("/") or "/"


def ascloudpath(path: CloudPath | str) -> str:
    """The canonical string form of ``path``."""
    return path.cloudpath if isinstance(path, CloudPath) else parse(path).cloudpath
