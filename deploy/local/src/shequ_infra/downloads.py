"""Fetch Kafka's jars and the Keycloak distribution from Maven Central, once.

Maven does the fetching (deploy/local/pom.xml pins what); results land in the cache directory
with a marker written last, so an interrupted download is simply repeated next time.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shequ_infra.java import JavaRuntime
from shequ_infra.processes import ComponentFailedError, log_tail
from shequ_infra.versions import POM, cache_dir, pinned_versions

_MARKER = ".complete"


def _log_of(target: Path) -> Path:
    return target.parent / f"{target.name}.maven.log"


@contextmanager
def _cache_lock(name: str) -> Iterator[None]:
    """One download of a thing at a time, across processes sharing the cache."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    with (root / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _maven(component: str, execution: str, java: JavaRuntime, log_path: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ComponentFailedError(
            component,
            "Maven (`mvn`) is needed once to fetch it from Maven Central; "
            "install Maven (e.g. `apt-get install maven`) and run again",
        )
    env = {**os.environ, "JAVA_HOME": str(java.home)}
    argv = [mvn, "-B", "-q", "-f", str(POM), execution, f"-Dshequ.cache={cache_dir()}"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log_file:
        result = subprocess.run(  # noqa: S603 - fixed argv
            argv, stdout=log_file, stderr=subprocess.STDOUT, env=env, check=False
        )
    if result.returncode != 0:
        raise ComponentFailedError(component, "Maven could not fetch it", log_path)


def kafka_libs(java: JavaRuntime) -> Path:
    """The directory of the Kafka broker's jars (downloaded on first use)."""
    target = cache_dir() / f"kafka-{pinned_versions().kafka}"
    with _cache_lock("kafka"):
        if not (target / _MARKER).exists():
            shutil.rmtree(target, ignore_errors=True)
            _maven("Kafka", "dependency:copy-dependencies@kafka", java, _log_of(target))
            (target / _MARKER).touch()
    return target / "libs"


def keycloak_dist(java: JavaRuntime) -> Path:
    """The unpacked Keycloak distribution (downloaded on first use)."""
    target = cache_dir() / f"keycloak-{pinned_versions().keycloak}"
    with _cache_lock("keycloak"):
        if not (target / _MARKER).exists():
            shutil.rmtree(target, ignore_errors=True)
            _maven("Keycloak", "dependency:unpack@keycloak", java, _log_of(target))
            kc_sh = target / "bin" / "kc.sh"
            if not kc_sh.exists():
                raise ComponentFailedError(
                    "Keycloak", f"unpacked, but {kc_sh} is missing", _log_of(target)
                )
            kc_sh.chmod(0o755)
            (target / _MARKER).touch()
    return target


__all__ = ["kafka_libs", "keycloak_dist", "log_tail"]
