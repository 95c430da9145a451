"""The cases service's settings (environment prefix ``CASES_``), built once in main."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from shequ_kit.settings import ShequSettings


class CasesSettings(ShequSettings):
    model_config = SettingsConfigDict(env_prefix="CASES_")

    database_url: str = "postgresql://cases@127.0.0.1:5432/cases"
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50053
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    events_topic: str = "shequ.cases.v1"
    # Onboarding events (TenantOnboarded) seed a new tenant's catalogue.
    gateway_topic: str = "shequ.gateway.v1"
    consumer_group: str = "cases"
    # Routing asks grid who covers a building, as this service's account.
    grid_target: str = "127.0.0.1:50052"
    grid_timeout_s: float = 2.0
    keycloak_issuer: str = "http://127.0.0.1:8080/realms/shequ"
    token_audience: str = "shequ"  # noqa: S105 - an audience name, not a secret
    service_client_id: str = "shequ-cases"
    service_client_secret: SecretStr = SecretStr("local-dev-cases-secret")
    # The escalation scheduler: how often it looks for overdue cases, and how many it takes
    # per transaction (rows locked with SKIP LOCKED, so replicas share the work).
    scheduler_interval_s: float = 5.0
    scheduler_batch: int = 100
    # Days after closing in which an unsatisfied rating or staff reopen the case.
    reopen_window_days: int = 7
