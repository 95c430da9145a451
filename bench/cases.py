"""Cases at scale: a million cases in 100 communities, then reporting, listing and whole
lifecycles through the gateway.

Load: 10,000 cases in each of 100 communities: Hushan, with its real buildings and the members
grid's WhoCovers names for them, and 99 synthetic ones under xiaoshan.bench (no registry rows:
nothing reads them through the gateway here; they make the table and its indexes a million
rows deep). Each case is planned as a year of a community's work would produce it: reported
over the last twelve months (office hours mostly, fewer at weekends), categories weighted like
a real intake, located cases routed at once and unlocated ones accepted by staff (a few
rejected or withdrawn), deadlines from the category's SLA in working time (cases.sla, the 2026
holiday table), handling mostly on time, some late and escalated one rung per handling period
as the scheduler does, a few extended, sent back, merged or reopened after an unsatisfied
rating; whatever would happen after now is left out, so open, overdue, resolved, closed and
rated cases stand as they would today, with the scheduler's next watch in the future. Every
step is on the case's timeline (about seven lines a case), numbers run per community and day,
and case_number holds each day's last number so new reports continue the sequence. Rows go in
with COPY as the database superuser, which bypasses row-level security: a loader's privilege,
never a service's. The secondary indexes are dropped for the copy and rebuilt after it (their
definitions read back from the catalogue), then ANALYZE; the load rate counts all of it.

Through the gateway as `make run` starts it (real tokens; the cases service's routing asking
grid's WhoCovers; the outbox relayed to Kafka; grid's consumer, the cases scheduler running),
each request timed at the client as Hushan's staff: p50/p99 of reporting a case at a Hushan
building, and of three filtered lists (dispatched cases of one category; the last 30 days;
one category's closed and rated cases), after a warm-up. Then whole lifecycles: N clients,
each looping create (the router accepts and dispatches) → resolve → verify → close → list for
LIFECYCLE_SECONDS per concurrency; completed lifecycles / elapsed. Staff may take handling
actions, so one account does every step; reports use the classes below street level, which
Hushan's staff may handle. The clients are threads of this process, on the same two cores.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import random
import statistics
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import grpc
import httpx
import psycopg

from bench.results import Figure
from bench.storage import bytes_per_record
from bench.timing import percentile
from cases.catalogue import DEFAULT_CATALOGUE, CategoryDef
from cases.lifecycle import Level
from cases.models import CaseNumber, CaseRow, TimelineRow
from cases.routing import Assignment, assignment_at, queue
from cases.sla import SHANGHAI, DeadlineUnit, WorkingCalendar
from shequ.grid.v1 import grid_pb2 as gpb
from shequ.grid.v1 import grid_pb2_grpc
from shequ_infra import LocalInfrastructure
from shequ_infra.platform import RunningPlatform

HUSHAN = "xiaoshan.shushan.hushan"
BENCH_STREET = "xiaoshan.bench"
TENANTS = (HUSHAN, *(f"{BENCH_STREET}.c{n:03d}" for n in range(1, 100)))
CASES_PER_TENANT = 10_000
LOAD_WORKERS = 2
DAYS = 365
WARM_UP = 30
CREATE_SAMPLES = 300
LIST_SAMPLES = 300
LIFECYCLE_CLIENTS = (4, 8, 16)
LIFECYCLE_SECONDS = 20.0
PAGE_SIZE = 20
TIMEOUT_S = 30.0
LADDER = tuple(Level)
HANDLING = ("dispatched", "in_progress")

# Shares of the intake by major class (市容环境 and 街面秩序 lead, as in city-management data).
MAJOR_WEIGHTS = {
    "01": 25,
    "02": 7,
    "03": 6,
    "04": 5,
    "05": 20,
    "06": 8,
    "07": 3,
    "08": 13,
    "09": 4,
    "10": 9,
}
# Where reports come from: grid workers' patrols lead, then the resident app, then calls.
SOURCE_WORDS = ("visit", "resident_app", "phone", "wechat_group", "hotline_12345", "staff")
SOURCE_WEIGHTS = (30, 25, 15, 12, 10, 8)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红梅玉兰志明海燕晓东"
NOTES = ("已到现场处置完毕", "已协调物业处理", "已联系当事人整改到位", "已清理并拍照留存")

CASE_COLUMNS = (
    "id",
    "tenant_id",
    "number",
    "category_code",
    "category_name",
    "urgent",
    "sla_amount",
    "sla_unit",
    "title",
    "description",
    "source",
    "state",
    "complex_id",
    "building_id",
    "dwelling_id",
    "address",
    "latitude",
    "longitude",
    "photos",
    "reporter_subject",
    "reporter_name",
    "reporter_phone",
    "assignee",
    "assignee_member_id",
    "assignee_name",
    "grid_id",
    "micro_grid_id",
    "level",
    "reported_at",
    "dispatched_at",
    "deadline",
    "resolved_at",
    "closed_at",
    "first_closed_at",
    "suspended_since",
    "suspended_seconds",
    "pending_extension_until",
    "reopened_count",
    "sent_back_count",
    "extensions",
    "rating",
    "merged_into",
    "escalate_at",
    "overdue_notified_for",
    "idempotency_key",
    "version",
    "updated_at",
)
TIMELINE_COLUMNS = (
    "id",
    "tenant_id",
    "case_id",
    "seq",
    "at",
    "actor",
    "actor_name",
    "capacity",
    "action",
    "from_state",
    "to_state",
    "note",
    "data",
)


# ---- the places and people of a community ----------------------------------------------------


@dataclass(frozen=True)
class Person:
    subject: str
    name: str


@dataclass(frozen=True)
class Spot:
    """A building and who answers for it at each level (as routing would pick them)."""

    building_id: uuid.UUID
    complex_id: uuid.UUID | None
    label: str
    rungs: Mapping[Level, Assignment]


@dataclass(frozen=True)
class Community:
    tenant: str
    spots: Sequence[Spot]
    staff: Sequence[Person]
    residents: Sequence[Person]


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))


def people(rng: random.Random, count: int) -> list[Person]:
    return [
        Person(str(uuid.UUID(int=rng.getrandbits(128))), person_name(rng)) for _ in range(count)
    ]


def synthetic_community(tenant: str, rng: random.Random) -> Community:
    """About Shibei's size (DOMAIN.md): 200 buildings, 13 grids, 45 micro-grids; about half
    the members have a login (then they are the assignee themselves)."""
    grids = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(13)]
    micro_grids = [(uuid.UUID(int=rng.getrandbits(128)), grids[n % 13]) for n in range(45)]

    def member(grid: uuid.UUID, micro_grid: uuid.UUID | None, level: Level) -> Assignment:
        member_id = str(uuid.UUID(int=rng.getrandbits(128)))
        linked = rng.random() < 0.5
        return Assignment(
            assignee=str(uuid.UUID(int=rng.getrandbits(128))) if linked else f"member:{member_id}",
            level=level,
            member_id=member_id,
            name=person_name(rng),
            grid_id=str(grid),
            micro_grid_id=str(micro_grid) if micro_grid else "",
        )

    workers = {grid: member(grid, None, Level.GRID) for grid in grids}
    leaders = [member(grid, mg, Level.MICRO_GRID) for mg, grid in micro_grids]
    complexes = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(8)]
    spots = []
    for n in range(200):
        leader = leaders[n * 45 // 200]
        grid = uuid.UUID(leader.grid_id)
        worker = workers[grid]
        spots.append(
            Spot(
                building_id=uuid.UUID(int=rng.getrandbits(128)),
                complex_id=complexes[n * 8 // 200],
                label=f"{n * 8 // 200 + 1}号小区{n % 25 + 1}幢",
                rungs={
                    Level.MICRO_GRID: leader,
                    Level.GRID: Assignment(
                        worker.assignee,
                        Level.GRID,
                        worker.member_id,
                        worker.name,
                        worker.grid_id,
                        leader.micro_grid_id,
                    ),
                    Level.COMMUNITY: queue(Level.COMMUNITY),
                    Level.STREET: queue(Level.STREET),
                },
            )
        )
    return Community(tenant, spots, people(rng, 4), people(rng, 3_000))


def hushan_community(
    client: httpx.Client, grid_target: str, token: str, rng: random.Random
) -> Community:
    """Hushan's real buildings (the gateway's census routes) and, for each, who grid's
    WhoCovers names at each level, turned into assignees by the cases service's own routing."""
    buildings: list[dict[str, Any]] = []
    token_page = ""
    while True:
        params: dict[str, str | int] = {"page_size": 200}
        if token_page:
            params["page_token"] = token_page
        page = ok(client.get(f"/api/v1/tenants/{HUSHAN}/buildings", params=params)).json()
        buildings += page["items"]
        token_page = page["next_page_token"]
        if not token_page:
            break
    assert buildings, "the demo seed registers Hushan's buildings"
    metadata = (("authorization", f"Bearer {token}"), ("x-tenant-id", HUSHAN))
    spots = []
    with grpc.insecure_channel(grid_target) as channel:
        stub = grid_pb2_grpc.GridServiceStub(channel)
        for building in buildings:
            try:
                found = stub.WhoCovers(
                    gpb.WhoCoversRequest(building_id=building["id"]), metadata=metadata, timeout=10
                )
                covers = found if found.HasField("micro_grid") else None
            except grpc.RpcError as error:
                if error.code() is not grpc.StatusCode.NOT_FOUND:
                    raise
                covers = None
            spots.append(
                Spot(
                    building_id=uuid.UUID(building["id"]),
                    complex_id=uuid.UUID(building["complex_id"])
                    if building["complex_id"]
                    else None,
                    label=building["number"],
                    rungs={
                        Level.MICRO_GRID: assignment_at(covers, Level.MICRO_GRID),
                        Level.GRID: assignment_at(covers, Level.GRID),
                        Level.COMMUNITY: queue(Level.COMMUNITY, covers),
                        Level.STREET: queue(Level.STREET, covers),
                    },
                )
            )
    return Community(HUSHAN, spots, people(rng, 4), people(rng, 3_000))


