"""The grid service's settings (environment prefix ``GRID_``), built once in main."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from shequ_kit.settings import ShequSettings


class GridSettings(ShequSettings):
    model_config = SettingsConfigDict(env_prefix="GRID_")

    database_url: str = "postgresql://grid@127.0.0.1:5432/grid"
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50052
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    events_topic: str = "shequ.grid.v1"
    census_topic: str = "shequ.census.v1"
    # Case facts keep the workload's open cases per building current.
    cases_topic: str = "shequ.cases.v1"
    consumer_group: str = "grid"
    # Census is asked (as this service's account) only to rebuild the projection.
    census_target: str = "127.0.0.1:50051"
    census_timeout_s: float = 30.0
    keycloak_issuer: str = "http://127.0.0.1:8080/realms/shequ"
    token_audience: str = "shequ"  # noqa: S105 - an audience name, not a secret
    service_client_id: str = "shequ-grid"
    service_client_secret: SecretStr = SecretStr("local-dev-grid-secret")
