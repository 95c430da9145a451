"""Kafka and PostgreSQL failing under the running platform, on infrastructure of this module's
own (tests/faults/conftest.py):

- Kafka stopped for 30 s while a resident reports cases at a steady rate: every report is
  written (the cases outbox buffers its events; the pending count shown at /api/v1/ops/outbox
  grows), and once Kafka is back every event is on the topic and every notification the cases
  cause (受理 to the reporter, 派遣 to the grid worker) is sent exactly once.
- PostgreSQL restarted (fast shutdown, same data directory and port) under the running
  platform: meanwhile every service's routes answer 503 problem+json with Retry-After within
  seconds; afterwards the same processes (same pids) read and write again, every relay publishes and
  every consumer group catches up.

Each test prints what it did and what it counted.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition

from shequ_infra import LocalInfrastructure
from shequ_infra.platform import RunningPlatform
from shequ_infra.processes import log_tail
from shequ_infra.rest_checks import assert_problem, auth
from shequ_infra.stack import outage

pytestmark = [pytest.mark.platform, pytest.mark.faults]

SHIBEI = "xiaoshan.beigan.shibei"
STAIRWELL_CLUTTER = "0103"  # 楼道堆积物: accepted and dispatched to the micro-grid's worker
DEMO_PASSWORD = "shequ-demo"
CASES_TOPIC = "shequ.cases.v1"
# What a resident's report at a covered building tells whom (notify.case_updates): 受理 to the
# reporter and 派遣 to the grid worker, each once.
NOTICES_PER_CASE = Counter({"case.accepted": 1, "case.dispatched": 1})

SCENARIO_TIMEOUT_S = 180  # each scenario, without the module's platform start
KAFKA_DOWN_S = 30.0
REPORTS_PER_S = 3.0
LEAD_REPORTS = 15  # reports published before Kafka stops, as a baseline
TRAIL_REPORTS = 15  # reports after Kafka is back, while its backlog drains
PENDING_SAMPLE_S = 5.0
DELIVERY_S = 60.0  # after Kafka is back: every event on the topic, every notice sent
ANSWER_BOUND_S = 10.0  # no answer during an outage may take longer (a 503, not a hang)
RECOVERY_S = 30.0
TOKEN_REUSE_S = 60.0

T = TypeVar("T")


def eventually(
    check: Callable[[], T | None], within_s: float, what: str, every_s: float = 0.5
) -> T:
    """Poll ``check`` until it returns something other than None or False."""
    deadline = time.monotonic() + within_s
    while True:
        found = check()
        if found is not None and found is not False:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {within_s:.0f} s"
        time.sleep(every_s)


@dataclass
class Api:
    """The gateway's REST API as the demo users call it (from several threads)."""

    url: str
    infra: LocalInfrastructure
    _tokens: dict[str, tuple[float, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def token(self, user: str) -> str:
        """The user's access token, fetched again after a minute (well inside its lifetime)."""
        with self._lock:
            fetched_at, token = self._tokens.get(user, (0.0, ""))
            if time.monotonic() - fetched_at > TOKEN_REUSE_S:
                token = self.infra.keycloak.password_grant(user, DEMO_PASSWORD)["access_token"]
                self._tokens[user] = (time.monotonic(), token)
            return token

    def call(self, method: str, path: str, user: str, **kwargs: Any) -> httpx.Response:
        prefix = "" if path.startswith("/api/") else f"/api/v1/tenants/{SHIBEI}"
        return httpx.request(
            method,
            f"{self.url}{prefix}{path}",
            headers=auth(self.token(user)),
            # Past the bound, so a hang is measured and reported rather than cut short.
            timeout=ANSWER_BOUND_S * 3,
            **kwargs,
        )

    def ok(self, method: str, path: str, user: str = "shibei-staff", **kwargs: Any) -> Any:
        response = self.call(method, path, user, **kwargs)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def all_pages(self, path: str, user: str = "shibei-staff", **params: str) -> list[Any]:
        items: list[Any] = []
        token = ""
        while True:
            query = {**params, "page_size": 200, "page_token": token}
            page = self.ok("GET", path, user, params=query)
            items += page["items"]
            token = page.get("next_page_token") or ""
            if not token:
                return items

    def outbox_pending(self) -> dict[str, int]:
        """Each process's pending outbox rows, as a platform administrator reads them."""
        overview = self.ok("GET", "/api/v1/ops/outbox", "platform")
        return {entry["service"]: entry["pending"] for entry in overview["services"]}

    def consumer_groups(self) -> dict[str, tuple[int, int]]:
        """Each consumer group's (lag, processed events)."""
        overview = self.ok("GET", "/api/v1/ops/consumers", "platform")
        return {
            group["group"]: (group["lag"], group["processed_events"])
            for entry in overview["services"]
            for group in entry["groups"]
        }

    def case_notices(self) -> list[dict[str, Any]]:
        return self.all_pages("/notices", kind="case_update")


@pytest.fixture(scope="module")
def api(platform: RunningPlatform, infra: LocalInfrastructure) -> Api:
    return Api(platform.gateway_url, infra)


@pytest.fixture(scope="module")
def covered_building(api: Api) -> str:
    """A building of Shibei's first micro-grid: a case reported there goes to shibei-grid."""
    first_grid = next(g for g in api.ok("GET", "/grids")["items"] if g["number"] == 1)
    micro_grid = next(
        m for m in api.ok("GET", f"/grids/{first_grid['id']}")["micro_grids"] if m["number"] == 1
    )
    covered = api.ok(
        "GET", f"/grids/{first_grid['id']}/buildings", params={"micro_grid_id": micro_grid["id"]}
    )["items"]
    return str(covered[0]["building_id"])


def assert_every_process_runs(platform: RunningPlatform) -> None:
    """No process of the platform exited (with the end of its log if one did)."""
    dead = {p.name: log_tail(p.log_path) for p in platform.processes if not p.running}
    assert not dead, "\n".join(f"{name} exited:\n{tail}" for name, tail in dead.items())


def stairwell_report(building_id: str, title: str) -> dict[str, Any]:
    return {
        "category_code": STAIRWELL_CLUTTER,
        "title": title,
        "place": {"building_id": building_id},
    }


# --- (a) Kafka down under steady case traffic -------------------------------------------------


@dataclass(frozen=True)
class Report:
    sent_at: float  # monotonic
    status: int  # 0: no answer at all
    case: dict[str, Any] | None
    error: str = ""


class SteadyReporter:
    """shibei-resident reporting a stairwell case every 1/``per_s`` seconds, in a thread of its
    own, until ``finish``."""

    def __init__(self, api: Api, building_id: str, per_s: float) -> None:
        self.api, self.building_id, self.per_s = api, building_id, per_s
        self.reports: list[Report] = []
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._report, name="steady-reporter", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _report(self) -> None:
        began = time.monotonic()
        sent = 0
        while not self._halt.wait(max(0.0, began + sent / self.per_s - time.monotonic())):
            sent_at = time.monotonic()
            body = stairwell_report(self.building_id, f"故障演练：楼道堆物 {sent + 1}")
            try:
                response = self.api.call("POST", "/cases", "shibei-resident", json=body)
            except httpx.HTTPError as error:
                self.reports.append(Report(sent_at, 0, None, repr(error)))
            else:
                created = response.json() if response.status_code == 201 else None
                self.reports.append(Report(sent_at, response.status_code, created, response.text))
            sent += 1

    def written_since(self, moment: float) -> int:
        return sum(1 for r in self.reports if r.sent_at >= moment and r.status == 201)

    def finish(self) -> list[Report]:
        self._halt.set()
        self._thread.join(timeout=ANSWER_BOUND_S * 4)
        return list(self.reports)


@pytest.fixture
def reporter(api: Api, covered_building: str) -> Iterator[SteadyReporter]:
    steady = SteadyReporter(api, covered_building, REPORTS_PER_S)
    steady.start()
    yield steady
    steady.finish()


def events_written(infra: LocalInfrastructure, case_ids: set[str]) -> dict[str, str]:
    """Event id → case id of every event the cases service wrote for these cases: its outbox,
    read as the database superuser (an observer's view; the service never exposes event ids)."""
    with psycopg.connect(infra.postgres.superuser_dsn("cases")) as connection:
        rows = connection.execute(
            "SELECT event_id::text, aggregate_id FROM outbox WHERE aggregate_id = ANY(%s)",
            (sorted(case_ids),),
        ).fetchall()
    return {event_id: case_id for event_id, case_id in rows}


def events_on_topic(infra: LocalInfrastructure, topic: str, subjects: set[str]) -> Counter[str]:
    """How often each event id (``ce_id``) about these subjects is on the topic, read from the
    beginning of every partition to its current end."""
    consumer = KafkaConsumer(
        bootstrap_servers=infra.kafka.bootstrap_servers, enable_auto_commit=False
    )
    try:
        numbers = sorted(consumer.partitions_for_topic(topic))
        partitions = [TopicPartition(topic, p) for p in numbers]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends: dict[TopicPartition, int] = consumer.end_offsets(partitions)
        seen: Counter[str] = Counter()
        deadline = time.monotonic() + DELIVERY_S
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            assert time.monotonic() < deadline, f"{topic} could not be read to its end"
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    headers = {key: value.decode() for key, value in record.headers}
                    if headers.get("ce_subject") in subjects:
                        seen[headers["ce_id"]] += 1
        return seen
    finally:
        consumer.close()


@pytest.mark.timeout(SCENARIO_TIMEOUT_S, func_only=True)
def test_cases_reported_while_kafka_is_down_are_all_delivered_and_notified_once(
    api: Api,
    infra: LocalInfrastructure,
    platform: RunningPlatform,
    reporter: SteadyReporter,
    report: Callable[[str], None],
) -> None:
    eventually(lambda: reporter.written_since(0) >= LEAD_REPORTS, 30, "the first reports")
    pending_samples: list[int] = []
    down_at = time.monotonic()
    with outage(infra.kafka):
        stopped_s = time.monotonic() - down_at
        while time.monotonic() - down_at < KAFKA_DOWN_S:
            pending_samples.append(api.outbox_pending()["cases"])
            time.sleep(PENDING_SAMPLE_S)
        restarting_at = time.monotonic()
        written_while_down = reporter.written_since(down_at)
    up_at = time.monotonic()
    eventually(lambda: reporter.written_since(up_at) >= TRAIL_REPORTS, 30, "reports after")
    reports = reporter.finish()

    failed = [r for r in reports if r.status != 201]
    assert not failed, f"{len(failed)} of {len(reports)} reports failed, e.g. {failed[0]}"
    cases = [r.case for r in reports if r.case is not None]
    assert {c["state"] for c in cases} == {"dispatched"}
    case_ids = {c["id"] for c in cases}
    # The outbox buffered: its pending count grew while Kafka was away.
    assert written_while_down > 0
    assert pending_samples == sorted(pending_samples)
    assert pending_samples[-1] > pending_samples[0]

    eventually(lambda: api.outbox_pending()["cases"] == 0, DELIVERY_S, "the outbox drained")
    drained_s = time.monotonic() - up_at
    written = events_written(infra, case_ids)
    assert set(written.values()) == case_ids  # each case was written with its events
    on_topic = events_on_topic(infra, CASES_TOPIC, case_ids)
    lost_events = set(written) - set(on_topic)
    topic_duplicates = sum(n - 1 for n in on_topic.values())
    assert not lost_events

    numbers = {c["number"] for c in cases}

    def notices_of_every_case() -> Counter[tuple[str, str]] | None:
        told = Counter(
            (n["variables"]["number"], n["template_code"])
            for n in api.case_notices()
            if n["variables"].get("number") in numbers
        )
        per_case = {(number, code) for number in numbers for code in NOTICES_PER_CASE}
        return told if per_case <= set(told) else None

    told = eventually(notices_of_every_case, DELIVERY_S, "every case's notices", every_s=2)
    notified_s = time.monotonic() - up_at
    expected = len(numbers) * sum(NOTICES_PER_CASE.values())
    notice_duplicates = sum(n - NOTICES_PER_CASE[code] for (_, code), n in told.items())
    notices = [n for n in api.case_notices() if n["variables"].get("number") in numbers]
    assert notice_duplicates == 0
    assert {(n["counts"]["recipients"], n["counts"]["delivered"]) for n in notices} == {(1, 1)}
    assert_every_process_runs(platform)  # relays and consumers rode the outage out

    report(
        f"Kafka stopped in {stopped_s:.1f} s, down {restarting_at - down_at:.0f} s, back after "
        f"{up_at - restarting_at:.1f} s; {REPORTS_PER_S:g} reports/s throughout"
        f"\n  reports: sent {len(reports)}, written {len(cases)} ({written_while_down} while "
        f"Kafka was down), failed {len(failed)}"
        f"\n  cases outbox pending while down: {' → '.join(map(str, pending_samples))}; "
        f"drained {drained_s:.1f} s after Kafka was back"
        f"\n  events: written {len(written)}, delivered {len(set(on_topic))}, duplicates on the "
        f"topic {topic_duplicates} (consumers dedupe by event id), lost {len(lost_events)}"
        f"\n  notifications: expected {expected}, sent {len(notices)} (each to 1 inbox), "
        f"duplicates {notice_duplicates}, lost {expected - len(notices)}; all sent "
        f"{notified_s:.1f} s after Kafka was back"
    )


# --- (b) PostgreSQL restarted under the running platform --------------------------------------


@dataclass(frozen=True)
class Probe:
    """One request through the gateway that needs a service's database."""

    what: str
    method: str
    path: str
    user: str
    body: Callable[[], dict[str, Any]] | None = None

    def send(self, api: Api) -> tuple[httpx.Response | None, float]:
        began = time.monotonic()
        try:
            response = api.call(
                self.method, self.path, self.user, json=self.body() if self.body else None
            )
        except httpx.TimeoutException:
            response = None
        return response, time.monotonic() - began


def meeting_notice() -> dict[str, Any]:
    """A notice to Shibei's grid workers' inboxes (a handful of recipients)."""
    return {
        "kind": "meeting",
        "template_code": "meeting.notice",
        "variables": {"title": "故障演练", "time": "今天", "place": "社区", "content": "请忽略"},
        "audience": {"roles": ["grid-worker"]},
        "channels": ["inbox"],
    }


def probes(building_id: str) -> list[Probe]:
    """A read and a write of every service, and the gateway's own registry."""
    return [
        Probe("census read", "GET", "/residents", "shibei-staff"),
        Probe(
            "census write",
            "POST",
            "/complexes",
            "shibei-staff",
            lambda: {"name": f"故障演练小区 {uuid.uuid4().hex[:6]}"},
        ),
        Probe("grid read", "GET", "/grids", "shibei-staff"),
        Probe(
            "grid write",
            "POST",
            "/visits",
            "shibei-grid",
            lambda: {"building_id": building_id, "findings": "故障演练：走访"},
        ),
        Probe("cases read", "GET", "/cases", "shibei-staff"),
        Probe(
            "cases write",
            "POST",
            "/cases",
            "shibei-resident",
            lambda: stairwell_report(building_id, "故障演练：数据库重启"),
        ),
        Probe("notify read", "GET", "/notices", "shibei-staff"),
        Probe("notify write", "POST", "/notices", "shibei-staff", meeting_notice),
        Probe("inbox read", "GET", "/api/v1/inbox", "shibei-grid"),
        Probe("gateway registry read", "GET", "/api/v1/tenants", "platform"),
    ]


@pytest.mark.timeout(SCENARIO_TIMEOUT_S, func_only=True)
def test_a_postgresql_restart_answers_503_then_the_same_processes_work_again(
    api: Api,
    infra: LocalInfrastructure,
    platform: RunningPlatform,
    covered_building: str,
    report: Callable[[str], None],
) -> None:
    checks = probes(covered_building)
    pids = {p.name: p.popen.pid for p in platform.processes}
    groups_before = api.consumer_groups()
    for probe in checks:
        response, _ = probe.send(api)
        assert response is not None, probe.what
        assert response.status_code in (200, 201), f"{probe.what}: {response.text}"

    down_at = time.monotonic()
    with outage(infra.postgres):
        stopped_s = time.monotonic() - down_at
        # One round: the gateway retries each read for a few seconds before it answers, so the
        # round keeps the database away long enough for every loop to meet the outage too.
        answers = [(probe, *probe.send(api)) for probe in checks]
        restarting_at = time.monotonic()
    up_at = time.monotonic()

    slowest = max(elapsed for _, _, elapsed in answers)
    for probe, response, elapsed in answers:
        assert response is not None, f"{probe.what}: no answer within {ANSWER_BOUND_S * 3:.0f} s"
        assert elapsed < ANSWER_BOUND_S, f"{probe.what} took {elapsed:.1f} s"
        assert_problem(response, 503, "database.unavailable")
        assert response.headers["Retry-After"].isdigit()

    def every_probe_succeeds() -> bool:
        for probe in checks:
            response, _ = probe.send(api)
            if response is None or response.status_code not in (200, 201):
                return False
        return True

    eventually(every_probe_succeeds, RECOVERY_S, "every service answering again", every_s=1)
    recovered_s = time.monotonic() - up_at
    assert {p.name: p.popen.pid for p in platform.processes} == pids
    assert_every_process_runs(platform)

    # Relays publish and consumers go on: a case reported now tells its reporter and worker, a
    # notice composed now is sent by the dispatcher, and every outbox and group catches up.
    case = api.ok(
        "POST", "/cases", "shibei-resident", json=stairwell_report(covered_building, "恢复后")
    )
    eventually(
        lambda: (
            {
                n["template_code"]
                for n in api.case_notices()
                if n["variables"].get("number") == case["number"]
            }
            == set(NOTICES_PER_CASE)
        ),
        RECOVERY_S,
        "the new case's notices",
        every_s=1,
    )
    notice = api.ok("POST", "/notices", json=meeting_notice())
    eventually(
        lambda: api.ok("GET", f"/notices/{notice['id']}")["state"] == "sent",
        RECOVERY_S,
        "the notice sent by the dispatcher",
    )
    eventually(lambda: not any(api.outbox_pending().values()), RECOVERY_S, "every outbox drained")

    def caught_up() -> dict[str, tuple[int, int]] | None:
        groups = api.consumer_groups()
        return None if any(lag for lag, _ in groups.values()) else groups

    groups_after = eventually(caught_up, RECOVERY_S, "every consumer group caught up")
    grown = {
        group: after - groups_before[group][1]
        for group, (_, after) in groups_after.items()
        if group in groups_before
    }
    assert grown["notify"] > 0
    assert grown["grid"] > 0

    by_status = Counter(r.status_code for _, r, _ in answers if r is not None)
    report(
        f"PostgreSQL stopped in {stopped_s:.1f} s, down {restarting_at - down_at:.0f} s, back "
        f"after {up_at - restarting_at:.1f} s"
        f"\n  during the outage: {len(answers)} requests (a read and a write of every service, "
        f"the gateway's registry) answered {dict(by_status)}, each with Retry-After; slowest "
        f"answer {slowest:.1f} s (reads are retried by the gateway first)"
        f"\n  every route answering again {recovered_s:.1f} s after PostgreSQL was back, in the "
        f"same {len(pids)} processes (pids unchanged)"
        f"\n  afterwards: a new case notified its reporter and worker, a notice was sent, every "
        f"outbox drained; events processed since the restart per group: {grown}"
    )
