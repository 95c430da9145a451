"""Keycloak in development mode with the `shequ` realm imported from deploy/local.

Each run gets its own thin Keycloak home: `bin/` and `conf/` copied, `lib/`, `providers/` and
`themes/` linked to the cached distribution (whose `lib/quarkus` keeps the augmented build after
the first start, so later starts skip that step), and a private `data/` holding the realm import
and the server's database (an H2 file). Every run starts from the realm file; a server stopped and
started again within a run (fault tests) keeps its port, users, groups and signing keys, so tokens
issued before the stop still verify after it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from shequ_infra.java import JavaRuntime
from shequ_infra.processes import (
    ComponentFailedError,
    ManagedProcess,
    free_port,
    spawn,
    wait_until_ready,
)
from shequ_infra.versions import REALM_FILE

REALM = "shequ"
READY_TIMEOUT_S = 240.0  # the very first start also augments the distribution (~30 s here)
LOCAL_ADMIN = ("admin", "admin")  # master-realm admin of a throw-away local server only
HEAP = "-Xms64m -Xmx768m"
NO_AUDIENCE_CLIENT = "test-without-audience"
CONSOLE_CLIENT = "shequ-console"


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    groups: tuple[str, ...]
    description: str


def demo_users(realm_file: Path = REALM_FILE) -> list[DemoUser]:
    """The demo accounts the realm file defines, for banners and tests."""
    realm = json.loads(realm_file.read_text(encoding="utf-8"))
    users = []
    for user in realm.get("users", []):
        if "serviceAccountClientId" in user:
            continue
        password = next(
            (c["value"] for c in user.get("credentials", []) if c.get("type") == "password"), ""
        )
        description = (user.get("attributes", {}).get("description") or [""])[0]
        users.append(
            DemoUser(user["username"], password, tuple(user.get("groups", [])), description)
        )
    return users


class KeycloakServer:
    name = "Keycloak"

    def __init__(
        self, workdir: Path, dist: Path, java: JavaRuntime, realm_file: Path = REALM_FILE
    ) -> None:
        self.home = workdir / "keycloak"
        self.dist = dist
        self.java = java
        self.realm_file = realm_file
        self.port = free_port()
        self.management_port = free_port()
        self.log_path = workdir / "logs" / "keycloak.log"
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/{REALM}"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    @property
    def version(self) -> str:
        return (self.dist / "version.txt").read_text(encoding="utf-8").strip().split()[-1]

    def start(self) -> None:
        """Prepare, launch and wait (call from a thread that outlives the server). After
        ``stop()`` this starts the same server again: same ports, same data."""
        self.prepare()
        self.launch()
        self.wait_ready()

    def prepare(self) -> None:
        """Lay out this run's Keycloak home with the realm to import."""
        if self.home.exists():
            return
        self.home.mkdir(parents=True)
        for copied in ("bin", "conf"):
            shutil.copytree(self.dist / copied, self.home / copied, symlinks=True)
        for linked in ("lib", "providers", "themes"):
            (self.home / linked).symlink_to(self.dist / linked, target_is_directory=True)
        imports = self.home / "data" / "import"
        imports.mkdir(parents=True)
        shutil.copyfile(self.realm_file, imports / f"{REALM}-realm.json")

    def launch(self) -> None:
        env = {
            **os.environ,
            "JAVA_HOME": str(self.java.home),
            "JAVA_OPTS_KC_HEAP": HEAP,
            "KC_BOOTSTRAP_ADMIN_USERNAME": LOCAL_ADMIN[0],
            "KC_BOOTSTRAP_ADMIN_PASSWORD": LOCAL_ADMIN[1],
        }
        self.process = spawn(
            self.name,
            [
                str(self.home / "bin" / "kc.sh"),
                "start-dev",
                "--import-realm",
                # A file, not memory: a restart keeps what the run created and the realm's keys.
                "--db=dev-file",
                "--http-host=127.0.0.1",
                f"--http-port={self.port}",
                "--http-management-host=127.0.0.1",
                f"--http-management-port={self.management_port}",
                "--health-enabled=true",
            ],
            log_path=self.log_path,
            env=env,
            cwd=self.home,
        )

    def wait_ready(self) -> None:
        if self.process is None:
            raise ComponentFailedError(self.name, "was never launched")
        wait_until_ready(self.process, self._realm_is_served, timeout=READY_TIMEOUT_S, interval=0.5)

    def _realm_is_served(self) -> bool:
        try:
            health = httpx.get(f"http://127.0.0.1:{self.management_port}/health/ready", timeout=2)
            if health.status_code != 200:
                return False
            discovery = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2)
            return discovery.status_code == 200
        except httpx.HTTPError:
            return False

    def password_grant(
        self, username: str, password: str, client_id: str = "shequ-cli", realm: str = REALM
    ) -> dict[str, Any]:
        """Log a user in with a direct-grant client; returns the token response."""
        response = httpx.post(
            f"{self.url}/realms/{realm}/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": client_id,
                "username": username,
                "password": password,
                "scope": "openid",
            },
            timeout=30,
        )
        response.raise_for_status()
        tokens: dict[str, Any] = response.json()
        return tokens

    def token_from_other_issuer(self, username: str, password: str) -> str:
        """A real token of this realm (same keys) whose ``iss`` names another host.

        Keycloak in development mode names itself after the Host header it is asked with.
        """
        response = httpx.post(
            self.token_endpoint,
            headers={"Host": f"localhost:{self.port}"},
            data={
                "grant_type": "password",
                "client_id": "shequ-cli",
                "username": username,
                "password": password,
            },
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def token_without_audience(self, username: str, password: str) -> str:
        """A real token of this realm, with the user's groups but without the ``shequ`` audience,
        from a client made for the purpose (as an integration that skipped the mapper would)."""
        admin = {"Authorization": f"Bearer {self.master_admin_token()}"}
        client = {
            "clientId": NO_AUDIENCE_CLIENT,
            "enabled": True,
            "publicClient": True,
            "protocol": "openid-connect",
            "standardFlowEnabled": False,
            "directAccessGrantsEnabled": True,
            "protocolMappers": [
                {
                    "name": "groups",
                    "protocol": "openid-connect",
                    "protocolMapper": "oidc-group-membership-mapper",
                    "config": {
                        "full.path": "true",
                        "claim.name": "groups",
                        "access.token.claim": "true",
                    },
                }
            ],
        }
        created = httpx.post(
            f"{self.url}/admin/realms/{REALM}/clients", json=client, headers=admin, timeout=30
        )
        if created.status_code not in (201, 409):  # 409: made by an earlier call
            created.raise_for_status()
        return str(self.password_grant(username, password, NO_AUDIENCE_CLIENT)["access_token"])

    def allow_console_at(self, gateway_url: str) -> None:
        """Lets the web console served by a gateway at ``gateway_url`` log in: its callback and
        origin are added to the ``shequ-console`` client (the realm names only port 8000)."""
        admin = {"Authorization": f"Bearer {self.master_admin_token()}"}
        clients = f"{self.url}/admin/realms/{REALM}/clients"
        found = httpx.get(clients, params={"clientId": CONSOLE_CLIENT}, headers=admin, timeout=30)
        found.raise_for_status()
        client = found.json()[0]
        redirect = f"{gateway_url.rstrip('/')}/console/*"
        if redirect in client.get("redirectUris", []):
            return
        client["redirectUris"] = [*client.get("redirectUris", []), redirect]
        updated = httpx.put(f"{clients}/{client['id']}", json=client, headers=admin, timeout=30)
        updated.raise_for_status()

    def master_admin_token(self) -> str:
        """An access token of the local server's master-realm admin (a foreign realm to shequ)."""
        tokens = self.password_grant(*LOCAL_ADMIN, client_id="admin-cli", realm="master")
        return str(tokens["access_token"])

    def stop(self) -> None:
        """Shut the server down (SIGTERM); ``start()`` brings it back with its data."""
        if self.process is not None:
            self.process.stop()
