"""The life of a case as one explicit state machine: which action leads where, and who may take it.

The whole lifecycle is the table ``TRANSITIONS``: (state, action) → next state and the
capacities allowed to take it. ``apply`` is the only way a case changes state; it checks the
table, the caller's capacity, the version the caller read and the action's input, and returns
the new snapshot together with the timeline entry to store (the service writes both, and the
event, in one transaction). No database, clock or transport here: the caller passes ``at``.

Decisions (see docs when the service lands):
- **Reopen is a transition, not a state.** An unsatisfied rating inside the reopen window, or
  staff reopening a closed/rated case inside it, sends the case back to ``dispatched`` with the
  same assignee; ``reopened_count`` counts it (返工率 = reopened / closed). Outside the window an
  unsatisfied rating is recorded and the case stays ``rated``.
- **Acceptance and dispatch are two steps**, so the timeline shows 立案 and 派遣 separately; the
  router (``Capacity.SYSTEM``) may take both for a new case with a covered location.
- **Extensions need a request and an approval**: the assignee takes ``request_extension``, staff
  ``extend_deadline`` (approving the pending request or granting one directly; counted in
  ``extensions``) or ``decline_extension``.
- **Escalation** moves the responsible level one rung up micro-grid → grid → community → street
  and stops at street. It keeps the state; it is taken by the scheduler only for an overdue case
  and by people only on an explicit, reasoned request (small matters stay in the building).
  Once a case is at street level the street handles it: community staff lose their say.
- **Suspension (缓办)** pauses handling; ``suspended_total`` accumulates the paused time so the
  SLA can subtract it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, invalid_input
from shequ_kit.tokens import Role

# Residents may object to a result for a week after closing (tenants may configure another).
REOPEN_WINDOW = timedelta(days=7)
MAX_PHOTOS = 9
MAX_NOTE_LENGTH = 2000


class State(StrEnum):
    REPORTED = "reported"
    ACCEPTED = "accepted"  # 立案
    REJECTED = "rejected"  # 不予立案
    VOIDED = "voided"  # 作废 (withdrawn, or recorded by mistake)
    DISPATCHED = "dispatched"  # 派遣; the SLA clock starts
    IN_PROGRESS = "in_progress"
    SUSPENDED = "suspended"  # 缓办
    RESOLVED = "resolved"  # 处置完成
    VERIFIED = "verified"  # 核查
    CLOSED = "closed"  # 结案
    RATED = "rated"  # 已评价
    MERGED = "merged"  # 并案: a duplicate folded into another case


class Action(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    VOID = "void"
    DISPATCH = "dispatch"
    REASSIGN = "reassign"
    START = "start"
    SUSPEND = "suspend"
    RESUME = "resume"
    RESOLVE = "resolve"
    VERIFY = "verify"
    SEND_BACK = "send_back"
    CLOSE = "close"
    RATE = "rate"
    REOPEN = "reopen"
    REQUEST_EXTENSION = "request_extension"
    EXTEND_DEADLINE = "extend_deadline"
    DECLINE_EXTENSION = "decline_extension"
    ESCALATE = "escalate"
    MERGE = "merge"


class Capacity(StrEnum):
    """In which capacity an actor takes an action: a role, or a relation to this case."""

    PLATFORM_ADMIN = "platform-admin"
    STREET_ADMIN = "street-admin"
    COMMUNITY_STAFF = "community-staff"  # only while the case is below street level
    ASSIGNEE = "assignee"  # the grid worker the case is assigned to
    REPORTER = "reporter"  # the resident who reported the case
    SYSTEM = "system"  # the router and the escalation scheduler


class Level(StrEnum):
    """The escalation ladder, lowest first."""

    MICRO_GRID = "micro_grid"
    GRID = "grid"
    COMMUNITY = "community"
    STREET = "street"


LADDER = tuple(Level)


class Rating(StrEnum):
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    UNSATISFIED = "unsatisfied"


class EscalationReason(StrEnum):
    OVERDUE = "overdue"  # only the scheduler
    REQUESTED = "requested"  # only people, with a note saying why


@dataclass(frozen=True)
class Rule:
    target: State
    allowed: frozenset[Capacity]


MANAGERS = frozenset({Capacity.COMMUNITY_STAFF, Capacity.STREET_ADMIN, Capacity.PLATFORM_ADMIN})
HANDLERS = MANAGERS | {Capacity.ASSIGNEE}
ROUTER = MANAGERS | {Capacity.SYSTEM}
ESCALATORS = HANDLERS | {Capacity.SYSTEM}
# A rating is the reporter's, or recorded by staff from a callback (回访) to a phone reporter.
RATERS = frozenset({Capacity.REPORTER, Capacity.COMMUNITY_STAFF})


def _rules(
    state: State, **rules: tuple[State, frozenset[Capacity]]
) -> dict[tuple[State, Action], Rule]:
    return {(state, Action(name)): Rule(*rule) for name, rule in rules.items()}


S = State
# The lifecycle. ESCALATE, REASSIGN and the extension actions keep or reset the state as listed;
# RATE lands in ``rated`` unless an unsatisfied rating inside the window reopens the case.
TRANSITIONS: Mapping[tuple[State, Action], Rule] = {
    **_rules(
        S.REPORTED,
        accept=(S.ACCEPTED, ROUTER),
        reject=(S.REJECTED, MANAGERS),
        void=(S.VOIDED, MANAGERS | {Capacity.REPORTER}),
        merge=(S.MERGED, MANAGERS),
    ),
    **_rules(
        S.ACCEPTED,
        dispatch=(S.DISPATCHED, ROUTER),
        void=(S.VOIDED, MANAGERS),
        merge=(S.MERGED, MANAGERS),
        escalate=(S.ACCEPTED, MANAGERS),
    ),
    **_rules(
        S.DISPATCHED,
        reassign=(S.DISPATCHED, MANAGERS),
        start=(S.IN_PROGRESS, HANDLERS),
        # A small matter is often fixed on the first visit: no separate "start" needed.
        resolve=(S.RESOLVED, HANDLERS),
        suspend=(S.SUSPENDED, HANDLERS),
        request_extension=(S.DISPATCHED, frozenset({Capacity.ASSIGNEE})),
        extend_deadline=(S.DISPATCHED, MANAGERS),
        decline_extension=(S.DISPATCHED, MANAGERS),
        escalate=(S.DISPATCHED, ESCALATORS),
        merge=(S.MERGED, MANAGERS),
    ),
    **_rules(
        S.IN_PROGRESS,
        reassign=(S.DISPATCHED, MANAGERS),
        suspend=(S.SUSPENDED, HANDLERS),
        resolve=(S.RESOLVED, HANDLERS),
        request_extension=(S.IN_PROGRESS, frozenset({Capacity.ASSIGNEE})),
        extend_deadline=(S.IN_PROGRESS, MANAGERS),
        decline_extension=(S.IN_PROGRESS, MANAGERS),
        escalate=(S.IN_PROGRESS, ESCALATORS),
        merge=(S.MERGED, MANAGERS),
    ),
    **_rules(S.SUSPENDED, resume=(S.IN_PROGRESS, HANDLERS)),
    # Verification and closing are separate from handling: the assignee does not check itself.
    **_rules(
        S.RESOLVED,
        verify=(S.VERIFIED, MANAGERS),
        send_back=(S.IN_PROGRESS, MANAGERS),
    ),
    **_rules(
        S.VERIFIED,
        close=(S.CLOSED, MANAGERS),
        send_back=(S.IN_PROGRESS, MANAGERS),
    ),
    **_rules(
        S.CLOSED,
        rate=(S.RATED, RATERS),
        reopen=(S.DISPATCHED, MANAGERS),
    ),
    **_rules(S.RATED, reopen=(S.DISPATCHED, MANAGERS)),
}

STATE_ZH: Mapping[State, str] = {
    S.REPORTED: "已上报",
    S.ACCEPTED: "已立案",
    S.REJECTED: "不予立案",
    S.VOIDED: "已作废",
    S.DISPATCHED: "已派遣",
    S.IN_PROGRESS: "处置中",
    S.SUSPENDED: "缓办",
    S.RESOLVED: "处置完成",
    S.VERIFIED: "已核查",
    S.CLOSED: "已结案",
    S.RATED: "已评价",
    S.MERGED: "已并案",
}
ACTION_ZH: Mapping[Action, str] = {
    Action.ACCEPT: "立案",
    Action.REJECT: "不予立案",
    Action.VOID: "作废",
    Action.DISPATCH: "派遣",
    Action.REASSIGN: "改派",
    Action.START: "开始处置",
    Action.SUSPEND: "缓办",
    Action.RESUME: "恢复办理",
    Action.RESOLVE: "处置完成",
    Action.VERIFY: "核查",
    Action.SEND_BACK: "退回重办",
    Action.CLOSE: "结案",
    Action.RATE: "评价",
    Action.REOPEN: "重新办理",
    Action.REQUEST_EXTENSION: "申请延期",
    Action.EXTEND_DEADLINE: "批准延期",
    Action.DECLINE_EXTENSION: "驳回延期",
    Action.ESCALATE: "上报上级",
    Action.MERGE: "并案",
}
CAPACITY_ZH: Mapping[Capacity, str] = {
    Capacity.PLATFORM_ADMIN: "平台管理员",
    Capacity.STREET_ADMIN: "街道管理员",
    Capacity.COMMUNITY_STAFF: "社区工作人员",
    Capacity.ASSIGNEE: "承办网格员",
    Capacity.REPORTER: "上报居民",
    Capacity.SYSTEM: "系统",
}
# When an actor holds several capacities, the timeline names the closest one to the case.
_PREFERENCE = (
    Capacity.SYSTEM,
    Capacity.REPORTER,
    Capacity.ASSIGNEE,
    Capacity.COMMUNITY_STAFF,
    Capacity.STREET_ADMIN,
    Capacity.PLATFORM_ADMIN,
)


@dataclass(frozen=True)
class Actor:
    """Who acts: an account (token subject) and the roles it holds on the case's tenant.

    Relations (reporter, assignee) are not claimed by the caller: they are read off the case.
    """

    id: str
    roles: frozenset[Role] = frozenset()
    system: bool = False

    @classmethod
    def scheduler(cls, name: str = "escalation-scheduler") -> Actor:
        return cls(f"system:{name}", frozenset(), system=True)


@dataclass(frozen=True)
class CaseSnapshot:
    """What the lifecycle needs to know about a case, and the counters statistics read."""

    case_id: str
    state: State
    reported_at: datetime
    reporter_id: str | None = None  # None when staff recorded a phone or hotline report
    version: int = 1
    assignee_id: str | None = None
    escalation_level: Level = Level.MICRO_GRID
    deadline: datetime | None = None  # from the category's SLA, moved by approved extensions
    dispatched_at: datetime | None = None  # first dispatch: the SLA clock starts here
    resolved_at: datetime | None = None
    closed_at: datetime | None = None  # the latest closing; the reopen window runs from it
    suspended_since: datetime | None = None
    suspended_total: timedelta = timedelta(0)
    pending_extension_until: datetime | None = None
    reopened_count: int = 0
    sent_back_count: int = 0
    extensions: int = 0
    rating: Rating | None = None
    merged_into: str | None = None

    @classmethod
    def reported(cls, case_id: str, *, at: datetime, reporter_id: str | None) -> CaseSnapshot:
        return cls(case_id=case_id, state=State.REPORTED, reported_at=at, reporter_id=reporter_id)


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the case's timeline: who did what, when, from which state to which."""

    case_id: str
    at: datetime
    actor_id: str
    capacity: Capacity
    action: Action
    from_state: State
    to_state: State
    note: str = ""
    data: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Transition:
    case: CaseSnapshot
    entry: TimelineEntry


