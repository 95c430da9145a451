"""The gateway's settings (environment prefix ``GATEWAY_``), built once in main."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from shequ_kit.settings import ShequSettings


class GatewaySettings(ShequSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_")

    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = "postgresql://gateway@127.0.0.1:5432/gateway"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    events_topic: str = "shequ.gateway.v1"
    # Keycloak: where tokens come from (issuer) and the confidential client used for onboarding.
    keycloak_url: str = "http://127.0.0.1:8080"
    keycloak_realm: str = "shequ"
    token_audience: str = "shequ"  # noqa: S105 - an audience name, not a secret
    keycloak_client_id: str = "shequ-gateway"
    keycloak_client_secret: SecretStr = SecretStr("local-dev-gateway-secret")
    # Bounds on every outbound call the gateway makes.
    outbound_timeout_s: float = 5.0
    # The services behind the public API (gRPC, plaintext inside the cluster) and the deadline
    # of each call to them.
    census_target: str = "127.0.0.1:50051"
    grid_target: str = "127.0.0.1:50052"
    cases_target: str = "127.0.0.1:50053"
    notify_target: str = "127.0.0.1:50054"
    grpc_timeout_s: float = 5.0
    # The web console: its public OIDC client, the Keycloak address browsers reach (when it
    # differs from the one the gateway uses inside the cluster), and its built files (empty: the
    # source checkout's gateway/console/dist).
    console_client_id: str = "shequ-console"
    public_keycloak_url: str = ""
    console_dir: str = ""

    @property
    def issuer(self) -> str:
        return f"{self.keycloak_url.rstrip('/')}/realms/{self.keycloak_realm}"

    @property
    def public_issuer(self) -> str:
        base = (self.public_keycloak_url or self.keycloak_url).rstrip("/")
        return f"{base}/realms/{self.keycloak_realm}"
