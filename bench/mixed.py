"""The end-to-end mixed workload: the platform used as a community uses it, for a fixed time.

Concurrent clients (threads of this process) through the gateway, each sending its next request
as soon as the last one answered (a closed loop, no think time: the figures are what the whole
platform sustains on this machine under this mix):

- residents browsing (``shibei-resident``, ``hushan-resident``): their inbox, their cases, the
  complexes and buildings lists of their community;
- whole case lifecycles in Shibei, each step by the person who takes it: the resident reports a
  problem at a building of micro-grid 1 (the router accepts and dispatches it to its leader,
  ``shibei-grid``, in the same request); the grid worker starts and resolves it; the staff
  (``shibei-staff``) verify and close it; the resident rates it;
- staff at the cases board (dispatched cases) and the notices list;
- every NOTICE_EVERY_S an urgent anti-fraud notice to everyone in Shibei's grid 1 (in-app first,
  then e-mail, then SMS), followed until every delivery is final.

Every request is timed at the client; any failure (an error status, a broken connection, a case
not in the state it should be) counts as an error of its operation, and its first words are kept.
Tokens are renewed before they expire (they live five minutes; a soak runs longer). The memory of
every process is read every SAMPLE_S (bench.memory).
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import httpx

from bench.memory import Component, Memory, snapshot
from bench.results import MIB, Figure, Reference
from bench.timing import percentile
from shequ_infra import LocalInfrastructure
from shequ_infra.platform import RunningPlatform

SHIBEI = "xiaoshan.beigan.shibei"
HUSHAN = "xiaoshan.shushan.hushan"
RESIDENTS = (("shibei-resident", SHIBEI), ("hushan-resident", HUSHAN))
PASSWORD = "shequ-demo"
STAIRWELL_CLUTTER = "0103"  # a micro-grid's matter: dispatched to the micro-grid leader
RESIDENT_CLIENTS = 3
LIFECYCLE_CLIENTS = 2
STAFF_CLIENTS = 1
NOTICE_EVERY_S = 10.0
NOTICE_TIMEOUT_S = 120.0
SAMPLE_S = 10.0
PROGRESS_S = 60.0
TIMEOUT_S = 30.0
RENEW_BEFORE_S = 60.0  # renew a token this long before it expires
EXAMPLES = 5  # failures kept per operation, as told


class Tokens:
    """Each demo user's access token, renewed by a fresh login shortly before it expires."""

    def __init__(self, infra: LocalInfrastructure) -> None:
        self._infra = infra
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}

    def headers(self, username: str) -> dict[str, str]:
        with self._lock:
            token, expires = self._tokens.get(username, ("", 0.0))
            if time.monotonic() > expires - RENEW_BEFORE_S:
                granted = self._infra.keycloak.password_grant(username, PASSWORD)
                token = granted["access_token"]
                expires = time.monotonic() + float(granted["expires_in"])
                self._tokens[username] = (token, expires)
        return {"Authorization": f"Bearer {token}"}


@dataclass
class Ledger:
    """Latencies (ms) and failures per operation, from every client thread."""

    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    lifecycles: list[float] = field(default_factory=list)  # seconds, report → rated
    fan_outs: list[float] = field(default_factory=list)  # seconds, created → every delivery final
    recipients: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, operation: str, send: Callable[[], httpx.Response]) -> Any:
        """Send, time and check one request; its JSON answer (None for no body), or raise
        OperationFailedError after counting the failure."""
        began = time.perf_counter()
        try:
            response = send()
        except httpx.HTTPError as error:
            self.fail(operation, f"{type(error).__name__}: {error}")
        took = (time.perf_counter() - began) * 1000
        if not response.is_success:
            self.fail(operation, f"{response.status_code} {response.text[:300]}")
        with self._lock:
            self.samples[operation].append(took)
        return response.json() if response.content else None

    def fail(self, operation: str, what: str) -> NoReturn:
        self.count(operation, what)
        raise OperationFailedError(operation)

    def count(self, operation: str, what: str) -> None:
        with self._lock:
            self.errors[operation] += 1
            if len(self.examples[operation]) < EXAMPLES:
                self.examples[operation].append(what)

    def progress(self) -> str:
        with self._lock:
            done = sum(len(s) for s in self.samples.values())
            return (
                f"{done:,} requests, {sum(self.errors.values()):,} errors, "
                f"{len(self.lifecycles):,} lifecycles, {len(self.fan_outs):,} notices"
            )

    def add(self, into: list[Any], value: Any) -> None:
        with self._lock:
            into.append(value)


class OperationFailedError(Exception):
    """An operation failed; the ledger has counted it."""


@dataclass(frozen=True)
class Shibei:
    buildings: list[str]  # covered by micro-grid 1 of grid 1, led by shibei-grid
    grid_id: str