# ---- planning one case's year ----------------------------------------------------------------


@dataclass(frozen=True)
class Intake:
    """What the load draws from: the catalogue by weight, sources by weight, and the calendar."""

    categories: Sequence[CategoryDef]
    category_weights: Sequence[float]
    calendar: WorkingCalendar
    now: datetime

    @classmethod
    def default(cls, now: datetime) -> Intake:
        enabled = [c for c in DEFAULT_CATALOGUE if c.enabled]
        per_major: dict[str, int] = {}
        for c in enabled:
            per_major[c.major_code] = per_major.get(c.major_code, 0) + 1
        weights = [MAJOR_WEIGHTS.get(c.major_code, 1) / per_major[c.major_code] for c in enabled]
        return cls(enabled, weights, WorkingCalendar(), now)

    def deadline(self, start: datetime, category: CategoryDef) -> datetime:
        if category.deadline_unit is DeadlineUnit.WORKING_DAYS:
            # Only the start's day matters for working days: cached per day.
            day = start.astimezone(SHANGHAI).date()
            return _days_deadline(self.calendar, day, category.deadline_amount)
        return self.calendar.deadline(start, category.deadline_amount, category.deadline_unit)


@functools.lru_cache(maxsize=8192)
def _days_deadline(calendar: WorkingCalendar, day: date, amount: int) -> datetime:
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=SHANGHAI)
    return calendar.deadline(noon, amount, DeadlineUnit.WORKING_DAYS)


