"""A platform process killed mid-request, and Keycloak stopped, against the real platform.

``cases serve`` killed with SIGKILL under steady traffic and started again: what the dead
service cannot do is answered 503 problem+json with ``Retry-After`` (never 500/502, never a
hang); a GET issued while it is down is retried by the gateway and answered once it is back; a
write is never retried by the gateway, and the crash leaves no half-written case — each one the
caller repeats with its ``Idempotency-Key`` exists exactly once.

Keycloak stopped: tokens already issued keep working at the gateway and in the services (cached
signing keys), a token naming an unknown key is refused with 401, logins fail with a clear
message, the routes that change Keycloak answer 503 and leave nothing half-done, the rest of
the platform works on; after Keycloak is back on the same port and data, all of it works again.

Like every fault module, this one runs on infrastructure and a platform of its own (module
scope): its faults must not reach other modules.
"""

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shequ_infra import LocalInfrastructure
from shequ_infra.forged_tokens import claims_of
from shequ_infra.platform import RunningPlatform, running_platform
from shequ_infra.processes import ManagedProcess
from shequ_infra.rest_checks import assert_problem, auth
from shequ_infra.stack import outage

pytestmark = [pytest.mark.platform, pytest.mark.faults]

SHIBEI = "xiaoshan.beigan.shibei"
BEIGAN = "xiaoshan.beigan"
PASSWORD = "shequ-demo"
STAIRWELL_CLUTTER = "0103"  # 楼道堆积物: dispatched to the micro-grid leader
TITLE_PREFIX = "故障演练"
ENVIRONMENT = {
    # Several threads call without pause: the rate limits are not what this module tests.
    "GATEWAY_RATE_LIMIT_USER_PER_S": "0",
    "GATEWAY_RATE_LIMIT_TENANT_PER_S": "0",
    # A Python service takes several seconds to start on a loaded 2-core machine, so GETs are
    # retried for up to 25 s (of a 30 s deadline) here to outlast the restart; deployments keep
    # 3 s of 5 s, which covers a quick restart of one replica.
    "GATEWAY_GRPC_TIMEOUT_S": "30",
    "GATEWAY_GRPC_READ_RETRY_BUDGET_S": "25",
}
# Far above any answer, deadline and retries included: reaching it means the gateway hung.
HUNG_S = 60.0


@pytest.fixture(scope="module")
def platform(infra: LocalInfrastructure) -> Iterator[RunningPlatform]:
    """The platform on this module's infrastructure (tests/faults/conftest.py), with the
    gateway's read retries outlasting a restart."""
    with running_platform(infra, environment=ENVIRONMENT) as running:
        yield running


def login(infra: LocalInfrastructure, username: str) -> str:
    token: str = infra.keycloak.password_grant(username, PASSWORD)["access_token"]
    return token


def in_shibei(path: str) -> str:
    return f"/api/v1/tenants/{SHIBEI}{path}"


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float) -> float:
    """Poll ``condition``; the moment it held (monotonic), or fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout_s:.0f} s: {what}"
        time.sleep(0.05)
    return time.monotonic()


def covered_building(gateway: httpx.Client, staff: str) -> str:
    """A building of micro-grid 1 of grid 1 in Shibei's demo layout, led by shibei-grid: a
    case reported there is routed through grid's WhoCovers and dispatched to that account."""

    def get(path: str, **params: str) -> Any:
        response = gateway.get(in_shibei(path), params=params, headers=auth(staff))
        assert response.status_code == 200, response.text
        return response.json()

    grid = next(g for g in get("/grids")["items"] if g["number"] == 1)
    micro_grid = next(m for m in get(f"/grids/{grid['id']}")["micro_grids"] if m["number"] == 1)
    covered = get(f"/grids/{grid['id']}/buildings", micro_grid_id=micro_grid["id"])["items"]
    assert covered, "the demo layout leaves micro-grid 1 of grid 1 without buildings"
    return str(covered[0]["building_id"])


