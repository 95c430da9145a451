"""RFC 9457 problem+json for every error the gateway answers, through one table.

The services' answers (a failed gRPC call: status + ``shequ.common.v1.ErrorDetail``), the
gateway's own domain errors (``ErrorKind``) and request validation errors become problem
documents with the stable ``code``, the Chinese ``detail`` first and ``detail_en`` beside it,
the fields at fault and the request id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shequ_kit.context import current_request_id
from shequ_kit.db import unreachable_database
from shequ_kit.errors import DomainError, ErrorKind
from shequ_kit.grpc_client import error_detail
from shequ_kit.grpc_server import GRPC_STATUS_OF_ERROR_KIND

MEDIA_TYPE = "application/problem+json"
log = logging.getLogger(__name__)

# The one table: gRPC status of a service's answer → HTTP status. Statuses not listed (UNKNOWN,
# INTERNAL, DATA_LOSS, CANCELLED, …) are the service's fault or ours: 502, in generic words.
HTTP_STATUS_OF_GRPC: Final[Mapping[grpc.StatusCode, int]] = MappingProxyType(
    {
        grpc.StatusCode.INVALID_ARGUMENT: 422,
        grpc.StatusCode.NOT_FOUND: 404,
        grpc.StatusCode.ALREADY_EXISTS: 409,
        grpc.StatusCode.FAILED_PRECONDITION: 409,
        grpc.StatusCode.ABORTED: 409,
        grpc.StatusCode.UNAUTHENTICATED: 401,
        grpc.StatusCode.PERMISSION_DENIED: 403,
        grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
        grpc.StatusCode.UNIMPLEMENTED: 501,
        grpc.StatusCode.UNAVAILABLE: 503,
        grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    }
)
SERVICE_FAULT = 502
# The gateway's own domain errors cross the same table: kind → gRPC status is the kit's.
STATUS_OF: Final[Mapping[ErrorKind, int]] = MappingProxyType(
    {kind: HTTP_STATUS_OF_GRPC[code] for kind, code in GRPC_STATUS_OF_ERROR_KIND.items()}
)
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
    500: "服务内部错误 Internal error",
    501: "功能尚未建成 Not implemented",
    502: "后台服务出错 Bad gateway",
    503: "服务暂不可用 Service unavailable",
    504: "后台服务超时 Gateway timeout",
}
RETRY_AFTER_S = "5"
# What a failed call says when the service gave no ErrorDetail, or when its words must not
# reach the caller (502: an unexpected failure may describe internals).
_GENERIC_WORDS: Final[Mapping[int, tuple[str, str, str]]] = MappingProxyType(
    {
        501: (
            "service.not_implemented",
            "该功能尚未建成，敬请期待",
            "this operation is not built yet",
        ),
        502: (
            "service.failed",
            "后台服务出错，请稍后重试或联系运维",
            "a backing service failed; the request id identifies it in the logs",
        ),
        503: (
            "service.unavailable",
            "服务暂不可用，请稍后重试",
            "a backing service is unavailable; retry later",
        ),
        504: (
            "service.timeout",
            "后台服务响应超时，请稍后重试",
            "a backing service did not answer in time; retry later",
        ),
    }
)


def problem(
    request: Request,
    status: int,
    *,
    code: str,
    detail: str,
    detail_en: str,
    errors: list[dict[str, str]] | None = None,
    params: dict[str, str] | None = None,
    retry_after_s: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The problem document; ``retry_after_s`` when the wait is known (rate limits), else 429
    and 503 say the default ``RETRY_AFTER_S``; ``headers`` are added as they are."""
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
    answer_headers = dict(headers or {})
    if status == 401:
        answer_headers["WWW-Authenticate"] = 'Bearer realm="shequ"'
    if retry_after_s is not None:
        answer_headers["Retry-After"] = str(retry_after_s)
    elif status in (429, 503):
        answer_headers["Retry-After"] = RETRY_AFTER_S
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=answer_headers)


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


async def _rpc_error(request: Request, error: Exception) -> JSONResponse:
    """A service's refusal in its own words (``ErrorDetail``); transport failures and
    unexpected statuses in generic ones. Status messages and debug strings stay in the log."""
    assert isinstance(error, grpc.RpcError)
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    status = HTTP_STATUS_OF_GRPC.get(code, SERVICE_FAULT)
    detail = error_detail(error) if status != SERVICE_FAULT else None
    if status >= 500:
        message = error.details() if isinstance(error, grpc.Call) else None
        log.warning("service call failed: %s %s", code.name, message)
    if detail is None:
        generic_code, zh, en = _generic_words(status, code)
        return problem(request, status, code=generic_code, detail=zh, detail_en=en)
    return problem(
        request,
        status,
        code=detail.code,
        detail=detail.message_zh,
        detail_en=detail.message_en,
        errors=[{"field": v.field, "detail": v.description} for v in detail.field_violations],
        params=dict(detail.params),
    )


def _generic_words(status: int, code: grpc.StatusCode) -> tuple[str, str, str]:
    if status in _GENERIC_WORDS:
        return _GENERIC_WORDS[status]
    zh, _, en = TITLES[status].partition(" ")
    return f"service.{code.name.lower()}", zh, en


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


async def _database_error(request: Request, error: Exception) -> JSONResponse:
    """The gateway's own database (tenant registry, its outbox) away: 503, as for a service;
    any other database error is unexpected."""
    unreachable = unreachable_database(error)
    if unreachable is None:
        return await _unexpected_error(request, error)
    return await _domain_error(request, unreachable)


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
    app.add_exception_handler(grpc.RpcError, _rpc_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