def report_times(rng: random.Random, now: datetime, count: int) -> list[datetime]:
    """Sorted report instants over the last year: mostly office hours, fewer at weekends."""
    today = now.astimezone(SHANGHAI).date()
    found: list[datetime] = []
    while len(found) < count:
        day = today - timedelta(days=rng.randrange(DAYS))
        if day.weekday() >= 5 and rng.random() < 0.4:
            continue
        if rng.random() < 0.75:
            minute = rng.uniform(7.5 * 60, 18.5 * 60)
        else:
            minute = (
                rng.uniform(18.5 * 60, 22.5 * 60)
                if rng.random() < 0.7
                else rng.uniform(6 * 60, 7.5 * 60)
            )
        at = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI) + timedelta(minutes=minute)
        if at < now:
            found.append(at.astimezone(UTC))
    found.sort()
    return found


def _json(data: Mapping[str, str] | None) -> str:
    """The timeline's data as JSON; our own words, names and instants need no escaping, so
    a plain join is several times faster than json.dumps on seven million lines."""
    if not data:
        return "{}"
    if any('"' in v or "\\" in v for v in data.values()):
        return json.dumps(data, ensure_ascii=False)
    return "{" + ", ".join(f'"{k}": "{v}"' for k, v in data.items()) + "}"


ROUTER = Person("system:router", "系统自动派遣")
SCHEDULER = Person("system:escalation-scheduler", "系统（超期自动上报）")


def account_of(assignment: Assignment | None) -> Person | None:
    """The assignee's login, if the member has one (queues and members without do not)."""
    if assignment is None or assignment.assignee.startswith(("member:", "queue:")):
        return None
    return Person(assignment.assignee, assignment.name)


def next_rung(spot: Spot | None, level: Level) -> Assignment:
    """Who answers one level up; the level's queue when nobody does (handling.next_rung)."""
    rung = LADDER[LADDER.index(level) + 1]
    found = spot.rungs[rung] if spot is not None else queue(rung)
    if found.level is not rung:
        street = rung is Level.STREET
        found = Assignment(
            "queue:street" if street else "queue:community",
            rung,
            name="街道受理队列" if street else "社区受理队列",
            grid_id=found.grid_id,
            micro_grid_id=found.micro_grid_id,
        )
    return found


