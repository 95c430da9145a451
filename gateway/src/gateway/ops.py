"""Operational endpoints: /healthz (alive), /readyz (dependencies answer), /metrics."""

from __future__ import annotations

import socket
from typing import Any

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

router = APIRouter(tags=["operations 运维"])
CACHED_KEYS = "cached (Keycloak unreachable)"


@router.get("/healthz", operation_id="healthz")
def healthz() -> dict[str, str]:
    """进程存活。The process is alive."""
    return {"status": "ok"}


def _kafka_reachable(bootstrap_servers: str, timeout_s: float) -> bool:
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout_s):
                return True
        except (OSError, ValueError):
            continue
    return False


@router.get("/readyz", operation_id="readyz", responses={503: {"description": "Not ready"}})
def readyz(request: Request) -> JSONResponse:
    """依赖可用：Keycloak 签名密钥、数据库、Kafka。Keycloak keys, database and Kafka answer."""
    core = request.app.state.core
    checks: dict[str, Any] = {}
    try:
        core.verifier.refresh_keys()
        checks["keycloak_jwks"] = "ok"
    except httpx.HTTPError as error:
        # Issued tokens still verify with the cached keys: Keycloak away stops logins and
        # member changes (503 each), not the routes this instance serves.
        failed = f"failed: {type(error).__name__}"
        checks["keycloak_jwks"] = CACHED_KEYS if core.verifier.holds_keys else failed
    try:
        with core.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as error:
        checks["database"] = f"failed: {type(error).__name__}"
    timeout = core.settings.outbound_timeout_s
    checks["kafka"] = (
        "ok" if _kafka_reachable(core.settings.kafka_bootstrap_servers, timeout) else "failed"
    )
    ready = all(value in {"ok", CACHED_KEYS} for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", operation_id="metrics", include_in_schema=False)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