def shibei(platform: RunningPlatform, tokens: Tokens) -> Shibei:
    """Where the lifecycles' cases are reported and whom the notices go to."""
    with httpx.Client(
        base_url=f"{platform.gateway_url}/api/v1/tenants/{SHIBEI}",
        headers=tokens.headers("shibei-staff"),
        timeout=TIMEOUT_S,
    ) as staff:
        grids = staff.get("/grids").raise_for_status().json()["items"]
        first = next(g for g in grids if g["number"] == 1)
        grid = staff.get(f"/grids/{first['id']}").raise_for_status().json()
        micro = next(m for m in grid["micro_grids"] if m["number"] == 1)
        covered = staff.get(
            f"/grids/{first['id']}/buildings", params={"micro_grid_id": micro["id"]}
        ).raise_for_status()
    buildings = [b["building_id"] for b in covered.json()["items"]]
    if not buildings:
        raise RuntimeError("the demo seed covers buildings by Shibei's micro-grid 1")
    return Shibei(buildings=buildings, grid_id=first["id"])


@dataclass
class Outcome:
    seconds: float
    ledger: Ledger
    # (seconds since the start, memory of every component); the first before any load.
    memory: list[tuple[float, dict[str, Memory]]]

    @property
    def error_count(self) -> int:
        return sum(self.ledger.errors.values())

    def operations(self) -> list[str]:
        return sorted(set(self.ledger.samples) | set(self.ledger.errors))


class Workload:
    def __init__(
        self, infra: LocalInfrastructure, platform: RunningPlatform, measured: list[Component]
    ) -> None:
        self.api = f"{platform.gateway_url}/api/v1"
        self.tokens = Tokens(infra)
        self.places = shibei(platform, self.tokens)
        self.measured = measured
        self.ledger = Ledger()
        self.stop = threading.Event()

    def run(self, seconds: float) -> Outcome:
        memory = [(0.0, snapshot(self.measured))]
        loops: list[tuple[Callable[[httpx.Client, int], None], int]] = [
            (self.resident, RESIDENT_CLIENTS),
            (self.lifecycle, LIFECYCLE_CLIENTS),
            (self.staff, STAFF_CLIENTS),
            (self.notices, 1),
        ]
        threads = [
            threading.Thread(target=self._client, args=(loop, n), name=f"{loop.__name__}-{n}")
            for loop, count in loops
            for n in range(count)
        ]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        told = 0.0
        while (elapsed := time.monotonic() - began) < seconds:
            self.stop.wait(min(SAMPLE_S, seconds - elapsed))
            memory.append((time.monotonic() - began, snapshot(self.measured)))
            if memory[-1][0] - told >= PROGRESS_S:  # a long run shows it is alive
                told = memory[-1][0]
                print(f"mixed workload: {told:,.0f} s, {self.ledger.progress()}", flush=True)
        self.stop.set()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
        memory.append((elapsed, snapshot(self.measured)))
        return Outcome(seconds=elapsed, ledger=self.ledger, memory=memory)

    def _client(self, loop: Callable[[httpx.Client, int], None], number: int) -> None:
        with httpx.Client(base_url=self.api, timeout=TIMEOUT_S) as client:
            while not self.stop.is_set():
                try:
                    loop(client, number)
                except OperationFailedError:
                    pass  # counted; the client carries on as a person would
                except (KeyError, TypeError, ValueError) as error:  # an answer of another shape
                    self.ledger.count(f"{loop.__name__}: unexpected answer", repr(error))

    def _headers(self, user: str) -> dict[str, str]:
        try:
            return self.tokens.headers(user)
        except httpx.HTTPError as error:
            self.ledger.fail("login (Keycloak password grant)", f"{type(error).__name__}: {error}")

    def _get(
        self, client: httpx.Client, operation: str, user: str, path: str, **params: Any
    ) -> Any:
        headers = self._headers(user)
        return self.ledger.call(operation, lambda: client.get(path, params=params, headers=headers))

    def _post(
        self, client: httpx.Client, operation: str, user: str, path: str, body: Mapping[str, Any]
    ) -> Any:
        headers = self._headers(user)
        return self.ledger.call(operation, lambda: client.post(path, json=body, headers=headers))

    # -- the clients' loops: one round each --

    def resident(self, client: httpx.Client, number: int) -> None:
        user, tenant = RESIDENTS[number % len(RESIDENTS)]
        self._get(client, "resident: GET inbox", user, "/inbox", limit=20)
        self._get(client, "resident: GET own cases", user, f"/tenants/{tenant}/cases", page_size=20)
        self._get(client, "resident: GET complexes", user, f"/tenants/{tenant}/complexes")
        self._get(
            client, "resident: GET buildings", user, f"/tenants/{tenant}/buildings", page_size=50
        )

    def staff(self, client: httpx.Client, _: int) -> None:
        cases = f"/tenants/{SHIBEI}/cases"
        self._get(client, "staff: GET cases board", "shibei-staff", cases, state="dispatched")
        self._get(client, "staff: GET notices", "shibei-staff", f"/tenants/{SHIBEI}/notices")

    def lifecycle(self, client: httpx.Client, number: int) -> None:
        rng = random.Random(number * 7919 + time.monotonic_ns())
        began = time.monotonic()
        case = self._post(
            client,
            "case: report (resident; routed and dispatched)",
            "shibei-resident",
            f"/tenants/{SHIBEI}/cases",
            {
                "category_code": STAIRWELL_CLUTTER,
                "title": "楼道堆放杂物",
                "description": "压测：楼道里堆了纸箱和旧家具，影响通行",
                "place": {"building_id": rng.choice(self.places.buildings)},
            },
        )
        if case["state"] != "dispatched":
            self.ledger.fail("case: report (resident; routed and dispatched)", str(case)[:300])
        steps: list[tuple[str, str, dict[str, Any]]] = [
            ("shibei-grid", "start", {}),
            ("shibei-grid", "resolve", {"note": "已清理楼道，拍照留存"}),
            ("shibei-staff", "verify", {}),
            ("shibei-staff", "close", {}),
            ("shibei-resident", "rate", {"rating": "satisfied"}),
        ]
        for user, action, extra in steps:
            answer = self._post(
                client,
                f"case: {action} ({user.removeprefix('shibei-')})",
                user,
                f"/tenants/{SHIBEI}/cases/{case['id']}/actions",
                {"action": action, "expected_version": case["version"], **extra},
            )
            case = answer["case"]
        if case["state"] != "rated":
            self.ledger.fail("case: rate (resident)", f"ended {case['state']}, not rated")
        self.ledger.add(self.ledger.lifecycles, time.monotonic() - began)

    def notices(self, client: httpx.Client, _: int) -> None:
        began = time.monotonic()
        notice = self._post(
            client,
            "notice: create (staff, grid 1)",
            "shibei-staff",
            f"/tenants/{SHIBEI}/notices",
            {
                "template_code": "anti_fraud.alert",
                "variables": {"title": "警惕冒充客服退款诈骗", "content": "退款不会要求您转账。"},
                "audience": {"grid_ids": [self.places.grid_id]},
                "channels": ["inbox", "email", "sms"],
                "urgent": True,  # quiet hours never hold it, whatever the time of the run
            },
        )
        created = time.monotonic()
        while notice["state"] != "sent":
            if time.monotonic() - created > NOTICE_TIMEOUT_S:
                self.ledger.fail("notice: every delivery final", str(notice["counts"]))
            time.sleep(0.2)
            notice = self._get(
                client,
                "notice: GET while sending (staff)",
                "shibei-staff",
                f"/tenants/{SHIBEI}/notices/{notice['id']}",
            )
        self.ledger.add(self.ledger.fan_outs, time.monotonic() - created)
        self.ledger.add(self.ledger.recipients, int(notice["counts"]["recipients"]))
        self.stop.wait(max(0.0, NOTICE_EVERY_S - (time.monotonic() - began)))