def allowed_actions(state: State) -> tuple[Action, ...]:
    """The actions the table allows from ``state``, in the order of ``Action``."""
    return tuple(action for action in Action if (state, action) in TRANSITIONS)


def capacities(case: CaseSnapshot, actor: Actor) -> frozenset[Capacity]:
    """Every capacity ``actor`` holds towards ``case``."""
    held = set()
    if actor.system:
        held.add(Capacity.SYSTEM)
    if Role.PLATFORM_ADMIN in actor.roles:
        held.add(Capacity.PLATFORM_ADMIN)
    if Role.STREET_ADMIN in actor.roles:
        held.add(Capacity.STREET_ADMIN)
    if Role.COMMUNITY_STAFF in actor.roles and case.escalation_level is not Level.STREET:
        held.add(Capacity.COMMUNITY_STAFF)
    if Role.GRID_WORKER in actor.roles and case.assignee_id == actor.id:
        held.add(Capacity.ASSIGNEE)
    if Role.RESIDENT in actor.roles and case.reporter_id == actor.id:
        held.add(Capacity.REPORTER)
    return frozenset(held)


def actions_for(case: CaseSnapshot, actor: Actor) -> tuple[Action, ...]:
    """The actions ``actor`` may take on ``case`` now (which buttons a client shows)."""
    held = capacities(case, actor)
    return tuple(
        a for a in allowed_actions(case.state) if TRANSITIONS[case.state, a].allowed & held
    )


