"""Generate the Python bindings of every .proto under proto/shequ into proto/src/shequ.

Writes message modules (*_pb2.py), gRPC stubs (*_pb2_grpc.py) and type stubs for both
(mypy-protobuf), then adds the __init__.py files that make each directory a package.
Run through `make proto`; generated files are never committed.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
OUT = PROTO_ROOT / "src"
PACKAGE = OUT / "shequ"
KEPT = {"__init__.py", "py.typed"}


def clean_generated() -> None:
    """Remove what an earlier run generated so deleted protos leave nothing behind."""
    for child in PACKAGE.iterdir():
        if child.name in KEPT:
            continue
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()


def generate() -> int:
    sources = sorted(
        str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / "shequ").rglob("*.proto")
    )
    if not sources:
        print("proto: nothing to generate", file=sys.stderr)
        return 1
    clean_generated()
    bin_dir = Path(sys.executable).parent
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"--proto_path={PROTO_ROOT}",
        f"--proto_path={well_known}",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={OUT}",
        f"--grpc_python_out={OUT}",
        f"--mypy_out=quiet:{OUT}",
        f"--mypy_grpc_out=quiet:{OUT}",
        *sources,
    ]
    status = protoc.main(args)
    if status != 0:
        return int(status)
    for directory in [d for d in PACKAGE.rglob("*") if d.is_dir()]:
        (directory / "__init__.py").touch()
    print(f"proto: generated bindings for {len(sources)} files into {PACKAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(generate())
