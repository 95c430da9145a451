import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from notify.channels.base import Outcome
from notify.delivery import RetryPolicy, SendWindow, settle
from notify.delivery.rules import Claimed, Settlement
from notify.quiet import SHANGHAI

NOON = datetime(2025, 11, 20, 12, 0, tzinfo=SHANGHAI).astimezone(UTC)
POLICY = RetryPolicy(max_attempts=5, base_s=2.0, cap_s=300.0)
OPEN = SendWindow(urgent=False, quiet_start="21:00", quiet_end="08:00")
CHANNELS = ("email", "sms", "inbox")


def claimed(
    *,
    channel: str = "email",
    attempts: int = 1,
    tried: tuple[str, ...] = (),
    recipient: str = "resident:1b6f0a52-29b5-4c55-a0a3-1f2a0c7d4e11",
) -> Claimed:
    return Claimed(
        id=uuid.uuid4(),
        tenant_id="xiaoshan.shushan.hushan",
        notice_id=uuid.uuid4(),
        recipient=recipient,
        recipient_name="王秀英",
        channel=channel,
        address="wang@example.org" if channel == "email" else "13800000001",
        attempts=attempts,
        tried_channels=tried,
        uncertain=False,
    )


def apply(
    row: Claimed, outcome: Outcome, *, now: datetime = NOON, window: SendWindow = OPEN
) -> Settlement:
    return settle(
        row,
        outcome,
        notice_channels=CHANNELS,
        window=window,
        policy=POLICY,
        now=now,
        rng=random.Random(3),
    )


def test_accepted_message_is_sent_and_its_address_dropped() -> None:
    done = apply(claimed(), Outcome.sent("<id@shequ.notify>"))
    assert (done.state, done.sent_at, done.provider_ref, done.address) == (
        "sent",
        NOON,
        "<id@shequ.notify>",
        None,
    )
    assert done.word == "sent"


def test_group_post_is_delivered_at_once() -> None:
    done = apply(claimed(channel="wecom"), Outcome.delivered())
    assert (done.state, done.sent_at, done.delivered_at) == ("delivered", NOON, NOON)


def test_temporary_failure_waits_with_backoff_on_the_same_address() -> None:
    row = claimed(attempts=3)
    done = apply(row, Outcome.retry("451 try later"))
    assert done.state == "queued"
    assert done.word == "retry"
    assert done.address == row.address
    assert done.attempts == 3
    assert done.failure_reason == "451 try later"
    assert done.next_attempt_at is not None
    # base 2 s · 2^(3-1) = 8 s, half of it fixed and half random.
    assert NOON + timedelta(seconds=4) <= done.next_attempt_at <= NOON + timedelta(seconds=8)


def test_a_retry_falling_into_quiet_hours_waits_for_the_morning() -> None:
    evening = datetime(2025, 11, 20, 20, 59, 59, tzinfo=SHANGHAI).astimezone(UTC)
    done = apply(claimed(channel="sms"), Outcome.retry("throttled"), now=evening)
    morning = datetime(2025, 11, 21, 8, 0, tzinfo=SHANGHAI).astimezone(UTC)
    assert done.next_attempt_at == morning
    urgent = SendWindow(urgent=True, quiet_start="21:00", quiet_end="08:00")
    hurried = apply(claimed(channel="sms"), Outcome.retry("throttled"), now=evening, window=urgent)
    assert hurried.next_attempt_at is not None
    assert hurried.next_attempt_at < evening + timedelta(seconds=3)


def test_out_of_attempts_falls_back_to_the_next_channel() -> None:
    done = apply(claimed(attempts=5), Outcome.retry("451 try later"))
    assert done.state == "queued"
    assert done.word == "fallback"
    assert done.address is None  # the next channel's address is looked up again
    assert done.tried_channels == ["email"]
    assert done.attempts == 0
    assert done.next_attempt_at == NOON
    assert done.failure_reason.startswith("重试5次仍未成功 gave up after 5 attempts")


def test_permanent_refusal_falls_back_at_once() -> None:
    done = apply(claimed(attempts=1), Outcome.permanent("550 no such mailbox"))
    assert (done.state, done.tried_channels, done.address) == ("queued", ["email"], None)
    assert done.failure_reason == "550 no such mailbox"


def test_with_every_channel_tried_the_delivery_fails_with_its_reason() -> None:
    row = claimed(channel="sms", tried=("email", "inbox"))
    done = apply(row, Outcome.permanent("invalid mobile number"))
    assert (done.state, done.failure_reason) == ("failed", "invalid mobile number")
    assert done.tried_channels == ["email", "inbox", "sms"]
    assert done.next_attempt_at is None


def test_an_account_has_no_other_channel_to_fall_back_to() -> None:
    row = claimed(recipient="account:8b4e3d2c-5a6f-4071-8b92-4d6e8f0a2c35")
    assert apply(row, Outcome.permanent("refused")).state == "failed"


@pytest.mark.parametrize(
    ("attempts", "full"), [(1, 2.0), (2, 4.0), (3, 8.0), (8, 256.0), (9, 300.0), (30, 300.0)]
)
def test_backoff_doubles_up_to_the_cap_with_equal_jitter(attempts: int, full: float) -> None:
    rng = random.Random(11)
    delays = [POLICY.delay(attempts, rng).total_seconds() for _ in range(200)]
    assert min(delays) >= full / 2
    assert max(delays) <= full
    assert max(delays) - min(delays) > full / 4  # really jittered, not one fixed value


def test_inbox_and_urgent_notices_are_never_held() -> None:
    night = datetime(2025, 11, 20, 23, 0, tzinfo=SHANGHAI).astimezone(UTC)
    morning = datetime(2025, 11, 21, 8, 0, tzinfo=SHANGHAI).astimezone(UTC)
    assert OPEN.due("inbox", night) == night
    assert OPEN.due("sms", night) == morning
    assert OPEN.due("email", night) == morning
    assert (
        SendWindow(urgent=True, quiet_start="21:00", quiet_end="08:00").due("sms", night) == night
    )
