"""The notify service's run modes: migrate | serve | relay | consume | dispatch | seed.

python -m notify migrate    bring the notify database to the latest schema
python -m notify serve      the gRPC API (NotifyService)
python -m notify relay      publish the outbox (notice created, sent, cancelled) to Kafka
python -m notify consume    case notifications from the cases facts (shequ.cases.v1)
python -m notify dispatch   resolve due notices and deliver them on their channels; run as many
                            replicas as wanted (deliveries are claimed with SKIP LOCKED)
python -m notify seed       the demo settings: Shibei's complex robots and residents' contacts
                            (idempotent)
"""

from __future__ import annotations

import sys
from pathlib import Path

from notify import case_updates, delivery
from notify.app import build_server, prepare_core
from notify.config import NotifySettings
from notify.seed import seed_demo
from shequ_kit.grpc_server import serve_until_terminated
from shequ_kit.lifecycle import stop_on_signals
from shequ_kit.logs import configure_logging
from shequ_kit.migrations import upgrade
from shequ_kit.relay import run_relay
from shequ_kit.runmodes import run_mode

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
GRACE_S = 10.0


def serve(settings: NotifySettings) -> None:
    with prepare_core(settings) as core:
        serve_until_terminated(build_server(core), GRACE_S)


def consume(settings: NotifySettings) -> None:
    with prepare_core(settings) as core, case_updates.consumer(core) as consumer:
        consumer.run_forever(stop_on_signals())


def dispatch(settings: NotifySettings) -> None:
    with prepare_core(settings) as core:
        delivery.run_forever(core, stop_on_signals())


def seed(settings: NotifySettings) -> None:
    with prepare_core(settings) as core:
        for tenant_id, outcome in seed_demo(core).items():
            print(f"{tenant_id}: {outcome}")


def main(argv: list[str] | None = None) -> int:
    settings = NotifySettings()
    configure_logging("notify", settings.log_level)
    return run_mode(
        argv,
        prog="notify",
        doc=__doc__,
        modes={
            "migrate": lambda: upgrade(MIGRATIONS, settings.database_url),
            "serve": lambda: serve(settings),
            "relay": lambda: run_relay(
                settings.database_url,
                service="notify",
                bootstrap_servers=settings.kafka_bootstrap_servers,
                timeouts=settings.database_timeouts,
                ack_timeout_s=settings.kafka_timeout_s,
            ),
            "consume": lambda: consume(settings),
            "dispatch": lambda: dispatch(settings),
            "seed": lambda: seed(settings),
        },
    )


if __name__ == "__main__":
    sys.exit(main())
