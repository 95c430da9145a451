"""The dispatcher on the real infrastructure: notices created through the API, audiences
resolved through the real census (a synthetic Hushan), and every channel delivered to a real
local server of its protocol (shequ_infra.sinks).

Quiet hours are switched off for Hushan in this module (and set around "now" where a test is
about them), so the tests do not depend on the hour they run at.
"""

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from pydantic import SecretStr

from notify.app import NotifyCore, prepare_core
from notify.config import NotifySettings
from notify.delivery import CANCELLED_REASON, Dispatcher
from notify.quiet import SHANGHAI
from shequ.census.v1 import census_pb2, census_pb2_grpc
from shequ.notify.v1 import events_pb2
from shequ.notify.v1 import notify_pb2 as pb
from shequ_infra import LocalInfrastructure
from shequ_infra.grpc_calls import DEMO_PASSWORD, Call
from shequ_infra.sinks import Sinks, running_sinks

from .conftest import HUSHAN, Sql, Upstreams

RETRY_BASE_S = 0.4
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Resident:
    id: str
    name: str
    has_phone: bool
    building_id: str
    complex_id: str

    @property
    def key(self) -> str:
        return f"resident:{self.id}"


@pytest.fixture(scope="module")
def sinks() -> Iterator[Sinks]:
    with running_sinks() as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_sinks(sinks: Sinks) -> None:
    sinks.reset()


@pytest.fixture(scope="module")
def core(settings: NotifySettings, sinks: Sinks) -> Iterator[NotifyCore]:
    """A dispatcher's core pointed at the sinks, with a fast retry schedule."""
    tuned = settings.model_copy(
        update={
            "smtp_host": sinks.smtp_host,
            "smtp_port": sinks.smtp_port,
            "sms_endpoint": sinks.sms_endpoint,
            "sms_access_key_id": sinks.sms_access_key_id,
            "sms_access_key_secret": SecretStr(sinks.sms_access_key_secret),
            "retry_base_s": RETRY_BASE_S,
            "retry_cap_s": 1.0,
            "max_attempts": MAX_ATTEMPTS,
            "lease_s": 5.0,
            "rate_email_per_s": 0.0,
            "rate_sms_per_s": 0.0,
            "dispatch_batch": 50,
        }
    )
    with prepare_core(tuned) as found:
        yield found


@pytest.fixture(scope="module", autouse=True)
def no_quiet_hours(sql: Sql, notify_core: NotifyCore) -> Iterator[None]:
    """Hushan without quiet hours while this module runs (its earlier settings come back)."""
    before = sql("SELECT quiet_start, quiet_end FROM tenant_settings WHERE tenant_id = %s", HUSHAN)
    set_quiet_hours(sql, "00:00", "00:00")
    yield
    if before:
        set_quiet_hours(sql, *before[0])
    else:
        sql("DELETE FROM tenant_settings WHERE tenant_id = %s", HUSHAN)


def set_quiet_hours(sql: Sql, start: str, end: str) -> None:
    sql(
        "INSERT INTO tenant_settings (tenant_id, quiet_start, quiet_end, version) "
        "VALUES (%s, %s, %s, 1) ON CONFLICT (tenant_id) DO UPDATE "
        "SET quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end, "
        "version = tenant_settings.version + 1",
        HUSHAN,
        start,
        end,
    )


@pytest.fixture(scope="module")
def residents(infra: LocalInfrastructure, upstreams: Upstreams) -> list[Resident]:
    """Hushan's residents as the census itself answers (the truth the counts are held to)."""
    token = infra.keycloak.password_grant("hushan-staff", DEMO_PASSWORD)["access_token"]
    with grpc.insecure_channel(upstreams.census_target) as channel:
        stream = census_pb2_grpc.CensusServiceStub(channel).StreamResidentsInPlaces(
            census_pb2.StreamResidentsInPlacesRequest(),
            metadata=(("authorization", f"Bearer {token}"), ("x-tenant-id", HUSHAN)),
            timeout=30,
        )
        found = [
            Resident(r.resident_id, r.name, r.has_phone, r.building_id, r.complex_id)
            for r in stream
        ]
    assert len(found) > 100
    return sorted(found, key=lambda r: r.id)


