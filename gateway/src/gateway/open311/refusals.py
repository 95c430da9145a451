"""Errors on the GeoReport routes, in the shape GeoReport clients parse — or, when the client
asks for ``application/problem+json``, as the RFC 9457 problem the rest of the gateway answers.

Every error reaches the caller through ``refusal_of`` (the gateway's one table: domain error
kind or gRPC status → HTTP status, as in ``gateway.problems``) with one GeoReport difference:
invalid input is 400, the status the specification gives it, rather than the REST API's 422.
The status is the same in both shapes; only the body differs. The service's field names are
translated to the parameters the client sent (``place.building_id`` → ``address_id``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import grpc
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.open311.documents import Document, Representation, render
from gateway.open311.models import PARAMETER_OF_FIELD
from gateway.problems import (
    HTTP_STATUS_OF_GRPC,
    MEDIA_TYPE,
    RETRY_AFTER_S,
    SERVICE_FAULT,
    STATUS_OF,
    TITLES,
    problem,
)
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation
from shequ_kit.grpc_client import error_detail

log = logging.getLogger(__name__)
INVALID = 400


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message_zh: str
    message_en: str
    fields: tuple[FieldViolation, ...] = ()
    params: Mapping[str, str] = field(default_factory=dict)

    def descriptions(self) -> list[str]:
        """What the GeoReport error list says: the message, then one line per field."""
        return [f"{self.message_zh} {self.message_en}"] + [
            f"{v.field}: {v.description}" for v in self.fields
        ]


def refusal_of(error: Exception) -> Refusal:
    """Any error a GeoReport route raises, as one refusal. Other exceptions are bugs and are
    left to the gateway's 500 handler."""
    if isinstance(error, DomainError):
        status = INVALID if error.kind is ErrorKind.INVALID_INPUT else STATUS_OF[error.kind]
        return _refusal(
            status,
            error.code,
            zh=error.message_zh,
            en=error.message_en,
            violations=error.field_violations,
        )
    if isinstance(error, grpc.RpcError):
        return _failed_call(error)
    if isinstance(error, RequestValidationError):
        return Refusal(
            INVALID,
            "request.invalid",
            "请求参数不符合要求",
            "some parameters are invalid",
            tuple(
                FieldViolation(
                    ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "path")),
                    str(e.get("msg", "")),
                )
                for e in error.errors()
            ),
        )
    if isinstance(error, StarletteHTTPException):
        zh, _, en = TITLES.get(error.status_code, "错误 Error").partition(" ")
        return Refusal(error.status_code, f"http.{error.status_code}", zh, str(error.detail) or en)
    raise TypeError(f"not a refusal: {type(error).__name__}")


def _refusal(
    status: int,
    code: str,
    *,
    zh: str,
    en: str,
    violations: Iterable[FieldViolation],
    params: Mapping[str, str] | None = None,
) -> Refusal:
    fields = tuple(
        FieldViolation(PARAMETER_OF_FIELD.get(v.field, v.field), v.description) for v in violations
    )
    return Refusal(status, code, zh, en, fields, dict(params or {}))


def _failed_call(error: grpc.RpcError) -> Refusal:
    """A service's refusal in its own words; transport failures and unexpected statuses in
    generic ones (their messages stay in the log)."""
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    status = (
        INVALID
        if code == grpc.StatusCode.INVALID_ARGUMENT
        else HTTP_STATUS_OF_GRPC.get(code, SERVICE_FAULT)
    )
    if status >= 500:
        message = error.details() if isinstance(error, grpc.Call) else None
        log.warning("service call failed: %s %s", code.name, message)
    detail = error_detail(error) if status != SERVICE_FAULT else None
    if detail is None:
        zh, _, en = TITLES.get(status, "后台服务出错 Bad gateway").partition(" ")
        return Refusal(status, f"service.{code.name.lower()}", zh, en)
    return _refusal(
        status,
        detail.code,
        zh=detail.message_zh,
        en=detail.message_en,
        violations=[FieldViolation(v.field, v.description) for v in detail.field_violations],
        params=detail.params,
    )


def wants_problem(request: Request) -> bool:
    return MEDIA_TYPE in request.headers.get("accept", "").lower()


def representation_of(request: Request) -> Representation:
    """The representation of the path, for errors: XML when the path ends in .xml."""
    return Representation.XML if request.url.path.endswith(".xml") else Representation.JSON


def refusal_response(request: Request, refusal: Refusal) -> Response:
    if wants_problem(request):
        return problem(
            request,
            refusal.status,
            code=refusal.code,
            detail=refusal.message_zh,
            detail_en=refusal.message_en,
            errors=[{"field": v.field, "detail": v.description} for v in refusal.fields],
            params=dict(refusal.params),
        )
    headers = {}
    if refusal.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="shequ"'
    if refusal.status in (429, 503):
        headers["Retry-After"] = RETRY_AFTER_S
    document = Document(
        "errors", [{"code": refusal.status, "description": d} for d in refusal.descriptions()]
    )
    return render(document, representation_of(request), status_code=refusal.status, headers=headers)
