"""Rendering the chart with helm (installed into .tools/bin by `make deploy-check`)."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# The Kubernetes version the chart is rendered and validated for (kubernetes-validate ships
# its schemas; helm built from source would otherwise assume a far older cluster).
KUBERNETES_VERSION = "1.31.0"
RELEASE = "shequ"
NAMESPACE = "shequ"


def repo_root() -> Path:
    """The repository this package sits in (deploy/check/src/shequ_deploycheck)."""
    return Path(__file__).resolve().parents[4]


def chart_dir() -> Path:
    return repo_root() / "deploy" / "helm" / "shequ"


@dataclass(frozen=True)
class Variant:
    """One way of installing the chart that the check renders."""

    name: str
    values_files: tuple[str, ...] = ()
    settings: tuple[str, ...] = ()

    def helm_arguments(self, chart: Path) -> list[str]:
        arguments: list[str] = []
        for values in self.values_files:
            arguments += ["--values", str(chart / values)]
        for setting in self.settings:
            arguments += ["--set", setting]
        return arguments


VARIANTS = (
    Variant("default"),
    Variant("production", values_files=("values-production.yaml",)),
    # Every operator option on, beside the defaults.
    Variant(
        "operators",
        settings=(
            "operators.strimzi.enabled=true",
            "operators.keycloak.enabled=true",
            "operators.cloudnativepg.enabled=true",
        ),
    ),
)


class HelmError(RuntimeError):
    """helm refused the chart; the message is helm's own."""


def _helm(helm: Path, arguments: list[str]) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - our own helm binary with our own arguments
            [str(helm), *arguments], capture_output=True, text=True, check=False
        )
    except OSError as error:
        raise HelmError(
            f"cannot run {helm} ({error.strerror}): make deploy-check installs it"
        ) from None
    if done.returncode != 0:
        raise HelmError(f"helm {arguments[0]}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def lint(helm: Path, chart: Path, variant: Variant) -> str:
    return _helm(
        helm,
        [
            "lint",
            "--strict",
            "--kube-version",
            KUBERNETES_VERSION,
            *variant.helm_arguments(chart),
            str(chart),
        ],
    )


def render(helm: Path, chart: Path, variant: Variant) -> list[Mapping[str, Any]]:
    """Every manifest ``helm template`` writes (hooks included), as parsed YAML."""
    output = _helm(
        helm,
        [
            "template",
            RELEASE,
            str(chart),
            "--namespace",
            NAMESPACE,
            "--kube-version",
            KUBERNETES_VERSION,
            *variant.helm_arguments(chart),
        ],
    )
    return [doc for doc in yaml.safe_load_all(output) if doc]
