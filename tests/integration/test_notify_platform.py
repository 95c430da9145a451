"""Notify inside the platform as `make run` composes it — the gateway, census, grid, cases and
notify processes, notify's e-mail, robot and SMS deliveries landing at real local SMTP and
HTTP servers (``platform.sinks``):

- an anti-fraud notice to the elderly of one Shibei complex reaches exactly the census's
  elderly of that complex, each once, on their channel (in-app, e-mail or SMS);
- quiet hours hold a non-urgent SMS notice back and let an urgent one through;
- a case reported at a Shibei building is in its grid worker's in-app inbox within 2 s;
- another community's staff cannot send or read Shibei's notices.
"""

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import grpc
import httpx
import pytest

from notify.channels.email import message_id
from shequ.census.v1 import census_pb2, census_pb2_grpc
from shequ_infra import LocalInfrastructure
from shequ_infra.forged_tokens import claims_of
from shequ_infra.platform import RunningPlatform, running_platform
from shequ_infra.rest_checks import assert_problem, auth
from shequ_kit.service_tokens import ServiceCredentials

pytestmark = pytest.mark.platform  # a session of its own: see the Makefile

SHIBEI = "xiaoshan.beigan.shibei"
SHANGHAI = ZoneInfo("Asia/Shanghai")
STAIRWELL_CLUTTER = "0103"  # 楼道堆积物: handled at the micro-grid level
CASE_TO_INBOX_S = 2.0
TOKEN_REUSE_S = 60.0


@pytest.fixture(scope="module")
def platform(infra: LocalInfrastructure) -> Iterator[RunningPlatform]:
    with running_platform(infra) as running:
        yield running


@dataclass
class Gateway:
    """The platform's REST API as demo users call it."""

    url: str
    infra: LocalInfrastructure
    tokens: dict[str, tuple[float, str]] = field(default_factory=dict)

    def token(self, user: str) -> str:
        """The user's access token, fetched again after a minute (well inside its lifetime)."""
        fetched_at, token = self.tokens.get(user, (0.0, ""))
        if time.monotonic() - fetched_at > TOKEN_REUSE_S:
            token = self.infra.keycloak.password_grant(user, "shequ-demo")["access_token"]
            self.tokens[user] = (time.monotonic(), token)
        return token

    def subject(self, user: str) -> str:
        return str(claims_of(self.token(user))["sub"])

    def call(
        self, method: str, path: str, user: str, *, tenant: str = SHIBEI, **kwargs: Any
    ) -> httpx.Response:
        prefix = "" if path.startswith("/api/") else f"/api/v1/tenants/{tenant}"
        return httpx.request(
            method,
            f"{self.url}{prefix}{path}",
            headers=auth(self.token(user)),
            timeout=30,
            **kwargs,
        )

    def ok(self, method: str, path: str, user: str = "shibei-staff", **kwargs: Any) -> Any:
        response = self.call(method, path, user, **kwargs)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def all_pages(self, path: str, user: str = "shibei-staff") -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            page = self.ok("GET", path, user, params={"page_size": 500, "page_token": token})
            items += page["items"]
            token = page.get("next_page_token") or ""
            if not token:
                return items

    def notice(self, draft: dict[str, Any], user: str = "shibei-staff") -> dict[str, Any]:
        created: dict[str, Any] = self.ok("POST", "/notices", user, json=draft)
        return created

    def inbox(self, user: str) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self.ok("GET", "/api/v1/inbox", user, params={"limit": 200})[
            "items"
        ]
        return listed


@pytest.fixture(scope="module")
def gateway(platform: RunningPlatform, infra: LocalInfrastructure) -> Gateway:
    return Gateway(platform.gateway_url, infra)


@dataclass(frozen=True)
class Elder:
    resident_id: str
    phone: str  # "" when the census holds none


