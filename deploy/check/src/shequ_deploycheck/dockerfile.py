"""Keeps deploy/docker/Dockerfile honest where no Docker engine can build it.

A small parser of the instructions the file uses (FROM … AS, ARG, COPY/ADD with --from, USER,
ENTRYPOINT, CMD, RUN), then the checks a build would fail on, or a cluster would regret:
every copied path exists in the build context and is not excluded by the Dockerfile's ignore
file (``Dockerfile.dockerignore`` beside it, else ``.dockerignore`` in the context), every stage
named is defined before its use,
every base image is pinned, and each package's target runs as a numeric non-root user with
``python -m <package>`` and a default mode that package really has.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shequ_deploycheck.modes import run_modes_of

_ARG_REFERENCE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")
_MODE_IN_RUN = re.compile(r"python\S*\s+-m\s+([A-Za-z_][\w.]*)\s+([\w-]+)")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def last(self, keyword: str) -> Instruction | None:
        found = [i for i in self.instructions if i.keyword == keyword]
        return found[-1] if found else None


@dataclass(frozen=True)
class Dockerfile:
    global_args: Mapping[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)


def instructions_of(text: str) -> list[Instruction]:
    """Logical instructions: comments dropped, backslash continuations joined."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        joined = " ".join(part for part in pending if part)
        pending = []
        keyword, _, arguments = joined.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip(), start))
    if pending:
        joined = " ".join(pending)
        keyword, _, arguments = joined.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip(), start))
    return instructions


def parse(text: str) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in instructions_of(text):
        if instruction.keyword == "FROM":
            words = [w for w in instruction.arguments.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name, line=instruction.line))
        elif not stages:
            if instruction.keyword == "ARG":
                key, _, default = instruction.arguments.partition("=")
                global_args[key.strip()] = default.strip().strip('"')
        else:
            stages[-1].instructions.append(instruction)
    return Dockerfile(global_args=global_args, stages=stages)


