"""Each channel adapter against a real local server of its protocol (shequ_infra.sinks)."""

import uuid
from collections.abc import Iterator

import httpx
import pytest

from notify.channels.base import Outcome, OutcomeKind, Outgoing
from notify.channels.email import EmailChannel, message_id
from notify.channels.sms import SmsChannel, sign
from notify.channels.wecom import WecomChannel, parse_wecom_address, wecom_address
from notify.ratelimit import TokenBuckets
from shequ_infra.processes import free_port
from shequ_infra.sinks import Sinks, running_sinks

SENDER = "社区通知 <notify@shequ.local>"


@pytest.fixture(scope="module")
def sinks() -> Iterator[Sinks]:
    with running_sinks() as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(sinks: Sinks) -> None:
    sinks.reset()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def unlimited() -> TokenBuckets:
    return TokenBuckets(None)


def email_channel(sinks: Sinks, port: int | None = None) -> EmailChannel:
    return EmailChannel(
        host=sinks.smtp_host,
        port=port or sinks.smtp_port,
        sender=SENDER,
        timeout_s=5,
        limiter=unlimited(),
    )


def sms_channel(sinks: Sinks, http: httpx.Client, secret: str | None = None) -> SmsChannel:
    return SmsChannel(
        client=http,
        endpoint=sinks.sms_endpoint,
        access_key_id=sinks.sms_access_key_id,
        access_key_secret=secret or sinks.sms_access_key_secret,
        sign_name="社区通知",
        template_code="SMS_SHEQU_NOTICE",
        limiter=unlimited(),
    )


def message(address: str, body: str = "今晚八点停水，请提前储水。", **extra: str) -> Outgoing:
    return Outgoing(
        delivery_id=uuid.uuid4(),
        address=address,
        recipient_name=extra.get("name", "王秀英"),
        subject="停水通知",
        body=body,
        route=extra.get("route", ""),
    )


def kinds(outcomes: list[Outcome]) -> list[OutcomeKind]:
    return [o.kind for o in outcomes]


# -- e-mail


def test_email_batch_arrives_once_per_message_with_delivery_message_ids(sinks: Sinks) -> None:
    batch = [message(f"resident{i}@example.org") for i in range(5)]
    outcomes = email_channel(sinks).send(batch)
    assert kinds(outcomes) == [OutcomeKind.SENT] * 5
    stored = sinks.records.emails()
    assert set(stored) == {message_id(m.delivery_id) for m in batch}
    first = stored[message_id(batch[0].delivery_id)]
    assert first.to == ("resident0@example.org",)
    assert first.subject == "停水通知"
    assert first.body == "今晚八点停水，请提前储水。"
    assert outcomes[0].provider_ref == message_id(batch[0].delivery_id)


def test_email_resent_after_an_uncertain_outcome_is_the_same_message(sinks: Sinks) -> None:
    once = message("li@example.org")
    email_channel(sinks).send([once])
    email_channel(sinks).send([once])  # the dispatcher died before recording the first
    assert len(sinks.records.emails_to("li@example.org")) == 1
    assert sinks.records.email_raw_count == 2


def test_email_refusals_are_per_message(sinks: Sinks) -> None:
    sinks.faults.smtp_refused = {"gone@example.org"}
    batch = [message("gone@example.org"), message("not an address"), message("ok@example.org")]
    outcomes = email_channel(sinks).send(batch)
    assert kinds(outcomes) == [OutcomeKind.PERMANENT, OutcomeKind.PERMANENT, OutcomeKind.SENT]
    assert "550" in outcomes[0].reason
    assert outcomes[1].reason.startswith("邮箱地址无效")
    assert [e.to for e in sinks.records.emails().values()] == [("ok@example.org",)]


def test_email_temporary_refusal_is_retried(sinks: Sinks) -> None:
    sinks.faults.smtp_tempfail_next = 1
    outcomes = email_channel(sinks).send([message("a@example.org"), message("b@example.org")])
    assert kinds(outcomes) == [OutcomeKind.RETRY, OutcomeKind.SENT]
    assert "451" in outcomes[0].reason