def census_elderly(
    platform: RunningPlatform, infra: LocalInfrastructure
) -> dict[str, dict[str, Elder]]:
    """Shibei's elderly per complex id, asked of the census itself with phones (as notify's own
    account, which holds pii-reader; every answer is audited with the purpose)."""
    notify_account = ServiceCredentials.for_issuer(
        infra.keycloak.issuer, "shequ-notify", "local-dev-notify-secret"
    )
    metadata = notify_account.metadata(SHIBEI)
    found: dict[str, dict[str, Elder]] = {}
    with grpc.insecure_channel(platform.census_target) as channel:
        census = census_pb2_grpc.CensusServiceStub(channel)
        stream = census.StreamResidentsInPlaces(
            census_pb2.StreamResidentsInPlacesRequest(
                care_tags=[census_pb2.CARE_TAG_ELDERLY],
                with_phones=True,
                purpose="平台测试：核对反诈通知的收件人",
            ),
            metadata=metadata,
            timeout=60,
        )
        for person in stream:
            found.setdefault(person.complex_id, {})[person.resident_id] = Elder(
                person.resident_id, person.phone
            )
    notify_account.close()
    return found


def eventually(check: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Seconds until ``check`` held; fails after ``timeout_s``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout_s, f"{what}: not within {timeout_s} s"
        time.sleep(0.05)
    return time.monotonic() - started


def finished(gateway: Gateway, notice_id: str) -> Callable[[], bool]:
    def check() -> bool:
        return bool(gateway.ok("GET", f"/notices/{notice_id}")["state"] == "sent")

    return check


# --- (a) the anti-fraud notice ---------------------------------------------------------------


def test_an_anti_fraud_notice_reaches_exactly_the_complexs_elderly_once_on_their_channel(
    platform: RunningPlatform, gateway: Gateway, infra: LocalInfrastructure
) -> None:
    elderly_by_complex = census_elderly(platform, infra)
    # The smallest complex with a real audience keeps the run short on two cores.
    complex_id, elderly = min(
        ((c, people) for c, people in elderly_by_complex.items() if len(people) >= 20),
        key=lambda item: len(item[1]),
    )
    # The grid worker lives here too: their account is linked to one of these elders, so the
    # notice has an in-app recipient as well (the seed linked shibei-resident elsewhere).
    worker_subject = gateway.subject("shibei-grid")
    linked = next(
        e.resident_id
        for e in sorted(elderly.values(), key=lambda e: e.resident_id)
        if gateway.ok("GET", f"/notification-contacts/{e.resident_id}")["email"] is None
    )
    contact = gateway.ok("GET", f"/notification-contacts/{linked}")
    gateway.ok(
        "PUT",
        f"/notification-contacts/{linked}",
        json={"account_subject": worker_subject, "expected_version": contact["version"]},
    )
    # SMS carry the body only: the tag in both texts finds this notice at every sink.
    tag = uuid.uuid4().hex[:6]
    title = f"冒充客服退款诈骗预警 {tag}"

    notice = gateway.notice(
        {
            "kind": "anti_fraud",
            "template_code": "anti_fraud.alert",
            "variables": {
                "title": title,
                "content": f"近期有人冒充电商客服以退款为名诈骗老年人（{tag}）。",
            },
            "audience": {"complex_ids": [complex_id], "care_tags": ["elderly"]},
            "channels": ["inbox", "email", "sms"],
            "urgent": True,
        }
    )
    took = eventually(finished(gateway, notice["id"]), 120, "the notice to finish")
    deliveries = gateway.all_pages(f"/notices/{notice['id']}/deliveries")

    recipients = [d["recipient"] for d in deliveries]
    assert len(recipients) == len(set(recipients)), "somebody got two deliveries"
    assert set(recipients) == {f"resident:{r}" for r in elderly}
    by_channel = Counter(d["channel"] for d in deliveries)
    records = platform.sinks.records
    receptions = records.email_receptions()
    mailbox = records.emails()
    for delivery in deliveries:
        elder = elderly[delivery["recipient"].removeprefix("resident:")]
        if delivery["channel"] == "inbox":
            assert elder.resident_id == linked
        elif delivery["channel"] == "email":
            stored = mailbox[message_id(uuid.UUID(delivery["id"]))]
            assert title in stored.subject
            assert receptions[stored.message_id] == 1
        elif delivery["channel"] == "sms":
            to_them = [m for m in records.sms_to(elder.phone) if tag in m.content]
            assert [m.out_id for m in to_them] == [delivery["id"]]
        else:
            assert (delivery["state"], elder.phone) == ("unreachable", "")
    # Nothing else at the sinks carries this notice.
    sms_sent = [m for ms in records.sms_by_phone().values() for m in ms if tag in m.content]
    emails_sent = [e for e in mailbox.values() if title in e.subject]
    assert (len(sms_sent), len(emails_sent)) == (by_channel["sms"], by_channel["email"])
    assert {m.phone for m in sms_sent} <= {e.phone for e in elderly.values()}
    in_app = [m for m in gateway.inbox("shibei-grid") if m["notice_id"] == notice["id"]]
    assert len(in_app) == by_channel["inbox"] == 1
    counts = gateway.ok("GET", f"/notices/{notice['id']}")["counts"]
    assert counts["recipients"] == len(elderly)
    assert counts["queued"] == counts["failed"] == 0
    print(
        f"anti-fraud notice: {len(elderly)} elderly in the complex per census, "
        f"{len(deliveries)} deliveries in {took:.1f} s — {by_channel['sms']} SMS, "
        f"{by_channel['email']} e-mail, {by_channel['inbox']} in-app, "
        f"{by_channel[None]} unreachable; at the sinks {len(sms_sent)} SMS, "
        f"{len(emails_sent)} e-mails ({sum(receptions[e.message_id] for e in emails_sent)} "
        f"received), {len(in_app)} inbox message"
    )


# --- (b) quiet hours -------------------------------------------------------------------------


def test_quiet_hours_hold_a_non_urgent_sms_and_let_an_urgent_one_through(
    platform: RunningPlatform, gateway: Gateway, infra: LocalInfrastructure
) -> None:
    someone = next(
        e for people in census_elderly(platform, infra).values() for e in people.values() if e.phone
    )
    before = gateway.ok("GET", "/notification-settings")
    wall = datetime.now(SHANGHAI)
    window = {
        "quiet_start": (wall - timedelta(hours=1)).strftime("%H:%M"),
        "quiet_end": (wall + timedelta(hours=1)).strftime("%H:%M"),
    }
    settings = gateway.ok(
        "PUT", "/notification-settings", json={**window, "expected_version": before["version"]}
    )
    records = platform.sinks.records

    def sms_titled(tag: str) -> list[Any]:
        return [m for m in records.sms_to(someone.phone) if tag in m.content]

    def draft(tag: str, *, urgent: bool) -> dict[str, Any]:
        return {
            "kind": "general",
            "template_code": "general.notice",
            "variables": {"title": "停水通知", "content": f"明日上午停水，请提前储水（{tag}）。"},
            "audience": {"resident_ids": [someone.resident_id]},
            "channels": ["sms"],
            "urgent": urgent,
        }

    try:
        quiet_title, urgent_title = (uuid.uuid4().hex[:6] for _ in range(2))
        held = gateway.notice(draft(quiet_title, urgent=False))
        # Twenty-odd dispatcher passes (every 0.2 s) with nothing going out.
        time.sleep(5)
        assert sms_titled(quiet_title) == []
        held_now = gateway.ok("GET", f"/notices/{held['id']}")
        assert held_now["held_until"] is not None
        assert held_now["state"] == "scheduled"

        gateway.notice(draft(urgent_title, urgent=True))
        took = eventually(lambda: len(sms_titled(urgent_title)) == 1, 30, "the urgent SMS")
        assert sms_titled(quiet_title) == []
        print(
            f"quiet hours {window['quiet_start']}–{window['quiet_end']}: non-urgent SMS held "
            f"(0 at the sink after 5 s, held until {held_now['held_until']}), urgent SMS at "
            f"the sink after {took:.1f} s"
        )
        gateway.ok(
            "POST",
            f"/notices/{held['id']}/cancel",
            json={"expected_version": held_now["version"], "reason": "测试结束"},
        )
    finally:
        gateway.ok(
            "PUT",
            "/notification-settings",
            json={
                "quiet_start": before["quiet_start"],
                "quiet_end": before["quiet_end"],
                "expected_version": settings["version"],
            },
        )


# --- (c) case dispatch → the grid worker's inbox ---------------------------------------------


def test_a_reported_case_is_in_the_grid_workers_inbox_within_two_seconds(
    gateway: Gateway,
) -> None:
    grids = gateway.ok("GET", "/grids")["items"]
    first_grid = next(g for g in grids if g["number"] == 1)
    micro_grid = next(
        m
        for m in gateway.ok("GET", f"/grids/{first_grid['id']}")["micro_grids"]
        if m["number"] == 1
    )
    covered = gateway.ok(
        "GET",
        f"/grids/{first_grid['id']}/buildings",
        params={"micro_grid_id": micro_grid["id"]},
    )["items"]
    worker = gateway.subject("shibei-grid")

    reported = gateway.call(
        "POST",
        "/cases",
        "shibei-resident",
        json={
            "category_code": STAIRWELL_CLUTTER,
            "title": "楼道堆放杂物",
            "place": {"building_id": covered[0]["building_id"]},
        },
    )
    answered = time.monotonic()
    assert reported.status_code == 201, reported.text
    case = reported.json()
    assert (case["state"], case["assignee"]) == ("dispatched", worker)

    def in_inbox() -> bool:
        return any(m["case_id"] == case["id"] for m in gateway.inbox("shibei-grid"))

    eventually(in_inbox, CASE_TO_INBOX_S, "the dispatch message in shibei-grid's inbox")
    took = time.monotonic() - answered
    message = next(m for m in gateway.inbox("shibei-grid") if m["case_id"] == case["id"])
    assert message["kind"] == "case_update"
    assert "派遣" in message["subject"]
    reporter = [m for m in gateway.inbox("shibei-resident") if m["case_id"] == case["id"]]
    assert ["已受理" in m["subject"] for m in reporter] == [True]
    print(
        f"case {case['number']}: dispatch message in shibei-grid's inbox {took * 1000:.0f} ms "
        f"after the report's response; the reporter has {len(reporter)} message (受理)"
    )


# --- (d) another community ---------------------------------------------------------------------


def test_another_communitys_staff_can_neither_send_nor_read_shibeis_notices(
    gateway: Gateway,
) -> None:
    mine = gateway.notice(
        {
            "kind": "meeting",
            "template_code": "meeting.notice",
            "variables": {
                "title": "网格员例会",
                "time": "周五下午三点",
                "place": "社区会议室",
                "content": "请带上本月走访记录。",
            },
            "audience": {"roles": ["grid-worker"]},
            "channels": ["inbox"],
        }
    )
    draft = {
        "kind": "general",
        "template_code": "general.notice",
        "variables": {"title": "越权测试", "content": "不应发出"},
        "audience": {"whole_community": True},
        "channels": ["inbox"],
    }

    sent = gateway.call("POST", "/notices", "hushan-staff", json=draft)
    read_list = gateway.call("GET", "/notices", "hushan-staff")
    read_one = gateway.call("GET", f"/notices/{mine['id']}", "hushan-staff")
    anonymous = httpx.post(f"{gateway.url}/api/v1/tenants/{SHIBEI}/notices", json=draft, timeout=10)

    for refused in (sent, read_list, read_one):
        assert refused.status_code in (403, 404), refused.text
        assert_problem(refused, refused.status_code)
    assert_problem(anonymous, 401)
    assert not [
        n
        for n in gateway.ok("GET", "/notices")["items"]
        if n["variables"].get("title") == "越权测试"
    ]
    print(
        f"hushan-staff on Shibei's notices: send {sent.status_code}, list "
        f"{read_list.status_code}, read {read_one.status_code}; anonymous {anonymous.status_code}"
    )