@dataclass
class CasePlan:
    """One case being planned: what it is about, the row's changing fields and its timeline
    so far. A step planned after ``now`` is not taken, so the row stands as it would today."""

    rng: random.Random
    intake: Intake
    tenant: str
    category: CategoryDef
    spot: Spot | None
    staff: Person
    case_id: uuid.UUID = field(default_factory=uuid.uuid4)
    source: str = ""
    reporter: Person | None = None
    reporter_name: str = ""
    reporter_phone: str = ""  # masked at rest, as the service stores it
    state: str = ""
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    assignment: Assignment | None = None
    level: Level = Level.MICRO_GRID
    deadline: datetime | None = None
    dispatched_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    first_closed_at: datetime | None = None
    pending_extension_until: datetime | None = None
    reopened: int = 0
    sent_back: int = 0
    extensions: int = 0
    rating: str | None = None
    merged_into: uuid.UUID | None = None
    overdue_notified_for: datetime | None = None
    watch: datetime | None = None  # escalate_at: when the scheduler next looks
    updated_at: datetime | None = None

    def take(
        self,
        at: datetime,
        action: str,
        to: str,
        *,
        by: Person,
        capacity: str,
        note: str = "",
        data: Mapping[str, str] | None = None,
    ) -> bool:
        """Record the step if it has happened by now; False (nothing recorded) if not yet."""
        if at > self.intake.now:
            return False
        self.entries.append(
            (
                os.urandom(16).hex(),  # 128 random bits: the cheapest id PostgreSQL reads
                self.tenant,
                self.case_id,
                len(self.entries) + 1,
                at,
                by.subject,
                by.name,
                capacity,
                action,
                self.state,
                to,
                note,
                _json(data),
            )
        )
        self.state = to
        self.updated_at = at
        return True

    def by_staff(self, at: datetime, action: str, to: str, note: str = "") -> bool:
        return self.take(at, action, to, by=self.staff, capacity="community-staff", note=note)

    def handler(self) -> tuple[Person, str]:
        """Who takes handling steps: the assignee with a login, else staff acting for them."""
        account = account_of(self.assignment)
        return (account, "assignee") if account is not None else (self.staff, "community-staff")

    def assign(
        self, at: datetime, action: str, target: Assignment, *, by: Person, capacity: str
    ) -> bool:
        to = "dispatched" if action == "dispatch" else self.state
        data = {"assignee_id": target.assignee, "level": target.level.value}
        if action == "dispatch" and self.deadline is not None:
            data["deadline"] = self.deadline.isoformat()
        if target.name:
            data["assignee_name"] = target.name
        if not self.take(at, action, to, by=by, capacity=capacity, data=data):
            return False
        self.assignment, self.level = target, target.level
        return True

    # -- the life of the case --

    def report(self, at: datetime, by: Person, capacity: str) -> None:
        data = {"source": self.source, "category_code": self.category.code}
        self.take(at, "report", "reported", by=by, capacity=capacity, data=data)

    def route(self, at: datetime, target: Assignment, *, by: Person, capacity: str) -> bool:
        """Accept (立案) and dispatch (派遣): the SLA clock starts."""
        if not self.take(at, "accept", "accepted", by=by, capacity=capacity):
            return False
        self.deadline = self.intake.deadline(at, self.category)
        if not self.assign(at, "dispatch", target, by=by, capacity=capacity):
            return False
        self.dispatched_at, self.watch = at, self.deadline
        return True

    def work(self, earlier: Sequence[uuid.UUID]) -> None:
        """From dispatch to closed or rated (or as far as the case has got by now)."""
        assert self.dispatched_at is not None
        rng = self.rng
        if earlier and rng.random() < 0.015:  # a duplicate of a case reported shortly before
            at = self.dispatched_at + timedelta(minutes=rng.uniform(10, 600))
            if self.by_staff(at, "merge", "merged", note="重复上报，并案处理"):
                self.merged_into = earlier[-rng.randrange(1, min(20, len(earlier)) + 1)]
            return
        start = self.dispatched_at
        for round_ in range(2):  # a second round only after an unsatisfied rating
            closed = self.handle_to_close(start)
            if closed is None:
                return
            rated = self.rate(closed, may_reopen=round_ == 0)
            if rated is None:
                return
            start = rated

    def handle_to_close(self, start: datetime) -> datetime | None:
        """Resolve, verify (sent back now and then) and close; when closed, or None."""
        rng = self.rng
        resolved = self.handle(start)
        if resolved is None:
            return None
        verified = resolved + timedelta(hours=rng.uniform(0.5, 20))
        if rng.random() < 0.03:
            if not self.by_staff(
                verified, "send_back", "in_progress", note="现场复核未达到结案标准"
            ):
                return None
            self.sent_back += 1
            self.resolved_at = None
            resolved = self.handle(verified)
            if resolved is None:
                return None
            verified = resolved + timedelta(hours=rng.uniform(0.5, 20))
        if not self.by_staff(verified, "verify", "verified"):
            return None
        closed = verified + timedelta(hours=rng.uniform(0.1, 6))
        if not self.by_staff(closed, "close", "closed"):
            return None
        self.closed_at, self.rating = closed, None
        self.first_closed_at = self.first_closed_at or closed
        return closed

    def rate(self, closed: datetime, *, may_reopen: bool) -> datetime | None:
        """The reporter rates (or staff record a phone reporter's answer, 回访); when an
        unsatisfied rating reopened the case, else None."""
        rng = self.rng
        if self.reporter is not None:
            rater, capacity, share = self.reporter, "reporter", 0.7
        else:
            rater, capacity, share = self.staff, "community-staff", 0.4
        if rng.random() >= share:
            return None
        rated = closed + timedelta(hours=rng.uniform(1, 72))
        roll = rng.random()
        rating = (
            "satisfied" if roll < 0.88 else "basically_satisfied" if roll < 0.97 else "unsatisfied"
        )
        # Unsatisfied inside the reopen window: back to the same assignee (once, here).
        reopens = rating == "unsatisfied" and may_reopen
        to = "dispatched" if reopens else "rated"
        if not self.take(rated, "rate", to, by=rater, capacity=capacity, data={"rating": rating}):
            return None
        self.rating = rating
        if not reopens:
            return None
        self.reopened += 1
        self.resolved_at = None
        return rated

    def handle(self, start: datetime) -> datetime | None:
        """From dispatch (or a return to handling) to resolution, escalated one rung per
        handling period while late; when it was resolved, or None if still being handled."""
        assert self.deadline is not None
        rng = self.rng
        # Back in handling after the deadline: one more handling period (handling._next_watch).
        due = self.deadline if self.deadline > start else self.intake.deadline(start, self.category)
        self.watch = due
        period = due - start
        roll = rng.random()
        if roll < 0.92:
            resolve_at = start + period * rng.uniform(0.05, 0.95)
        elif roll < 0.99:
            resolve_at = due + period * rng.expovariate(1.0)
        else:  # stuck: waits on an owner, a company or a court for weeks
            resolve_at = due + timedelta(days=rng.uniform(20, 120))
        who, capacity = self.handler()
        # Started early in the period (so no escalation could come first), resolved later.
        started = start + (min(resolve_at, due) - start) * rng.uniform(0.02, 0.3)
        if rng.random() < 0.5 and not self.take(
            started, "start", "in_progress", by=who, capacity=capacity
        ):
            return None
        if self.deadline > start and rng.random() < 0.04:  # more time asked for, and granted
            if not self.extend(start + period / 2):
                return None
            resolve_at = max(resolve_at, due + (self.deadline - due) * rng.uniform(0.1, 0.9))
        if not self.escalate_until(resolve_at):
            return None
        who, capacity = self.handler()
        note = rng.choice(NOTES)
        if not self.take(resolve_at, "resolve", "resolved", by=who, capacity=capacity, note=note):
            return None
        self.resolved_at = resolve_at
        return resolve_at

    def extend(self, asked: datetime) -> bool:
        """The assignee asks for one more handling period; staff grant it an hour later."""
        assert self.deadline is not None
        until = self.intake.deadline(self.deadline, self.category)
        who, _ = self.handler()
        data = {"until": until.isoformat()}
        if not self.take(
            asked, "request_extension", self.state, by=who, capacity="assignee", data=data
        ):
            return False
        self.pending_extension_until = until
        data = {"deadline": until.isoformat()}
        if not self.take(
            asked + min(timedelta(hours=1), (self.deadline - asked) / 2),
            "extend_deadline",
            self.state,
            by=self.staff,
            capacity="community-staff",
            data=data,
        ):
            return False
        self.deadline, self.pending_extension_until = until, None
        self.watch = max(until, self.watch or until)
        self.extensions += 1
        return True

    def escalate_until(self, resolved: datetime) -> bool:
        """What the scheduler did while the case was late: at each watch before ``resolved``,
        one rung up; False if a step lies in the future."""
        while self.watch is not None and self.watch < resolved:
            if self.level is Level.STREET:
                self.watch = None  # told at the street; nowhere higher to go
                break
            target = next_rung(self.spot, self.level)
            if not self.assign(self.watch, "escalate", target, by=SCHEDULER, capacity="system"):
                return False
            self.overdue_notified_for = self.deadline
            self.watch = self.intake.deadline(self.watch, self.category)
        return True

    def row(self, *, reported_at: datetime, number: str) -> tuple[Any, ...]:
        a, spot, category = self.assignment, self.spot, self.category
        return (
            self.case_id,
            self.tenant,
            number,
            category.code,
            category.name,
            category.urgent,
            category.deadline_amount,
            category.deadline_unit.value,
            f"{spot.label}{category.name}" if spot else category.name,
            f"{category.acceptance_standard[:60]}。",
            self.source,
            self.state,
            spot.complex_id if spot else None,
            spot.building_id if spot else None,
            None,
            spot.label if spot else "社区辖区内",
            None,
            None,
            [],
            self.reporter.subject if self.reporter else None,
            self.reporter_name,
            self.reporter_phone,
            a.assignee if a else "queue:community",
            uuid.UUID(a.member_id) if a and a.member_id else None,
            a.name if a else "社区受理队列",
            uuid.UUID(a.grid_id) if a and a.grid_id else None,
            uuid.UUID(a.micro_grid_id) if a and a.micro_grid_id else None,
            (self.level if a else category.responsible_level).value,
            reported_at,
            self.dispatched_at,
            self.deadline,
            self.resolved_at,
            self.closed_at,
            self.first_closed_at,
            None,
            0,
            self.pending_extension_until,
            self.reopened,
            self.sent_back,
            self.extensions,
            self.rating,
            self.merged_into,
            self.watch if self.state in HANDLING else None,
            self.overdue_notified_for,
            None,
            len(self.entries),
            self.updated_at,
        )


