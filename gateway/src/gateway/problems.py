"""RFC 9457 problem+json for every error the gateway answers, through one table.

Domain errors (``ErrorKind``) and request validation errors become problem documents with the
stable ``code``, the Chinese ``detail`` first and ``detail_en`` beside it, and the request id.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shequ_kit.context import current_request_id
from shequ_kit.errors import DomainError, ErrorKind

MEDIA_TYPE = "application/problem+json"
log = logging.getLogger(__name__)

# The one table: domain error kind → HTTP status.
STATUS_OF: dict[ErrorKind, int] = {
    ErrorKind.INVALID_INPUT: 422,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.ALREADY_EXISTS: 409,
    ErrorKind.CONFLICT: 409,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.PERMISSION_DENIED: 403,
    ErrorKind.UNAVAILABLE: 503,
}
TITLES: dict[int, str] = {
    400: "请求格式错误 Bad request",
    401: "未登录或登录已失效 Unauthenticated",
    403: "无权访问 Forbidden",
    404: "未找到 Not found",
    405: "不支持的请求方法 Method not allowed",
    409: "与当前状态冲突 Conflict",
    413: "请求体过大 Payload too large",
    415: "不支持的内容类型 Unsupported media type",
    422: "输入有误 Invalid input",
    429: "请求过于频繁 Too many requests",
    503: "服务暂不可用 Service unavailable",
}
RETRY_AFTER_S = "5"


def problem(
    request: Request,
    status: int,
    *,
    code: str,
    detail: str,
    detail_en: str,
    errors: list[dict[str, str]] | None = None,
    params: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:shequ:problem:{code}",
        "title": TITLES.get(status, "错误 Error"),
        "status": status,
        "detail": detail,
        "detail_en": detail_en,
        "instance": request.url.path,
        "code": code,
        "request_id": current_request_id(),
    }
    if errors:
        body["errors"] = errors
    if params:
        body["params"] = params
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="shequ"'
    if status in (429, 503):
        headers["Retry-After"] = RETRY_AFTER_S
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


async def _domain_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainError)
    status = STATUS_OF[error.kind]
    if status >= 500:
        log.warning("dependency unavailable: %s", error)
    return problem(
        request,
        status,
        code=error.code,
        detail=error.message_zh,
        detail_en=error.message_en,
        errors=[{"field": v.field, "detail": v.description} for v in error.field_violations],
        params=dict(error.params),
    )


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    violations = [
        {"field": ".".join(str(p) for p in e.get("loc", ())), "detail": str(e.get("msg", ""))}
        for e in error.errors()
    ]
    malformed = any(e.get("type") == "json_invalid" for e in error.errors())
    return problem(
        request,
        400 if malformed else 422,
        code="request.malformed_json" if malformed else "request.invalid",
        detail="请求体不是有效的 JSON" if malformed else "请求中有字段不符合要求，请按提示修改",
        detail_en="the body is not valid JSON" if malformed else "some fields are invalid",
        errors=violations,
    )


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    return problem(
        request,
        error.status_code,
        code=f"http.{error.status_code}",
        detail=TITLES.get(error.status_code, "错误").split(" ")[0],
        detail_en=str(error.detail),
    )


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error on %s", request.url.path, exc_info=error)
    return problem(
        request,
        500,
        code="internal",
        detail="服务内部错误，请稍后重试或联系运维",
        detail_en="internal error; the request id identifies it in the logs",
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
