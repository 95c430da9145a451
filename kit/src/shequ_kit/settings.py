"""Settings from the environment: one pydantic-settings class per process, built once in main.

Every process's settings class derives from ``ShequSettings``. Secret fields are ``SecretStr``;
outside development, a secret that is empty, a known placeholder, or still its coded default
refuses to load, so a deployment can never run on development keys or the local realm's demo
secrets.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