def apply(
    case: CaseSnapshot,
    action: Action,
    actor: Actor,
    *,
    at: datetime,
    expected_version: int,
    note: str = "",
    assignee_id: str | None = None,
    deadline: datetime | None = None,
    level: Level | None = None,
    photos: tuple[str, ...] = (),
    rating: str | None = None,
    reason: str | None = None,
    until: datetime | None = None,
    into_case_id: str | None = None,
    reopen_window: timedelta = REOPEN_WINDOW,
) -> Transition:
    """Take ``action`` on ``case`` as ``actor`` at ``at``; refuse anything the table does not allow.

    Order of checks: the state (409 naming the allowed actions), the actor's capacity (403
    naming who may), the version read (409), then the action's own input (422 naming the field).
    """
    rule = TRANSITIONS.get((case.state, action))
    if rule is None:
        raise illegal_transition(case.state, action)
    capacity = _capacity_for(case, actor, action, rule)
    _check_version(case, expected_version)
    note = note.strip()
    if len(note) > MAX_NOTE_LENGTH:
        raise _invalid("note", f"说明不能超过{MAX_NOTE_LENGTH}字", f"at most {MAX_NOTE_LENGTH}")
    step = _STEPS[action]
    changes, data = step(
        case,
        _Input(
            at=at,
            capacity=capacity,
            note=note,
            assignee_id=assignee_id,
            deadline=deadline,
            level=level,
            photos=photos,
            rating=rating,
            reason=reason,
            until=until,
            into_case_id=into_case_id,
            reopen_window=reopen_window,
        ),
    )
    target = changes.pop("state", rule.target)
    assert isinstance(target, State)
    new = dataclasses.replace(case, state=target, version=case.version + 1, **changes)
    entry = TimelineEntry(
        case_id=case.case_id,
        at=at,
        actor_id=actor.id,
        capacity=capacity,
        action=action,
        from_state=case.state,
        to_state=target,
        note=note,
        data=data,
    )
    return Transition(new, entry)