@pytest.fixture(scope="module")
def with_phone(residents: list[Resident]) -> list[Resident]:
    return [r for r in residents if r.has_phone]


@pytest.fixture(scope="module")
def without_phone(residents: list[Resident]) -> list[Resident]:
    found = [r for r in residents if not r.has_phone]
    assert found, "the synthetic community has children, who have no phone"
    return found


ContactSetter = Callable[..., None]


@pytest.fixture(scope="module")
def set_contact(sql: Sql) -> Iterator[ContactSetter]:
    """Give a resident an e-mail or an account (as staff would); the rows go when the module
    ends, so other modules find Hushan's contacts as they were."""
    written: set[uuid.UUID] = set()

    def write(resident: Resident, *, email: str | None = None, account: str | None = None) -> None:
        written.add(uuid.UUID(resident.id))
        sql(
            "INSERT INTO contacts (tenant_id, resident_id, account_subject, email, opted_out, "
            "version, updated_at) VALUES (%s, %s, %s, %s, '{}', 1, now()) "
            "ON CONFLICT (tenant_id, resident_id) DO UPDATE SET account_subject = "
            "excluded.account_subject, email = excluded.email, opted_out = '{}'",
            HUSHAN,
            uuid.UUID(resident.id),
            account,
            email,
        )

    yield write
    for resident_id in written:
        sql("DELETE FROM contacts WHERE tenant_id = %s AND resident_id = %s", HUSHAN, resident_id)


def create_notice(
    call: Call,
    *,
    channels: list[pb.Channel.ValueType],
    audience: pb.Audience,
    urgent: bool = False,
    content: str = "明日上午九点至十一点停水，请提前储水。",
) -> str:
    response = call(
        "CreateNotice",
        pb.CreateNoticeRequest(
            draft=pb.NoticeDraft(
                kind=pb.NOTICE_KIND_ANTI_FRAUD if urgent else pb.NOTICE_KIND_GENERAL,
                template_code="anti_fraud.alert" if urgent else "general.notice",
                variables={"title": "停水通知", "content": content},
                audience=audience,
                channels=channels,
                urgent=urgent,
            ),
            idempotency_key=uuid.uuid4().hex,
        ),
    )
    return str(response.notice.notice_id)


def dispatch_until(
    core: NotifyCore, done: Callable[[], bool], *, timeout: float = 60.0
) -> Dispatcher:
    """Run dispatcher passes until ``done`` (the dispatcher is returned for its counters)."""
    deadline = time.monotonic() + timeout
    with Dispatcher.for_core(core) as dispatcher:
        while not done():
            assert time.monotonic() < deadline, "the dispatcher did not finish in time"
            if dispatcher.run_once() == 0:
                time.sleep(0.05)
    return dispatcher


def notice_state(sql: Sql, notice_id: str) -> str:
    return str(sql("SELECT state FROM notices WHERE id = %s", uuid.UUID(notice_id))[0][0])


def is_sent(sql: Sql, notice_id: str) -> Callable[[], bool]:
    return lambda: notice_state(sql, notice_id) == "sent"


def deliveries(sql: Sql, notice_id: str) -> dict[str, dict[str, object]]:
    """The notice's deliveries by recipient key."""
    rows = sql(
        "SELECT recipient, id, channel, state, attempts, address, failure_reason, "
        "tried_channels, next_attempt_at, masked_address FROM deliveries WHERE notice_id = %s",
        uuid.UUID(notice_id),
    )
    names = (
        "id",
        "channel",
        "state",
        "attempts",
        "address",
        "failure_reason",
        "tried_channels",
        "next_attempt_at",
        "masked_address",
    )
    return {row[0]: dict(zip(names, row[1:], strict=True)) for row in rows}


def sms_out_ids(sinks: Sinks) -> Counter[str]:
    return Counter(m.out_id for messages in sinks.records.sms_by_phone().values() for m in messages)


# ---- fan-out ----


