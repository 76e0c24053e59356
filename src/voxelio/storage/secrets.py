"""Credential discovery, as cloud-volume users keep their credentials.

Order of precedence for one service (``"aws"``, ``"google"``, ``"matrix"``, ``"tigerdata"``,
a user alias name, ``"http"``) and one bucket:

1. the explicit ``secrets=`` value (a dict, a JSON string or a bare token);
2. a per-bucket file ``BUCKET-SERVICE-secret.json`` (or ``HOST-SERVICE-secret.json``);
3. the default file ``SERVICE-secret.json``;
4. the usual environment variables (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
   [``AWS_SESSION_TOKEN``] for S3-like services, ``GOOGLE_APPLICATION_CREDENTIALS`` for GCS).

Files are looked for in ``$CLOUD_VOLUME_DIR/secrets`` (default ``~/.cloudvolume/secrets``),
then ``$CLOUD_FILES_DIR/secrets`` (default ``~/.cloudfiles/secrets``). Everything is read when
:func:`find_credentials` is called, never at import. A :class:`Credentials` value names its
source; its ``repr`` and ``str`` show key names only, never a secret value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voxelio.errors import AuthenticationError

#: environment variables read for S3-like services (all optional but the first two)
AWS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION")


@dataclass(frozen=True, repr=False)
class Credentials:
    """Secret values for one service, with where they came from.

    ``values`` maps names (``AWS_ACCESS_KEY_ID``, ``private_key``, ``token`` ...) to values.
    ``source`` is a human description of where they were found (a file name, "secrets=
    argument", "environment"). Frozen and picklable; repr shows key names, never values.
    """

    service: str
    source: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def get(self, *names: str) -> Any:
        """The first of ``names`` present (case-insensitive), or ``None``."""
        lowered = {k.lower(): v for k, v in self.values.items()}
        for name in names:
            if name.lower() in lowered and lowered[name.lower()] not in (None, ""):
                return lowered[name.lower()]
        return None

    def __repr__(self) -> str:
        keys = sorted(self.values)
        return f"Credentials(service={self.service!r}, source={self.source!r}, keys={keys!r})"

    __str__ = __repr__


def secret_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    """The directories searched for ``*-secret.json`` files, in order."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or os.path.expanduser("~"))
    cv_dir = Path(env.get("CLOUD_VOLUME_DIR") or home / ".cloudvolume")
    cf_dir = Path(env.get("CLOUD_FILES_DIR") or home / ".cloudfiles")
    dirs = [cv_dir / "secrets", cf_dir / "secrets"]
    return list(dict.fromkeys(dirs))


def parse_secrets(secrets: Any, service: str) -> Credentials | None:
    """Turn a ``secrets=`` value (dict, JSON string, bare token, None) into credentials."""
    if secrets is None:
        return None
    if isinstance(secrets, Credentials):
        return secrets
    if isinstance(secrets, Mapping):
        return Credentials(service, "secrets= argument", dict(secrets))
    if isinstance(secrets, (bytes, bytearray)):
        secrets = bytes(secrets).decode("utf8")
    if isinstance(secrets, str):
        text = secrets.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise AuthenticationError(
                    f"secrets= argument for {service}: looks like JSON but does not parse "
                    f"(line {getattr(exc, 'lineno', '?')}); the value is not shown"
                ) from None
            return Credentials(service, "secrets= argument (JSON)", dict(value))
        return Credentials(service, "secrets= argument (token)", {"token": text})
    raise TypeError(
        f"secrets= must be a dict, a JSON string or a token string, got {type(secrets).__name__}"
    )


def _read_file(path: Path, service: str) -> Credentials:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        reason = type(exc).__name__
        raise AuthenticationError(
            f"credential file {path} for {service} cannot be read as JSON ({reason})"
        ) from None
    if not isinstance(value, dict):
        raise AuthenticationError(f"credential file {path} for {service} must hold a JSON object")
    return Credentials(service, str(path), value)


def _from_env(service: str, env: Mapping[str, str]) -> Credentials | None:
    if service == "google":
        path = env.get("GOOGLE_APPLICATION_CREDENTIALS")
        if path:
            creds = _read_file(Path(path), service)
            return Credentials(service, f"GOOGLE_APPLICATION_CREDENTIALS ({path})", creds.values)
        return None
    if service == "http":
        return None
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        values = {name: env[name] for name in AWS_ENV if env.get(name)}
        source = "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
        return Credentials(service, source, values)
    return None


def find_credentials(
    service: str,
    bucket: str = "",
    secrets: Any = None,
    *,
    host: str = "",
    env: Mapping[str, str] | None = None,
) -> Credentials | None:
    """Find credentials for ``service`` and ``bucket`` in the order of the module docstring.

    ``host`` (an endpoint's host name) is also tried as a file prefix. ``env`` replaces
    ``os.environ`` (for tests). Returns ``None`` when nothing is found; raises
    :class:`AuthenticationError` naming the file when a credential file is malformed.
    """
    explicit = parse_secrets(secrets, service)
    if explicit is not None:
        return explicit
    env = os.environ if env is None else env
    names = [f"{prefix}-{service}-secret.json" for prefix in (bucket, host) if prefix]
    names.append(f"{service}-secret.json")
    for name in names:
        for directory in secret_dirs(env):
            path = directory / name
            if path.is_file():
                return _read_file(path, service)
    return _from_env(service, env)


def describe_search(service: str, bucket: str = "", host: str = "") -> str:
    """A sentence listing where credentials for ``service`` were looked for (for errors)."""
    names = [f"{p}-{service}-secret.json" for p in (bucket, host) if p]
    names.append(f"{service}-secret.json")
    dirs = ", ".join(str(d) for d in secret_dirs())
    env = "GOOGLE_APPLICATION_CREDENTIALS" if service == "google" else "AWS_ACCESS_KEY_ID"
    return f"secrets= argument, files {', '.join(names)} in {dirs}, environment {env}"
