"""The realm file is the Keycloak half of the contract in ARCHITECTURE.md; these guard it."""

import json
from collections.abc import Iterator
from typing import Any

import pytest

from shequ_infra.keycloak import demo_users
from shequ_infra.versions import REALM_FILE

ROLES = {
    "platform-admin",
    "street-admin",
    "community-staff",
    "grid-worker",
    "resident",
    "pii-reader",
}


@pytest.fixture(scope="module")
def realm() -> dict[str, Any]:
    return dict(json.loads(REALM_FILE.read_text(encoding="utf-8")))


def group_paths(groups: list[dict[str, Any]], prefix: str = "") -> Iterator[str]:
    for group in groups:
        path = f"{prefix}/{group['name']}"
        yield path
        yield from group_paths(group.get("subGroups", []), path)


def client(realm: dict[str, Any], client_id: str) -> dict[str, Any]:
    return next(c for c in realm["clients"] if c["clientId"] == client_id)


def test_every_demo_users_group_exists_in_the_realm(realm: dict[str, Any]) -> None:
    paths = set(group_paths(realm["groups"]))
    for user in demo_users():
        assert user.groups, user.username
        assert set(user.groups) <= paths, user.username


def test_every_role_has_a_demo_user(realm: dict[str, Any]) -> None:
    granted = {path.rsplit("/", 1)[1] for user in demo_users() for path in user.groups}
    assert granted == ROLES


def test_communities_carry_role_subgroups_named_after_roles(realm: dict[str, Any]) -> None:
    paths = set(group_paths(realm["groups"]))
    for role in ("community-staff", "grid-worker", "resident", "pii-reader"):
        assert f"/xiaoshan/shushan/hushan/{role}" in paths
        assert f"/xiaoshan/beigan/shibei/{role}" in paths
    assert "/xiaoshan/shushan/street-admin" in paths


@pytest.mark.parametrize("client_id", ["shequ-console", "shequ-cli", "shequ-gateway"])
def test_tokens_carry_full_group_paths_and_the_shequ_audience(
    realm: dict[str, Any], client_id: str
) -> None:
    mappers = {
        m["protocolMapper"]: m["config"] for m in client(realm, client_id)["protocolMappers"]
    }
    groups = mappers["oidc-group-membership-mapper"]
    assert groups["full.path"] == "true"
    assert groups["claim.name"] == "groups"
    assert groups["access.token.claim"] == "true"
    assert mappers["oidc-audience-mapper"]["included.custom.audience"] == "shequ"


def test_console_is_a_public_pkce_client_and_cli_a_direct_grant_client(
    realm: dict[str, Any],
) -> None:
    console = client(realm, "shequ-console")
    assert console["publicClient"] is True
    assert console["attributes"]["pkce.code.challenge.method"] == "S256"
    assert console["directAccessGrantsEnabled"] is False
    cli = client(realm, "shequ-cli")
    assert cli["publicClient"] is True
    assert cli["directAccessGrantsEnabled"] is True


def test_gateway_service_account_may_manage_users_and_groups(realm: dict[str, Any]) -> None:
    gateway = client(realm, "shequ-gateway")
    assert gateway["publicClient"] is False
    assert gateway["serviceAccountsEnabled"] is True
    account = next(u for u in realm["users"] if u.get("serviceAccountClientId") == "shequ-gateway")
    assert {"manage-users", "query-groups"} <= set(account["clientRoles"]["realm-management"])
