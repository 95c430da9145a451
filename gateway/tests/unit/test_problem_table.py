from types import SimpleNamespace
from typing import Any

import grpc
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.problems import (
    HTTP_STATUS_OF_GRPC,
    SERVICE_FAULT,
    STATUS_OF,
    TITLES,
    install_problem_handlers,
)
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, invalid_input
from shequ_kit.grpc_server import rich_status_of


def test_every_domain_error_kind_has_an_http_status_with_a_title() -> None:
    assert set(STATUS_OF) == set(ErrorKind)
    for status in STATUS_OF.values():
        assert status in TITLES


def test_no_domain_error_is_answered_as_a_server_fault_except_unavailability() -> None:
    assert {kind for kind, status in STATUS_OF.items() if status >= 500} == {ErrorKind.UNAVAILABLE}


# ---- a service's failed call (gRPC status + ErrorDetail) → problem+json ----


class FailedCall(grpc.RpcError, grpc.Call):  # type: ignore[misc]  # grpc is untyped
    """What a stub raises when a call fails, as far as the problem handler looks at it."""

    def __init__(self, status: Any) -> None:
        self._status = status

    def code(self) -> Any:
        return self._status.code

    def details(self) -> str:
        return str(self._status.details)

    def trailing_metadata(self) -> Any:
        return self._status.trailing_metadata

    def initial_metadata(self) -> Any:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Any) -> bool:
        return False


def bare_status(code: Any, message: str) -> Any:
    """A failed call without ErrorDetail, as when the transport fails before any service."""
    return SimpleNamespace(code=code, details=message, trailing_metadata=())


def answer_to(failure: FailedCall) -> httpx.Response:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/call")
    def call() -> None:
        raise failure

    response: httpx.Response = TestClient(app, raise_server_exceptions=False).get("/call")
    return response


def test_every_grpc_status_but_ok_has_an_http_status_with_a_title() -> None:
    for code in grpc.StatusCode:
        if code is not grpc.StatusCode.OK:
            assert HTTP_STATUS_OF_GRPC.get(code, SERVICE_FAULT) in TITLES


def test_a_refusal_reaches_the_caller_in_the_services_own_words() -> None:
    refusal = invalid_input(
        "census.id_number_checksum",
        "身份证号校验位不正确",
        "the ID number's check character is wrong",
        FieldViolation("id_number", "check character"),
    )
    response = answer_to(FailedCall(rich_status_of(refusal)))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "census.id_number_checksum"
    assert body["detail"] == "身份证号校验位不正确"
    assert body["detail_en"] == "the ID number's check character is wrong"
    assert body["errors"] == [{"field": "id_number", "detail": "check character"}]


def test_an_unexpected_failure_is_a_502_that_leaks_nothing() -> None:
    leaky = DomainError("internal.unexpected", "SELECT * FROM resident", "psycopg: relation …")
    status = rich_status_of(leaky)
    failure = FailedCall(
        SimpleNamespace(
            code=grpc.StatusCode.INTERNAL,
            details=status.details,
            trailing_metadata=status.trailing_metadata,
        )
    )
    response = answer_to(failure)
    assert response.status_code == 502
    assert response.json()["code"] == "service.failed"
    assert "resident" not in response.text
    assert "psycopg" not in response.text


@pytest.mark.parametrize(
    ("code", "status", "problem_code"),
    [
        (grpc.StatusCode.UNIMPLEMENTED, 501, "service.not_implemented"),
        (grpc.StatusCode.UNAVAILABLE, 503, "service.unavailable"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504, "service.timeout"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429, "service.resource_exhausted"),
        (grpc.StatusCode.UNAUTHENTICATED, 401, "service.unauthenticated"),
        (grpc.StatusCode.UNKNOWN, 502, "service.failed"),
    ],
)
def test_a_failure_without_error_detail_is_a_problem_in_generic_words(
    code: Any, status: int, problem_code: str
) -> None:
    response = answer_to(FailedCall(bare_status(code, "failed to connect to all addresses")))
    assert response.status_code == status
    body = response.json()
    assert body["code"] == problem_code
    assert body["detail"]
    assert body["detail_en"]
    assert "addresses" not in response.text
    if status in (429, 503):
        assert response.headers["retry-after"]
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
