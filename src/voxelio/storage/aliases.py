"""S3-compatible endpoint aliases (``matrix://``, ``tigerdata://``, user aliases) and URL forms.

The built-in aliases are cloud-files' official ones. User aliases are read from cloud-files'
alias file, ``$CLOUD_FILES_DIR/aliases.json`` (default ``~/.cloudfiles/aliases.json``),
``{"alias": {"host": "s3://https://host/"}, ...}``, each time :func:`load_aliases` is called
(never at import). :func:`parse_cloud_url` turns ``s3://bucket/p``, ``s3://https://host/bucket/p``,
``gs://bucket/p`` and ``ALIAS://bucket/p`` into a :class:`CloudLocation`;
:func:`to_https_url` gives the public read-only HTTPS URL used by ``use_https=True``.
Pure functions on values; thread safe.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from voxelio.errors import PathError, UnsupportedProtocolError

#: cloud-files' official aliases: name -> S3 endpoint
OFFICIAL_ALIASES: dict[str, str] = {
    "matrix": "https://s3-hpcrc.rc.princeton.edu",
    "tigerdata": "https://td.princeton.edu",
    "nokura": "https://c10s.pni.princeton.edu",
}
#: protocols that cannot be redefined by an alias
BASE_PROTOCOLS = frozenset({"gs", "s3", "file", "mem", "http", "https"})
GCS_PUBLIC = "https://storage.googleapis.com"
S3_PUBLIC = "https://s3.amazonaws.com"


@dataclass(frozen=True)
class CloudLocation:
    """A parsed cloud URL.

    ``protocol`` is ``"s3"`` or ``"gs"`` (aliases resolve to ``"s3"``); ``service`` names the
    credential files (``"aws"``, ``"google"``, or the alias name); ``endpoint`` is ``None``
    for the provider's default; ``bucket`` and ``prefix`` (no leading or trailing ``/``).
    """

    protocol: str
    service: str
    bucket: str
    prefix: str
    endpoint: str | None = None
    alias: str | None = None

    @property
    def url(self) -> str:
        """The canonical URL of this location (alias form kept)."""
        if self.alias:
            head = f"{self.alias}://"
        elif self.endpoint:
            head = f"s3://{self.endpoint}/"
        else:
            head = f"{self.protocol}://"
        return head + "/".join(p for p in (self.bucket, self.prefix) if p)


def alias_file(env: Mapping[str, str] | None = None) -> Path:
    """Where cloud-files keeps user aliases."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or os.path.expanduser("~"))
    return Path(env.get("CLOUD_FILES_DIR") or home / ".cloudfiles") / "aliases.json"


def _host_of(alias: str, value: object, source: str) -> str:
    host = value.get("host") if isinstance(value, Mapping) else value
    if not isinstance(host, str) or not host:
        raise PathError(f"{source}: alias {alias!r} needs a 'host' string, got {value!r}")
    if host.startswith("s3://"):
        host = host[len("s3://") :]
    if not host.startswith(("http://", "https://")):
        raise PathError(f"{source}: alias {alias!r} host {host!r} must be s3://http(s)://host/")
    return host.rstrip("/")


def load_aliases(path: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Official aliases plus those of the alias file (``{name: endpoint URL}``)."""
    aliases = dict(OFFICIAL_ALIASES)
    target = Path(path) if path is not None else alias_file()
    if not target.is_file() or target.stat().st_size == 0:
        return aliases
    try:
        data = json.loads(target.read_text())
    except (OSError, ValueError) as exc:
        raise PathError(f"alias file {target} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise PathError(f"alias file {target} must hold a JSON object")
    for name, value in data.items():
        if name in BASE_PROTOCOLS:
            raise PathError(f"alias file {target}: {name!r} cannot override a base protocol")
        aliases[name] = _host_of(name, value, str(target))
    return aliases


def _split_bucket(rest: str, url: str) -> tuple[str, str]:
    bucket, _, prefix = rest.rstrip("/").partition("/")
    if not bucket:
        raise PathError(f"{url!r}: no bucket name")
    return bucket, prefix.strip("/")


def parse_cloud_url(url: str, aliases: Mapping[str, str] | None = None) -> CloudLocation:
    """Parse an ``s3://``, ``gs://`` or alias URL; see the module docstring for the forms."""
    protocol, sep, rest = url.partition("://")
    if not sep:
        raise PathError(f"{url!r}: expected PROTOCOL://BUCKET/PATH")
    if protocol == "gs":
        bucket, prefix = _split_bucket(rest, url)
        return CloudLocation("gs", "google", bucket, prefix)
    if protocol == "s3":
        if rest.startswith(("http://", "https://")):
            scheme, _, tail = rest.partition("://")
            host, _, path = tail.partition("/")
            if not host:
                raise PathError(f"{url!r}: custom S3 endpoint needs a host")
            bucket, prefix = _split_bucket(path, url)
            return CloudLocation("s3", "aws", bucket, prefix, endpoint=f"{scheme}://{host}")
        bucket, prefix = _split_bucket(rest, url)
        return CloudLocation("s3", "aws", bucket, prefix)
    table = load_aliases() if aliases is None else aliases
    if protocol in table:
        bucket, prefix = _split_bucket(rest, url)
        return CloudLocation("s3", protocol, bucket, prefix, table[protocol], alias=protocol)
    raise UnsupportedProtocolError(
        f"{url!r}: unknown protocol {protocol!r} (known: gs, s3, http, https, "
        f"{', '.join(sorted(table))}; add S3 aliases to {alias_file()})"
    )


def to_https_url(location: CloudLocation) -> str:
    """The public read-only HTTPS URL of a location (``use_https=True``)."""
    if location.endpoint:
        base = location.endpoint
    elif location.protocol == "gs":
        base = GCS_PUBLIC
    else:
        base = S3_PUBLIC
    return base + "/" + "/".join(p for p in (location.bucket, location.prefix) if p)