def substitute(value: str, args: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        return args.get(name, match.group(2) or "")

    return _ARG_REFERENCE.sub(replace, value)


def exec_form(arguments: str) -> list[str] | None:
    """The JSON (exec) form of ENTRYPOINT/CMD, or None for the shell form."""
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError:
        return None
    if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
        return parsed
    return None


def image_is_pinned(image: str) -> bool:
    """A tag other than ``latest``, or a digest."""
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    return last.rsplit(":", 1)[1] not in ("", "latest")


@dataclass(frozen=True)
class IgnoreRule:
    pattern: re.Pattern[str]
    excludes: bool  # False for a `!pattern` exception


def ignore_rules(text: str) -> list[IgnoreRule]:
    """A .dockerignore: one pattern a line, ``*``/``?`` within a path segment, ``**`` across
    segments, ``!`` re-including; a pattern also covers everything below what it matches."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        excludes = not line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        regex = ""
        for part in re.split(r"(\*\*/?|\*|\?)", pattern):
            if part.startswith("**"):
                regex += "(?:.*/)?" if part.endswith("/") else ".*"
            elif part == "*":
                regex += "[^/]*"
            elif part == "?":
                regex += "[^/]"
            else:
                regex += re.escape(part)
        rules.append(IgnoreRule(re.compile(f"^{regex}(?:/.*)?$"), excludes))
    return rules


def is_ignored(relative: str, rules: list[IgnoreRule]) -> bool:
    """Whether the build context leaves ``relative`` out (the last matching rule decides)."""
    ignored = False
    for rule in rules:
        if rule.pattern.match(relative.strip("/")):
            ignored = rule.excludes
    return ignored


@dataclass(frozen=True)
class BuildContext:
    """The directory a build sends, and what its ignore file leaves out."""

    root: Path
    rules: list[IgnoreRule]

    @classmethod
    def of(cls, dockerfile: Path, root: Path) -> BuildContext:
        beside = dockerfile.with_name(f"{dockerfile.name}.dockerignore")
        ignore = beside if beside.exists() else root / ".dockerignore"
        rules = ignore_rules(ignore.read_text(encoding="utf-8")) if ignore.exists() else []
        return cls(root.resolve(), rules)


def check_dockerfile(
    path: Path,
    context: Path,
    packages: Iterable[str],
    modes_of: Callable[[str], frozenset[str]] = run_modes_of,
) -> list[str]:
    """Every problem found in the Dockerfile at ``path`` built in ``context``; empty: honest."""
    dockerfile = parse(path.read_text(encoding="utf-8"))
    build = BuildContext.of(path, context)
    problems: list[str] = []
    defined: set[str] = set()
    where = path.name
    for stage in dockerfile.stages:
        base = substitute(stage.base, dockerfile.global_args)
        if base not in defined and base != "scratch" and not image_is_pinned(base):
            problems.append(f"{where}:{stage.line}: base image {base!r} is not pinned to a tag")
        for instruction in stage.instructions:
            if instruction.keyword in ("COPY", "ADD"):
                problems += _check_copy(instruction, where, build, defined, dockerfile)
            elif instruction.keyword == "RUN":
                problems += _check_modes_run(instruction, where, modes_of)
        if stage.name:
            defined.add(stage.name)
    for package in packages:
        problems += _check_target(dockerfile, package, where, modes_of)
    return problems


def _check_copy(
    instruction: Instruction,
    where: str,
    build: BuildContext,
    defined: set[str],
    dockerfile: Dockerfile,
) -> list[str]:
    words = shlex.split(instruction.arguments)
    flags = [w for w in words if w.startswith("--")]
    paths = [w for w in words if not w.startswith("--")]
    if len(paths) < 2:
        return [f"{where}:{instruction.line}: {instruction.keyword} needs a source and a target"]
    from_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
    if from_stage is not None:
        source_stage = substitute(from_stage, dockerfile.global_args)
        if source_stage in defined or image_is_pinned(source_stage):
            return []
        return [f"{where}:{instruction.line}: --from={source_stage} names no earlier stage"]
    problems = []
    for source in paths[:-1]:
        resolved = (build.root / substitute(source, dockerfile.global_args)).resolve()
        if not resolved.is_relative_to(build.root):
            problems.append(f"{where}:{instruction.line}: {source} lies outside the context")
        elif not resolved.exists():
            problems.append(f"{where}:{instruction.line}: {source} does not exist in the context")
        elif is_ignored(resolved.relative_to(build.root).as_posix(), build.rules):
            problems.append(
                f"{where}:{instruction.line}: {source} is left out of the context "
                "by the ignore file"
            )
    return problems


def _check_modes_run(
    instruction: Instruction, where: str, modes_of: Callable[[str], frozenset[str]]
) -> list[str]:
    problems = []
    for package, mode in _MODE_IN_RUN.findall(instruction.arguments):
        modes = _known_modes(package, modes_of)
        if modes is not None and mode not in modes:
            problems.append(
                f"{where}:{instruction.line}: `python -m {package} {mode}`: {package} has no "
                f"mode {mode!r} (modes: {', '.join(sorted(modes))})"
            )
    return problems


def _known_modes(package: str, modes_of: Callable[[str], frozenset[str]]) -> frozenset[str] | None:
    """A package of ours has modes; anything else (pip, venv …) is not ours to check."""
    try:
        return modes_of(package)
    except LookupError:
        return None


def _check_target(
    dockerfile: Dockerfile, package: str, where: str, modes_of: Callable[[str], frozenset[str]]
) -> list[str]:
    stage = dockerfile.stage(package)
    if stage is None:
        return [f"{where}: no target stage {package!r} (docker build --target {package})"]
    problems = []
    user = _effective(dockerfile, stage, "USER")
    if user is None:
        problems.append(f"{where}: target {package!r} runs as root (no USER)")
    else:
        name = user.arguments.split(":", 1)[0]
        if not name.isdigit() or int(name) == 0:
            problems.append(
                f"{where}:{user.line}: target {package!r} must run as a numeric non-root user "
                f"(USER {user.arguments}); Kubernetes' runAsNonRoot can only verify a number"
            )
    entrypoint = _effective(dockerfile, stage, "ENTRYPOINT")
    expected = ["python", "-m", package]
    if entrypoint is None or exec_form(entrypoint.arguments) != expected:
        found = entrypoint.arguments if entrypoint else "none"
        problems.append(
            f"{where}: target {package!r} needs ENTRYPOINT {json.dumps(expected)} (found {found})"
        )
    cmd = _effective(dockerfile, stage, "CMD")
    command = exec_form(cmd.arguments) if cmd else None
    if not command:
        problems.append(f'{where}: target {package!r} needs a default mode, CMD ["serve"]')
    else:
        modes = modes_of(package)
        if command[0] not in modes:
            problems.append(
                f"{where}:{cmd.line if cmd else 0}: target {package!r} runs mode "
                f"{command[0]!r}, which `python -m {package}` does not have "
                f"(modes: {', '.join(sorted(modes))})"
            )
    return problems


def _effective(dockerfile: Dockerfile, stage: Stage, keyword: str) -> Instruction | None:
    """The instruction in force in ``stage``: its own last one, or its base stage's."""
    seen: set[str] = set()
    current: Stage | None = stage
    while current is not None:
        found = current.last(keyword)
        if found is not None:
            return found
        if current.base in seen:
            return None
        seen.add(current.base)
        current = dockerfile.stage(current.base)
    return None
