"""The run modes a package declares, read from its ``__main__`` without running anything.

Every package declares its modes in one call, ``run_mode(argv, ..., modes={"serve": ..., …})``
(shequ_kit.runmodes); the keys of that literal dict are the modes. Reading the source keeps the
check from connecting to databases or starting servers (``main()`` builds settings first).
"""

from __future__ import annotations

import ast
import importlib.util
from functools import cache
from pathlib import Path


class ModesNotFoundError(LookupError):
    """The package has no ``__main__`` with a literal ``run_mode(..., modes={...})`` call."""


def main_module_path(package: str) -> Path:
    spec = importlib.util.find_spec(f"{package}.__main__")
    if spec is None or spec.origin is None:
        raise ModesNotFoundError(f"package {package!r} has no __main__ module")
    return Path(spec.origin)


def modes_in_source(source: str) -> frozenset[str]:
    """The string keys of the ``modes=`` dict passed to ``run_mode`` in ``source``."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or _called_name(node.func) != "run_mode":
            continue
        for keyword in node.keywords:
            if keyword.arg == "modes" and isinstance(keyword.value, ast.Dict):
                return frozenset(
                    key.value
                    for key in keyword.value.keys
                    if isinstance(key, ast.Constant) and isinstance(key.value, str)
                )
    raise ModesNotFoundError("no run_mode(..., modes={...}) call with a literal dict")


@cache
def run_modes_of(package: str) -> frozenset[str]:
    """Every mode ``python -m <package> <mode>`` accepts."""
    path = main_module_path(package)
    try:
        return modes_in_source(path.read_text(encoding="utf-8"))
    except ModesNotFoundError as error:
        raise ModesNotFoundError(f"{path}: {error}") from None


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None
