"""shequctl against a real gateway served over HTTP (uvicorn on a free port), on the gateway
integration tests' session registry and Keycloak, with a census server of the module's own."""

import importlib.util
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import uvicorn

from census.app import CensusCore
from gateway.app import GatewayCore, create_app, prepare_core
from gateway.config import GatewaySettings
from shequ_infra.processes import free_port


def _gateway_test_fixtures() -> ModuleType:
    """The gateway integration tests' conftest, loaded by path: ``gateway/tests`` is no package
    of the gateway, so it is importable by name only when pytest collected it first."""
    path = Path(__file__).resolve().parents[3] / "gateway/tests/integration/conftest.py"
    spec = importlib.util.spec_from_file_location("shequctl_tests_gateway_fixtures", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Its fixtures, by name: settings on the local infrastructure, the migrated and seeded registry,
# Keycloak logins, and a census server per test module (CENSUS_DATABASE).
_fixtures = _gateway_test_fixtures()
gateway_settings = _fixtures.gateway_settings
core = _fixtures.core
token_of = _fixtures.token_of
census = _fixtures.census


@pytest.fixture(scope="module")
def gateway_url(
    gateway_settings: GatewaySettings, core: GatewayCore, census: CensusCore
) -> Iterator[str]:
    """A gateway listening on HTTP, its census calls going to the module's census server. Grid,
    cases and notify are pointed at a port nobody listens on: the overview lists them as
    unavailable instead of asking whatever else runs on this machine."""
    nowhere = f"127.0.0.1:{free_port()}"
    settings = gateway_settings.model_copy(
        update={
            "census_target": f"127.0.0.1:{census.settings.grpc_port}",
            "grid_target": nowhere,
            "cases_target": nowhere,
            "notify_target": nowhere,
        }
    )
    port = free_port()
    with prepare_core(settings) as gateway:
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(gateway), host="127.0.0.1", port=port, log_config=None, lifespan="off"
            )
        )
        thread = threading.Thread(target=server.run, name="gateway-http", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "the gateway never started listening"
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(10)
