"""``s3://`` (and S3-compatible endpoints and aliases) through obstore's S3 client.

Credentials come from :mod:`voxelio.storage.secrets` (``aws-secret.json``, ``ALIAS-secret.json``,
per-bucket files, ``secrets=``, ``AWS_*`` environment variables). With none found the store
makes unsigned (anonymous) requests: the client is never allowed to ask an instance metadata
server. Requests are path-style so any S3-compatible server works. Thread safe; pickles
without connections (see :class:`~voxelio.storage.cloud.CloudStore`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from voxelio.errors import AuthenticationError
from voxelio.storage.cloud import CloudStore, require_obstore
from voxelio.storage.secrets import Credentials, describe_search, find_credentials

DEFAULT_REGION = "us-east-1"


class S3Store(CloudStore):
    """Objects below ``s3://bucket/prefix`` on AWS or on the S3 server at ``endpoint``.

    ``service`` names the credential files (``"aws"``; an alias such as ``"matrix"``).
    ``secrets`` overrides discovery (dict with ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
    [``AWS_SESSION_TOKEN``, ``AWS_DEFAULT_REGION``], or its JSON). Other keyword arguments are
    those of :class:`~voxelio.storage.cloud.CloudStore` (``read_only``, ``concurrency``,
    ``retry``, ``cdn_cache``).
    """

    extra = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint: str | None = None,
        region: str | None = None,
        service: str = "aws",
        secrets: Any = None,
        url: str | None = None,
        **options: Any,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.service = service
        host = urlsplit(self.endpoint).hostname or "" if self.endpoint else ""
        self.credentials: Credentials | None = find_credentials(service, bucket, secrets, host=host)
        self.region = region or self._cred("AWS_DEFAULT_REGION", "region") or DEFAULT_REGION
        default_url = ("s3://" + (f"{self.endpoint}/" if self.endpoint else "") + bucket) + (
            f"/{self.prefix}" if self.prefix else ""
        )
        super().__init__(url or default_url, **options)

    def _cred(self, *names: str) -> Any:
        return None if self.credentials is None else self.credentials.get(*names)

    def _auth_hint(self) -> str:
        if self.credentials is not None:
            return self.credentials.source
        host = urlsplit(self.endpoint).hostname or "" if self.endpoint else ""
        return "none found, request unsigned; searched " + describe_search(
            self.service, self.bucket, host
        )

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "bucket": self.bucket,
            "region": self.region,
            "virtual_hosted_style_request": False,
        }
        if self.endpoint:
            config["endpoint"] = self.endpoint
        if self.credentials is None:
            config["skip_signature"] = True
            return config
        key_id = self._cred("AWS_ACCESS_KEY_ID", "access_key_id", "access_key")
        secret = self._cred("AWS_SECRET_ACCESS_KEY", "secret_access_key", "secret_key")
        if not key_id or not secret:
            raise AuthenticationError(
                f"{self.url}: credentials from {self.credentials.source} need "
                f"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (found keys "
                f"{sorted(self.credentials.values)})"
            )
        config["access_key_id"] = str(key_id)
        config["secret_access_key"] = str(secret)
        token = self._cred("AWS_SESSION_TOKEN", "session_token", "token")
        if token:
            config["session_token"] = str(token)
        return config

    def _build_client(self, kind: str) -> Any:
        obstore = require_obstore(self.extra)
        return obstore.store.S3Store(
            prefix=self.prefix or None,
            config=self._config(),  # type: ignore[arg-type]
            client_options=self._client_options(),  # type: ignore[arg-type]
            retry_config=self._retry_config(),  # type: ignore[arg-type]
        )
