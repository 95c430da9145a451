"""The platform's own processes on top of the local infrastructure, for `make run`.

This is the local counterpart of the Helm chart: which run modes of which package start, with
which environment. Setup modes (migrate, seed) run to completion first; long-running modes are
managed like the servers (own process group, die with the driver).
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import MappingProxyType

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
from shequ_infra.sinks import DEFAULT_HTTP_PORT, DEFAULT_SMTP_PORT, Sinks, running_sinks
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
# The long-running processes of each package (`python -m <package> <mode>`): started here by
# `make run`, one Deployment each in the Helm chart (shequ_deploycheck checks it renders these).
RUN_MODES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "census": ("serve", "relay"),
        "grid": ("serve", "relay", "consume"),
        "cases": ("serve", "relay", "consume", "scheduler"),
        "notify": ("serve", "relay", "consume", "dispatch"),
        "gateway": ("serve", "relay"),
    }
)
GATEWAY_PORT = 8000  # the console client's redirect URIs in the local realm name this port
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class PlatformPackage:
    """One package of the platform and how it runs locally (`python -m <package> <mode>`)."""

    package: str
    environment: dict[str, str]
    is_ready: Callable[[], bool]
    setup_modes: tuple[str, ...] = ("migrate",)
    run_modes: tuple[str, ...] = ("serve", "relay")


@dataclass
class RunningPlatform:
    gateway_url: str
    census_target: str
    grid_target: str
    cases_target: str
    notify_target: str
    # Where notify's e-mail, robot and SMS deliveries land (real SMTP and HTTP servers).
    sinks: Sinks
    processes: list[ManagedProcess] = field(default_factory=list)
    _launchers: dict[str, Callable[[], ManagedProcess]] = field(default_factory=dict)

    def process(self, name: str) -> ManagedProcess:
        """The running process named ``"<package> <mode>"``, e.g. ``"notify dispatch"``."""
        return next(p for p in self.processes if p.name == name)

    def start_another(self, name: str) -> ManagedProcess:
        """One more replica of the named process (benchmarks of horizontal scaling); stopped
        with the platform like the others."""
        replica = self._launchers[name]()
        self.processes.append(replica)
        return replica

    def restart(self, name: str) -> ManagedProcess:
        """Start the named process again as it was started (after a fault test killed it)."""
        old = self.process(name)
        old.stop()
        new = self._launchers[name]()
        self.processes[self.processes.index(old)] = new
        return new


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _listens(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    return check


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


def platform_packages(
    infra: LocalInfrastructure,
    *,
    gateway_port: int,
    census_port: int,
    grid_port: int,
    cases_port: int,
    notify_port: int,
    sinks: Sinks,
) -> list[PlatformPackage]:
    """Services first (the gateway's readiness does not depend on them, its routes do); the
    grid after the census, whose seeded buildings and households its seed lays out; the cases
    after the grid, which routes each located case through grid's WhoCovers; notify last, whose
    seed links demo contacts to seeded residents and whose audiences ask census and grid."""
    kafka, kc = infra.kafka.bootstrap_servers, infra.keycloak
    census = PlatformPackage(
        package="census",
        setup_modes=("migrate", "seed"),
        run_modes=RUN_MODES["census"],
        environment={
            "CENSUS_ENVIRONMENT": "development",
            "CENSUS_DATABASE_URL": infra.postgres.dsn("census"),
            "CENSUS_GRPC_HOST": "127.0.0.1",
            "CENSUS_GRPC_PORT": str(census_port),
            "CENSUS_KAFKA_BOOTSTRAP_SERVERS": kafka,
            "CENSUS_KEYCLOAK_ISSUER": kc.issuer,
        },
        is_ready=_listens(census_port),
    )
    grid = PlatformPackage(
        package="grid",
        setup_modes=("migrate", "seed"),
        # consume keeps the grid's projections of the census and of the cases current
        # (workload with open cases per building, coverage).
        run_modes=RUN_MODES["grid"],
        environment={
            "GRID_ENVIRONMENT": "development",
            "GRID_DATABASE_URL": infra.postgres.dsn("grid"),
            "GRID_GRPC_HOST": "127.0.0.1",
            "GRID_GRPC_PORT": str(grid_port),
            "GRID_KAFKA_BOOTSTRAP_SERVERS": kafka,
            "GRID_KEYCLOAK_ISSUER": kc.issuer,
            "GRID_CENSUS_TARGET": f"127.0.0.1:{census_port}",
        },
        is_ready=_listens(grid_port),
    )
    cases = PlatformPackage(
        package="cases",
        # consume seeds each onboarded tenant's catalogue; scheduler escalates overdue cases.
        run_modes=RUN_MODES["cases"],
        environment={
            "CASES_ENVIRONMENT": "development",
            "CASES_DATABASE_URL": infra.postgres.dsn("cases"),
            "CASES_GRPC_HOST": "127.0.0.1",
            "CASES_GRPC_PORT": str(cases_port),
            "CASES_KAFKA_BOOTSTRAP_SERVERS": kafka,
            "CASES_KEYCLOAK_ISSUER": kc.issuer,
            "CASES_GRID_TARGET": f"127.0.0.1:{grid_port}",
        },
        is_ready=_listens(cases_port),
    )
    notify = PlatformPackage(
        package="notify",
        setup_modes=("migrate", "seed"),
        # consume turns case events into in-app messages; dispatch sends the notices.
        run_modes=RUN_MODES["notify"],
        environment={
            "NOTIFY_ENVIRONMENT": "development",
            "NOTIFY_DATABASE_URL": infra.postgres.dsn("notify"),
            "NOTIFY_GRPC_HOST": "127.0.0.1",
            "NOTIFY_GRPC_PORT": str(notify_port),
            "NOTIFY_KAFKA_BOOTSTRAP_SERVERS": kafka,
            "NOTIFY_KEYCLOAK_ISSUER": kc.issuer,
            "NOTIFY_CENSUS_TARGET": f"127.0.0.1:{census_port}",
            "NOTIFY_GRID_TARGET": f"127.0.0.1:{grid_port}",
            "NOTIFY_SMTP_HOST": sinks.smtp_host,
            "NOTIFY_SMTP_PORT": str(sinks.smtp_port),
            "NOTIFY_SMS_ENDPOINT": sinks.sms_endpoint,
            "NOTIFY_SMS_ACCESS_KEY_ID": sinks.sms_access_key_id,
            "NOTIFY_SMS_ACCESS_KEY_SECRET": sinks.sms_access_key_secret,
            "NOTIFY_WECOM_SEED_WEBHOOK": sinks.webhook_base + "shibei-{n}",
        },
        is_ready=_listens(notify_port),
    )
    gateway = PlatformPackage(
        package="gateway",
        setup_modes=("migrate", "seed"),
        run_modes=RUN_MODES["gateway"],
        environment={
            "GATEWAY_ENVIRONMENT": "development",
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(gateway_port),
            "GATEWAY_DATABASE_URL": infra.postgres.dsn("gateway"),
            "GATEWAY_KAFKA_BOOTSTRAP_SERVERS": kafka,
            "GATEWAY_KEYCLOAK_URL": kc.url,
            "GATEWAY_CENSUS_TARGET": f"127.0.0.1:{census_port}",
            "GATEWAY_GRID_TARGET": f"127.0.0.1:{grid_port}",
            "GATEWAY_CASES_TARGET": f"127.0.0.1:{cases_port}",
            "GATEWAY_NOTIFY_TARGET": f"127.0.0.1:{notify_port}",
        },
        is_ready=lambda: _answers(f"http://127.0.0.1:{gateway_port}/readyz"),
    )
    return [census, grid, cases, notify, gateway]


@contextmanager
def running_platform(
    infra: LocalInfrastructure,
    *,
    console_port: bool = False,
    environment: Mapping[str, str] | None = None,
) -> Iterator[RunningPlatform]:
    """Migrate and seed each package, then run its processes until the block ends.

    Only ``make run`` asks for the console's port (8000, when free): tests and benchmarks take a
    free port, so two platforms on one machine never answer each other's readiness probes.
    ``environment`` is added to every process's settings (a benchmark raising the gateway's
    rate limits, a fault test shortening a timeout).
    """
    wanted = console_port and _port_is_free(GATEWAY_PORT)
    gateway_port = GATEWAY_PORT if wanted else free_port()
    census_port, grid_port, cases_port = free_port(), free_port(), free_port()
    notify_port = free_port()
    logs = infra.workdir / "logs"
    create_platform_topics(infra.kafka.bootstrap_servers)
    # `make run` puts the sinks on their well-known ports when free, so their page stays put.
    sinks_wanted = console_port and all(
        _port_is_free(p) for p in (DEFAULT_SMTP_PORT, DEFAULT_HTTP_PORT)
    )
    with running_sinks(
        smtp_port=DEFAULT_SMTP_PORT if sinks_wanted else 0,
        http_port=DEFAULT_HTTP_PORT if sinks_wanted else 0,
    ) as sinks:
        platform = RunningPlatform(
            gateway_url=f"http://127.0.0.1:{gateway_port}",
            census_target=f"127.0.0.1:{census_port}",
            grid_target=f"127.0.0.1:{grid_port}",
            cases_target=f"127.0.0.1:{cases_port}",
            notify_target=f"127.0.0.1:{notify_port}",
            sinks=sinks,
        )
        packages = platform_packages(
            infra,
            gateway_port=gateway_port,
            census_port=census_port,
            grid_port=grid_port,
            cases_port=cases_port,
            notify_port=notify_port,
            sinks=sinks,
        )
        for package in packages:
            package.environment.update(environment or {})
        infra.keycloak.allow_console_at(platform.gateway_url)
        yield from _run_packages(platform, packages, logs)


def _run_packages(
    platform: RunningPlatform, packages: list[PlatformPackage], logs: Path
) -> Iterator[RunningPlatform]:
    try:
        for package in packages:
            env = {**os.environ, **package.environment}
            for mode in package.setup_modes:
                run_checked(
                    f"{package.package} {mode}",
                    [sys.executable, "-m", package.package, mode],
                    log_path=logs / f"{package.package}-{mode}.log",
                    env=env,
                )
            for mode in package.run_modes:
                name = f"{package.package} {mode}"
                platform._launchers[name] = partial(
                    spawn,
                    name,
                    [sys.executable, "-m", package.package, mode],
                    log_path=logs / f"{package.package}-{mode}.log",
                    env=env,
                )
            started = [platform._launchers[f"{package.package} {m}"]() for m in package.run_modes]
            platform.processes += started
            wait_until_ready(started[0], package.is_ready, timeout=READY_TIMEOUT_S)
            for process in started[1:]:
                if not process.running:
                    raise ComponentFailedError(process.name, "exited", process.log_path)
        yield platform
    finally:
        for process in reversed(platform.processes):
            process.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
