"""The one table from domain errors to gRPC statuses, and the detail that rides along."""

from collections.abc import Callable

import grpc
import pytest

from shequ.common.v1 import errors_pb2
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation
from shequ_kit.grpc_client import error_detail
from shequ_kit.grpc_server import GRPC_STATUS_OF_ERROR_KIND, error_detail_of, rich_status_of

EXPECTED = {
    ErrorKind.INVALID_INPUT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorKind.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    ErrorKind.CONFLICT: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorKind.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorKind.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorKind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
}


class FailedCall(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    """What a client holds after a call failed with ``status``."""

    def __init__(
        self,
        code: grpc.StatusCode,
        details: str,
        trailing_metadata: tuple[tuple[str, str | bytes], ...] | None,
    ) -> None:
        self._code, self._details, self._trailing = code, details, trailing_metadata

    @classmethod
    def with_status(cls, status: grpc.Status) -> "FailedCall":
        return cls(status.code, status.details, tuple(status.trailing_metadata))

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, str | bytes], ...] | None:
        return self._trailing

    def initial_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float | None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return False


def closed_case_error(kind: ErrorKind = ErrorKind.CONFLICT) -> DomainError:
    return DomainError(
        "cases.closed",
        "事项已结案，不能再派单",
        "the case is closed and cannot be assigned",
        kind,
        (FieldViolation("case.state", "is closed"), FieldViolation("rows[3].phone", "too short")),
        {"state": "closed", "allowed_actions": "reopen,rate"},
    )


def test_error_table_covers_every_error_kind() -> None:
    assert set(GRPC_STATUS_OF_ERROR_KIND) == set(ErrorKind)


@pytest.mark.parametrize(("kind", "status"), EXPECTED.items(), ids=str)
def test_each_error_kind_maps_to_its_grpc_status(kind: ErrorKind, status: grpc.StatusCode) -> None:
    assert GRPC_STATUS_OF_ERROR_KIND[kind] is status
    assert rich_status_of(closed_case_error(kind)).code is status


def test_rich_status_message_is_the_english_message() -> None:
    assert (
        rich_status_of(closed_case_error()).details == "the case is closed and cannot be assigned"
    )


def test_error_detail_round_trips_through_the_rich_status() -> None:
    error = closed_case_error()

    detail = error_detail(FailedCall.with_status(rich_status_of(error)))

    assert detail == error_detail_of(error)
    assert detail is not None
    assert detail.code == "cases.closed"
    assert detail.message_zh == "事项已结案，不能再派单"
    assert detail.message_en == "the case is closed and cannot be assigned"
    assert [(v.field, v.description) for v in detail.field_violations] == [
        ("case.state", "is closed"),
        ("rows[3].phone", "too short"),
    ]
    assert dict(detail.params) == {"state": "closed", "allowed_actions": "reopen,rate"}


def test_error_detail_is_none_when_the_call_has_no_rich_status() -> None:
    bare = FailedCall(grpc.StatusCode.UNAVAILABLE, "connection refused", ())

    assert error_detail(bare) is None
    assert error_detail(FailedCall(grpc.StatusCode.UNAVAILABLE, "down", None)) is None


def test_error_detail_is_none_when_the_rich_status_contradicts_the_call() -> None:
    status = rich_status_of(closed_case_error())
    contradicting = FailedCall(grpc.StatusCode.NOT_FOUND, status.details, status.trailing_metadata)

    assert error_detail(contradicting) is None


def test_error_detail_is_none_for_an_error_that_is_not_a_call() -> None:
    assert error_detail(grpc.RpcError()) is None


def test_error_detail_of_an_error_without_violations_has_none() -> None:
    detail = error_detail_of(DomainError("grid.not_found", "网格不存在", "no such grid"))

    assert detail == errors_pb2.ErrorDetail(
        code="grid.not_found", message_zh="网格不存在", message_en="no such grid"
    )
