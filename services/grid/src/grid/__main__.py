"""The grid service's run modes: serve | migrate | relay | consume | seed | rebuild-projection.

python -m grid migrate              bring the grid database to the latest schema
python -m grid serve                the gRPC API (GridService)
python -m grid relay                publish the outbox (grid created, coverage changed …) to Kafka
python -m grid consume              keep the census and cases projections current (shequ.census.v1,
                                    shequ.cases.v1)
python -m grid seed                 lay out the demo communities' grids with members (idempotent)
python -m grid rebuild-projection   rebuild every demo community's projection by asking census
"""

from __future__ import annotations

import sys
from pathlib import Path

from grid.app import build_server, census_consumer, prepare_core
from grid.config import GridSettings
from grid.seed import DEMO_LAYOUTS, rebuild_projection, seed_demo_layouts
from shequ_kit.grpc_server import serve_until_terminated
from shequ_kit.lifecycle import stop_on_signals
from shequ_kit.logs import configure_logging
from shequ_kit.migrations import upgrade
from shequ_kit.relay import run_relay
from shequ_kit.runmodes import run_mode
from shequ_kit.tenancy import TenantId

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
GRACE_S = 10.0


def serve(settings: GridSettings) -> None:
    with prepare_core(settings) as core:
        serve_until_terminated(build_server(core), GRACE_S)


def consume(settings: GridSettings) -> None:
    with prepare_core(settings) as core, census_consumer(core) as consumer:
        consumer.run_forever(stop_on_signals())


def seed(settings: GridSettings) -> None:
    with prepare_core(settings) as core:
        for tenant_id, outcome in seed_demo_layouts(core).items():
            print(f"{tenant_id}: {outcome}")


def rebuild(settings: GridSettings) -> None:
    with prepare_core(settings) as core:
        for tenant_id in DEMO_LAYOUTS:
            rebuilt = rebuild_projection(core, TenantId(tenant_id))
            print(f"{tenant_id}: {rebuilt.buildings} buildings, {rebuilt.residents} residents")


def main(argv: list[str] | None = None) -> int:
    settings = GridSettings()
    configure_logging("grid", settings.log_level)
    return run_mode(
        argv,
        prog="grid",
        doc=__doc__,
        modes={
            "migrate": lambda: upgrade(MIGRATIONS, settings.database_url),
            "serve": lambda: serve(settings),
            "relay": lambda: run_relay(
                settings.database_url,
                service="grid",
                bootstrap_servers=settings.kafka_bootstrap_servers,
                timeouts=settings.database_timeouts,
                ack_timeout_s=settings.kafka_timeout_s,
            ),
            "consume": lambda: consume(settings),
            "seed": lambda: seed(settings),
            "rebuild-projection": lambda: rebuild(settings),
        },
    )


if __name__ == "__main__":
    sys.exit(main())
