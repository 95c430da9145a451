"""The realm the chart imports (operators.keycloak): the local realm without its demo people.

deploy/local/realm-shequ.json is what `make run` and the tests import: it has demo users with a
shared password and the confidential clients' development secrets. The chart's copy
(deploy/helm/shequ/files/realm-shequ.json) keeps the groups, roles, clients and mappers, keeps
the service accounts (their grants are part of the platform), drops every person, replaces each
client secret by a placeholder the Keycloak Operator fills from the service's Secret, and points
the console's redirects at the ingress host. `python -m shequ_deploycheck realm` writes it; a
test fails when the two drift apart.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

# Replaced by the chart with the ingress origin (templates/keycloakrealmimport.yaml).
CONSOLE_ORIGIN = "https://console.invalid"
CLIENT_PREFIX = "shequ-"


def secret_placeholder(client_id: str) -> str:
    """``shequ-gateway`` → ``${SHEQU_GATEWAY_CLIENT_SECRET}`` (the operator's placeholder)."""
    name = client_id.removeprefix(CLIENT_PREFIX).upper().replace("-", "_")
    return "${SHEQU_" + name + "_CLIENT_SECRET}"


def production_realm(local: dict[str, Any]) -> dict[str, Any]:
    realm = copy.deepcopy(local)
    realm["users"] = [user for user in realm.get("users", []) if "serviceAccountClientId" in user]
    # Outside the cluster only over TLS.
    realm["sslRequired"] = "external"
    for client in realm.get("clients", []):
        if not client.get("publicClient", False):
            client["secret"] = secret_placeholder(client["clientId"])
        if client.get("standardFlowEnabled") and client.get("redirectUris"):
            client["redirectUris"] = [f"{CONSOLE_ORIGIN}/console/*"]
    return realm


def render(local_path: Path) -> str:
    realm = production_realm(json.loads(local_path.read_text(encoding="utf-8")))
    return json.dumps(realm, ensure_ascii=False, indent=2) + "\n"