def test_email_server_down_retries_the_whole_batch(sinks: Sinks) -> None:
    outcomes = email_channel(sinks, port=free_port()).send([message("a@example.org")] * 3)
    assert kinds(outcomes) == [OutcomeKind.RETRY] * 3
    assert outcomes[0].reason.startswith("邮件服务器连接中断")


def test_email_waits_for_its_rate_limit() -> None:
    waited: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        now[0] += seconds

    limiter = TokenBuckets(2, burst=2, clock=lambda: now[0], sleep=sleep)
    with running_sinks() as own:
        channel = EmailChannel(
            host=own.smtp_host, port=own.smtp_port, sender=SENDER, timeout_s=5, limiter=limiter
        )
        outcomes = channel.send([message(f"r{i}@example.org") for i in range(6)])
        assert kinds(outcomes) == [OutcomeKind.SENT] * 6
        assert len(own.records.emails()) == 6
    assert sum(waited) == pytest.approx(2.0)  # 2 at once, 4 more at 2 a second


# -- SMS


def test_sms_signature_matches_the_providers_documented_example() -> None:
    params = {
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "Format": "XML",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "SignatureVersion": "1.0",
        "Timestamp": "2016-02-23T12:46:24Z",
        "Version": "2014-05-26",
    }
    assert sign(params, "testsecret", method="GET") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_sms_batch_reaches_each_phone_once(sinks: Sinks, http: httpx.Client) -> None:
    batch = [message(f"1380000{i:04d}", body=f"您好，第{i}号") for i in range(150)]
    outcomes = sms_channel(sinks, http).send(batch)
    assert kinds(outcomes) == [OutcomeKind.SENT] * 150
    assert outcomes[0].provider_ref  # the provider's BizId
    by_phone = sinks.records.sms_by_phone()
    assert len(by_phone) == 150
    assert by_phone["13800000007"][0].content == "您好，第7号"
    assert by_phone["13800000007"][0].out_id == str(batch[7].delivery_id)
    assert sinks.records.sms_submissions == 2  # at most 100 phones a request


def test_sms_resent_with_the_same_out_id_is_dropped_by_the_provider(
    sinks: Sinks, http: httpx.Client
) -> None:
    batch = [message("13800000001"), message("13800000002")]
    channel = sms_channel(sinks, http)
    channel.send(batch)
    assert kinds(channel.send(batch)) == [OutcomeKind.SENT] * 2
    assert {p: len(m) for p, m in sinks.records.sms_by_phone().items()} == {
        "13800000001": 1,
        "13800000002": 1,
    }
    assert sinks.records.sms_repeats_dropped == 2


def test_sms_throttled_request_is_retried_and_bad_phone_is_permanent(
    sinks: Sinks, http: httpx.Client
) -> None:
    sinks.faults.sms_throttle_next = 1
    batch = [message("13800000001"), message("110")]
    channel = sms_channel(sinks, http)
    throttled = channel.send(batch)
    assert kinds(throttled) == [OutcomeKind.RETRY] * 2
    assert "Throttling.User" in throttled[0].reason
    outcomes = channel.send(batch)
    assert kinds(outcomes) == [OutcomeKind.SENT, OutcomeKind.PERMANENT]
    assert outcomes[1].reason.startswith("手机号码无效")


def test_sms_with_a_wrong_secret_is_refused_and_retried(sinks: Sinks, http: httpx.Client) -> None:
    outcomes = sms_channel(sinks, http, secret="wrong").send([message("13800000001")])
    assert kinds(outcomes) == [OutcomeKind.RETRY]
    assert "SignatureDoesNotMatch" in outcomes[0].reason
    assert sinks.records.sms_by_phone() == {}


def test_sms_receipts_report_delivered_and_failed(sinks: Sinks, http: httpx.Client) -> None:
    sinks.faults.sms_undelivered_phones = {"13800000002"}
    batch = [message("13800000001"), message("13800000002")]
    channel = sms_channel(sinks, http)
    channel.send(batch)
    never_sent = uuid.uuid4()
    receipts = channel.receipts([m.delivery_id for m in batch] + [never_sent])
    assert receipts[batch[0].delivery_id].kind is OutcomeKind.DELIVERED
    assert receipts[batch[1].delivery_id].kind is OutcomeKind.PERMANENT
    assert receipts[batch[1].delivery_id].reason.startswith("短信未送达")
    assert never_sent not in receipts


