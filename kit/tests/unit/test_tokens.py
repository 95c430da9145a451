"""Token verification against a JWKS served by a stub HTTP transport (real ones: integration)."""

import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shequ_kit.errors import DomainError, ErrorKind
from shequ_kit.tenancy import TenantId
from shequ_kit.tokens import Grant, Role, TokenVerifier, bearer_token, grants_from_groups

ISSUER = "http://keycloak.test/realms/shequ"
HUSHAN = TenantId("xiaoshan.shushan.hushan")


class Realm:
    """A signing key and the JWKS endpoint that publishes it."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.jwks_requests = 0
        self.down = False
        self.rotate()

    def rotate(self) -> str:
        kid = f"k{len(self.keys) + 1}"
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.current = kid
        return kid

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.jwks_requests += 1
            if self.down:
                return httpx.Response(503)
            keys = []
            for kid, key in self.keys.items():
                jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
                keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
            return httpx.Response(200, json={"keys": keys})

        return httpx.MockTransport(handle)

    def token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": "shequ",
            "sub": "u-1",
            "iat": now,
            "exp": now + 300,
            "preferred_username": "hushan-staff",
            "groups": ["/xiaoshan/shushan/hushan/community-staff"],
            **overrides,
        }
        return jwt.encode(claims, self.keys[self.current], "RS256", headers={"kid": self.current})


@pytest.fixture
def realm() -> Realm:
    return Realm()


def verifier(realm: Realm, **kwargs: Any) -> TokenVerifier:
    return TokenVerifier(
        issuer=ISSUER, audience="shequ", http=httpx.Client(transport=realm.transport()), **kwargs
    )


def rejected(verifier: TokenVerifier, token: str) -> DomainError:
    with pytest.raises(DomainError) as failure:
        verifier.verify(token)
    assert failure.value.kind is ErrorKind.UNAUTHENTICATED
    return failure.value


def test_a_valid_token_yields_the_callers_grants(realm: Realm) -> None:
    principal = verifier(realm).verify(realm.token())
    assert principal.username == "hushan-staff"
    assert principal.grants == {Grant(Role.COMMUNITY_STAFF, HUSHAN)}


def test_keys_are_fetched_once_and_cached(realm: Realm) -> None:
    check = verifier(realm)
    for _ in range(5):
        check.verify(realm.token())
    assert realm.jwks_requests == 1


def test_an_unknown_key_id_refreshes_the_keys_once(realm: Realm) -> None:
    check = verifier(realm, min_refresh_interval_s=0)
    check.verify(realm.token())
    realm.rotate()
    assert check.verify(realm.token()).subject == "u-1"
    assert realm.jwks_requests == 2


def test_refreshes_for_unknown_keys_are_rate_limited(realm: Realm) -> None:
    check = verifier(realm, min_refresh_interval_s=60)
    check.verify(realm.token())
    forged_kid = jwt.encode({"sub": "x"}, realm.keys["k1"], "RS256", headers={"kid": "nope"})
    for _ in range(3):
        rejected(check, forged_kid)
    assert realm.jwks_requests == 1


def test_cached_keys_keep_working_while_keycloak_is_down(realm: Realm) -> None:
    check = verifier(realm)
    check.verify(realm.token())
    realm.down = True
    assert check.verify(realm.token()).username == "hushan-staff"


def test_expired_token_is_rejected_beyond_the_leeway(realm: Realm) -> None:
    token = realm.token()
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert verifier(realm, clock=lambda: exp + 20, leeway_s=30).verify(token)
    assert "expired" in str(rejected(verifier(realm, clock=lambda: exp + 31, leeway_s=30), token))


def test_wrong_issuer_and_wrong_audience_are_rejected(realm: Realm) -> None:
    rejected(verifier(realm), realm.token(iss="http://keycloak.test/realms/master"))
    rejected(verifier(realm), realm.token(aud="account"))


def test_alg_none_is_rejected_before_any_key_lookup(realm: Realm) -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"none","kid":"k1"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps({"sub": "x"}).encode()).rstrip(b"=").decode()
    assert "not accepted" in str(rejected(verifier(realm), f"{header}.{body}."))
    assert realm.jwks_requests == 0


def test_tampered_claims_fail_the_signature(realm: Realm) -> None:
    header, body, signature = realm.token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["groups"] = ["/platform-admin"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    rejected(verifier(realm), f"{header}.{forged}.{signature}")


def test_group_paths_become_tenant_role_grants() -> None:
    grants = grants_from_groups(
        [
            "/platform-admin",
            "/xiaoshan/shushan/street-admin",
            "/xiaoshan/shushan/hushan/pii-reader",
            "/xiaoshan/shushan/hushan",  # plain membership: no role
            "/community-staff",  # a role at the root is only meaningful for platform-admin
            "/Bad Tenant/resident",
        ]
    )
    assert grants == {
        Grant(Role.PLATFORM_ADMIN, None),
        Grant(Role.STREET_ADMIN, TenantId("xiaoshan.shushan")),
        Grant(Role.PII_READER, HUSHAN),
    }


def test_require_honours_subtree_grants_and_names_what_is_missing(realm: Realm) -> None:
    street = verifier(realm).verify(realm.token(groups=["/xiaoshan/shushan/street-admin"]))
    street.require(HUSHAN, Role.STREET_ADMIN)
    with pytest.raises(DomainError) as denied:
        street.require(TenantId("xiaoshan.beigan.shibei"), Role.STREET_ADMIN)
    assert denied.value.kind is ErrorKind.PERMISSION_DENIED
    assert denied.value.params["required_roles"] == "street-admin"
    with pytest.raises(DomainError):
        street.require(HUSHAN, Role.PII_READER)
    assert street.granted_roots() == {TenantId("xiaoshan.shushan")}


@pytest.mark.parametrize("value", [None, "", "Basic abc", "Bearer ", "token-without-scheme"])
def test_anything_but_a_bearer_token_is_unauthenticated(value: str | None) -> None:
    with pytest.raises(DomainError):
        bearer_token(value)
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
