"""A service's own access token (OAuth 2.0 client credentials), for calls no user makes.

Most service-to-service calls forward the caller's token (``shequ_kit.grpc_client``). Work that
no request started — a consumer re-syncing a projection, a seed, a rebuild — calls as the
service's Keycloak service account instead; its grants are the groups of that account.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from shequ_kit.errors import DomainError, ErrorKind

# Renew this long before expiry, so a token never expires on the way to the callee.
RENEW_MARGIN_S = 30.0
# After a failed renewal, the token in hand (still valid) serves this long before the next try,
# so a Keycloak that hangs does not hold every call for its timeout.
RENEW_BACKOFF_S = 5.0


class ServiceCredentials:
    """Fetches and caches a client-credentials access token; thread-safe."""

    def __init__(
        self,
        *,
        token_endpoint: str,
        client_id: str,
        client_secret: str,
        http: httpx.Client | None = None,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``timeout_s`` bounds each token request (unless ``http`` is given, whose own
        timeout then applies)."""
        self._endpoint = token_endpoint
        self._client_id = client_id
        self._client_secret = client_secret
        self._http = http or httpx.Client(timeout=timeout_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._token = ""
        self._expires_at = 0.0
        self._renew_not_before = 0.0

    @classmethod
    def for_issuer(
        cls, issuer: str, client_id: str, client_secret: str, *, timeout_s: float = 5.0
    ) -> ServiceCredentials:
        """Credentials at a Keycloak realm's token endpoint (``<issuer>/protocol/…/token``)."""
        return cls(
            token_endpoint=f"{issuer.rstrip('/')}/protocol/openid-connect/token",
            client_id=client_id,
            client_secret=client_secret,
            timeout_s=timeout_s,
        )

    def token(self) -> str:
        """The cached token, renewed when it nears expiry. While Keycloak cannot renew it, the
        token in hand serves until it expires (as users' tokens do); then UNAVAILABLE."""
        with self._lock:
            now = self._clock()
            renew_at = max(self._expires_at - RENEW_MARGIN_S, self._renew_not_before)
            if self._token and now < min(renew_at, self._expires_at):
                return self._token
            try:
                response = self._http.post(
                    self._endpoint,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self._client_id,
                        "client_secret": self._client_secret,
                    },
                )
                response.raise_for_status()
                body = response.json()
            except (httpx.HTTPError, ValueError) as error:
                if self._token and now < self._expires_at:
                    self._renew_not_before = now + RENEW_BACKOFF_S
                    return self._token
                raise DomainError(
                    "auth.service_token_unavailable",
                    "身份服务暂时不可用，请稍后重试",
                    f"cannot obtain the service's access token: {type(error).__name__}",
                    ErrorKind.UNAVAILABLE,
                ) from error
            self._token = str(body["access_token"])
            self._expires_at = self._clock() + float(body.get("expires_in", 60))
            return self._token

    def metadata(self, tenant: str) -> tuple[tuple[str, str], ...]:
        """gRPC metadata for a call as this service on ``tenant``."""
        return (("authorization", f"Bearer {self.token()}"), ("x-tenant-id", tenant))

    def close(self) -> None:
        self._http.close()
