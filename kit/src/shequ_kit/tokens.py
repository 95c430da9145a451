"""Keycloak access tokens: verification, grants from the ``groups`` claim, and ``require``.

The verifier caches the realm's JWKS and refreshes it only when a token names a key it has not
seen (rate-limited), so Keycloak is not asked per request and an already-issued token keeps
working while Keycloak is down. Only asymmetric algorithms are accepted: ``none`` and HMAC
tokens (which anyone holding a public key could forge) are refused before any key is looked at.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import httpx
import jwt

from shequ_kit.errors import DomainError, permission_denied, unauthenticated
from shequ_kit.tenancy import InvalidTenantIdError, TenantId

ACCEPTED_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256"})


class Role(StrEnum):
    PLATFORM_ADMIN = "platform-admin"
    STREET_ADMIN = "street-admin"
    COMMUNITY_STAFF = "community-staff"
    GRID_WORKER = "grid-worker"
    RESIDENT = "resident"
    PII_READER = "pii-reader"


@dataclass(frozen=True)
class Grant:
    """A role on a tenant node and its subtree; ``tenant`` None means every tenant."""

    role: Role
    tenant: TenantId | None

    def covers(self, tenant: TenantId) -> bool:
        return self.tenant is None or self.tenant.contains(tenant)


def grants_from_groups(groups: Iterable[str]) -> frozenset[Grant]:
    """Parse Keycloak group paths (``/xiaoshan/shushan/hushan/community-staff``) into grants.

    The last segment names the role, the rest the tenant. Paths that name no role (plain
    membership of a tenant group) or a malformed tenant grant nothing.
    """
    grants = set()
    for path in groups:
        *tenant_segments, last = path.strip("/").split("/")
        try:
            role = Role(last)
        except ValueError:
            continue
        if not tenant_segments:
            if role is Role.PLATFORM_ADMIN:
                grants.add(Grant(role, None))
            continue
        try:
            grants.add(Grant(role, TenantId(".".join(tenant_segments))))
        except InvalidTenantIdError:
            continue
    return frozenset(grants)


@dataclass(frozen=True)
class Principal:
    """A verified caller."""

    subject: str
    username: str
    grants: frozenset[Grant]
    token: str = field(repr=False)
    expires_at: datetime
    claims: Mapping[str, Any] = field(repr=False, default_factory=dict)

    def has(self, role: Role, tenant: TenantId) -> bool:
        return any(g.role is role and g.covers(tenant) for g in self.grants)

    def can_access(self, tenant: TenantId) -> bool:
        """Holds any role on ``tenant`` (directly or through an ancestor)."""
        return any(g.covers(tenant) for g in self.grants)

    def require(self, tenant: TenantId, *roles: Role) -> None:
        """Raise permission denied unless the caller holds one of ``roles`` on ``tenant``."""
        if not any(self.has(role, tenant) for role in roles):
            needed = ", ".join(roles)
            raise permission_denied(
                f"您在 {tenant} 没有所需的角色（{needed}）",
                f"you hold none of the roles [{needed}] on tenant {tenant}",
                tenant=str(tenant),
                required_roles=needed,
            )

    @property
    def is_platform_admin(self) -> bool:
        return any(g.role is Role.PLATFORM_ADMIN and g.tenant is None for g in self.grants)

    def granted_roots(self) -> frozenset[TenantId]:
        """The topmost tenant nodes the caller holds any grant on (not for global grants)."""
        nodes = {g.tenant for g in self.grants if g.tenant is not None}
        return frozenset(n for n in nodes if not any(o.is_ancestor_of(n) for o in nodes))


class TokenVerifier:
    """Verifies access tokens of one realm for one audience."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        leeway_s: float = 30.0,
        min_refresh_interval_s: float = 10.0,
        http: httpx.Client | None = None,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``timeout_s`` bounds each fetch of the signing keys (unless ``http`` is given, whose
        own timeout then applies)."""
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.jwks_url = jwks_url or f"{self.issuer}/protocol/openid-connect/certs"
        self.leeway_s = leeway_s
        self.min_refresh_interval_s = min_refresh_interval_s
        self._http = http or httpx.Client(timeout=timeout_s)
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._last_refresh = float("-inf")
        self._lock = threading.Lock()

    def refresh_keys(self) -> None:
        """Fetch the JWKS now (readiness checks call this to prove Keycloak answers)."""
        response = self._http.get(self.jwks_url)
        response.raise_for_status()
        keys = {}
        for jwk in response.json().get("keys", []):
            if jwk.get("use", "sig") != "sig" or "kid" not in jwk:
                continue
            try:
                keys[jwk["kid"]] = jwt.PyJWK(jwk)
            except jwt.PyJWTError:
                continue  # e.g. an encryption-only key type we do not verify with
        self._keys = keys

    @property
    def holds_keys(self) -> bool:
        """A JWKS was fetched: tokens signed with its keys verify while Keycloak is away."""
        return bool(self._keys)

    def _key_for(self, kid: str) -> jwt.PyJWK:
        key = self._keys.get(kid)
        if key is not None:
            return key
        with self._lock:
            key = self._keys.get(kid)
            now = time.monotonic()
            if key is None and now - self._last_refresh >= self.min_refresh_interval_s:
                self._last_refresh = now
                try:
                    self.refresh_keys()
                except httpx.HTTPError as error:
                    raise unauthenticated(f"cannot fetch signing keys: {error}") from error
                key = self._keys.get(kid)
        if key is None:
            raise unauthenticated("token is signed with an unknown key")
        return key

    def verify(self, token: str) -> Principal:
        """Verify signature, issuer, audience and lifetime; raise unauthenticated otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise unauthenticated(f"malformed token: {error}") from error
        algorithm = header.get("alg")
        if algorithm not in ACCEPTED_ALGORITHMS:
            raise unauthenticated(f"token algorithm {algorithm!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise unauthenticated("token names no signing key")
        key = self._key_for(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                # Lifetime is checked below against our clock (testable, same leeway).
                options={
                    "require": ["exp", "iat", "sub"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as error:
            raise unauthenticated(f"token rejected: {error}") from error
        self._check_lifetime(claims)
        return Principal(
            subject=str(claims["sub"]),
            username=str(claims.get("preferred_username", claims["sub"])),
            grants=grants_from_groups(claims.get("groups", [])),
            token=token,
            expires_at=datetime.fromtimestamp(float(claims["exp"]), UTC),
            claims=claims,
        )

    def _check_lifetime(self, claims: Mapping[str, Any]) -> None:
        now = self._clock()
        try:
            expires, issued = float(claims["exp"]), float(claims["iat"])
            not_before = float(claims.get("nbf", issued))
        except (TypeError, ValueError) as error:
            raise unauthenticated("token lifetime claims are not numbers") from error
        if now > expires + self.leeway_s:
            raise unauthenticated("token has expired")
        if now + self.leeway_s < min(issued, not_before):
            raise unauthenticated("token is not valid yet")


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer …`` value; raise unauthenticated otherwise."""
    if not authorization:
        raise unauthenticated("no bearer token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthenticated("authorization is not a bearer token")
    return token.strip()


__all__ = [
    "DomainError",
    "Grant",
    "Principal",
    "Role",
    "TokenVerifier",
    "bearer_token",
    "grants_from_groups",
]
