"""The dispatcher's rules, free of the database: the retry schedule, when a channel may send
(quiet hours), and what one send outcome makes of a delivery; plus the notice as sending needs
it and the counters a dispatcher keeps."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from prometheus_client import Counter

from notify import templates
from notify.channels.base import Outcome, OutcomeKind
from notify.models import NoticeRow
from notify.quiet import next_allowed
from shequ_kit.errors import DomainError, ErrorKind

INBOX: Final = "inbox"
UNREACHABLE_REASON: Final = "无可用渠道 no address on any channel"
CANCELLED_REASON: Final = "通知已取消 notice cancelled"
GONE_REASON: Final = "收件人已不在通知对象中 recipient no longer in the audience"
BAD_INBOX_REASON: Final = "站内信收件人无效 not an inbox owner"

DELIVERY_OUTCOMES = Counter(
    "shequ_notify_delivery_outcomes_total",
    "Send outcomes by channel (sent, delivered, retry, fallback, failed, deferred)",
    ["channel", "outcome"],
)
RESENT_AFTER_UNCERTAIN = Counter(
    "shequ_notify_resent_after_uncertain_total",
    "Deliveries sent again because a dispatcher died before recording the first outcome",
    ["channel"],
)


@dataclass
class DispatchStats:
    """Totals of this dispatcher since it started (logged; read by tests)."""

    expanded_notices: int = 0
    sent: int = 0
    delivered: int = 0
    retried: int = 0
    fell_back: int = 0
    failed: int = 0
    deferred: int = 0
    resent_after_uncertain: int = 0
    finished_notices: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, number in counts.items():
                setattr(self, name, getattr(self, name) + number)

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {k: v for k, v in vars(self).items() if not k.startswith("_")}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    base_s: float
    cap_s: float

    def delay(self, attempts: int, rng: random.Random) -> timedelta:
        """Exponential backoff capped, with "equal jitter": half fixed, half random, so
        replicas retrying one throttled provider do not come back in lockstep."""
        full = min(self.cap_s, self.base_s * 2 ** max(0, attempts - 1))
        return timedelta(seconds=full / 2 + rng.uniform(0, full / 2))


@dataclass(frozen=True, slots=True)
class SendWindow:
    """When a delivery of one notice may go out on a channel: the inbox and urgent notices
    at once, the rest outside the tenant's quiet hours."""

    urgent: bool
    quiet_start: str
    quiet_end: str

    def due(self, channel: str, at: datetime) -> datetime:
        if channel == INBOX or self.urgent:
            return at
        return next_allowed(at, self.quiet_start, self.quiet_end)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this dispatcher claimed for sending."""

    id: uuid.UUID
    tenant_id: str
    notice_id: uuid.UUID
    recipient: str
    recipient_name: str
    channel: str
    address: str
    attempts: int  # after the claim's increment
    tried_channels: tuple[str, ...]
    uncertain: bool  # found 'sending' with an expired lease: its first outcome is unknown


@dataclass(frozen=True, slots=True)
class Settlement:
    """The delivery's columns after one outcome."""

    state: str
    next_attempt_at: datetime | None
    attempts: int
    address: str | None
    tried_channels: list[str]
    failure_reason: str
    provider_ref: str = ""
    sent_at: datetime | None = None
    delivered_at: datetime | None = None

    @property
    def word(self) -> str:
        """The outcome as metrics and logs name it."""
        if self.state == "queued":
            return "fallback" if self.address is None else "retry"
        return self.state


def settle(
    row: Claimed,
    outcome: Outcome,
    *,
    notice_channels: Sequence[str],
    window: SendWindow,
    policy: RetryPolicy,
    now: datetime,
    rng: random.Random,
) -> Settlement:
    """What one send outcome makes of a claimed delivery."""
    tried = list(row.tried_channels)
    if outcome.kind is OutcomeKind.SENT:
        return Settlement(
            "sent", None, row.attempts, None, tried, "", outcome.provider_ref, sent_at=now
        )
    if outcome.kind is OutcomeKind.DELIVERED:
        return Settlement(
            "delivered",
            None,
            row.attempts,
            None,
            tried,
            "",
            outcome.provider_ref,
            sent_at=now,
            delivered_at=now,
        )
    reason = outcome.reason
    if outcome.kind is OutcomeKind.RETRY:
        if row.attempts < policy.max_attempts:
            later = window.due(row.channel, now + policy.delay(row.attempts, rng))
            return Settlement("queued", later, row.attempts, row.address, tried, reason)
        reason = f"重试{row.attempts}次仍未成功 gave up after {row.attempts} attempts: {reason}"
    # Refused for good (or out of attempts) on this channel: the next channel, if any is left.
    tried.append(row.channel)
    left = [c for c in notice_channels if c not in tried]
    if left and row.recipient.startswith("resident:"):
        # The next channel's address is looked up again (clear addresses are not kept).
        return Settlement("queued", now, 0, None, tried, reason)
    return Settlement("failed", None, row.attempts, None, tried, reason)


@dataclass(frozen=True, slots=True)
class NoticeText:
    """What sending needs of a notice (its texts never change once written)."""

    id: uuid.UUID
    tenant_id: str
    kind: str
    subject_source: str
    body_source: str
    variables: Mapping[str, str]
    channels: tuple[str, ...]
    urgent: bool
    case_id: uuid.UUID | None

    @classmethod
    def of(cls, row: NoticeRow) -> NoticeText:
        return cls(
            id=row.id,
            tenant_id=row.tenant_id,
            kind=row.kind,
            subject_source=row.subject_source,
            body_source=row.body_source,
            variables=dict(row.variables),
            channels=tuple(row.channels),
            urgent=row.urgent,
            case_id=row.case_id,
        )

    def render(self, recipient_name: str) -> tuple[str, str]:
        return templates.render(
            self.subject_source, self.body_source, self.variables, recipient_name
        )


def reason_of(error: DomainError) -> str:
    """A stored failure reason: Chinese first, then English."""
    if error.message_zh == error.message_en:
        return error.message_zh
    return f"{error.message_zh} {error.message_en}"


def refusal(reason: str) -> DomainError:
    """A delivery that cannot be sent as it is (its reason is stored, Chinese first)."""
    return DomainError("notify.delivery_refused", reason, reason, ErrorKind.INVALID_INPUT)