def test_notice_reaches_every_resident_once_on_their_first_reachable_channel(
    core: NotifyCore,
    call: Call,
    sql: Sql,
    sinks: Sinks,
    residents: list[Resident],
    with_phone: list[Resident],
    without_phone: list[Resident],
    set_contact: ContactSetter,
) -> None:
    mailed = with_phone[:4] + without_phone[:1]
    accounts = with_phone[4:6]
    for i, person in enumerate(mailed):
        set_contact(person, email=f"n2-fanout-{i}@example.org")
    for i, person in enumerate(accounts):
        set_contact(person, account=f"n2-fanout-account-{i}")
    notice_id = create_notice(
        call,
        channels=[pb.CHANNEL_INBOX, pb.CHANNEL_EMAIL, pb.CHANNEL_SMS],
        audience=pb.Audience(
            whole_community=True, account_subjects=["n2-staff-only"], roles=["community-staff"]
        ),
    )

    dispatcher = dispatch_until(core, is_sent(sql, notice_id))

    rows = deliveries(sql, notice_id)
    by_channel = Counter(str(r["channel"]) for r in rows.values())
    unreachable = set(without_phone) - set(mailed)
    assert len(rows) == len(residents) + 2  # every resident once, the account, the role
    assert by_channel == {
        "inbox": len(accounts) + 2,
        "email": len(mailed),
        "sms": len(with_phone) - len(accounts) - 4,
        "None": len(unreachable),
    }
    assert {k for k, r in rows.items() if r["state"] == "unreachable"} == {
        r.key for r in unreachable
    }
    assert all(r["address"] is None for r in rows.values())  # no phone lingers
    # At the sinks: exactly the notice's deliveries, each once.
    sms_ids = {str(r["id"]) for r in rows.values() if r["channel"] == "sms"}
    assert sms_out_ids(sinks) == dict.fromkeys(sms_ids, 1)
    assert len(sinks.records.sms_by_phone()) == len(sms_ids)  # one phone each
    email_ids = {f"<{r['id']}@shequ.notify>" for r in rows.values() if r["channel"] == "email"}
    assert set(sinks.records.emails()) == email_ids
    assert sinks.records.email_raw_count == len(email_ids)
    greeting = sinks.records.emails_to("n2-fanout-0@example.org")[0]
    assert greeting.subject == "【通知】停水通知"
    assert greeting.body.startswith(f"{mailed[0].name}您好")
    owners = sql(
        "SELECT owner FROM inbox_messages WHERE notice_id = %s AND tenant_id = %s",
        uuid.UUID(notice_id),
        HUSHAN,
    )
    assert sorted(o for (o,) in owners) == sorted(
        [f"account:n2-fanout-account-{i}" for i in range(2)]
        + ["account:n2-staff-only", "role:community-staff"]
    )
    assert dispatcher.stats.resent_after_uncertain == 0
    # The notice is finished: its counts in the API and in the NoticeSent fact.
    notice = call("GetNotice", pb.GetNoticeRequest(notice_id=notice_id)).notice
    assert notice.state == pb.NOTICE_STATE_SENT
    assert notice.counts.recipients == len(rows)
    assert notice.counts.unreachable == len(unreachable)
    assert notice.counts.by_channel["sms"].sent == len(sms_ids)
    (payload,) = sql(
        "SELECT payload FROM outbox WHERE aggregate_id = %s AND event_type = %s",
        notice_id,
        "shequ.notify.v1.NoticeSent",
    )
    fact = events_pb2.NoticeSent.FromString(bytes(payload[0]))
    assert fact.counts.recipients == len(rows)
    assert fact.counts.delivered == len(accounts) + 2  # the inbox is delivered on arrival