def report_case(gateway: httpx.Client, token: str, building: str, key: str) -> httpx.Response:
    return gateway.post(
        in_shibei("/cases"),
        headers={**auth(token), "Idempotency-Key": key},
        json={
            "category_code": STAIRWELL_CLUTTER,
            "title": f"{TITLE_PREFIX} {key}",
            "place": {"building_id": building},
        },
    )


def listens(target: str) -> Callable[[], bool]:
    host, _, port = target.rpartition(":")

    def check() -> bool:
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return True
        except OSError:
            return False

    return check


# ---- a service killed mid-request --------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    route: str  # "cases read", "census read" or "cases write"
    key: str  # a write's Idempotency-Key
    started: float  # monotonic
    seconds: float
    status: int  # 0: no answer within HUNG_S (or the connection failed)
    content_type: str = ""
    retry_after: str | None = None
    code: str | None = None


@dataclass
class Traffic:
    """Staff reading cases and the census and a resident reporting cases, from threads, until
    stopped; every answer is kept, and which writes are in flight at any moment."""

    gateway_url: str
    staff: str
    resident: str
    building: str
    answers: list[Answer] = field(default_factory=list)
    in_flight: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    @contextlib.contextmanager
    def running(self, *, readers: int = 2, writers: int = 2) -> Iterator[None]:
        loops = [self._read_cases] * readers + [self._read_census] + [self._write] * writers
        with ThreadPoolExecutor(max_workers=len(loops)) as pool:
            futures = [pool.submit(loop) for loop in loops]
            try:
                yield
            finally:
                self._stop.set()
                for future in futures:
                    future.result(timeout=HUNG_S + 10)

    def count(self, route: str, status: int, *, since: float = 0.0) -> int:
        with self._lock:
            return sum(
                1
                for a in self.answers
                if (a.route, a.status) == (route, status) and a.started >= since
            )

    def writes_in_flight(self) -> set[str]:
        with self._lock:
            return set(self.in_flight)

    def _call(
        self, client: httpx.Client, route: str, key: str, send: Callable[[], httpx.Response]
    ) -> Answer:
        started = time.monotonic()
        try:
            response = send()
        except httpx.HTTPError:
            answer = Answer(route, key, started, time.monotonic() - started, 0)
        else:
            code = None
            if response.headers.get("content-type", "").startswith("application/problem+json"):
                code = response.json().get("code")
            answer = Answer(
                route,
                key,
                started,
                time.monotonic() - started,
                response.status_code,
                response.headers.get("content-type", ""),
                response.headers.get("retry-after"),
                code,
            )
        with self._lock:
            self.answers.append(answer)
        return answer

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.gateway_url, timeout=HUNG_S)

    def _read_cases(self) -> None:
        with self._client() as client:
            while not self._stop.is_set():
                self._call(
                    client,
                    "cases read",
                    "",
                    lambda: client.get(
                        in_shibei("/cases"), params={"page_size": 20}, headers=auth(self.staff)
                    ),
                )

    def _read_census(self) -> None:
        with self._client() as client:
            while not self._stop.is_set():
                self._call(
                    client,
                    "census read",
                    "",
                    lambda: client.get(in_shibei("/complexes"), headers=auth(self.staff)),
                )
                time.sleep(0.1)

    def _write(self) -> None:
        with self._client() as client:
            while not self._stop.is_set():
                key = f"fault-{uuid.uuid4().hex}"
                with self._lock:
                    self.in_flight.add(key)
                try:
                    answer = self._call(
                        client,
                        "cases write",
                        key,
                        partial(report_case, client, self.resident, self.building, key),
                    )
                finally:
                    with self._lock:
                        self.in_flight.discard(key)
                if answer.status != 201:
                    time.sleep(0.2)  # as a person would before reporting the next case


@dataclass(frozen=True)
class StoredCase:
    key: str
    state: str
    timeline_entries: int
    last_timeline_state: str | None
    reported_events: int


