"""Settings from the environment: one pydantic-settings class per process, built once in main.

Every process's settings class derives from ``ShequSettings``. Secret fields are ``SecretStr``;
outside development, a secret that is empty, a known placeholder, or still its coded default
refuses to load, so a deployment can never run on development keys or the local realm's demo
secrets.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shequ_kit.db import DatabaseTimeouts

# Values that mean "nobody set this": the local realm's secrets and the usual fillers.
PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "admin",
        "changeme",
        "change-me",
        "secret",
        "password",
        "placeholder",
        "todo",
        "local-dev-gateway-secret",
        "local-dev-grid-secret",
        "shequ-demo",
        "dev",
        "test",
    }
)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class ShequSettings(BaseSettings):
    """Base of every process's settings; subclasses set ``env_prefix``."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: Environment = Environment.DEVELOPMENT
    log_level: str = "INFO"
    # Bounds on the calls every process makes, whatever it is (docs/operations.md, "Limits
    # and timeouts"): connecting to PostgreSQL, one statement, one lock wait; one HTTP call
    # to Keycloak (signing keys, service tokens, the admin API); one Kafka acknowledgement or
    # offset commit.
    db_connect_timeout_s: float = Field(default=5.0, gt=0)
    db_statement_timeout_s: float = Field(default=60.0, gt=0)
    db_lock_timeout_s: float = Field(default=10.0, gt=0)
    keycloak_timeout_s: float = Field(default=5.0, gt=0)
    kafka_timeout_s: float = Field(default=30.0, gt=0)

    @property
    def database_timeouts(self) -> DatabaseTimeouts:
        return DatabaseTimeouts(
            connect_s=self.db_connect_timeout_s,
            statement_s=self.db_statement_timeout_s,
            lock_s=self.db_lock_timeout_s,
        )

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        if self.environment is Environment.DEVELOPMENT:
            return self
        for name, value in self:
            if not isinstance(value, SecretStr):
                continue
            default = type(self).model_fields[name].default
            # A secret nobody configured is a placeholder too, whatever the default says.
            left_at_default = isinstance(default, SecretStr) and (
                default.get_secret_value() == value.get_secret_value()
            )
            if left_at_default or value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
                raise ValueError(
                    f"{name} holds a placeholder secret; set a real one for {self.environment}"
                )
        return self
