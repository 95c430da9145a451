"""Renders the chart once per variant for the whole session.

helm comes from `make deploy-check` (which `make test` runs first); without it these tests fail
rather than skip, so a CI that forgot to install it cannot pass quietly.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from shequ_deploycheck.chart import VARIANTS, chart_dir, render, repo_root

Manifests = list[Mapping[str, Any]]


@pytest.fixture(scope="session")
def helm() -> Path:
    path = repo_root() / ".tools" / "bin" / "helm"
    if not path.exists():
        pytest.fail(f"{path} is missing: `make deploy-check` installs it")
    return path


@pytest.fixture(scope="session")
def rendered(helm: Path) -> dict[str, Manifests]:
    """Every variant's manifests, by variant name (default, production, operators)."""
    return {variant.name: render(helm, chart_dir(), variant) for variant in VARIANTS}


@pytest.fixture(scope="session")
def default_manifests(rendered: dict[str, Manifests]) -> Manifests:
    return rendered["default"]