def stored_cases(infra: LocalInfrastructure) -> dict[str, StoredCase]:
    """This test's cases as the cases database holds them, with their timeline and events."""
    with psycopg.connect(infra.postgres.superuser_dsn("cases")) as connection:
        rows = connection.execute(
            """
            SELECT c.idempotency_key, c.state,
                   (SELECT count(*) FROM timeline t WHERE t.case_id = c.id),
                   (SELECT t.to_state FROM timeline t WHERE t.case_id = c.id
                     ORDER BY t.seq DESC LIMIT 1),
                   (SELECT count(*) FROM outbox o WHERE o.aggregate_id = c.id::text
                      AND o.event_type = 'shequ.cases.v1.CaseReported')
              FROM cases c
             WHERE c.tenant_id = %s AND c.idempotency_key LIKE 'fault-%%'
            """,
            (SHIBEI,),
        ).fetchall()
    return {row[0]: StoredCase(*row) for row in rows}


def test_service_killed_mid_request_answers_503_retries_reads_and_leaves_no_half_written_case(
    infra: LocalInfrastructure, platform: RunningPlatform, report: Callable[[str], None]
) -> None:
    began = time.monotonic()
    staff, resident = login(infra, "shibei-staff"), login(infra, "shibei-resident")
    gateway = httpx.Client(base_url=platform.gateway_url, timeout=HUNG_S)
    traffic = Traffic(platform.gateway_url, staff, resident, covered_building(gateway, staff))

    with traffic.running():
        wait_until(
            lambda: (
                traffic.count("cases write", 201) >= 5 and traffic.count("cases read", 200) >= 5
            ),
            "steady traffic before the fault",
            120,
        )
        wait_until(lambda: bool(traffic.writes_in_flight()), "a write in flight", 30)
        in_flight_at_kill = traffic.writes_in_flight()
        platform.process("cases serve").kill()
        killed_at = time.monotonic()
        wait_until(
            lambda: traffic.count("cases write", 503, since=killed_at) >= 3,
            "writes answered 503 while cases is down",
            60,
        )
        # The service is surely down now: a GET issued before it is started again is retried
        # by the gateway until the new process answers it.
        with ThreadPoolExecutor(max_workers=1) as probe_pool:
            probe_started = time.monotonic()
            probe = probe_pool.submit(
                gateway.get, in_shibei("/cases"), params={"page_size": 5}, headers=auth(staff)
            )
            restarted: ManagedProcess = platform.restart("cases serve")
            back_at = wait_until(listens(platform.cases_target), "cases serve listening again", 120)
            probe_answer = probe.result(timeout=HUNG_S)
            probe_seconds = time.monotonic() - probe_started
        wait_until(
            lambda: traffic.count("cases write", 201, since=back_at) >= 3,
            "writes succeeding after the restart",
            60,
        )
    assert restarted.running

    assert probe_answer.status_code == 200, probe_answer.text
    answers = traffic.answers
    hung = [a for a in answers if a.status == 0]
    assert not hung, f"{len(hung)} requests got no answer within {HUNG_S:.0f} s"
    reads = [a for a in answers if a.route.endswith("read")]
    assert {a.status for a in reads} == {200}, "a GET failed although the service came back"
    writes = [a for a in answers if a.route == "cases write"]
    assert {a.status for a in writes} <= {201, 503}
    refused = [a for a in writes if a.status == 503]
    for answer in refused:
        assert answer.content_type.startswith("application/problem+json")
        assert answer.retry_after
        assert answer.code == "service.unavailable"

    # Nothing half-written: every case the crash left has its report on the timeline, its
    # state where the timeline ends, and its CaseReported event in the outbox.
    stored = stored_cases(infra)
    for case in stored.values():
        assert case.timeline_entries >= 1, case
        assert case.last_timeline_state == case.state, case
        assert case.reported_events == 1, case
    created = {a.key for a in writes if a.status == 201}
    assert created <= set(stored), "a case answered 201 is missing"
    committed_before_crash = {a.key for a in refused} & set(stored)

    # The caller repeats each refused report with its key: each is then stored exactly once.
    replayed = [report_case(gateway, resident, traffic.building, a.key) for a in refused]
    assert {r.status_code for r in replayed} <= {200, 201}
    stored_after = stored_cases(infra)
    assert set(stored_after) == {a.key for a in writes}
    timeline = gateway.get(
        in_shibei(f"/cases/{replayed[-1].json()['id']}/timeline"), headers=auth(staff)
    )
    assert timeline.status_code == 200
    assert timeline.json()["items"][0]["action"] == "report"
    gateway.close()

    cases_reads = [a for a in reads if a.route == "cases read"]
    reads_cut = [a for a in cases_reads if a.started < killed_at < a.started + a.seconds]
    writes_cut = [a for a in writes if a.key in in_flight_at_kill]
    report(
        f"killed `cases serve` (SIGKILL) with {len(reads_cut)} read(s) and {len(writes_cut)} "
        f"write(s) in flight (those writes: {sum(a.status == 201 for a in writes_cut)} answered "
        f"201, {sum(a.status == 503 for a in writes_cut)} answered 503); it listened again "
        f"{back_at - killed_at:.1f} s after the kill"
    )
    report(
        f"reads: {len(cases_reads)} of cases and {len(reads) - len(cases_reads)} of the census, "
        f"all answered 200 (the slowest, retried by the gateway across the restart, after "
        f"{max(a.seconds for a in cases_reads):.1f} s); a GET issued while cases was down "
        f"answered 200 after {probe_seconds:.1f} s"
    )
    report(
        f"writes: {len(writes)} sent, {len(created)} answered 201, {len(refused)} answered 503 "
        f"problem+json with Retry-After (slowest {max(a.seconds for a in refused):.2f} s), "
        f"none retried by the gateway; of the 503s {len(committed_before_crash)} had committed "
        f"whole before the crash and {len(refused) - len(committed_before_crash)} not at all"
    )
    report(
        f"after repeating the 503s with their Idempotency-Key: {len(stored_after)} cases for "
        f"{len({a.key for a in writes})} keys, 0 duplicates, 0 lost, 0 half-written "
        f"(scenario: {time.monotonic() - began:.0f} s)"
    )


