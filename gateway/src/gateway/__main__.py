"""The gateway's run modes: serve | migrate | relay | seed.

python -m gateway migrate   bring the registry database to the latest schema
python -m gateway seed      add the demo tenants (idempotent)
python -m gateway serve     the public HTTP API
python -m gateway relay     publish the outbox (tenant.onboarded …) to Kafka
python -m gateway openapi   print the OpenAPI document (the console's types are generated from it)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import uvicorn

from gateway.app import create_app, prepare_core
from gateway.config import GatewaySettings
from gateway.seed import seed_demo_tenants
from shequ_kit.logs import configure_logging
from shequ_kit.migrations import upgrade
from shequ_kit.relay import run_relay
from shequ_kit.runmodes import run_mode

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def serve(settings: GatewaySettings) -> None:
    with prepare_core(settings) as core:
        uvicorn.run(create_app(core), host=settings.host, port=settings.port, log_config=None)


def seed(settings: GatewaySettings) -> None:
    with prepare_core(settings) as core:
        added = seed_demo_tenants(core.sessions, core.directory, topic=settings.events_topic)
    print(f"seeded {added} tenant nodes")


def openapi(settings: GatewaySettings) -> None:
    # Nothing connects: the engine, HTTP client and channels would connect on first use only.
    with prepare_core(settings) as core:
        print(json.dumps(create_app(core).openapi(), ensure_ascii=False, indent=1))


def main(argv: list[str] | None = None) -> int:
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level)
    return run_mode(
        argv,
        prog="gateway",
        doc=__doc__,
        modes={
            "migrate": lambda: upgrade(MIGRATIONS, settings.database_url),
            "seed": lambda: seed(settings),
            "serve": lambda: serve(settings),
            "openapi": lambda: openapi(settings),
            "relay": lambda: run_relay(
                settings.database_url,
                service="gateway",
                bootstrap_servers=settings.kafka_bootstrap_servers,
                timeouts=settings.database_timeouts,
                ack_timeout_s=settings.kafka_timeout_s,
            ),
        },
    )


if __name__ == "__main__":
    sys.exit(main())
