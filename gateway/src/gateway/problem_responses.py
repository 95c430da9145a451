"""The error answers every REST route can give, declared once for the OpenAPI document.

``gateway.problems`` answers every error as an RFC 9457 problem (``application/problem+json``).
Here is what a client reads about those answers: the ``Problem`` schema and the statuses any
route may answer with, which ``create_app`` attaches to every router. A client generated from
the document (the console's types, a fuzzer checking answers against it) then knows each
refusal's shape instead of FastAPI's default 422 body, which this gateway never sends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

from fastapi import FastAPI
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from gateway.problems import MEDIA_TYPE, TITLES

COMPONENTS: Final = "#/components/schemas/{model}"


class ProblemField(BaseModel):
    field: str = Field(
        description="出错的字段 The field at fault (body.name, query.page_size, rows[3].id_number)"
    )
    detail: str = Field(description="该字段的问题 What is wrong with it")


class Problem(BaseModel):
    """RFC 9457 problem details, with the stable ``code`` and both languages."""

    type: str = Field(examples=["urn:shequ:problem:request.invalid"])
    title: str = Field(examples=["输入有误 Invalid input"])
    status: int = Field(examples=[422])
    detail: str = Field(description="给人看的说明（中文） For people, in Chinese")
    detail_en: str = Field(description="The same in English")
    instance: str = Field(description="请求路径 The request's path")
    code: str = Field(description="稳定的错误代码 Stable error code", examples=["request.invalid"])
    request_id: str | None = Field(description="日志中的请求编号 The request id in the logs")
    errors: list[ProblemField] = Field(default=[], description="出错的字段 Fields at fault")
    params: dict[str, str] = Field(
        default={}, description="机器可读的细节 Machine-readable details (current_version, …)"
    )


def _problem_response(status: int, headers: Mapping[str, str]) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": TITLES[status],
        "content": {MEDIA_TYPE: {"schema": {"$ref": COMPONENTS.format(model="Problem")}}},
    }
    if headers:
        response["headers"] = {
            name: {"description": description, "schema": {"type": "string"}}
            for name, description in headers.items()
        }
    return response


_RETRY_AFTER: Final = {"Retry-After": "几秒后再试 Seconds to wait before retrying"}
_HEADERS_OF_STATUS: Final[Mapping[int, Mapping[str, str]]] = MappingProxyType(
    {
        401: {"WWW-Authenticate": 'Bearer realm="shequ"'},
        429: _RETRY_AFTER,
        503: _RETRY_AFTER,
    }
)
# 400 a body that is not JSON; 401 no valid token; 403 no role; 404 not found or not yours;
# 409 a state or version conflict; 413/415 a body too large or of another type; 422 invalid
# input naming the fields; 429 a rate limit; 502/503/504 a backing service failed, is away or
# too slow.
PROBLEM_RESPONSES: Final[Mapping[int | str, dict[str, Any]]] = MappingProxyType(
    {
        status: _problem_response(status, _HEADERS_OF_STATUS.get(status, {}))
        for status in (400, 401, 403, 404, 409, 413, 415, 422, 429, 502, 503, 504)
    }
)


def problem_schemas() -> dict[str, Any]:
    """The JSON schemas of ``Problem`` and ``ProblemField``, as OpenAPI components."""
    _, schemas = models_json_schema([(Problem, "serialization")], ref_template=COMPONENTS)
    definitions: dict[str, Any] = schemas["$defs"]
    return definitions


def document_problems(app: FastAPI) -> None:
    """Add the ``Problem`` schema, which ``PROBLEM_RESPONSES`` refers to, to the app's OpenAPI
    document (FastAPI lists only the models of success responses among its components)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi_with_problems() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()  # FastAPI keeps it as app.openapi_schema
        document.setdefault("components", {}).setdefault("schemas", {}).update(problem_schemas())
        return document

    app.openapi = openapi_with_problems  # type: ignore[method-assign]
