"""The census service's run modes: serve | migrate | relay.

python -m census migrate   bring the census database to the latest schema
python -m census serve     the gRPC API (CensusService)
python -m census relay     publish the outbox (resident registered …) to Kafka
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from census.app import build_server, prepare_core
from census.config import CensusSettings
from census.seed import seed_demo_communities
from shequ_kit.db import make_engine
from shequ_kit.grpc_server import serve_until_terminated
from shequ_kit.lifecycle import stop_on_signals
from shequ_kit.logs import configure_logging
from shequ_kit.migrations import upgrade
from shequ_kit.relay import OutboxRelay

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
GRACE_S = 10.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="census", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["serve", "migrate", "relay", "seed"])
    mode = parser.parse_args(argv).mode
    settings = CensusSettings()
    configure_logging("census", settings.log_level)
    if mode == "migrate":
        upgrade(MIGRATIONS, settings.database_url)
    elif mode == "seed":
        with prepare_core(settings) as core:
            for tenant_id, residents in seed_demo_communities(core).items():
                print(
                    f"{tenant_id}: {residents} residents seeded"
                    if residents
                    else f"{tenant_id}: has data already, left alone"
                )
    elif mode == "serve":
        with prepare_core(settings) as core:
            serve_until_terminated(build_server(core), GRACE_S)
    else:
        engine = make_engine(settings.database_url, pool_size=2)
        with OutboxRelay(
            engine, service="census", bootstrap_servers=settings.kafka_bootstrap_servers
        ) as relay:
            relay.run_forever(stop_on_signals())
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