def plan_case(
    rng: random.Random,
    intake: Intake,
    community: Community,
    reported_at: datetime,
    *,
    number: str,
    earlier: Sequence[uuid.UUID],
) -> CasePlan:
    """One case as of ``intake.now``: its row (``plan.row``) and timeline (``plan.entries``)."""
    spot = rng.choice(community.spots) if rng.random() < 0.8 else None
    plan = CasePlan(
        rng,
        intake,
        community.tenant,
        category=rng.choices(intake.categories, intake.category_weights)[0],
        spot=spot,
        staff=rng.choice(community.staff),
    )
    plan.source = rng.choices(SOURCE_WORDS, SOURCE_WEIGHTS)[0]
    patrol = account_of(spot.rungs[Level.MICRO_GRID]) if spot is not None else None
    if plan.source == "resident_app":
        plan.reporter = rng.choice(community.residents)
        plan.reporter_name = plan.reporter.name
        plan.report(reported_at, plan.reporter, "resident")
    elif plan.source == "visit" and patrol is not None:
        plan.reporter, plan.reporter_name = patrol, patrol.name
        plan.report(reported_at, patrol, "grid-worker")
    else:  # a call, a message or a walk-in: staff record it, no reporting account
        plan.reporter_name = person_name(rng)
        plan.reporter_phone = f"1{rng.randrange(30, 99)}****{rng.randrange(10_000):04d}"
        plan.report(reported_at, plan.staff, "community-staff")
    level = plan.category.responsible_level
    if spot is not None:  # the router accepts and dispatches at once
        target = spot.rungs[level] if level in spot.rungs else queue(level)
        routed = plan.route(reported_at, target, by=ROUTER, capacity="system")
    else:  # staff read it against the acceptance standard and dispatch by hand
        at = reported_at + timedelta(minutes=rng.uniform(5, 240))
        roll = rng.random()
        if roll < 0.10:
            plan.by_staff(at, "reject", "rejected", note="不属于受理范围")
        elif roll < 0.15 and plan.reporter is not None:
            plan.take(at, "void", "voided", by=plan.reporter, capacity="reporter")
        target = rng.choice(community.spots).rungs[level]
        routed = plan.state == "reported" and plan.route(
            at, target, by=plan.staff, capacity="community-staff"
        )
    if routed:
        plan.work(earlier)
    return plan