def test_sms_receipts_turn_sent_into_delivered_or_failed(
    core: NotifyCore,
    call: Call,
    sql: Sql,
    sinks: Sinks,
    with_phone: list[Resident],
) -> None:
    people = with_phone[10:13]
    notice_id = create_notice(
        call,
        channels=[pb.CHANNEL_SMS],
        audience=pb.Audience(resident_ids=[p.id for p in people]),
    )
    dispatch_until(core, is_sent(sql, notice_id))
    rows = deliveries(sql, notice_id)
    assert {r["state"] for r in rows.values()} == {"sent"}  # accepted; no report yet
    # The operator's report for one phone will say it never arrived (phone switched off).
    unlucky = str(rows[people[0].key]["id"])
    (phone,) = [p for p, ms in sinks.records.sms_by_phone().items() if ms[0].out_id == unlucky]
    sinks.faults.sms_undelivered_phones = {phone}

    dispatch_until(
        core,
        lambda: "sent" not in {r["state"] for r in deliveries(sql, notice_id).values()},
        timeout=20,
    )

    rows = deliveries(sql, notice_id)
    assert rows[people[0].key]["state"] == "failed"
    assert str(rows[people[0].key]["failure_reason"]).startswith("短信未送达")
    assert {rows[p.key]["state"] for p in people[1:]} == {"delivered"}


# ---- retries, fallback, the cap ----


def test_throttled_sms_is_retried_with_backoff_and_sent_once(
    core: NotifyCore,
    call: Call,
    sql: Sql,
    sinks: Sinks,
    with_phone: list[Resident],
) -> None:
    people = with_phone[13:16]
    sinks.faults.sms_throttle_next = 2
    notice_id = create_notice(
        call, channels=[pb.CHANNEL_SMS], audience=pb.Audience(resident_ids=[p.id for p in people])
    )
    with Dispatcher.for_core(core) as dispatcher:
        while sinks.records.throttled == 0:
            dispatcher.run_once()
        first = time.time()
        after_first = deliveries(sql, notice_id)
    for row in after_first.values():
        assert row["state"] == "queued"
        assert row["attempts"] == 1
        assert "Throttling.User" in str(row["failure_reason"])
        due = row["next_attempt_at"]
        assert isinstance(due, datetime)
        wait = due.timestamp() - first
        # base · 2^0 with equal jitter: between half of it and all of it.
        assert RETRY_BASE_S / 2 - 0.2 <= wait <= RETRY_BASE_S + 0.1

    dispatch_until(core, is_sent(sql, notice_id))

    rows = deliveries(sql, notice_id)
    # Each was throttled at least once (the first request carried all three); jitter spreads
    # their retries, so the second throttled request may have carried only some of them.
    assert all(2 <= int(str(r["attempts"])) <= 3 for r in rows.values())
    assert {r["state"] for r in rows.values()} == {"sent"}
    assert {r["failure_reason"] for r in rows.values()} == {""}
    assert sms_out_ids(sinks) == {str(r["id"]): 1 for r in rows.values()}
    assert sinks.records.throttled == 2


def test_permanent_refusal_falls_back_to_the_next_channel(
    core: NotifyCore,
    call: Call,
    sql: Sql,
    sinks: Sinks,
    with_phone: list[Resident],
    set_contact: ContactSetter,
) -> None:
    person = with_phone[16]
    set_contact(person, email="n2-gone@example.org")
    sinks.faults.smtp_refused = {"n2-gone@example.org"}
    notice_id = create_notice(
        call,
        channels=[pb.CHANNEL_EMAIL, pb.CHANNEL_SMS],
        audience=pb.Audience(resident_ids=[person.id]),
    )

    dispatch_until(core, is_sent(sql, notice_id))

    row = deliveries(sql, notice_id)[person.key]
    assert row["channel"] == "sms"
    assert row["tried_channels"] == ["email"]
    assert row["state"] == "sent"
    assert row["masked_address"] != ""  # the phone, masked
    assert sinks.records.emails() == {}
    assert sms_out_ids(sinks) == {str(row["id"]): 1}  # the same delivery, on the next channel


