"""Hostile variants of real access tokens, for the tests that prove they are refused.

Real tokens that are wrong in a legitimate way (expired, another issuer, another audience,
another realm) come from the local Keycloak itself (``KeycloakServer``); these are the ones an
attacker would build by hand.
"""

from __future__ import annotations

import base64
import json
from typing import Any


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def with_tampered_claims(token: str, **changes: Any) -> str:
    """The token with changed claims and its original signature (which no longer matches)."""
    header, _, signature = token.split(".")
    return ".".join(
        [header, _b64url(json.dumps({**claims_of(token), **changes}).encode()), signature]
    )


def unsigned(token: str) -> str:
    """The token's claims under ``alg: none`` with an empty signature."""
    encoded_header, payload, _ = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(encoded_header + "=="))
    forged_header = _b64url(
        json.dumps({"alg": "none", "typ": "JWT", "kid": header.get("kid")}).encode()
    )
    return f"{forged_header}.{payload}."