@dataclass
class Planned:
    cases: list[tuple[Any, ...]]
    timeline: list[tuple[Any, ...]]
    last_numbers: dict[date, int]


def plan_community(
    community: Community, intake: Intake, seed: int, numbered: Mapping[date, int]
) -> Planned:
    """The community's year of cases; numbers continue after ``numbered`` (the last number
    already given on a day, e.g. by the demo seed)."""
    rng = random.Random(seed)
    planned = Planned([], [], dict(numbered))
    earlier: list[uuid.UUID] = []
    for reported_at in report_times(rng, intake.now, CASES_PER_TENANT):
        day = reported_at.astimezone(SHANGHAI).date()
        last = planned.last_numbers[day] = planned.last_numbers.get(day, 0) + 1
        number = f"{day:%Y%m%d}-{last:04d}"
        plan = plan_case(rng, intake, community, reported_at, number=number, earlier=earlier)
        earlier.append(plan.case_id)
        planned.cases.append(plan.row(reported_at=reported_at, number=number))
        planned.timeline += plan.entries
    return planned


# ---- the load --------------------------------------------------------------------------------


def load(dsn: str, communities: Sequence[Community], now: datetime) -> tuple[int, int, float]:
    """Cases and timeline lines written, and the seconds it took (index rebuilds included).

    LOAD_WORKERS processes each plan and copy whole communities: planning is Python, the copy
    PostgreSQL's, so two processes keep both cores busy."""
    cases_table, timeline_table = CaseRow.__tablename__, TimelineRow.__tablename__
    _check_columns(CaseRow.__table__.columns.keys(), CASE_COLUMNS)
    _check_columns(TimelineRow.__table__.columns.keys(), TIMELINE_COLUMNS)
    began = time.perf_counter()
    numbered: dict[str, dict[date, int]] = {c.tenant: {} for c in communities}
    with psycopg.connect(dsn) as connection:
        rebuild = _drop_indexes(connection, (cases_table, timeline_table))
        for tenant, day, last in connection.execute(
            f"SELECT tenant_id, day, last FROM {CaseNumber.__tablename__} "
            "WHERE tenant_id = ANY(%s)",
            (list(numbered),),
        ):
            numbered[tenant][day] = last
    # Spawned, not forked: this process has gRPC channels, which do not survive a fork.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(LOAD_WORKERS, mp_context=context) as pool:
        written = list(
            pool.map(
                _load_community,
                [dsn] * len(communities),
                communities,
                [now] * len(communities),
                range(6_000, 6_000 + len(communities)),
                [numbered[c.tenant] for c in communities],
            )
        )
    with psycopg.connect(dsn, autocommit=True) as connection:
        for definition in rebuild:
            connection.execute(definition)
        for table in (cases_table, timeline_table, CaseNumber.__tablename__):
            connection.execute(f'ANALYZE "{table}"')
    return (
        sum(cases for cases, _ in written),
        sum(lines for _, lines in written),
        time.perf_counter() - began,
    )