def test_after_the_cap_a_delivery_fails_visibly_and_can_be_resent(
    core: NotifyCore,
    call: Call,
    sql: Sql,
    sinks: Sinks,
    with_phone: list[Resident],
    set_contact: ContactSetter,
) -> None:
    person = with_phone[17]
    set_contact(person, email="n2-flaky@example.org")
    sinks.faults.smtp_tempfail_next = MAX_ATTEMPTS
    notice_id = create_notice(
        call, channels=[pb.CHANNEL_EMAIL], audience=pb.Audience(resident_ids=[person.id])
    )

    dispatch_until(core, is_sent(sql, notice_id))

    failed = call(  # what the staff see
        "ListDeliveries",
        pb.ListDeliveriesRequest(notice_id=notice_id, states=[pb.DELIVERY_STATE_FAILED]),
    ).deliveries
    assert [d.recipient for d in failed] == [person.key]
    assert failed[0].attempts == MAX_ATTEMPTS
    assert failed[0].failure_reason.startswith(f"重试{MAX_ATTEMPTS}次仍未成功")
    assert "451" in failed[0].failure_reason
    assert sinks.records.emails() == {}

    resent = call("ResendFailed", pb.ResendFailedRequest(notice_id=notice_id))
    assert resent.queued == 1
    dispatch_until(core, is_sent(sql, notice_id))

    row = deliveries(sql, notice_id)[person.key]
    assert (row["state"], row["attempts"], row["channel"]) == ("sent", 1, "email")
    assert [e.message_id for e in sinks.records.emails_to("n2-flaky@example.org")] == [
        f"<{row['id']}@shequ.notify>"
    ]


def test_group_robot_posts_mention_the_residents_of_its_complex(
    core: NotifyCore,
    call: Call,
    sql: Sql,
    sinks: Sinks,
    with_phone: list[Resident],
) -> None:
    complex_id = with_phone[0].complex_id
    people = [r for r in with_phone if r.complex_id == complex_id][:5]
    robot = call(
        "PutRobot",
        pb.PutRobotRequest(
            robot=pb.Robot(
                name="n2 测试楼栋群", complex_id=complex_id, webhook_url=sinks.webhook_url("n2-grp")
            )
        ),
    ).robot
    try:
        notice_id = create_notice(
            call,
            channels=[pb.CHANNEL_WECOM],
            audience=pb.Audience(resident_ids=[p.id for p in people]),
        )
        dispatch_until(core, is_sent(sql, notice_id))
    finally:
        call("RemoveRobot", pb.RemoveRobotRequest(robot_id=robot.robot_id))

    rows = deliveries(sql, notice_id)
    assert {r["state"] for r in rows.values()} == {"delivered"}
    assert {r["masked_address"] for r in rows.values()} == {"n2 测试楼栋群"}
    posts = sinks.records.robot_posts("n2-grp")
    assert len(posts) == 1  # one post for the batch, mentioning each of them
    assert len(set(posts[0].mentions)) == len(people)
    assert set(posts[0].delivery_ids) == {str(r["id"]) for r in rows.values()}
    assert "居民您好" in posts[0].content  # a group post greets nobody by name


# ---- quiet hours ----


def quiet_window_around_now() -> tuple[str, str, datetime]:
    """A window from an hour ago to an hour from now (Shanghai wall time), and its end (UTC)."""
    now = datetime.now(SHANGHAI).replace(second=0, microsecond=0)
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    return start.strftime("%H:%M"), end.strftime("%H:%M"), end.astimezone(UTC)