# ---- Keycloak stopped --------------------------------------------------------------------


def token_with_unknown_key(real_token: str) -> str:
    """The real token's claims signed by a key the realm never published (as after a key
    rotation the gateway has not seen)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(
        claims_of(real_token), key, algorithm="RS256", headers={"kid": "rotated-away"}
    )


def shequctl(
    *args: str, config_home: Path, token: str | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(config_home)}
    env.pop("SHEQUCTL_TOKEN", None)
    if token is not None:
        env["SHEQUCTL_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "shequctl", "--timeout", "30", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=HUNG_S,
        check=False,
    )


def keycloak_admin_get(infra: LocalInfrastructure, path: str, **params: str) -> httpx.Response:
    return httpx.get(
        f"{infra.keycloak.url}/admin/realms/shequ{path}",
        params=params,
        headers=auth(infra.keycloak.master_admin_token()),
        timeout=30,
    )


def test_keycloak_stopped_keeps_issued_tokens_working_and_refuses_identity_changes_cleanly(
    infra: LocalInfrastructure,
    platform: RunningPlatform,
    report: Callable[[str], None],
    tmp_path: Path,
) -> None:
    began = time.monotonic()
    staff, grid_worker = login(infra, "shibei-staff"), login(infra, "shibei-grid")
    street_admin = login(infra, "beigan-admin")
    slug = f"fault{uuid.uuid4().hex[:6]}"
    community, username = f"{BEIGAN}.{slug}", f"fault-{slug}"
    new_member = {
        "username": username,
        "display_name": "故障演练",
        "role": "resident",
        "initial_password": "fault-drill-2026",
    }
    onboard = ["tenants", "onboard", community, "--name-zh", "演练社区", "--name-en", "Drill"]
    cli_gateway = ["--gateway", platform.gateway_url]
    answered: list[tuple[str, int]] = []  # (what, status) of every request, in order
    gateway = httpx.Client(base_url=platform.gateway_url, timeout=HUNG_S)

    def call(what: str, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        response = gateway.request(method, path, headers=auth(token), **kwargs)
        answered.append((what, response.status_code))
        return response

    building = covered_building(gateway, staff)
    # A running platform: every service has verified tokens (and cached the realm's keys).
    for path in ("/complexes", "/grids", "/cases"):
        assert call("warm-up", "GET", in_shibei(path), staff).status_code == 200
    assert call("warm-up", "GET", "/api/v1/inbox", grid_worker).status_code == 200

    outage_began = time.monotonic()
    with outage(infra.keycloak):
        stopped_at, first_while_down = time.monotonic(), len(answered)
        assert not listens(f"127.0.0.1:{infra.keycloak.port}")()

        # Issued tokens keep working at the gateway and in every service, reads and writes.
        assert call("me", "GET", "/api/v1/me", staff).status_code == 200
        assert call("census read", "GET", in_shibei("/complexes"), staff).status_code == 200
        created_complex = call(
            "census write", "POST", in_shibei("/complexes"), staff, json={"name": f"演练苑{slug}"}
        )
        assert created_complex.status_code == 201, created_complex.text
        assert call("grid read", "GET", in_shibei("/grids"), staff).status_code == 200
        visit = call(
            "grid write",
            "POST",
            in_shibei("/visits"),
            grid_worker,
            json={"building_id": building, "findings": "楼道畅通"},
        )
        assert visit.status_code == 201, visit.text
        case = report_case(gateway, staff, building, f"fault-{slug}")
        answered.append(("cases write", case.status_code))
        assert case.status_code == 201, case.text
        assert (
            call("cases read", "GET", in_shibei(f"/cases/{case.json()['id']}"), staff).status_code
            == 200
        )

        # The case's events travel Kafka → notify as usual: whoever it went to finds it in an
        # inbox (its micro-grid leader's own; the staff's shared one if it waits in the community
        # queue, as when grid could not be asked).
        found: list[tuple[str, str]] = []

        def message_arrived() -> bool:
            for token in (grid_worker, staff):
                inbox = call("notify read", "GET", "/api/v1/inbox", token)
                assert inbox.status_code == 200, inbox.text
                items = inbox.json()["items"]
                found[:] = [(token, m["id"]) for m in items if m["case_id"] == case.json()["id"]]
                if found:
                    return True
            return False

        wait_until(message_arrived, "the case message in an inbox", 90)
        reader, message_id = found[0]
        marked = call(
            "notify write", "POST", "/api/v1/inbox/read", reader, json={"message_ids": [message_id]}
        )
        assert marked.status_code == 200, marked.text
        assert marked.json()["marked"] == 1

        # A token naming a key nobody can fetch now: refused, not a failure of ours.
        forged_sent = time.monotonic()
        forged = call("unknown key", "GET", "/api/v1/me", token_with_unknown_key(staff))
        forged_seconds = time.monotonic() - forged_sent
        assert_problem(forged, 401)

        # What needs Keycloak is refused whole, with a clear code, and may be repeated later.
        onboarding = call(
            "onboard",
            "POST",
            "/api/v1/tenants",
            street_admin,
            json={"id": community, "name_zh": "演练社区", "name_en": "Drill"},
        )
        assert_problem(onboarding, 503, "gateway.directory_unavailable")
        assert onboarding.headers["retry-after"]
        assert_problem(call("registry", "GET", f"/api/v1/tenants/{community}", street_admin), 404)
        member = call("member", "POST", in_shibei("/members"), staff, json=new_member)
        assert_problem(member, 503, "gateway.directory_unavailable")
        assert member.headers["retry-after"]
        assert_problem(call("members", "GET", in_shibei("/members"), staff), 503)

        # Logins fail with words a person understands; so does the CLI's onboarding.
        failed_login = shequctl(
            "login",
            "--issuer",
            infra.keycloak.issuer,
            "--username",
            "shibei-staff",
            "--password-stdin",
            config_home=tmp_path,
            stdin=PASSWORD + "\n",
        )
        assert failed_login.returncode == 3, failed_login.stderr
        assert "无法连接登录服务" in failed_login.stderr
        assert "cannot reach the issuer" in failed_login.stderr
        failed_onboard = shequctl(*cli_gateway, *onboard, config_home=tmp_path, token=street_admin)
        assert failed_onboard.returncode == 3, failed_onboard.stderr
        assert "gateway.directory_unavailable, HTTP 503" in failed_onboard.stderr

        # The console's settings and the gateway's readiness do not depend on Keycloak.
        assert call("console", "GET", "/console/config.json", staff).status_code == 200
        ready = call("readyz", "GET", "/readyz", staff)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["keycloak_jwks"].startswith("cached")
        checked_for = time.monotonic() - stopped_at
        while_down = answered[first_while_down:]
    down_for = time.monotonic() - outage_began

    # Keycloak is back on its port with its data: the refused changes left nothing behind.
    assert keycloak_admin_get(infra, "/users", username=username, exact="true").json() == []
    assert (
        keycloak_admin_get(infra, f"/group-by-path/{community.replace('.', '/')}").status_code
        == 404
    )

    relogin = shequctl(
        "login",
        "--issuer",
        infra.keycloak.issuer,
        "--username",
        "shibei-staff",
        "--password-stdin",
        config_home=tmp_path,
        stdin=PASSWORD + "\n",
    )
    assert relogin.returncode == 0, relogin.stderr
    assert call("me (issued before)", "GET", "/api/v1/me", staff).status_code == 200
    assert (
        call("me (issued after)", "GET", "/api/v1/me", login(infra, "shibei-staff")).status_code
        == 200
    )
    onboarded = shequctl(*cli_gateway, *onboard, config_home=tmp_path, token=street_admin)
    assert onboarded.returncode == 0, onboarded.stderr
    assert (
        call("registry after", "GET", f"/api/v1/tenants/{community}", street_admin).status_code
        == 200
    )
    created = call("member after", "POST", in_shibei("/members"), staff, json=new_member)
    assert created.status_code == 201, created.text
    listed = call("members after", "GET", in_shibei("/members"), staff).json()["items"]
    assert [m["username"] for m in listed].count(username) == 1
    after = answered[first_while_down + len(while_down) :]
    assert all(200 <= status < 300 for _, status in after), after
    gateway.close()

    assignee = "shibei-grid" if reader == grid_worker else "the community queue"
    report(
        f"Keycloak down {down_for:.0f} s (stop, {checked_for:.0f} s of checks, start again on "
        f"its port and data); the case reported meanwhile went to {assignee}"
    )
    by_status = Counter(status for _, status in while_down)
    tally = ", ".join(f"{n}× {status}" for status, n in sorted(by_status.items()))
    report(
        f"{len(while_down)} requests while down ({tally}): "
        + ", ".join(f"{what} {status}" for what, status in dict(while_down).items())
    )
    report(
        f"while down: issued tokens worked at the gateway and in census, grid, cases and notify; "
        f"a token with an unknown key was 401 after {forged_seconds:.2f} s; onboarding and member "
        "changes 503 gateway.directory_unavailable with Retry-After; shequctl login and onboard "
        "exited 3 with bilingual messages; 0 Keycloak users, 0 groups, 0 registry rows left "
        "behind; after: login, issued and new tokens, onboarding and members work "
        f"({len(after)} requests, all 2xx; scenario: {time.monotonic() - began:.0f} s)"
    )