def _load_community(
    dsn: str, community: Community, now: datetime, seed: int, numbered: Mapping[date, int]
) -> tuple[int, int]:
    planned = plan_community(community, Intake.default(now), seed, numbered)
    with psycopg.connect(dsn) as connection:
        # The days' last numbers, the earlier ones included, so new reports continue them.
        connection.execute(
            f"DELETE FROM {CaseNumber.__tablename__} WHERE tenant_id = %s", (community.tenant,)
        )
        _copy(connection, CaseRow.__tablename__, CASE_COLUMNS, planned.cases)
        _copy(connection, TimelineRow.__tablename__, TIMELINE_COLUMNS, planned.timeline)
        _copy(
            connection,
            CaseNumber.__tablename__,
            ("tenant_id", "day", "last"),
            [(community.tenant, day, last) for day, last in planned.last_numbers.items()],
        )
    return len(planned.cases), len(planned.timeline)


def _copy(
    connection: psycopg.Connection[Any],
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cursor, cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)


def _check_columns(table: Sequence[str], ours: Sequence[str]) -> None:
    """The loader writes every column of the service's table, no more: a column added to the
    model stops the benchmark instead of loading rows the service would not write."""
    if set(table) != set(ours):
        raise RuntimeError(
            f"bench.cases is out of date with cases.models: the table has "
            f"{sorted(set(table) - set(ours))} too, the loader {sorted(set(ours) - set(table))}"
        )


def _drop_indexes(connection: psycopg.Connection[Any], tables: Sequence[str]) -> list[str]:
    """Drop the tables' indexes that back no constraint; returns their definitions."""
    found = connection.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        ([f'"{t}"' for t in tables],),
    ).fetchall()
    for name, _ in found:
        connection.execute(f"DROP INDEX {name}")
    return [definition for _, definition in found]


# ---- through the gateway ---------------------------------------------------------------------


def staff_token(infra: LocalInfrastructure) -> str:
    """Hushan's staff, logged in afresh (tokens live five minutes; each phase takes less)."""
    token: str = infra.keycloak.password_grant("hushan-staff", "shequ-demo")["access_token"]
    return token


def staff_client(platform: RunningPlatform, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=platform.gateway_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT_S,
    )


class RefusedError(RuntimeError):
    """The gateway refused a benchmark request: what it said, so the run fails legibly."""


def ok(response: httpx.Response) -> httpx.Response:
    if response.is_error:
        raise RefusedError(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text[:500]}"
        )
    return response


@dataclass(frozen=True)
class Reports:
    """What reports through the gateway draw from: Hushan's buildings and the catalogue's
    classes below street level (the street handles those, and Hushan's staff lose their say
    over them: the benchmark's staff could not resolve them)."""

    spots: Sequence[Spot]
    categories: Sequence[CategoryDef]
    weights: Sequence[float]

    @classmethod
    def of(cls, spots: Sequence[Spot], intake: Intake) -> Reports:
        pairs = [
            (c, w)
            for c, w in zip(intake.categories, intake.category_weights, strict=True)
            if c.responsible_level is not Level.STREET
        ]
        return cls(spots, [c for c, _ in pairs], [w for _, w in pairs])

    def body(self, rng: random.Random) -> dict[str, Any]:
        spot = rng.choice(self.spots)
        category = rng.choices(self.categories, self.weights)[0]
        return {
            "category_code": category.code,
            "title": f"{spot.label}{category.name}",
            "description": "压测上报：" + category.acceptance_standard[:40],
            "place": {"building_id": str(spot.building_id)},
        }


def report(client: httpx.Client, body: Mapping[str, Any]) -> dict[str, Any]:
    case: dict[str, Any] = ok(client.post(f"/api/v1/tenants/{HUSHAN}/cases", json=body)).json()
    # Located, so the router accepted and dispatched it in the same request.
    assert case["state"] == "dispatched", case
    return case


def create_latency(client: httpx.Client, reports: Reports, rng: random.Random) -> list[Figure]:
    for _ in range(WARM_UP):
        report(client, reports.body(rng))
    samples = []
    for _ in range(CREATE_SAMPLES):
        body = reports.body(rng)
        began = time.perf_counter()
        report(client, body)
        samples.append((time.perf_counter() - began) * 1000)
    name = "POST cases at a Hushan building (report + WhoCovers + accept + dispatch)"
    return [
        Figure(f"{name}, p50", percentile(samples, 0.5), "ms"),
        Figure(f"{name}, p99 (target ≤ 100)", percentile(samples, 0.99), "ms"),
    ]


