"""``gs://`` through obstore's GCS client.

Credentials: ``google-secret.json`` (a service-account key), ``BUCKET-google-secret.json``,
``secrets=`` (a service-account dict/JSON, or a bare OAuth token), or the file named by
``GOOGLE_APPLICATION_CREDENTIALS``. Without credentials the store is anonymous and read-only:
obstore would otherwise ask the instance metadata server for a token, which voxelio never
allows. Full gets send ``Accept-Encoding: gzip`` so gzip objects arrive as stored; objects the
server decompresses on the way are accepted too. Thread safe; pickles without connections.
"""

from __future__ import annotations

import json
from typing import Any

from voxelio.errors import AuthenticationError
from voxelio.storage.cloud import CloudStore, require_obstore
from voxelio.storage.secrets import Credentials, describe_search, find_credentials


class GCSStore(CloudStore):
    """Objects below ``gs://bucket/prefix``; ``endpoint`` replaces the Google API base URL.

    Other keyword arguments are those of :class:`~voxelio.storage.cloud.CloudStore`.
    """

    extra = "gcs"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint: str | None = None,
        secrets: Any = None,
        url: str | None = None,
        read_only: bool = False,
        **options: Any,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.credentials: Credentials | None = find_credentials("google", bucket, secrets)
        anonymous = self.credentials is None
        default_url = f"gs://{bucket}" + (f"/{self.prefix}" if self.prefix else "")
        super().__init__(url or default_url, read_only=read_only or anonymous, **options)

    def _auth_hint(self) -> str:
        if self.credentials is not None:
            return self.credentials.source
        return "none found, anonymous read-only; searched " + describe_search("google", self.bucket)

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"bucket": self.bucket}
        if self.endpoint:
            config["base_url"] = self.endpoint
        creds = self.credentials
        if creds is None:
            config["skip_signature"] = True
        elif creds.get("private_key") or creds.get("disable_oauth"):
            config["service_account_key"] = json.dumps(dict(creds.values))
        elif creds.get("token", "access_token", "bearer_token"):
            config["bearer_token"] = str(creds.get("token", "access_token", "bearer_token"))
        else:
            raise AuthenticationError(
                f"{self.url}: credentials from {creds.source} are neither a service-account key "
                f"(private_key) nor a token (found keys {sorted(creds.values)})"
            )
        return config

    def _build_client(self, kind: str) -> Any:
        obstore = require_obstore(self.extra)
        return obstore.store.GCSStore(
            prefix=self.prefix or None,
            config=self._config(),  # type: ignore[arg-type]
            client_options=self._client_options({"Accept-Encoding": "gzip"}),  # type: ignore[arg-type]
            retry_config=self._retry_config(),  # type: ignore[arg-type]
        )

    @staticmethod
    def _version_of(meta: Any) -> str:
        return str(meta.get("version") or meta.get("e_tag") or "")

    @staticmethod
    def _update_mode(expected_version: str) -> dict[str, str]:
        return {"version": expected_version}