def illegal_transition(state: State, action: Action) -> DomainError:
    allowed = allowed_actions(state)
    allowed_zh = "、".join(ACTION_ZH[a] for a in allowed) or "无（流程已结束）"
    allowed_en = ", ".join(allowed) or "none (the case is finished)"
    return DomainError(
        "cases.illegal_transition",
        f"案件当前为“{STATE_ZH[state]}”，不能{ACTION_ZH[action]}；现在可以：{allowed_zh}",
        f"a case in state {state} cannot take action {action}; allowed now: {allowed_en}",
        ErrorKind.CONFLICT,
        params={"state": str(state), "action": str(action), "allowed_actions": ",".join(allowed)},
    )


def _capacity_for(case: CaseSnapshot, actor: Actor, action: Action, rule: Rule) -> Capacity:
    held = capacities(case, actor) & rule.allowed
    if held:
        return next(c for c in _PREFERENCE if c in held)
    allowed = [c for c in _PREFERENCE if c in rule.allowed]
    at_street = (
        "；案件已上报至街道，由街道办理"
        if case.escalation_level is Level.STREET and Capacity.COMMUNITY_STAFF in rule.allowed
        else ""
    )
    raise DomainError(
        "cases.action_not_permitted",
        f"只有{'、'.join(CAPACITY_ZH[c] for c in allowed)}可以{ACTION_ZH[action]}{at_street}",
        f"only {', '.join(allowed)} may take action {action} on a case in state {case.state}"
        + ("; the case is at street level" if at_street else ""),
        ErrorKind.PERMISSION_DENIED,
        params={"action": str(action), "allowed_roles": ",".join(allowed)},
    )


