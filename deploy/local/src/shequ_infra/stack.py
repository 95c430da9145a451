"""The whole local infrastructure as one context manager, shared by `make run` and the tests."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shequ_infra import downloads
from shequ_infra.java import JavaRuntime, find_java
from shequ_infra.kafka import KafkaBroker
from shequ_infra.keycloak import KeycloakServer
from shequ_infra.postgres import PostgresServer

# One database per process that owns data (ARCHITECTURE.md: each service owns its database).
SERVICE_DATABASES = ("gateway", "census", "grid", "cases", "notify")


class _Server(Protocol):
    """A server of the local infrastructure. ``start`` is ``prepare`` + ``launch`` +
    ``wait_ready``; after ``stop`` it starts again on the same ports with the same data."""

    name: str

    def prepare(self) -> None: ...

    def launch(self) -> None: ...

    def wait_ready(self) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class LocalInfrastructure:
    workdir: Path
    java: JavaRuntime
    postgres: PostgresServer
    kafka: KafkaBroker
    keycloak: KeycloakServer
    databases: tuple[str, ...]
    fetch_seconds: float
    start_seconds: float

    def summary(self) -> list[str]:
        """What listens where, for banners and the test session header."""
        pg = self.postgres
        return [
            f"PostgreSQL {pg.version()}  127.0.0.1:{pg.port}  "
            f"databases: {', '.join(self.databases)}",
            f"Kafka {self.kafka.version} (KRaft)  bootstrap {self.kafka.bootstrap_servers}",
            f"Keycloak {self.keycloak.version}  {self.keycloak.url}  "
            f"(realm issuer {self.keycloak.issuer}, health :{self.keycloak.management_port})",
            f"Java {self.java.major} from {self.java.source} ({self.java.home})",
            f"infrastructure ready in {self.start_seconds:.1f} s "
            f"(downloads/cache check {self.fetch_seconds:.1f} s); data in {self.workdir}",
        ]


@contextmanager
def outage(server: _Server) -> Iterator[None]:
    """``server`` is down for the block, then up again on the same ports with the same data
    (fault tests: ``with outage(infra.kafka): ...``).

    Call from the thread that started the infrastructure, which must outlive the server: the
    restarted process dies with the thread that launches it (parent-death signal).
    """
    server.stop()
    try:
        yield
    finally:
        server.start()


def _in_parallel(servers: Sequence[_Server], step: str) -> None:
    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        futures = [pool.submit(getattr(server, step)) for server in servers]
        failures = [e for e in (f.exception() for f in futures) if e is not None]
    if failures:
        raise failures[0]


def _start_all(servers: Sequence[_Server]) -> None:
    """Prepare and await the servers in parallel, but launch them from this thread.

    The children die with the thread that spawned them (parent-death signal), so that thread
    must be the caller's, not a short-lived pool worker.
    """
    _in_parallel(servers, "prepare")
    for server in servers:
        server.launch()
    _in_parallel(servers, "wait_ready")


@contextmanager
def running_infrastructure(
    *, databases: Sequence[str] = SERVICE_DATABASES, workdir: Path | None = None
) -> Iterator[LocalInfrastructure]:
    """Start PostgreSQL, Kafka and Keycloak on free loopback ports; stop and clean up on exit.

    Data lives in ``workdir`` (a fresh temporary directory by default, removed afterwards).
    """
    java = find_java()
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        libs_future = pool.submit(downloads.kafka_libs, java)
        dist_future = pool.submit(downloads.keycloak_dist, java)
        libs, dist = libs_future.result(), dist_future.result()
    fetched = time.monotonic()
    own_workdir = workdir is None
    root = Path(tempfile.mkdtemp(prefix="shequ-infra-")) if workdir is None else workdir
    postgres = PostgresServer(root)
    kafka = KafkaBroker(root, libs, java)
    keycloak = KeycloakServer(root, dist, java)
    servers: list[_Server] = [postgres, kafka, keycloak]
    try:
        _start_all(servers)  # on failure, `finally` stops whatever did start
        for database in databases:
            postgres.create_database(database)
        yield LocalInfrastructure(
            workdir=root,
            java=java,
            postgres=postgres,
            kafka=kafka,
            keycloak=keycloak,
            databases=tuple(databases),
            fetch_seconds=fetched - began,
            start_seconds=time.monotonic() - fetched,
        )
    finally:
        for server in reversed(servers):
            server.stop()
        if own_workdir:
            shutil.rmtree(root, ignore_errors=True)
