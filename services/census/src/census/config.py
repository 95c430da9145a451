"""The census service's settings (environment prefix ``CENSUS_``), built once in main."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from shequ_kit.settings import ShequSettings


class CensusSettings(ShequSettings):
    model_config = SettingsConfigDict(env_prefix="CENSUS_")

    database_url: str = "postgresql://census@127.0.0.1:5432/census"
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    events_topic: str = "shequ.census.v1"
    keycloak_issuer: str = "http://127.0.0.1:8080/realms/shequ"
    token_audience: str = "shequ"  # noqa: S105 - an audience name, not a secret
    # Encryption keys of ID numbers and phones, "k2:<base64>,k1:<base64>" (current first), and
    # the separate key of their lookup hashes. The defaults are for development only: any
    # other environment refuses to start with them (shequ_kit.settings).
    pii_keys: SecretStr = SecretStr("k1:c2hlcXUtZGV2ZWxvcG1lbnQtb25seS1waWkta2V5ISE=")
    pii_lookup_key: SecretStr = SecretStr("c2hlcXUtZGV2ZWxvcG1lbnQtb25seS1sb29rdXAhISE=")