def _check_version(case: CaseSnapshot, expected_version: int) -> None:
    if expected_version != case.version:
        raise DomainError(
            "cases.stale_version",
            "案件已被他人更新，请刷新后重试",
            f"the case changed since version {expected_version}; it is now {case.version}",
            ErrorKind.CONFLICT,
            params={"current_version": str(case.version)},
        )


def _invalid(field_name: str, message_zh: str, description: str) -> DomainError:
    return invalid_input(
        f"cases.{field_name}_invalid",
        message_zh,
        f"{field_name}: {description}",
        FieldViolation(field_name, description),
    )


@dataclass(frozen=True)
class _Input:
    at: datetime
    capacity: Capacity
    note: str
    assignee_id: str | None
    deadline: datetime | None
    level: Level | None
    photos: tuple[str, ...]
    rating: str | None
    reason: str | None
    until: datetime | None
    into_case_id: str | None
    reopen_window: timedelta


# A step returns the snapshot fields to change (``state`` overrides the table's target) and the
# timeline data (strings, so the entry maps one-to-one onto the proto and the event).
_Changes = dict[str, Any]
_Step = tuple[_Changes, dict[str, str]]


def _required_note(given: _Input, why_zh: str) -> None:
    if not given.note:
        raise _invalid("note", f"请填写{why_zh}", "required for this action")


def _required_assignee(given: _Input) -> str:
    if not given.assignee_id:
        raise _invalid("assignee_id", "请指定承办人", "required for this action")
    return given.assignee_id


def _accept(case: CaseSnapshot, given: _Input) -> _Step:
    return {}, {}


def _reject(case: CaseSnapshot, given: _Input) -> _Step:
    _required_note(given, "不予立案的理由（将告知上报人）")
    return {}, {}


def _void(case: CaseSnapshot, given: _Input) -> _Step:
    if given.capacity is not Capacity.REPORTER:
        _required_note(given, "作废理由")
    return {}, {}


def _dispatch(case: CaseSnapshot, given: _Input) -> _Step:
    assignee = _required_assignee(given)
    if given.deadline is not None and given.deadline <= given.at:
        raise _invalid("deadline", "处置时限应晚于派遣时间", "must be after the dispatch time")
    # No covering micro-grid: the router dispatches to the community queue directly.
    level = given.level or Level.MICRO_GRID
    changes: _Changes = {"assignee_id": assignee, "escalation_level": level}
    if given.deadline is not None:
        changes["deadline"] = given.deadline
    if case.dispatched_at is None:
        changes["dispatched_at"] = given.at
    data = {"assignee_id": assignee, "level": str(level)}
    if given.deadline is not None:
        data["deadline"] = given.deadline.isoformat()
    return changes, data


