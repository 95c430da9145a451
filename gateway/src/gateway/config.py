"""The gateway's settings (environment prefix ``GATEWAY_``), built once in main."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator
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
    # The readiness probe's own check of Kafka. Keycloak, PostgreSQL and Kafka calls are bounded
    # by the settings every process shares (keycloak_timeout_s, db_*_timeout_s, kafka_timeout_s).
    outbound_timeout_s: float = 5.0
    # The services behind the public API (gRPC, plaintext inside the cluster) and the deadline
    # of each call to them.
    census_target: str = "127.0.0.1:50051"
    grid_target: str = "127.0.0.1:50052"
    cases_target: str = "127.0.0.1:50053"
    notify_target: str = "127.0.0.1:50054"
    grpc_timeout_s: float = 5.0
    # A GET whose service is unavailable (restarting) is tried again for up to this long,
    # within grpc_timeout_s; writes never are. 0 turns the retry off.
    grpc_read_retry_budget_s: float = 3.0
    # The web console: its public OIDC client, the Keycloak address browsers reach (when it
    # differs from the one the gateway uses inside the cluster), and its built files (empty: the
    # source checkout's gateway/console/dist).
    console_client_id: str = "shequ-console"
    public_keycloak_url: str = ""
    console_dir: str = ""
    # Rate limits of this replica (token buckets in memory: the effective limit is replicas ×
    # limit): per caller (the verified token's subject; callers that fail authentication count
    # per client address at the same rate) and per tenant of the path. Far above what a person
    # clicks, below what a script fires. A rate of 0 per second disables that limit.
    rate_limit_user_per_s: float = Field(default=50.0, ge=0)
    rate_limit_user_burst: int = Field(default=200, ge=1)
    rate_limit_tenant_per_s: float = Field(default=500.0, ge=0)
    rate_limit_tenant_burst: int = Field(default=2000, ge=1)
    # Request bodies: JSON and forms; a file upload (the residents import; plus its multipart
    # framing); how deep a JSON body may nest.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    max_json_depth: int = Field(default=32, ge=1)

    @model_validator(mode="after")
    def _read_retries_end_before_the_deadline(self) -> Self:
        if not 0 <= self.grpc_read_retry_budget_s < self.grpc_timeout_s:
            raise ValueError("grpc_read_retry_budget_s must be at least 0 and below grpc_timeout_s")
        return self

    @property
    def issuer(self) -> str:
        return f"{self.keycloak_url.rstrip('/')}/realms/{self.keycloak_realm}"

    @property
    def public_issuer(self) -> str:
        base = (self.public_keycloak_url or self.keycloak_url).rstrip("/")
        return f"{base}/realms/{self.keycloak_realm}"
