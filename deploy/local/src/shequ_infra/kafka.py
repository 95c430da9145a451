"""A single-node Kafka 4 broker in KRaft mode (broker and controller in one process)."""

from __future__ import annotations

import base64
import socket
import uuid
from pathlib import Path

from shequ_infra.java import JavaRuntime
from shequ_infra.processes import (
    ComponentFailedError,
    ManagedProcess,
    free_port,
    run_checked,
    spawn,
    wait_until_ready,
)
from shequ_infra.versions import KAFKA_LOG_CONFIG, pinned_versions

READY_TIMEOUT_S = 90.0
HEAP = ["-Xms128m", "-Xmx512m"]
_STARTED = "Kafka Server started"


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 characters).

    Never starting with "-" (as Kafka's own ``Uuid.randomUuid``): ``kafka-storage format``
    would take such an id for an option and fail, about one start in 64.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def server_properties(*, port: int, controller_port: int, log_dir: Path) -> str:
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={log_dir}",
            "num.partitions=3",
            # One node: every internal topic has one replica.
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            "",
        ]
    )


class KafkaBroker:
    name = "Kafka"

    def __init__(self, workdir: Path, libs: Path, java: JavaRuntime) -> None:
        self.workdir = workdir / "kafka"
        self.libs = libs
        self.java = java
        self.port = free_port()
        self.controller_port = free_port()
        self.log_path = workdir / "logs" / "kafka.log"
        self.config_path = self.workdir / "server.properties"
        self.process: ManagedProcess | None = None
        self._log_start = 0

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def version(self) -> str:
        return pinned_versions().kafka

    def _java(self, *args: str) -> list[str]:
        return [
            str(self.java.java),
            *HEAP,
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={KAFKA_LOG_CONFIG}",
            "-cp",
            f"{self.libs}/*",
            *args,
        ]

    def start(self) -> None:
        """Prepare, launch and wait (call from a thread that outlives the server)."""
        self.prepare()
        self.launch()
        self.wait_ready()

    def prepare(self) -> None:
        """Write the configuration and format the storage unless already formatted."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        data = self.workdir / "data"
        if not (data / "meta.properties").exists():
            self.config_path.write_text(
                server_properties(
                    port=self.port, controller_port=self.controller_port, log_dir=data
                )
            )
            run_checked(
                self.name,
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "--cluster-id",
                    new_cluster_id(),
                    "--config",
                    str(self.config_path),
                ),
                log_path=self.log_path,
            )

    def launch(self) -> None:
        # A restart appends to the same log: readiness reads only what this launch wrote.
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.process = spawn(
            self.name, self._java("kafka.Kafka", str(self.config_path)), log_path=self.log_path
        )

    def wait_ready(self) -> None:
        if self.process is None:
            raise ComponentFailedError(self.name, "was never launched")
        wait_until_ready(self.process, self._is_serving, timeout=READY_TIMEOUT_S)

    def _is_serving(self) -> bool:
        # The broker logs this line once every startup task is done; the open port proves the
        # log belongs to a live process. (A client probe blocks when no broker answers yet.)
        if _STARTED not in self._logged_since_launch():
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def _logged_since_launch(self) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_start)
                return log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Controlled shutdown (SIGTERM): the log is closed cleanly, so a later ``start`` serves
        the same topics, offsets and consumer groups on the same ports."""
        if self.process is not None:
            self.process.stop()
