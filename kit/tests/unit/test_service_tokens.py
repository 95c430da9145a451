"""A service's own token while Keycloak is away: the token in hand serves until it expires."""

import httpx
import pytest

from shequ_kit.errors import DomainError, ErrorKind
from shequ_kit.service_tokens import RENEW_BACKOFF_S, RENEW_MARGIN_S, ServiceCredentials

LIFETIME_S = 300.0


class Keycloak:
    """A token endpoint that can be switched off, counting the requests it receives."""

    def __init__(self) -> None:
        self.up = True
        self.requests = 0
        self.issued = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if not self.up:
            raise httpx.ConnectError("connection refused", request=request)
        self.issued += 1
        return httpx.Response(
            200, json={"access_token": f"token-{self.issued}", "expires_in": LIFETIME_S}
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def keycloak() -> Keycloak:
    return Keycloak()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def credentials(keycloak: Keycloak, clock: Clock) -> ServiceCredentials:
    return ServiceCredentials(
        token_endpoint="http://keycloak.invalid/realms/shequ/protocol/openid-connect/token",
        client_id="shequ-cases",
        client_secret="s3cret-for-tests",
        http=httpx.Client(transport=httpx.MockTransport(keycloak.handle)),
        clock=clock,
    )


def test_token_is_cached_and_renewed_before_it_expires(
    credentials: ServiceCredentials, keycloak: Keycloak, clock: Clock
) -> None:
    assert credentials.token() == "token-1"
    clock.now += LIFETIME_S - RENEW_MARGIN_S - 1
    assert credentials.token() == "token-1"
    clock.now += 2
    assert credentials.token() == "token-2"
    assert keycloak.requests == 2


def test_token_in_hand_serves_until_expiry_while_keycloak_is_down(
    credentials: ServiceCredentials, keycloak: Keycloak, clock: Clock
) -> None:
    assert credentials.token() == "token-1"
    keycloak.up = False
    clock.now += LIFETIME_S - RENEW_MARGIN_S + 1  # time to renew, and Keycloak is away
    assert credentials.token() == "token-1"
    # The failed renewal is not repeated on every call.
    assert credentials.token() == "token-1"
    assert keycloak.requests == 2
    clock.now += RENEW_BACKOFF_S
    assert credentials.token() == "token-1"
    assert keycloak.requests == 3


def test_no_token_once_it_expired_and_keycloak_is_still_down(
    credentials: ServiceCredentials, keycloak: Keycloak, clock: Clock
) -> None:
    credentials.token()
    keycloak.up = False
    clock.now += LIFETIME_S
    with pytest.raises(DomainError) as refused:
        credentials.token()
    assert refused.value.kind is ErrorKind.UNAVAILABLE
    assert refused.value.code == "auth.service_token_unavailable"


def test_keycloak_back_renews_the_token(
    credentials: ServiceCredentials, keycloak: Keycloak, clock: Clock
) -> None:
    credentials.token()
    keycloak.up = False
    clock.now += LIFETIME_S + 1
    with pytest.raises(DomainError):
        credentials.token()
    keycloak.up = True
    assert credentials.token() == "token-2"
