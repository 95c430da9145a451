"""The census service's run modes: serve | migrate | relay | seed | rebuild-statistics.

python -m census migrate              bring the census database to the latest schema
python -m census seed                 write the synthetic demo communities (idempotent)
python -m census serve                the gRPC API (CensusService)
python -m census relay                publish the outbox (resident registered …) to Kafka
python -m census rebuild-statistics   recount every tenant's statistics from the records
"""

from __future__ import annotations

import sys
from pathlib import Path

from census.app import build_server, prepare_core
from census.config import CensusSettings
from census.seed import seed_demo_communities
from census.statistics import rebuild_every_tenant
from shequ_kit.grpc_server import serve_until_terminated
from shequ_kit.logs import configure_logging
from shequ_kit.migrations import upgrade
from shequ_kit.relay import run_relay
from shequ_kit.runmodes import run_mode

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
GRACE_S = 10.0


def serve(settings: CensusSettings) -> None:
    with prepare_core(settings) as core:
        serve_until_terminated(build_server(core), GRACE_S)


def seed(settings: CensusSettings) -> None:
    with prepare_core(settings) as core:
        for tenant_id, residents in seed_demo_communities(core).items():
            print(
                f"{tenant_id}: {residents} residents seeded"
                if residents
                else f"{tenant_id}: has data already, left alone"
            )


def rebuild_statistics(settings: CensusSettings) -> None:
    """Safe while the service runs: each tenant is recounted in one transaction."""
    with prepare_core(settings) as core:
        for tenant_id, buildings in rebuild_every_tenant(core.sessions, core.today()).items():
            print(f"{tenant_id}: {buildings} buildings counted")


def main(argv: list[str] | None = None) -> int:
    settings = CensusSettings()
    configure_logging("census", settings.log_level)
    return run_mode(
        argv,
        prog="census",
        doc=__doc__,
        modes={
            "migrate": lambda: upgrade(MIGRATIONS, settings.database_url),
            "seed": lambda: seed(settings),
            "rebuild-statistics": lambda: rebuild_statistics(settings),
            "serve": lambda: serve(settings),
            "relay": lambda: run_relay(
                settings.database_url,
                service="census",
                bootstrap_servers=settings.kafka_bootstrap_servers,
                timeouts=settings.database_timeouts,
                ack_timeout_s=settings.kafka_timeout_s,
            ),
        },
    )


if __name__ == "__main__":
    sys.exit(main())
