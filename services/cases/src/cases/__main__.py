"""The cases service's run modes: serve | migrate | relay | consume | scheduler.

python -m cases migrate     bring the cases database to the latest schema
python -m cases serve       the gRPC API (CasesService)
python -m cases relay       publish the outbox (case reported, action taken, overdue) to Kafka
python -m cases consume     seed each onboarded tenant's category catalogue (shequ.gateway.v1)
python -m cases scheduler   escalate overdue cases one level up; run as many replicas as wanted
"""

from __future__ import annotations

import sys
from pathlib import Path

from cases import scheduler
from cases.app import build_server, onboarding_consumer, prepare_core
from cases.config import CasesSettings
from shequ_kit.grpc_server import serve_until_terminated
from shequ_kit.lifecycle import stop_on_signals
from shequ_kit.logs import configure_logging
from shequ_kit.migrations import upgrade
from shequ_kit.relay import run_relay
from shequ_kit.runmodes import run_mode

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
GRACE_S = 10.0


def serve(settings: CasesSettings) -> None:
    with prepare_core(settings) as core:
        serve_until_terminated(build_server(core), GRACE_S)


def consume(settings: CasesSettings) -> None:
    with prepare_core(settings) as core, onboarding_consumer(core) as consumer:
        consumer.run_forever(stop_on_signals())


def escalate(settings: CasesSettings) -> None:
    with prepare_core(settings) as core:
        scheduler.run_forever(
            core.desk,
            core.sessions,
            stop_on_signals(),
            interval_s=settings.scheduler_interval_s,
            batch=settings.scheduler_batch,
        )


def main(argv: list[str] | None = None) -> int:
    settings = CasesSettings()
    configure_logging("cases", settings.log_level)
    return run_mode(
        argv,
        prog="cases",
        doc=__doc__,
        modes={
            "migrate": lambda: upgrade(MIGRATIONS, settings.database_url),
            "serve": lambda: serve(settings),
            "relay": lambda: run_relay(
                settings.database_url,
                service="cases",
                bootstrap_servers=settings.kafka_bootstrap_servers,
                timeouts=settings.database_timeouts,
                ack_timeout_s=settings.kafka_timeout_s,
            ),
            "consume": lambda: consume(settings),
            "scheduler": lambda: escalate(settings),
        },
    )


if __name__ == "__main__":
    sys.exit(main())
