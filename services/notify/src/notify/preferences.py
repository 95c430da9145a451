"""A tenant's channel settings (quiet hours), its group robots and its residents' contacts, and
how their secrets are shown: a robot's webhook URL and a resident's e-mail are masked in every
answer, and a masked value sent back unchanged keeps the stored one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from notify.config import NotifySettings
from notify.models import ContactRow, RobotRow, TenantSettingsRow
from notify.quiet import parse_wall_time
from notify.versions import expect_version
from notify.vocabulary import CHANNELS, value_of, word_of
from shequ.notify.v1 import notify_pb2 as pb
from shequ_kit.checks import RequestChecks, flush_unique
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, invalid_input, not_found
from shequ_kit.tenancy import TenantId, tenant_scope

CHECK = RequestChecks("notify")
MASK: Final = "*"
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MAX_EMAIL: Final = 254
MAX_URL: Final = 2000


# ---- masking ----


def mask_phone(phone: str) -> str:
    """``13812345678`` → ``138****5678``; a short number shows only its last two digits."""
    if len(phone) >= 7:
        return phone[:3] + MASK * 4 + phone[-4:]
    return MASK * max(len(phone) - 2, 0) + phone[-2:]


def mask_email(email: str) -> str:
    """``wang.fang@example.org`` → ``w***@example.org``."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}{MASK * 3}@{domain}"


def mask_webhook(url: str) -> str:
    """The URL with every query value (the robot's key) hidden but its last four characters:
    enough to tell robots apart, not enough to post to the group."""
    parts = urlsplit(url)
    hidden = [
        (name, MASK * 4 + (value[-4:] if len(value) > 8 else ""))
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(hidden, safe=MASK)))


