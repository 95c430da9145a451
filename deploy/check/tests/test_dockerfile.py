"""The Dockerfile check passes the real file and fails purpose-made bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from shequ_deploycheck.chart import repo_root
from shequ_deploycheck.dockerfile import (
    check_dockerfile,
    ignore_rules,
    instructions_of,
    is_ignored,
    parse,
)
from shequ_infra.platform import RUN_MODES

MODES = {"demo": frozenset({"serve", "migrate", "relay"})}

GOOD = """\
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
FROM ${PYTHON_IMAGE} AS builder
COPY pyproject.toml uv.lock ./
RUN python -m demo migrate --help \\
 && echo built
FROM ${PYTHON_IMAGE} AS runtime
USER 10001:10001
FROM runtime AS demo
COPY --from=builder /opt/venv /opt/venv
ENTRYPOINT ["python", "-m", "demo"]
CMD ["serve"]
"""


def modes_of(package: str) -> frozenset[str]:
    if package not in MODES:
        raise LookupError(package)
    return MODES[package]


def problems_in(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    (tmp_path / "uv.lock").write_text("", encoding="utf-8")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(text, encoding="utf-8")
    return check_dockerfile(dockerfile, tmp_path, ["demo"], modes_of)


def test_the_projects_dockerfile_is_honest() -> None:
    root = repo_root()
    problems = check_dockerfile(root / "deploy/docker/Dockerfile", root, list(RUN_MODES))
    assert problems == []


def test_the_projects_dockerfile_has_a_target_per_package() -> None:
    stages = parse((repo_root() / "deploy/docker/Dockerfile").read_text(encoding="utf-8"))
    assert set(RUN_MODES) <= {stage.name for stage in stages.stages}


def test_a_purpose_made_good_file_passes(tmp_path: Path) -> None:
    assert problems_in(tmp_path, GOOD) == []


def test_a_copied_path_that_does_not_exist_fails(tmp_path: Path) -> None:
    problems = problems_in(tmp_path, GOOD.replace("uv.lock", "uv.lock services/demo/src"))
    assert any("services/demo/src does not exist" in p for p in problems)


def test_a_path_outside_the_context_fails(tmp_path: Path) -> None:
    problems = problems_in(tmp_path, GOOD.replace("uv.lock ./", "uv.lock ../secrets ./"))
    assert any("outside the context" in p for p in problems)


def test_an_unknown_default_mode_fails(tmp_path: Path) -> None:
    problems = problems_in(tmp_path, GOOD.replace('CMD ["serve"]', 'CMD ["healthcheck"]'))
    assert any("'healthcheck'" in p and "does not have" in p for p in problems)


def test_an_unknown_mode_in_a_build_step_fails(tmp_path: Path) -> None:
    problems = problems_in(
        tmp_path, GOOD.replace("python -m demo migrate", "python -m demo export")
    )
    assert any("has no mode 'export'" in p for p in problems)


@pytest.mark.parametrize(
    "user_line",
    ["USER 0", "USER root", "USER shequ", ""],
    ids=["uid-0", "root-by-name", "name-not-number", "no-user"],
)
def test_a_target_that_may_run_as_root_fails(tmp_path: Path, user_line: str) -> None:
    problems = problems_in(tmp_path, GOOD.replace("USER 10001:10001", user_line))
    assert any("root" in p for p in problems)


def test_an_entry_point_of_another_package_fails(tmp_path: Path) -> None:
    problems = problems_in(tmp_path, GOOD.replace('"-m", "demo"]', '"-m", "other"]'))
    assert any("ENTRYPOINT" in p for p in problems)


def test_a_missing_target_fails(tmp_path: Path) -> None:
    problems = problems_in(tmp_path, GOOD.replace("AS demo", "AS demo-image"))
    assert any("no target stage 'demo'" in p for p in problems)


def test_copying_from_an_undefined_stage_fails(tmp_path: Path) -> None:
    problems = problems_in(tmp_path, GOOD.replace("--from=builder", "--from=bulider"))
    assert any("--from=bulider names no earlier stage" in p for p in problems)


@pytest.mark.parametrize("image", ["python:latest", "python"])
def test_an_unpinned_base_image_fails(tmp_path: Path, image: str) -> None:
    problems = problems_in(
        tmp_path, GOOD.replace("PYTHON_IMAGE=python:3.11.14-slim-bookworm", f"PYTHON_IMAGE={image}")
    )
    assert any(f"base image {image!r} is not pinned" in p for p in problems)


def test_continued_lines_are_one_instruction_and_comments_are_dropped() -> None:
    instructions = instructions_of("# head\nRUN a \\\n  # inside\n  && b\nUSER 1\n")
    assert [(i.keyword, i.arguments, i.line) for i in instructions] == [
        ("RUN", "a && b", 2),
        ("USER", "1", 5),
    ]


def test_a_copied_path_the_ignore_file_leaves_out_fails(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile.dockerignore").write_text("# built here\n*.lock\n", encoding="utf-8")
    problems = problems_in(tmp_path, GOOD)
    assert problems == ["Dockerfile:3: uv.lock is left out of the context by the ignore file"]


def test_an_exception_in_the_ignore_file_lets_a_path_back_in(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile.dockerignore").write_text("*.lock\n!uv.lock\n", encoding="utf-8")
    assert problems_in(tmp_path, GOOD) == []


@pytest.mark.parametrize(
    ("pattern", "path", "ignored"),
    [
        ("**/node_modules", "gateway/console/node_modules", True),
        ("**/node_modules", "node_modules", True),
        ("**/node_modules", "gateway/console/node_modules/vue/index.js", True),
        ("proto/src/shequ/*", "proto/src/shequ/census", True),
        ("proto/src/shequ/*", "proto/src", False),
        (".venv", "services/.venv", False),
    ],
)
def test_ignore_patterns_follow_docker(pattern: str, path: str, ignored: bool) -> None:
    assert is_ignored(path, ignore_rules(pattern)) is ignored