def _reassign(case: CaseSnapshot, given: _Input) -> _Step:
    assignee = _required_assignee(given)
    if assignee == case.assignee_id:
        raise _invalid("assignee_id", "已由该承办人办理", "the case is already assigned to them")
    _required_note(given, "改派理由")
    return {"assignee_id": assignee}, {
        "assignee_id": assignee,
        "previous_assignee_id": case.assignee_id or "",
    }


def _start(case: CaseSnapshot, given: _Input) -> _Step:
    return {}, {}


def _suspend(case: CaseSnapshot, given: _Input) -> _Step:
    _required_note(given, "缓办理由")
    return {"suspended_since": given.at}, {}


def _resume(case: CaseSnapshot, given: _Input) -> _Step:
    assert case.suspended_since is not None
    paused = max(given.at - case.suspended_since, timedelta(0))
    return (
        {"suspended_since": None, "suspended_total": case.suspended_total + paused},
        {"suspended_seconds": str(int(paused.total_seconds()))},
    )


def _resolve(case: CaseSnapshot, given: _Input) -> _Step:
    _required_note(given, "处置情况说明")
    photos = tuple(p.strip() for p in given.photos)
    if len(photos) > MAX_PHOTOS or not all(photos):
        raise _invalid(
            "photos", f"照片最多{MAX_PHOTOS}张且不能为空", f"at most {MAX_PHOTOS} non-empty refs"
        )
    data = {"photos": ",".join(photos)} if photos else {}
    return {"resolved_at": given.at}, data


def _verify(case: CaseSnapshot, given: _Input) -> _Step:
    return {}, {}


def _send_back(case: CaseSnapshot, given: _Input) -> _Step:
    _required_note(given, "退回理由")
    return {"resolved_at": None, "sent_back_count": case.sent_back_count + 1}, {}


def _close(case: CaseSnapshot, given: _Input) -> _Step:
    return {"closed_at": given.at, "rating": None}, {}


def _reopen_window_open(case: CaseSnapshot, given: _Input) -> bool:
    assert case.closed_at is not None
    return given.at <= case.closed_at + given.reopen_window


def _reopened(case: CaseSnapshot) -> _Changes:
    # Back to the same assignee; the SLA clock keeps its first start (rework counts as late).
    return {
        "state": State.DISPATCHED,
        "reopened_count": case.reopened_count + 1,
        "resolved_at": None,
    }


def _rate(case: CaseSnapshot, given: _Input) -> _Step:
    try:
        rating = Rating(given.rating or "")
    except ValueError:
        raise _invalid(
            "rating",
            "请选择评价：满意、基本满意或不满意",
            f"one of {', '.join(Rating)}",
        ) from None
    if rating is Rating.UNSATISFIED and not given.note:
        raise _invalid("note", "请说明不满意的原因", "required for an unsatisfied rating")
    changes: _Changes = {"rating": rating}
    reopens = rating is Rating.UNSATISFIED and _reopen_window_open(case, given)
    if reopens:
        changes |= _reopened(case)
    return changes, {"rating": str(rating), "reopened": str(reopens).lower()}


def _reopen(case: CaseSnapshot, given: _Input) -> _Step:
    if not _reopen_window_open(case, given):
        assert case.closed_at is not None
        ended = case.closed_at + given.reopen_window
        raise invalid_input(
            "cases.reopen_window_closed",
            f"结案已超过{given.reopen_window.days}天，不能重新办理，请另行上报",
            f"the reopen window ended at {ended.isoformat()}; report a new case instead",
            FieldViolation("action", f"reopen window ended at {ended.isoformat()}"),
        )
    _required_note(given, "重新办理的理由")
    return _reopened(case), {}