def run(
    infra: LocalInfrastructure,
    platform: RunningPlatform,
    measured: list[Component],
    seconds: float,
) -> Outcome:
    return Workload(infra, platform, measured).run(seconds)


def figures(outcome: Outcome) -> list[Figure]:
    """Per operation: throughput, p50/p99 and errors; whole lifecycles and notices."""
    ledger, seconds = outcome.ledger, outcome.seconds
    found = [
        Figure(
            operation,
            len(ledger.samples[operation]) / seconds,
            "req/s",
            p50_ms=percentile(ledger.samples[operation], 0.5) if ledger.samples[operation] else 0,
            p99_ms=percentile(ledger.samples[operation], 0.99) if ledger.samples[operation] else 0,
            requests=len(ledger.samples[operation]) + ledger.errors[operation],
            errors=ledger.errors[operation],
        )
        for operation in outcome.operations()
    ]
    if ledger.lifecycles:
        lifecycles = [s * 1000 for s in ledger.lifecycles]
        found.append(
            Figure(
                "whole case lifecycles (report → start → resolve → verify → close → rate)",
                len(lifecycles) / seconds,
                "lifecycles/s",
                p50_ms=percentile(lifecycles, 0.5),
                p99_ms=percentile(lifecycles, 0.99),
            )
        )
    if ledger.fan_outs:
        fan_outs = [s * 1000 for s in ledger.fan_outs]
        people = max(ledger.recipients)
        found.append(
            Figure(
                f"notices to grid 1 ({people:,} people): created → every delivery final",
                len(fan_outs) / seconds,
                "notices/s",
                p50_ms=percentile(fan_outs, 0.5),
                p99_ms=percentile(fan_outs, 0.99),
            )
        )
    found.append(Figure("errors, every operation (target 0)", outcome.error_count, ""))
    return found


def memory_figures(outcome: Outcome) -> list[Figure]:
    """Every component's resident memory at the end, next to its memory at the start."""
    first, last = outcome.memory[0][1], outcome.memory[-1][1]
    return [
        Figure(
            f"resident memory at the end: {label}",
            last[label].resident / MIB,
            "MiB",
            reference=Reference("at the start", first[label].resident / MIB),
        )
        for label in first
        if label in last
    ]


def failures(outcome: Outcome) -> list[str]:
    """What went wrong, per operation, in the words the platform answered with."""
    return [
        f"{operation}: {outcome.ledger.errors[operation]} failed, e.g. "
        + " | ".join(outcome.ledger.examples[operation])
        for operation in outcome.operations()
        if outcome.ledger.errors[operation]
    ]
