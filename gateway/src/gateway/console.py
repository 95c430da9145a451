"""The web console at /console: its configuration and its built files (gateway/console/dist).

The console is a single-page application, so any /console path that is not a file answers
index.html and the browser's router takes over. Built assets carry a content hash in their
names and are cached for a year; index.html and the configuration are never cached, so a new
build reaches users on their next load.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from gateway.config import GatewaySettings

router = APIRouter(include_in_schema=False)

_NOT_BUILT = """<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<title>控制台尚未构建 Console not built</title>
<body style="font-family:sans-serif;max-width:40em;margin:15vh auto">
<h2>控制台尚未构建</h2>
<p>请在项目目录运行 <code>make console</code>（<code>make run</code> 会自动构建）。</p>
<h2>The console is not built</h2><p>Run <code>make console</code> in the project
(<code>make run</code> builds it).</p></body></html>"""
_IMMUTABLE = "public, max-age=31536000, immutable"


class ConsoleConfig(BaseModel):
    issuer: str
    client_id: str
    api_base: str
    environment: str


def console_dir(settings: GatewaySettings) -> Path:
    if settings.console_dir:
        return Path(settings.console_dir)
    # A source checkout: gateway/src/gateway/console.py → gateway/console/dist.
    return Path(__file__).resolve().parents[2] / "console" / "dist"


@router.get("/console/config.json")
def config(request: Request) -> ConsoleConfig:
    settings: GatewaySettings = request.app.state.core.settings
    return ConsoleConfig(
        issuer=settings.public_issuer,
        client_id=settings.console_client_id,
        api_base="/api/v1",
        environment=settings.environment,
    )


@router.get("/console")
def console_root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=308)


@router.get("/console/{path:path}")
def console_file(path: str, request: Request) -> Response:
    root = console_dir(request.app.state.core.settings).resolve()
    index = root / "index.html"
    if not index.is_file():
        return HTMLResponse(_NOT_BUILT, status_code=503, headers={"Retry-After": "60"})
    wanted = (root / path).resolve()
    if path and wanted.is_file() and wanted.is_relative_to(root):
        cache = _IMMUTABLE if wanted.parent.name == "assets" else "no-cache"
        return FileResponse(wanted, headers={"Cache-Control": cache})
    if path.startswith("assets/"):
        # A missing asset is a stale page asking for an old build's file: not the app shell.
        return JSONResponse(
            {"type": "about:blank", "title": "未找到 Not Found", "status": 404},
            status_code=404,
            media_type="application/problem+json",
        )
    return FileResponse(index, headers={"Cache-Control": "no-cache"})
