import pytest
from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

from shequ_kit.settings import Environment, ShequSettings


class ExampleSettings(ShequSettings):
    model_config = SettingsConfigDict(env_prefix="EXAMPLE_")

    client_secret: SecretStr = SecretStr("local-dev-gateway-secret")


def test_development_accepts_the_local_placeholder_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_ENVIRONMENT", "development")
    assert ExampleSettings().environment is Environment.DEVELOPMENT


@pytest.mark.parametrize("secret", ["local-dev-gateway-secret", "changeme", "", "  Admin "])
def test_production_refuses_placeholder_secrets(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("EXAMPLE_ENVIRONMENT", "production")
    monkeypatch.setenv("EXAMPLE_CLIENT_SECRET", secret)
    with pytest.raises(ValidationError, match="client_secret holds a placeholder secret"):
        ExampleSettings()


def test_production_accepts_a_real_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_ENVIRONMENT", "production")
    monkeypatch.setenv("EXAMPLE_CLIENT_SECRET", "q8X2-fv91-kLmN-03rt")
    assert ExampleSettings().client_secret.get_secret_value() == "q8X2-fv91-kLmN-03rt"


class KeyedSettings(ShequSettings):
    model_config = SettingsConfigDict(env_prefix="KEYED_")

    data_key: SecretStr = SecretStr("k1:ZGV2ZWxvcG1lbnQgb25seQ==")


def test_production_refuses_a_secret_left_at_its_development_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEYED_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="data_key holds a placeholder secret"):
        KeyedSettings()
    monkeypatch.setenv("KEYED_DATA_KEY", "k2:c29tZXRoaW5nIHJlYWwgYW5kIHJhbmRvbQ==")
    assert KeyedSettings().data_key.get_secret_value().startswith("k2:")