def _request_extension(case: CaseSnapshot, given: _Input) -> _Step:
    until = _later_deadline(case, given)
    _required_note(given, "延期理由")
    return {"pending_extension_until": until}, {"until": until.isoformat()}


def _extend_deadline(case: CaseSnapshot, given: _Input) -> _Step:
    # Approving names no date (the one requested) or its own; granting without a request too.
    given = dataclasses.replace(given, until=given.until or case.pending_extension_until)
    until = _later_deadline(case, given)
    requested = case.pending_extension_until is not None
    return (
        {"deadline": until, "pending_extension_until": None, "extensions": case.extensions + 1},
        {"until": until.isoformat(), "requested": str(requested).lower()},
    )


def _decline_extension(case: CaseSnapshot, given: _Input) -> _Step:
    if case.pending_extension_until is None:
        raise _invalid("action", "没有待审批的延期申请", "no extension request is pending")
    _required_note(given, "驳回理由")
    return {"pending_extension_until": None}, {}


def _later_deadline(case: CaseSnapshot, given: _Input) -> datetime:
    if given.until is None:
        raise _invalid("until", "请填写延期后的处置时限", "required for this action")
    floor = max(given.at, case.deadline) if case.deadline else given.at
    if given.until <= floor:
        raise _invalid("until", "延期后的时限应晚于当前时限", f"must be after {floor.isoformat()}")
    return given.until


def _escalate(case: CaseSnapshot, given: _Input) -> _Step:
    rung = LADDER.index(case.escalation_level)
    if rung == len(LADDER) - 1:
        raise DomainError(
            "cases.escalation_at_top",
            "案件已在街道办理，不能再上报",
            "the case is already handled at street level, the top of the ladder",
            ErrorKind.CONFLICT,
            params={"level": str(case.escalation_level)},
        )
    try:
        reason = EscalationReason(given.reason or "")
    except ValueError:
        raise _invalid(
            "reason", "请说明上报原因：超期或申请", f"one of {', '.join(EscalationReason)}"
        ) from None
    # Small matters stay in the building: the scheduler escalates only what is overdue, people
    # only on an explicit request that says why.
    if (reason is EscalationReason.OVERDUE) != (given.capacity is Capacity.SYSTEM):
        raise _invalid(
            "reason",
            "超期上报由系统自动进行；人工上报请选择“申请”并说明原因",
            "overdue escalation is the scheduler's; people escalate on request",
        )
    if reason is EscalationReason.REQUESTED:
        _required_note(given, "上报原因")
    level = LADDER[rung + 1]
    changes: _Changes = {"escalation_level": level}
    data = {"from_level": str(case.escalation_level), "to_level": str(level), "reason": str(reason)}
    if given.assignee_id:
        changes["assignee_id"] = given.assignee_id
        data["assignee_id"] = given.assignee_id
    return changes, data


def _merge(case: CaseSnapshot, given: _Input) -> _Step:
    target = (given.into_case_id or "").strip()
    if not target or target == case.case_id:
        raise _invalid("into_case_id", "请指定要并入的另一案件", "another case's id")
    return {"merged_into": target}, {"into_case_id": target}


_STEPS = {
    Action.ACCEPT: _accept,
    Action.REJECT: _reject,
    Action.VOID: _void,
    Action.DISPATCH: _dispatch,
    Action.REASSIGN: _reassign,
    Action.START: _start,
    Action.SUSPEND: _suspend,
    Action.RESUME: _resume,
    Action.RESOLVE: _resolve,
    Action.VERIFY: _verify,
    Action.SEND_BACK: _send_back,
    Action.CLOSE: _close,
    Action.RATE: _rate,
    Action.REOPEN: _reopen,
    Action.REQUEST_EXTENSION: _request_extension,
    Action.EXTEND_DEADLINE: _extend_deadline,
    Action.DECLINE_EXTENSION: _decline_extension,
    Action.ESCALATE: _escalate,
    Action.MERGE: _merge,
}