def list_latency(client: httpx.Client, now: datetime) -> list[Figure]:
    """Three lists staff open: one category's cases being handled, the last 30 days, and one
    category's archive (closed and rated: half the table, so a long walk down the index)."""
    codes = [c.code for c in DEFAULT_CATALOGUE if c.enabled]
    since = (now - timedelta(days=30)).isoformat()
    lists: list[tuple[str, Any]] = [
        (
            "state=dispatched&category=…",
            lambda n: {"state": "dispatched", "category": codes[n % len(codes)]},
        ),
        ("since=30 days ago", lambda n: {"since": since}),
        (
            "state=closed&state=rated&category=…",
            lambda n: {"state": ["closed", "rated"], "category": codes[n % len(codes)]},
        ),
    ]
    rows: list[Figure] = []
    for label, params_of in lists:
        samples = []
        for n in range(WARM_UP + LIST_SAMPLES):
            params = {**params_of(n), "page_size": PAGE_SIZE}
            began = time.perf_counter()
            response = client.get(f"/api/v1/tenants/{HUSHAN}/cases", params=params)
            took = (time.perf_counter() - began) * 1000
            ok(response)
            if n >= WARM_UP:
                samples.append(took)
        name = f"GET cases?{label}&page_size={PAGE_SIZE} (Hushan staff)"
        rows += [
            Figure(f"{name}, p50", percentile(samples, 0.5), "ms"),
            Figure(f"{name}, p99 (target ≤ 100)", percentile(samples, 0.99), "ms"),
        ]
    return rows


def lifecycle(client: httpx.Client, reports: Reports, rng: random.Random) -> None:
    """create (the router accepts and dispatches) → resolve → verify → close → list."""
    case = report(client, reports.body(rng))
    for action, note in (("resolve", rng.choice(NOTES)), ("verify", ""), ("close", "")):
        response = client.post(
            f"/api/v1/tenants/{HUSHAN}/cases/{case['id']}/actions",
            json={"action": action, "expected_version": case["version"], "note": note},
        )
        case = ok(response).json()["case"]
    assert case["state"] == "closed", case
    ok(
        client.get(
            f"/api/v1/tenants/{HUSHAN}/cases",
            params={"state": "dispatched", "page_size": PAGE_SIZE},
        )
    )


def lifecycles(
    platform: RunningPlatform, token: str, reports: Reports, clients: int
) -> tuple[float, float]:
    """Lifecycles per second with ``clients`` concurrent clients, and the median seconds one
    lifecycle took."""
    stop = threading.Event()
    durations: list[float] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def client_loop(seed: int) -> None:
        rng = random.Random(seed)
        mine: list[float] = []
        try:
            with staff_client(platform, token) as client:
                lifecycle(client, reports, rng)  # connected, and one not counted
                while not stop.is_set():
                    began = time.perf_counter()
                    lifecycle(client, reports, rng)
                    mine.append(time.perf_counter() - began)
        except (httpx.HTTPError, RefusedError, AssertionError) as error:
            with lock:
                failures.append(error)
        with lock:
            durations.extend(mine)

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    time.sleep(LIFECYCLE_SECONDS)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{len(failures)} of {clients} clients failed") from failures[0]
    return len(durations) / elapsed, statistics.median(durations)


def run(infra: LocalInfrastructure, platform: RunningPlatform) -> list[Figure]:
    now = datetime.now(UTC)
    rng = random.Random(6)
    token = staff_token(infra)
    with staff_client(platform, token) as client:
        hushan = hushan_community(client, platform.grid_target, token, rng)
    communities = [hushan, *(synthetic_community(t, rng) for t in TENANTS[1:])]
    cases, lines, took = load(infra.postgres.superuser_dsn("cases"), communities, now)
    rows: list[Figure] = [
        Figure(
            f"load {cases:,} cases with {lines:,} timeline lines in {len(communities)} "
            "communities (COPY, indexes rebuilt, ANALYZE)",
            cases / took,
            "cases/s",
        ),
        Figure(
            f"storage per case with its timeline ({lines / max(cases, 1):.1f} lines each; "
            "every cases table and index / cases)",
            bytes_per_record(infra.postgres.superuser_dsn("cases"), cases),
            "bytes",
        ),
    ]
    reports = Reports.of(hushan.spots, Intake.default(now))
    with staff_client(platform, staff_token(infra)) as client:
        rows += create_latency(client, reports, rng)
        rows += list_latency(client, now)
    chain = "create(+route) → resolve → verify → close → list"
    best = (0.0, 0)
    for clients in LIFECYCLE_CLIENTS:
        rate, median = lifecycles(platform, staff_token(infra), reports, clients)
        best = max(best, (rate, clients))
        rows += [
            Figure(f"lifecycles {chain}, {clients} clients", rate, "lifecycles/s"),
            Figure(f"one lifecycle, {clients} clients, median", median * 1000, "ms"),
        ]
    rows.append(
        Figure(f"lifecycles, best ({best[1]} clients; target ≥ 100)", best[0], "lifecycles/s")
    )
    return rows
