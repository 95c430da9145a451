"""Pinned versions and where downloads are cached.

The Java artifacts are pinned in one place, deploy/local/pom.xml; this module reads them from
there so the driver, Maven and the printed banner never disagree.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LOCAL_DIR = Path(__file__).resolve().parents[2]
POM = LOCAL_DIR / "pom.xml"
REALM_FILE = LOCAL_DIR / "realm-shequ.json"
KAFKA_LOG_CONFIG = LOCAL_DIR / "kafka-log4j2.yaml"
_MAVEN_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


@dataclass(frozen=True)
class PinnedVersions:
    kafka: str
    keycloak: str


@cache
def pinned_versions(pom: Path = POM) -> PinnedVersions:
    """Read the Kafka and Keycloak versions from the pom's <properties>."""
    root = ET.parse(pom).getroot()  # noqa: S314 - our own file, not untrusted input

    def prop(name: str) -> str:
        node = root.find(f"m:properties/m:{name}", _MAVEN_NS)
        if node is None or not (node.text or "").strip():
            raise ValueError(f"{pom} has no <{name}> property")
        return (node.text or "").strip()

    return PinnedVersions(kafka=prop("kafka.version"), keycloak=prop("keycloak.version"))


def cache_dir() -> Path:
    """Where downloads live between runs: $SHEQU_CACHE, else ~/.cache/shequ."""
    configured = os.environ.get("SHEQU_CACHE")
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "shequ"
