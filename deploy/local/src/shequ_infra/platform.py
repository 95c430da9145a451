"""The platform's own processes on top of the local infrastructure, for `make run`.

This is the local counterpart of the Helm chart: which run modes of which package start, with
which environment. Setup modes (migrate, seed) run to completion first; long-running modes are
managed like the servers (own process group, die with the driver).
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from shequ_infra.processes import (
    ComponentFailedError,
    ManagedProcess,
    free_port,
    run_checked,
    spawn,
    wait_until_ready,
)
from shequ_infra.stack import LocalInfrastructure

# One topic per event-owning process (ARCHITECTURE.md); the Helm chart declares the same.
PLATFORM_TOPICS = (
    "shequ.gateway.v1",
    "shequ.census.v1",
    "shequ.grid.v1",
    "shequ.cases.v1",
    "shequ.notify.v1",
)
TOPIC_PARTITIONS = 3
GATEWAY_PORT = 8000  # the console client's redirect URIs in the local realm name this port
READY_TIMEOUT_S = 60.0


@dataclass
class RunningPlatform:
    gateway_url: str
    processes: list[ManagedProcess] = field(default_factory=list)


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def create_platform_topics(bootstrap_servers: str) -> None:
    """Create the event topics up front instead of relying on auto-creation at first publish."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    try:
        existing = set(admin.list_topics())
        missing = [t for t in PLATFORM_TOPICS if t not in existing]
        if missing:
            admin.create_topics(
                [
                    NewTopic(name=t, num_partitions=TOPIC_PARTITIONS, replication_factor=1)
                    for t in missing
                ]
            )
    finally:
        admin.close()


def gateway_environment(infra: LocalInfrastructure, port: int) -> dict[str, str]:
    return {
        "GATEWAY_ENVIRONMENT": "development",
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_DATABASE_URL": infra.postgres.dsn("gateway"),
        "GATEWAY_KAFKA_BOOTSTRAP_SERVERS": infra.kafka.bootstrap_servers,
        "GATEWAY_KEYCLOAK_URL": infra.keycloak.url,
    }


@contextmanager
def running_platform(infra: LocalInfrastructure) -> Iterator[RunningPlatform]:
    """Migrate and seed, then run the gateway (serve + relay) until the block ends."""
    port = GATEWAY_PORT if _port_is_free(GATEWAY_PORT) else free_port()
    env = {**os.environ, **gateway_environment(infra, port)}
    logs = infra.workdir / "logs"
    python = sys.executable
    create_platform_topics(infra.kafka.bootstrap_servers)
    for mode in ("migrate", "seed"):
        run_checked(
            f"gateway {mode}",
            [python, "-m", "gateway", mode],
            log_path=logs / f"gateway-{mode}.log",
            env=env,
        )
    platform = RunningPlatform(gateway_url=f"http://127.0.0.1:{port}")
    try:
        for mode in ("serve", "relay"):
            platform.processes.append(
                spawn(
                    f"gateway {mode}",
                    [python, "-m", "gateway", mode],
                    log_path=logs / f"gateway-{mode}.log",
                    env=env,
                )
            )
        wait_until_ready(
            platform.processes[0],
            lambda: _answers(f"{platform.gateway_url}/readyz"),
            timeout=READY_TIMEOUT_S,
        )
        if not platform.processes[1].running:
            raise ComponentFailedError("gateway relay", "exited", platform.processes[1].log_path)
        yield platform
    finally:
        for process in reversed(platform.processes):
            process.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