def test_quiet_hours_hold_a_non_urgent_notice_but_not_its_inbox_nor_an_urgent_one(
    core: NotifyCore,
    call: Call,
    sql: Sql,
    sinks: Sinks,
    with_phone: list[Resident],
    set_contact: ContactSetter,
) -> None:
    reader, phones = with_phone[20], with_phone[21:24]
    set_contact(reader, account="n2-quiet-reader")
    audience = pb.Audience(resident_ids=[p.id for p in [reader, *phones]])
    start, end, ends_at = quiet_window_around_now()
    set_quiet_hours(sql, start, end)
    try:
        ordinary = create_notice(
            call, channels=[pb.CHANNEL_INBOX, pb.CHANNEL_SMS], audience=audience
        )
        urgent = create_notice(
            call, channels=[pb.CHANNEL_INBOX, pb.CHANNEL_SMS], audience=audience, urgent=True
        )
        sms_only = create_notice(call, channels=[pb.CHANNEL_SMS], audience=audience)
        dispatch_until(core, is_sent(sql, urgent))
        for _ in range(5):  # a few more passes: nothing held may slip out
            run_passes(core)
    finally:
        set_quiet_hours(sql, "00:00", "00:00")

    held = deliveries(sql, ordinary)
    assert held[reader.key]["state"] == "delivered"  # the inbox is silent: never held
    for person in phones:
        assert held[person.key]["state"] == "queued"
        assert held[person.key]["next_attempt_at"] == ends_at
    got = call("GetNotice", pb.GetNoticeRequest(notice_id=ordinary)).notice
    assert got.state == pb.NOTICE_STATE_SENDING
    assert got.held_until.ToDatetime(UTC) == ends_at
    # Held whole (nothing went out), a notice is still scheduled, and can be called off.
    whole = call("GetNotice", pb.GetNoticeRequest(notice_id=sms_only)).notice
    assert whole.state == pb.NOTICE_STATE_SCHEDULED
    assert whole.held_until.ToDatetime(UTC) == ends_at
    # The urgent one went out on every channel at once.
    sent = deliveries(sql, urgent)
    assert {r["state"] for r in sent.values()} <= {"sent", "delivered"}
    urgent_sms = {str(r["id"]) for r in sent.values() if r["channel"] == "sms"}
    assert sms_out_ids(sinks) == dict.fromkeys(urgent_sms, 1)

    call(
        "CancelNotice",
        pb.CancelNoticeRequest(notice_id=sms_only, expected_version=whole.version, reason="改期"),
    )
    run_passes(core)
    cancelled = deliveries(sql, sms_only)
    assert {r["state"] for r in cancelled.values()} == {"failed"}
    assert {r["failure_reason"] for r in cancelled.values()} == {CANCELLED_REASON}
    assert sms_out_ids(sinks) == dict.fromkeys(urgent_sms, 1)  # nothing of the held ones

    # Once quiet hours are over (here: switched off), the held notice goes out.
    sql(
        "UPDATE deliveries SET next_attempt_at = now() WHERE notice_id = %s AND state = 'queued'",
        uuid.UUID(ordinary),
    )
    dispatch_until(core, is_sent(sql, ordinary))
    assert len(sms_out_ids(sinks)) == len(urgent_sms) + len(phones)


def run_passes(core: NotifyCore, passes: int = 1) -> None:
    with Dispatcher.for_core(core) as dispatcher:
        for _ in range(passes):
            dispatcher.run_once()


# ---- replicas ----


def test_two_dispatchers_share_a_notice_without_sending_anything_twice(
    core: NotifyCore,
    call: Call,
    sql: Sql,
    sinks: Sinks,
    residents: list[Resident],
    with_phone: list[Resident],
) -> None:
    # Each replica sends 100 SMS a second in batches of 20: neither can take the whole notice
    # before the other has started.
    shared = core.settings.model_copy(update={"rate_sms_per_s": 100.0, "dispatch_batch": 20})
    notice_id = create_notice(
        call, channels=[pb.CHANNEL_SMS], audience=pb.Audience(whole_community=True)
    )
    stop = threading.Event()
    dispatchers: list[Dispatcher] = []
    failures: list[Exception] = []

    def replica() -> None:
        try:
            with prepare_core(shared) as own, Dispatcher.for_core(own) as dispatcher:
                dispatchers.append(dispatcher)
                while not stop.is_set():
                    if dispatcher.run_once() == 0:
                        time.sleep(0.02)
        except Exception as error:  # noqa: BLE001 - reported by the test thread
            failures.append(error)

    threads = [threading.Thread(target=replica) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while notice_state(sql, notice_id) != "sent" and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    for thread in threads:
        thread.join(30)

    assert failures == []
    assert notice_state(sql, notice_id) == "sent"
    rows = deliveries(sql, notice_id)
    assert len(rows) == len(residents)
    sms_ids = {str(r["id"]) for r in rows.values() if r["channel"] == "sms"}
    assert len(sms_ids) == len(with_phone)
    assert sms_out_ids(sinks) == dict.fromkeys(sms_ids, 1)
    assert sinks.records.sms_repeats_dropped == 0  # not even a repeat the provider dropped
    shares = [d.stats.sent for d in dispatchers]
    assert sum(shares) == len(sms_ids)
    assert all(share > 0 for share in shares), f"one replica did all the work: {shares}"