# ---- quiet hours ----


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Asia/Shanghai wall times "HH:MM"; start after end spans midnight, equal means none."""

    start: str
    end: str
    version: int  # the tenant's own row's version; 0 when the defaults or a street's apply


def quiet_hours(
    sessions: sessionmaker[Session], session: Session, tenant: TenantId, settings: NotifySettings
) -> QuietHours:
    """The tenant's own quiet hours, else its nearest ancestor's (a street's), else the
    defaults of the service's settings."""
    own = session.get(TenantSettingsRow, tenant.value)
    if own is not None:
        return QuietHours(own.quiet_start, own.quiet_end, own.version)
    for ancestor in reversed(tenant.ancestors()):
        with tenant_scope(ancestor), sessions() as other:
            theirs = other.get(TenantSettingsRow, ancestor.value)
            if theirs is not None:
                return QuietHours(theirs.quiet_start, theirs.quiet_end, 0)
    return QuietHours(settings.quiet_start, settings.quiet_end, 0)


def settings_pb(found: QuietHours) -> pb.Settings:
    return pb.Settings(quiet_start=found.start, quiet_end=found.end, version=found.version)


def _wall_time(value: str, field: str) -> str:
    try:
        return parse_wall_time(value).strftime("%H:%M")
    except ValueError as error:
        raise invalid_input(
            "notify.quiet_hours_invalid",
            "免打扰时段请用 24 小时制“时:分”，如 21:00",
            f"{field} must be a wall time HH:MM (24-hour)",
            FieldViolation(field, "HH:MM, e.g. 21:00"),
        ) from error


def put_quiet_hours(
    session: Session, tenant: TenantId, given: pb.Settings, expected_version: int
) -> QuietHours:
    """Set the tenant's own quiet hours (expected_version 0 when it has none of its own)."""
    start = _wall_time(given.quiet_start, "settings.quiet_start")
    end = _wall_time(given.quiet_end, "settings.quiet_end")
    row = session.get(TenantSettingsRow, tenant.value, with_for_update=True)
    current = row.version if row is not None else 0
    expect_version(current, expected_version, what_zh="通知设置", what_en="settings")
    if row is None:
        row = TenantSettingsRow(tenant_id=tenant.value, version=0)
        session.add(row)
    row.quiet_start, row.quiet_end = start, end
    row.version += 1
    session.flush()
    return QuietHours(start, end, row.version)


# ---- robots ----


def robot_pb(row: RobotRow) -> pb.Robot:
    return pb.Robot(
        robot_id=str(row.id),
        name=row.name,
        building_id=str(row.building_id) if row.building_id else "",
        complex_id=str(row.complex_id) if row.complex_id else "",
        webhook_url=mask_webhook(row.webhook_url),
    )


def robots(session: Session) -> list[RobotRow]:
    """The tenant's robots, by name."""
    return list(session.scalars(select(RobotRow).order_by(RobotRow.name, RobotRow.id)))


def _webhook_url(value: str) -> str:
    cleaned = value.strip()
    parts = urlsplit(cleaned)
    if parts.scheme not in {"http", "https"} or not parts.netloc or len(cleaned) > MAX_URL:
        raise invalid_input(
            "notify.webhook_url_invalid",
            "请填写群机器人的 Webhook 地址（http 或 https）",
            "robot.webhook_url must be an http(s) URL",
            FieldViolation("robot.webhook_url", "an http(s) URL"),
        )
    return cleaned


def put_robot(session: Session, tenant: TenantId, given: pb.Robot) -> RobotRow:
    """Add a robot (no robot_id) or change one; a change may leave the URL out (or send the
    masked one back) to keep it."""
    name = CHECK.required_text(given.name, "robot.name", "机器人名称", 100)
    building = CHECK.optional_uuid(given.building_id.strip(), "robot.building_id")
    complex_ = CHECK.optional_uuid(given.complex_id.strip(), "robot.complex_id")
    if (building is None) == (complex_ is None):
        raise invalid_input(
            "notify.robot_place_invalid",
            "请指定机器人所在的楼栋群或小区群（二选一）",
            "a robot belongs to exactly one of building_id and complex_id",
            FieldViolation("robot.building_id", "exactly one of building_id and complex_id"),
        )
    if given.robot_id:
        row = session.get(
            RobotRow, CHECK.uuid(given.robot_id, "robot.robot_id"), with_for_update=True
        )
        if row is None:
            raise _no_robot(given.robot_id)
        if given.webhook_url.strip() and given.webhook_url != mask_webhook(row.webhook_url):
            row.webhook_url = _webhook_url(given.webhook_url)
    else:
        row = RobotRow(id=uuid.uuid4(), tenant_id=tenant.value)
        row.webhook_url = _webhook_url(given.webhook_url)
        session.add(row)
    row.name, row.building_id, row.complex_id = name, building, complex_
    flush_unique(
        session,
        DomainError(
            "notify.robot_exists",
            "该楼栋或小区已有群机器人",
            "the building or complex has a robot already",
            ErrorKind.ALREADY_EXISTS,
            (FieldViolation("robot.building_id" if building else "robot.complex_id", "taken"),),
        ),
    )
    return row


def remove_robot(session: Session, robot_id: str) -> None:
    row = session.get(RobotRow, CHECK.uuid(robot_id, "robot_id"), with_for_update=True)
    if row is None:
        raise _no_robot(robot_id)
    session.delete(row)


def _no_robot(robot_id: str) -> DomainError:
    return not_found("notify.robot_not_found", "没有该群机器人", f"no robot {robot_id}")


# ---- contacts ----


def contact_pb(row: ContactRow | None, resident_id: uuid.UUID) -> pb.Contact:
    """The contact as answered (e-mail masked); version 0 when none is kept yet."""
    if row is None:
        return pb.Contact(resident_id=str(resident_id))
    return pb.Contact(
        resident_id=str(row.resident_id),
        account_subject=row.account_subject or "",
        email=mask_email(row.email) if row.email else "",
        opted_out=[value_of(CHANNELS, w) for w in row.opted_out],  # type: ignore[misc]
        version=row.version,
    )


def contact(session: Session, resident_id: str) -> tuple[uuid.UUID, ContactRow | None]:
    resident = CHECK.uuid(resident_id.strip(), "resident_id")
    return resident, session.scalar(select(ContactRow).where(ContactRow.resident_id == resident))


def _email(value: str, current: str | None) -> str | None:
    cleaned = value.strip()
    if not cleaned:
        return None
    if current is not None and cleaned == mask_email(current):
        return current  # the masked answer sent back unchanged
    if len(cleaned) > MAX_EMAIL or not _EMAIL.match(cleaned):
        raise invalid_input(
            "notify.email_invalid",
            "电子邮箱格式不正确",
            "contact.email is not an e-mail address",
            FieldViolation("contact.email", "an e-mail address"),
        )
    return cleaned.lower()


def _opted_out(values: Iterable[int]) -> list[str]:
    words: list[str] = []
    for value in values:
        word = word_of(CHANNELS, value)
        if word is None:
            raise invalid_input(
                "notify.channel_invalid",
                "请选择有效的通知渠道",
                "contact.opted_out names an unknown channel",
                FieldViolation("contact.opted_out", "inbox, email, wecom or sms"),
            )
        if word not in words:
            words.append(word)
    return words


def put_contact(
    session: Session, tenant: TenantId, given: pb.Contact, expected_version: int
) -> ContactRow:
    """Keep how a resident is reached (expected_version 0 for the first time). One account is
    linked to one resident of the tenant: it is how a notice knows the account and the
    resident are the same person."""
    resident, row = contact(session, given.resident_id)
    current = row.version if row is not None else 0
    expect_version(current, expected_version, what_zh="联系方式", what_en="contact")
    subject = CHECK.optional_text(given.account_subject, "contact.account_subject", "账号", 200)
    if subject:
        taken = session.scalar(
            select(ContactRow.resident_id).where(
                ContactRow.account_subject == subject, ContactRow.resident_id != resident
            )
        )
        if taken is not None:
            raise DomainError(
                "notify.account_linked",
                "该账号已关联本社区的另一位居民",
                f"account {subject} is linked to resident {taken} already",
                ErrorKind.ALREADY_EXISTS,
                (FieldViolation("contact.account_subject", "linked to another resident"),),
            )
    email = _email(given.email, row.email if row is not None else None)
    if row is None:
        row = ContactRow(tenant_id=tenant.value, resident_id=resident, version=0)
        session.add(row)
    row.account_subject = subject or None
    row.email = email
    row.opted_out = _opted_out(given.opted_out)
    row.version += 1
    row.updated_at = datetime.now(UTC)
    session.flush()
    return row
