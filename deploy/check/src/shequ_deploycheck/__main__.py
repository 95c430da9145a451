"""`make deploy-check`: python -m shequ_deploycheck check | realm

check   the Dockerfile (paths, stages, pinned images, non-root targets, real run modes), then
        for the default, production and all-operators values: helm lint, helm template, every
        manifest against the Kubernetes schemas (offline), the project's policies, and the
        processes the chart runs against the ones the code declares
realm   write deploy/helm/shequ/files/realm-shequ.json from deploy/local/realm-shequ.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from shequ_deploycheck import realm
from shequ_deploycheck.chart import VARIANTS, HelmError, chart_dir, lint, render, repo_root
from shequ_deploycheck.dockerfile import check_dockerfile
from shequ_deploycheck.policy import check_policies
from shequ_deploycheck.processes import check_processes
from shequ_deploycheck.schemas import validate_manifests
from shequ_infra.platform import RUN_MODES

DOCKERFILE = Path("deploy/docker/Dockerfile")
LOCAL_REALM = Path("deploy/local/realm-shequ.json")
CHART_REALM = Path("files/realm-shequ.json")


def check(helm: Path) -> list[str]:
    root, chart = repo_root(), chart_dir()
    started = time.monotonic()
    problems = [
        f"Dockerfile: {p}" for p in check_dockerfile(root / DOCKERFILE, root, list(RUN_MODES))
    ]
    print(f"Dockerfile: {len(RUN_MODES)} targets checked")
    if (chart / CHART_REALM).read_text(encoding="utf-8") != realm.render(root / LOCAL_REALM):
        problems.append(
            f"{CHART_REALM} is out of step with {LOCAL_REALM}: python -m shequ_deploycheck realm"
        )
    for variant in VARIANTS:
        try:
            lint(helm, chart, variant)
            manifests = render(helm, chart, variant)
        except HelmError as error:
            problems.append(f"{variant.name} values: {error}")
            continue
        schemas = validate_manifests(manifests)
        found = [
            *schemas.problems,
            *check_policies(manifests),
            *check_processes(manifests),
        ]
        problems += [f"{variant.name} values: {p}" for p in found]
        skipped = (
            f", {len(schemas.skipped)} operator resources not schema-checked"
            if schemas.skipped
            else ""
        )
        print(
            f"{variant.name} values: {len(manifests)} manifests, "
            f"{schemas.validated} valid against Kubernetes schemas{skipped}"
        )
    print(f"deploy-check took {time.monotonic() - started:.1f} s")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="shequ_deploycheck",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["check", "realm"])
    parser.add_argument(
        "--helm", type=Path, default=repo_root() / ".tools" / "bin" / "helm", help="helm binary"
    )
    arguments = parser.parse_args(argv)
    if arguments.command == "realm":
        target = chart_dir() / CHART_REALM
        target.write_text(realm.render(repo_root() / LOCAL_REALM), encoding="utf-8")
        print(f"wrote {target}")
        return 0
    problems = check(arguments.helm)
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
