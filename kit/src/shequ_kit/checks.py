"""The checks every service's writes share: ids, texts, field masks, optimistic versions, and
unique indexes turned into clear errors.

One :class:`RequestChecks` per service names its error codes ``<service>.<what>`` (the codes
clients and tests match on); the rules and the bilingual messages are the same everywhere.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, invalid_input


class Versioned(Protocol):
    """A record with an optimistic version, bumped by every write."""

    version: int


class RequestChecks:
    """Input checks whose error codes start with the service's name."""

    def __init__(self, service: str) -> None:
        self.service = service

    def uuid(self, value: str, field: str) -> UUID:
        """An id given as text; anything else is refused naming ``field``."""
        try:
            return UUID(value)
        except ValueError as error:
            raise invalid_input(
                f"{self.service}.id_invalid",
                f"编号格式不正确：{value or '（空）'}",
                f"{field} is not an id: {value!r}",
                FieldViolation(field, "not an id"),
            ) from error

    def optional_uuid(self, value: str, field: str) -> UUID | None:
        return self.uuid(value, field) if value else None

    def required_text(self, value: str, field: str, label_zh: str, max_length: int) -> str:
        """Trimmed text of 1 to ``max_length`` characters."""
        cleaned = value.strip()
        if not cleaned or len(cleaned) > max_length:
            raise invalid_input(
                f"{self.service}.{field.replace('.', '_')}_invalid",
                f"{label_zh}不能为空，且不超过{max_length}个字",
                f"{field} must be 1 to {max_length} characters",
                FieldViolation(field, f"1 to {max_length} characters"),
            )
        return cleaned

    def optional_text(self, value: str, field: str, label_zh: str, max_length: int) -> str:
        """Trimmed text of at most ``max_length`` characters ('' when not given)."""
        cleaned = value.strip()
        if len(cleaned) > max_length:
            raise invalid_input(
                f"{self.service}.{field.replace('.', '_')}_too_long",
                f"{label_zh}不超过{max_length}个字",
                f"{field} must be at most {max_length} characters",
                FieldViolation(field, f"at most {max_length} characters"),
            )
        return cleaned

    def update_mask(self, paths: Collection[str], updatable: Collection[str]) -> frozenset[str]:
        """The fields to change; an empty mask, or one naming a field that cannot be changed
        (unknown, or fixed once created), is refused naming those fields."""
        refused = sorted(set(paths) - set(updatable))
        if not paths or refused:
            raise invalid_input(
                f"{self.service}.update_mask_invalid",
                f"不能修改的字段：{'、'.join(refused)}" if refused else "请指明要修改的字段",
                f"update_mask may name only {', '.join(sorted(updatable))}"
                + (f"; not {', '.join(refused)}" if refused else ""),
                FieldViolation("update_mask", ", ".join(refused) or "empty"),
            )
        return frozenset(paths)

    def version(self, record: Versioned, expected: int) -> None:
        """The caller says which version it read, and it must still be the current one: two
        staff members never overwrite each other unknowingly."""
        if expected <= 0:
            raise invalid_input(
                f"{self.service}.expected_version_required",
                "请提供读取时的版本号",
                "expected_version (the version you read) is required",
                FieldViolation("expected_version", "the version you read, 1 or more"),
            )
        if expected != record.version:
            raise DomainError(
                f"{self.service}.stale_version",
                "该记录已被他人修改，请刷新后重试",
                f"the record is at version {record.version}, not {expected}",
                ErrorKind.CONFLICT,
                params={"current_version": str(record.version)},
            )


def flush_unique(session: Session, error: DomainError) -> None:
    """Flush; a unique index refusing the row becomes ``error`` (the index decides, so two
    concurrent writers cannot both win)."""
    try:
        session.flush()
    except IntegrityError as integrity:
        raise error from integrity
