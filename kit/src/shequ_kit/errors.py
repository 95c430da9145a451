"""Domain errors: what went wrong, in words a user understands, independent of the transport.

Services raise these (or subclasses declared next to their domain logic). One table per boundary
translates them: ``ErrorKind`` → gRPC status in ``shequ_kit.grpc_server``, and gRPC status →
problem+json in the gateway. Nothing else catches them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class ErrorKind(StrEnum):
    INVALID_INPUT = "invalid_input"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    CONFLICT = "conflict"  # the object's state does not allow this (e.g. illegal transition)
    UNAUTHENTICATED = "unauthenticated"
    PERMISSION_DENIED = "permission_denied"
    UNAVAILABLE = "unavailable"  # a dependency is down; retrying later may succeed


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


@dataclass
class DomainError(Exception):
    """An error a caller can act on. ``code`` is stable: ``<domain>.<reason>``."""

    code: str
    message_zh: str
    message_en: str
    kind: ErrorKind = ErrorKind.INVALID_INPUT
    field_violations: Sequence[FieldViolation] = field(default_factory=tuple)
    params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message_en)

    def __str__(self) -> str:
        return f"{self.code}: {self.message_en}"


def invalid_input(
    code: str, message_zh: str, message_en: str, *violations: FieldViolation
) -> DomainError:
    return DomainError(code, message_zh, message_en, ErrorKind.INVALID_INPUT, violations)


def not_found(code: str, message_zh: str, message_en: str) -> DomainError:
    return DomainError(code, message_zh, message_en, ErrorKind.NOT_FOUND)


def permission_denied(message_zh: str, message_en: str, **params: str) -> DomainError:
    return DomainError(
        "auth.permission_denied", message_zh, message_en, ErrorKind.PERMISSION_DENIED, (), params
    )


def unauthenticated(message_en: str) -> DomainError:
    return DomainError(
        "auth.unauthenticated", "身份认证失败，请重新登录", message_en, ErrorKind.UNAUTHENTICATED
    )