def test_sms_provider_down_retries(http: httpx.Client) -> None:
    channel = SmsChannel(
        client=http,
        endpoint=f"http://127.0.0.1:{free_port()}/sms",
        access_key_id="k",
        access_key_secret="s",
        sign_name="社区通知",
        template_code="T",
        limiter=unlimited(),
    )
    assert kinds(channel.send([message("13800000001")])) == [OutcomeKind.RETRY]
    assert channel.receipts([uuid.uuid4()]) == {}


# -- group robots


def robot_message(sinks: Sinks, robot: uuid.UUID, key: str, phone: str) -> Outgoing:
    return message(wecom_address(robot, phone), body="楼栋群通知", route=sinks.webhook_url(key))


def test_robot_batch_is_one_post_per_robot_mentioning_its_phones(
    sinks: Sinks, http: httpx.Client
) -> None:
    east, west = uuid.uuid4(), uuid.uuid4()
    batch = [
        robot_message(sinks, east, "east", "13800000001"),
        robot_message(sinks, west, "west", "13800000002"),
        robot_message(sinks, east, "east", "13800000003"),
    ]
    outcomes = WecomChannel(client=http, limiter=unlimited()).send(batch)
    assert kinds(outcomes) == [OutcomeKind.DELIVERED] * 3
    (east_post,) = sinks.records.robot_posts("east")
    assert east_post.mentions == ("13800000001", "13800000003")
    assert east_post.content == "楼栋群通知"
    assert east_post.delivery_ids == (str(batch[0].delivery_id), str(batch[2].delivery_id))
    assert [p.mentions for p in sinks.records.robot_posts("west")] == [("13800000002",)]


def test_robot_mentions_are_split_at_one_hundred_a_post(sinks: Sinks, http: httpx.Client) -> None:
    robot = uuid.uuid4()
    batch = [robot_message(sinks, robot, "big", f"1390000{i:04d}") for i in range(150)]
    WecomChannel(client=http, limiter=unlimited()).send(batch)
    assert [len(p.mentions) for p in sinks.records.robot_posts("big")] == [100, 50]


def test_robot_rate_limited_is_retried_invalid_key_and_removed_robot_are_permanent(
    sinks: Sinks, http: httpx.Client
) -> None:
    sinks.faults.robot_throttle_next = 1
    sinks.faults.robot_invalid_keys = {"revoked"}
    robot = uuid.uuid4()
    channel = WecomChannel(client=http, limiter=unlimited())
    assert kinds(channel.send([robot_message(sinks, robot, "busy", "13800000001")])) == [
        OutcomeKind.RETRY
    ]
    revoked = channel.send([robot_message(sinks, uuid.uuid4(), "revoked", "13800000001")])
    assert kinds(revoked) == [OutcomeKind.PERMANENT]
    assert "93000" in revoked[0].reason
    removed = channel.send([message(wecom_address(robot, "13800000001"))])  # no webhook now
    assert kinds(removed) == [OutcomeKind.PERMANENT]
    assert sinks.records.robot_posts() == []


def test_robot_posts_wait_for_the_robots_own_rate_limit(sinks: Sinks, http: httpx.Client) -> None:
    waited: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        now[0] += seconds

    limiter = TokenBuckets.per_minute(1, clock=lambda: now[0], sleep=sleep)
    channel = WecomChannel(client=http, limiter=limiter)
    robot_a, robot_b = uuid.uuid4(), uuid.uuid4()
    channel.send([robot_message(sinks, robot_a, "a", "13800000001")])
    channel.send([robot_message(sinks, robot_b, "b", "13800000001")])
    assert waited == []  # each robot's first post of the minute
    channel.send([message(wecom_address(robot_a, "13800000002"), route=sinks.webhook_url("a"))])
    assert waited == [pytest.approx(60.0)]
    assert len(sinks.records.robot_posts("a")) == 2


def test_wecom_address_round_trip() -> None:
    robot = uuid.uuid4()
    assert parse_wecom_address(wecom_address(robot, "13800000001")) == (str(robot), "13800000001")
    for bad in ("13800000001", "not-a-uuid:13800000001", f"{robot}:"):
        with pytest.raises(ValueError, match=r"robot|UUID|hexadecimal"):
            parse_wecom_address(bad)
