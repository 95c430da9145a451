"""The chart runs exactly the platform's processes, each with a mode its package really has.

The list comes from the code: ``shequ_infra.platform.RUN_MODES`` (what `make run` starts) for
the Deployments, each package's ``__main__`` for the modes that exist (migrate for the Jobs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shequ_deploycheck.modes import run_modes_of
from shequ_deploycheck.policy import describe, pod_spec
from shequ_infra.platform import RUN_MODES

NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"


def expected_processes(
    run_modes: Mapping[str, tuple[str, ...]] = RUN_MODES,
) -> set[tuple[str, str]]:
    return {(package, mode) for package, modes in run_modes.items() for mode in modes}


def rendered_processes(manifests: list[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """(package, mode) of every rendered Deployment, from its pods' labels."""
    found = set()
    for manifest in manifests:
        if manifest.get("kind") == "Deployment":
            labels = manifest["spec"]["template"]["metadata"].get("labels") or {}
            found.add((str(labels.get(NAME_LABEL)), str(labels.get(COMPONENT_LABEL))))
    return found


def check_processes(
    manifests: list[Mapping[str, Any]],
    run_modes: Mapping[str, tuple[str, ...]] = RUN_MODES,
    modes_of: Callable[[str], frozenset[str]] = run_modes_of,
) -> list[str]:
    expected = expected_processes(run_modes)
    rendered = rendered_processes(manifests)
    problems = [
        f"no Deployment runs `python -m {package} {mode}`"
        for package, mode in sorted(expected - rendered)
    ]
    problems += [
        f"a Deployment runs {package} {mode}, which `make run` does not (RUN_MODES)"
        for package, mode in sorted(rendered - expected)
    ]
    migrated = set()
    for manifest in manifests:
        spec = pod_spec(manifest)
        if spec is None:
            continue
        labels = (
            manifest["spec"]["template"]["metadata"].get("labels") or {}
            if manifest.get("kind") != "CronJob"
            else {}
        )
        package = str(labels.get(NAME_LABEL))
        for container in spec.get("containers") or []:
            problems += _check_container(manifest, package, container, modes_of)
            if manifest.get("kind") == "Job" and container.get("args") == ["migrate"]:
                migrated.add(package)
    problems += [
        f"no migration Job runs `python -m {package} migrate`"
        for package in sorted(set(run_modes) - migrated)
    ]
    return problems


def _check_container(
    manifest: Mapping[str, Any],
    package: str,
    container: Mapping[str, Any],
    modes_of: Callable[[str], frozenset[str]],
) -> list[str]:
    where = f"{describe(manifest)} container {container.get('name')}"
    problems = []
    repository = str(container.get("image", "")).rsplit(":", 1)[0].rsplit("/", 1)[-1]
    if repository != f"shequ-{package}":
        problems.append(f"{where}: runs image {repository}, not shequ-{package}")
    args = container.get("args") or []
    if len(args) != 1:
        problems.append(f"{where}: needs exactly one argument, the run mode (args: {args})")
        return problems
    modes = modes_of(package)
    if args[0] not in modes:
        problems.append(
            f"{where}: `python -m {package} {args[0]}` is no mode of {package} "
            f"(modes: {', '.join(sorted(modes))})"
        )
    component = (manifest["spec"]["template"]["metadata"].get("labels") or {}).get(COMPONENT_LABEL)
    if manifest.get("kind") == "Deployment" and args[0] != component:
        problems.append(f"{where}: runs mode {args[0]} but is labelled {component}")
    return problems
