"""The gateway's run modes: serve | migrate | relay | seed.

python -m gateway migrate   bring the registry database to the latest schema
python -m gateway seed      add the demo tenants (idempotent)
python -m gateway serve     the public HTTP API
python -m gateway relay     publish the outbox (tenant.onboarded …) to Kafka
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

import uvicorn

from gateway.app import create_app, prepare_core
from gateway.config import GatewaySettings
from gateway.seed import seed_demo_tenants
from shequ_kit.db import make_engine
from shequ_kit.lifecycle import stop_on_signals
from shequ_kit.logs import configure_logging
from shequ_kit.migrations import upgrade
from shequ_kit.relay import OutboxRelay

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def serve(settings: GatewaySettings) -> None:
    with prepare_core(settings) as core:
        uvicorn.run(create_app(core), host=settings.host, port=settings.port, log_config=None)


def seed(settings: GatewaySettings) -> None:
    with prepare_core(settings) as core:
        added = seed_demo_tenants(core.sessions, core.directory, topic=settings.events_topic)
    print(f"seeded {added} tenant nodes")


def relay(settings: GatewaySettings, stop: threading.Event) -> None:
    engine = make_engine(settings.database_url, pool_size=2)
    try:
        with OutboxRelay(
            engine, service="gateway", bootstrap_servers=settings.kafka_bootstrap_servers
        ) as outbox_relay:
            outbox_relay.run_forever(stop)
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gateway", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["serve", "migrate", "relay", "seed"])
    mode = parser.parse_args(argv).mode
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level)
    if mode == "migrate":
        upgrade(MIGRATIONS, settings.database_url)
    elif mode == "seed":
        seed(settings)
    elif mode == "serve":
        serve(settings)
    else:
        relay(settings, stop_on_signals())
    return 0


if __name__ == "__main__":
    sys.exit(main())
