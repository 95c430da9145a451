"""The case lifecycle: the table, who may act, what each action needs (no infrastructure)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cases.lifecycle import (
    TRANSITIONS,
    Action,
    Actor,
    Capacity,
    CaseSnapshot,
    Level,
    Rating,
    State,
    TimelineEntry,
    Transition,
    actions_for,
    allowed_actions,
    apply,
)
from shequ_kit.errors import DomainError, ErrorKind
from shequ_kit.tokens import Role

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)

REPORTER = Actor("resident-wang", frozenset({Role.RESIDENT}))
OTHER_RESIDENT = Actor("resident-li", frozenset({Role.RESIDENT}))
LEADER = Actor("grid-zhou", frozenset({Role.GRID_WORKER}))  # the micro-grid leader
OTHER_WORKER = Actor("grid-chen", frozenset({Role.GRID_WORKER}))
STAFF = Actor("hushan-staff", frozenset({Role.COMMUNITY_STAFF}))
STREET = Actor("shushan-admin", frozenset({Role.STREET_ADMIN}))
ADMIN = Actor("platform-root", frozenset({Role.PLATFORM_ADMIN}))
SCHEDULER = Actor.scheduler()

# The lifecycle as the issue describes it, written out independently of the module's table.
SPEC: dict[State, set[str]] = {
    State.REPORTED: {"accept", "reject", "void", "merge"},
    State.ACCEPTED: {"dispatch", "void", "merge", "escalate"},
    State.DISPATCHED: {
        "reassign",
        "start",
        "resolve",
        "suspend",
        "request_extension",
        "extend_deadline",
        "decline_extension",
        "escalate",
        "merge",
    },
    State.IN_PROGRESS: {
        "reassign",
        "suspend",
        "resolve",
        "request_extension",
        "extend_deadline",
        "decline_extension",
        "escalate",
        "merge",
    },
    State.SUSPENDED: {"resume"},
    State.RESOLVED: {"verify", "send_back"},
    State.VERIFIED: {"close", "send_back"},
    State.CLOSED: {"rate", "reopen"},
    State.RATED: {"reopen"},
    State.REJECTED: set(),
    State.VOIDED: set(),
    State.MERGED: set(),
}
LEGAL = sorted((s, Action(a)) for s, actions in SPEC.items() for a in actions)
ILLEGAL = sorted((s, a) for s in State for a in Action if a not in SPEC[s])


def act(case: CaseSnapshot, action: Action, actor: Actor, **given: Any) -> Transition:
    given.setdefault("at", T0)
    return apply(case, action, actor, expected_version=case.version, **given)


def case_in(state: State, **fields: Any) -> CaseSnapshot:
    """A case as it would be in ``state``, with the fields that state implies."""
    implied: dict[str, Any] = {"reporter_id": REPORTER.id}
    if state not in {State.REPORTED, State.ACCEPTED, State.REJECTED, State.VOIDED}:
        implied |= {"assignee_id": LEADER.id, "dispatched_at": T0, "deadline": T0 + 48 * HOUR}
    if state is State.SUSPENDED:
        implied["suspended_since"] = T0
    if state in {State.CLOSED, State.RATED}:
        implied["closed_at"] = T0
    return dataclasses.replace(
        CaseSnapshot(case_id="case-1", state=state, reported_at=T0 - HOUR),
        **(implied | fields),
    )


# What each action needs to succeed; a test below proves each one is really needed.
INPUT: dict[Action, dict[str, Any]] = {
    Action.REJECT: {"note": "不属于社区事务"},
    Action.VOID: {"note": "重复录入"},
    Action.DISPATCH: {"assignee_id": LEADER.id},
    Action.REASSIGN: {"assignee_id": OTHER_WORKER.id, "note": "原承办人休假"},
    Action.SUSPEND: {"note": "等待业委会开会"},
    Action.RESOLVE: {"note": "已清理楼道堆积物"},
    Action.SEND_BACK: {"note": "楼道仍有杂物"},
    Action.RATE: {"rating": "satisfied"},
    Action.REOPEN: {"note": "问题复发"},
    Action.REQUEST_EXTENSION: {"until": T0 + 96 * HOUR, "note": "需物业配合"},
    Action.EXTEND_DEADLINE: {"until": T0 + 96 * HOUR},
    Action.DECLINE_EXTENSION: {"note": "时限充足"},
    Action.ESCALATE: {"reason": "requested", "note": "需社区协调物业"},
    Action.MERGE: {"into_case_id": "case-0"},
}


def actor_for(capacity: Capacity) -> Actor:
    return {
        Capacity.PLATFORM_ADMIN: ADMIN,
        Capacity.STREET_ADMIN: STREET,
        Capacity.COMMUNITY_STAFF: STAFF,
        Capacity.ASSIGNEE: LEADER,
        Capacity.REPORTER: REPORTER,
        Capacity.SYSTEM: SCHEDULER,
    }[capacity]


def ready(state: State, action: Action) -> CaseSnapshot:
    if action is Action.DECLINE_EXTENSION:
        return case_in(state, pending_extension_until=T0 + 72 * HOUR)
    return case_in(state)


def test_the_table_is_the_lifecycle_of_the_issue() -> None:
    assert sorted(TRANSITIONS) == LEGAL
    for state in State:
        assert set(allowed_actions(state)) == SPEC[state]


@pytest.mark.parametrize(("state", "action"), ILLEGAL)
def test_an_action_outside_the_table_is_refused_naming_state_and_allowed_actions(
    state: State, action: Action
) -> None:
    with pytest.raises(DomainError) as refused:
        act(case_in(state), action, ADMIN, **INPUT.get(action, {}))
    error = refused.value
    assert (error.code, error.kind) == ("cases.illegal_transition", ErrorKind.CONFLICT)
    assert error.params["state"] == state
    assert set(filter(None, error.params["allowed_actions"].split(","))) == SPEC[state]
    assert state in error.message_en
    assert all(a in error.message_en for a in SPEC[state])


@pytest.mark.parametrize(("state", "action"), LEGAL)
def test_each_legal_action_leads_where_the_table_says_for_every_capacity_allowed(
    state: State, action: Action
) -> None:
    rule = TRANSITIONS[state, action]
    for capacity in rule.allowed:
        given = dict(INPUT.get(action, {}))
        if action is Action.ESCALATE and capacity is Capacity.SYSTEM:
            given = {"reason": "overdue"}
        case = ready(state, action)
        done = act(case, action, actor_for(capacity), **given)
        assert done.case.state is rule.target
        assert done.case.version == case.version + 1
        assert done.entry == TimelineEntry(
            case_id="case-1",
            at=T0,
            actor_id=actor_for(capacity).id,
            capacity=capacity,
            action=action,
            from_state=state,
            to_state=rule.target,
            note=given.get("note", ""),
            data=done.entry.data,
        )


@pytest.mark.parametrize(("state", "action"), LEGAL)
def test_each_legal_action_is_refused_to_everyone_else_naming_who_may(
    state: State, action: Action
) -> None:
    rule = TRANSITIONS[state, action]
    outsiders = [OTHER_RESIDENT, OTHER_WORKER] + [
        actor_for(c) for c in Capacity if c not in rule.allowed
    ]
    for outsider in outsiders:
        with pytest.raises(DomainError) as refused:
            act(ready(state, action), action, outsider, **INPUT.get(action, {}))
        assert refused.value.kind is ErrorKind.PERMISSION_DENIED
        assert set(refused.value.params["allowed_roles"].split(",")) == rule.allowed


def test_the_stairwell_case_from_report_to_satisfied_rating_keeps_a_complete_timeline() -> None:
    case = CaseSnapshot.reported("case-1", at=T0, reporter_id=REPORTER.id)
    timeline: list[TimelineEntry] = []
    steps: list[tuple[Action, Actor, dict[str, Any]]] = [
        (Action.ACCEPT, SCHEDULER, {}),
        (Action.DISPATCH, SCHEDULER, {"assignee_id": LEADER.id, "deadline": T0 + 48 * HOUR}),
        (Action.START, LEADER, {}),
        (Action.RESOLVE, LEADER, {"note": "已清理楼道堆积物", "photos": ("p/1.jpg", "p/2.jpg")}),
        (Action.VERIFY, STAFF, {}),
        (Action.CLOSE, STAFF, {}),
        (Action.RATE, REPORTER, {"rating": "unsatisfied", "note": "三楼还有纸箱"}),
        (Action.START, LEADER, {}),
        (Action.RESOLVE, LEADER, {"note": "三楼纸箱已清走"}),
        (Action.VERIFY, STAFF, {}),
        (Action.CLOSE, STAFF, {}),
        (Action.RATE, REPORTER, {"rating": "satisfied"}),
    ]
    for hour, (action, actor, given) in enumerate(steps, start=1):
        done = act(case, action, actor, at=T0 + hour * HOUR, **given)
        case = done.case
        timeline.append(done.entry)

    assert [(e.action, e.from_state, e.to_state) for e in timeline] == [
        ("accept", "reported", "accepted"),
        ("dispatch", "accepted", "dispatched"),
        ("start", "dispatched", "in_progress"),
        ("resolve", "in_progress", "resolved"),
        ("verify", "resolved", "verified"),
        ("close", "verified", "closed"),
        ("rate", "closed", "dispatched"),  # unsatisfied inside the window reopens
        ("start", "dispatched", "in_progress"),
        ("resolve", "in_progress", "resolved"),
        ("verify", "resolved", "verified"),
        ("close", "verified", "closed"),
        ("rate", "closed", "rated"),
    ]
    assert [e.actor_id for e in timeline][:4] == [SCHEDULER.id, SCHEDULER.id, LEADER.id, LEADER.id]
    assert [e.at for e in timeline] == [T0 + h * HOUR for h in range(1, 13)]
    assert timeline[3].data == {"photos": "p/1.jpg,p/2.jpg"}
    assert timeline[6].data == {"rating": "unsatisfied", "reopened": "true"}
    assert timeline[6].note == "三楼还有纸箱"
    assert timeline[11].data == {"rating": "satisfied", "reopened": "false"}
    assert (case.state, case.rating, case.reopened_count) == ("rated", Rating.SATISFIED, 1)
    assert case.assignee_id == LEADER.id  # the reopened case went back to the same leader
    assert case.dispatched_at == T0 + 2 * HOUR  # the SLA clock started at the first dispatch
    assert case.closed_at == T0 + 11 * HOUR
    assert case.version == 13


@pytest.mark.parametrize(
    ("action", "missing", "field"),
    [
        (Action.RESOLVE, "note", "note"),
        (Action.REJECT, "note", "note"),
        (Action.DISPATCH, "assignee_id", "assignee_id"),
        (Action.REASSIGN, "assignee_id", "assignee_id"),
        (Action.SUSPEND, "note", "note"),
        (Action.SEND_BACK, "note", "note"),
        (Action.RATE, "rating", "rating"),
        (Action.EXTEND_DEADLINE, "until", "until"),
        (Action.ESCALATE, "reason", "reason"),
        (Action.ESCALATE, "note", "note"),
        (Action.MERGE, "into_case_id", "into_case_id"),
    ],
)
def test_an_action_without_its_required_input_is_refused_naming_the_field(
    action: Action, missing: str, field: str
) -> None:
    state = next(s for s, a in LEGAL if a is action)
    given = {k: v for k, v in INPUT.get(action, {}).items() if k != missing}
    with pytest.raises(DomainError) as refused:
        act(ready(state, action), action, STAFF, **given)
    assert refused.value.kind is ErrorKind.INVALID_INPUT
    assert [v.field for v in refused.value.field_violations] == [field]


def test_an_unknown_rating_is_refused_in_both_languages() -> None:
    with pytest.raises(DomainError) as refused:
        act(case_in(State.CLOSED), Action.RATE, REPORTER, rating="great")
    assert refused.value.field_violations[0].field == "rating"
    assert "满意" in refused.value.message_zh
    assert "basically_satisfied" in refused.value.message_en


def test_an_unsatisfied_rating_needs_a_reason() -> None:
    with pytest.raises(DomainError) as refused:
        act(case_in(State.CLOSED), Action.RATE, REPORTER, rating="unsatisfied")
    assert refused.value.field_violations[0].field == "note"


def test_an_unsatisfied_rating_after_the_reopen_window_is_recorded_without_reopening() -> None:
    late = T0 + timedelta(days=7, seconds=1)
    done = act(
        case_in(State.CLOSED), Action.RATE, REPORTER, at=late, rating="unsatisfied", note="太慢"
    )
    assert (done.case.state, done.case.rating, done.case.reopened_count) == (
        "rated",
        Rating.UNSATISFIED,
        0,
    )
    assert done.entry.data["reopened"] == "false"


def test_the_reopen_window_is_configurable_and_inclusive() -> None:
    window = timedelta(days=3)
    given = {"rating": "unsatisfied", "note": "仍有积水", "reopen_window": window}
    inside = act(case_in(State.CLOSED), Action.RATE, REPORTER, at=T0 + window, **given)
    assert inside.case.state is State.DISPATCHED
    outside = act(case_in(State.CLOSED), Action.RATE, REPORTER, at=T0 + window + HOUR, **given)
    assert outside.case.state is State.RATED


def test_staff_reopen_a_rated_case_only_inside_the_window() -> None:
    rated = case_in(State.RATED, rating=Rating.SATISFIED)
    reopened = act(rated, Action.REOPEN, STAFF, at=T0 + 6 * 24 * HOUR, note="问题复发")
    assert (reopened.case.state, reopened.case.reopened_count) == ("dispatched", 1)
    with pytest.raises(DomainError) as refused:
        act(rated, Action.REOPEN, STAFF, at=T0 + 8 * 24 * HOUR, note="问题复发")
    error = refused.value
    assert (error.code, error.kind) == ("cases.reopen_window_closed", ErrorKind.INVALID_INPUT)
    assert error.field_violations[0].field == "action"
    assert "7天" in error.message_zh


def test_escalation_climbs_one_rung_at_a_time_and_stops_at_street() -> None:
    case = case_in(State.IN_PROGRESS)
    levels = []
    for _ in range(3):
        done = act(case, Action.ESCALATE, SCHEDULER, reason="overdue")
        case = done.case
        levels.append((done.entry.data["from_level"], done.entry.data["to_level"]))
    assert levels == [("micro_grid", "grid"), ("grid", "community"), ("community", "street")]
    assert case.state is State.IN_PROGRESS  # escalation changes who is responsible, not the state
    with pytest.raises(DomainError) as refused:
        act(case, Action.ESCALATE, SCHEDULER, reason="overdue")
    assert (refused.value.code, refused.value.kind) == (
        "cases.escalation_at_top",
        ErrorKind.CONFLICT,
    )


def test_escalation_is_the_schedulers_when_overdue_and_peoples_only_on_request() -> None:
    case = case_in(State.DISPATCHED)
    for actor, reason in [(SCHEDULER, "requested"), (LEADER, "overdue"), (STAFF, "overdue")]:
        with pytest.raises(DomainError) as refused:
            act(case, Action.ESCALATE, actor, reason=reason, note="需协调")
        assert refused.value.field_violations[0].field == "reason"
    asked = act(case, Action.ESCALATE, LEADER, reason="requested", note="需社区协调物业")
    assert asked.case.escalation_level is Level.GRID
    assert asked.case.assignee_id == LEADER.id  # stays involved unless a new assignee is named
    handed = act(
        case, Action.ESCALATE, STAFF, reason="requested", note="交网格长", assignee_id="grid-wu"
    )
    assert handed.case.assignee_id == "grid-wu"


def test_a_case_at_street_level_is_the_streets_not_the_communitys() -> None:
    at_street = case_in(State.RESOLVED, escalation_level=Level.STREET)
    with pytest.raises(DomainError) as refused:
        act(at_street, Action.VERIFY, STAFF)
    assert refused.value.kind is ErrorKind.PERMISSION_DENIED
    assert "街道" in refused.value.message_zh
    assert act(at_street, Action.VERIFY, STREET).case.state is State.VERIFIED
    assert act(case_in(State.RESOLVED), Action.VERIFY, STAFF).case.state is State.VERIFIED


def test_the_reporter_may_withdraw_only_while_the_report_is_unaccepted() -> None:
    withdrawn = act(case_in(State.REPORTED), Action.VOID, REPORTER)
    assert withdrawn.case.state is State.VOIDED
    assert withdrawn.entry.capacity is Capacity.REPORTER
    with pytest.raises(DomainError) as refused:
        act(case_in(State.REPORTED), Action.VOID, OTHER_RESIDENT)
    assert refused.value.kind is ErrorKind.PERMISSION_DENIED
    with pytest.raises(DomainError) as late:
        act(case_in(State.ACCEPTED), Action.VOID, REPORTER, note="不需要了")
    assert late.value.kind is ErrorKind.PERMISSION_DENIED


def test_only_the_assignee_among_grid_workers_handles_and_nobody_verifies_their_own_work() -> None:
    dispatched = case_in(State.DISPATCHED)
    assert act(dispatched, Action.START, LEADER).entry.capacity is Capacity.ASSIGNEE
    with pytest.raises(DomainError) as refused:
        act(dispatched, Action.START, OTHER_WORKER)
    assert "assignee" in refused.value.params["allowed_roles"]
    assert "承办网格员" in refused.value.message_zh
    with pytest.raises(DomainError):
        act(case_in(State.RESOLVED), Action.VERIFY, LEADER)


def test_the_buttons_a_client_shows_follow_the_table_and_the_actor() -> None:
    dispatched = case_in(State.DISPATCHED)
    assert actions_for(dispatched, LEADER) == (
        Action.START,
        Action.SUSPEND,
        Action.RESOLVE,
        Action.REQUEST_EXTENSION,
        Action.ESCALATE,
    )
    assert actions_for(dispatched, REPORTER) == ()
    assert actions_for(case_in(State.CLOSED), REPORTER) == (Action.RATE,)


def test_a_stale_version_is_refused_naming_the_current_one() -> None:
    case = case_in(State.DISPATCHED, version=4)
    with pytest.raises(DomainError) as refused:
        apply(case, Action.START, LEADER, at=T0, expected_version=3)
    assert (refused.value.code, refused.value.kind) == ("cases.stale_version", ErrorKind.CONFLICT)
    assert refused.value.params == {"current_version": "4"}


def test_suspended_time_is_accumulated_so_the_sla_can_subtract_it() -> None:
    case = case_in(State.IN_PROGRESS)
    for start in (T0, T0 + 24 * HOUR):
        case = act(case, Action.SUSPEND, LEADER, at=start, note="等待业委会").case
        assert case.suspended_since == start
        resumed = act(case, Action.RESUME, STAFF, at=start + 5 * HOUR)
        case = resumed.case
        assert resumed.entry.data == {"suspended_seconds": str(5 * 3600)}
    assert (case.suspended_total, case.suspended_since) == (10 * HOUR, None)


def test_an_extension_is_requested_by_the_assignee_approved_by_staff_and_counted() -> None:
    case = case_in(State.IN_PROGRESS)
    requested = act(case, Action.REQUEST_EXTENSION, LEADER, until=T0 + 96 * HOUR, note="需配合")
    assert (requested.case.deadline, requested.case.extensions) == (T0 + 48 * HOUR, 0)
    approved = act(requested.case, Action.EXTEND_DEADLINE, STAFF)
    assert (approved.case.deadline, approved.case.extensions) == (T0 + 96 * HOUR, 1)
    assert approved.case.pending_extension_until is None
    assert approved.entry.data == {"until": (T0 + 96 * HOUR).isoformat(), "requested": "true"}
    with pytest.raises(DomainError) as earlier:
        act(approved.case, Action.EXTEND_DEADLINE, STAFF, until=T0 + 72 * HOUR)
    assert earlier.value.field_violations[0].field == "until"
    declined = act(requested.case, Action.DECLINE_EXTENSION, STAFF, note="时限充足")
    assert (declined.case.deadline, declined.case.extensions) == (T0 + 48 * HOUR, 0)
    with pytest.raises(DomainError) as nothing_pending:
        act(declined.case, Action.DECLINE_EXTENSION, STAFF, note="时限充足")
    assert nothing_pending.value.field_violations[0].field == "action"


def test_sending_back_counts_rework_and_clears_the_resolution() -> None:
    resolved = case_in(State.RESOLVED, resolved_at=T0)
    back = act(resolved, Action.SEND_BACK, STAFF, note="楼道仍有杂物")
    assert (back.case.state, back.case.sent_back_count, back.case.resolved_at) == (
        "in_progress",
        1,
        None,
    )


def test_a_duplicate_is_merged_into_another_case_not_into_itself() -> None:
    merged = act(case_in(State.REPORTED), Action.MERGE, STAFF, into_case_id="case-0")
    assert (merged.case.state, merged.case.merged_into) == ("merged", "case-0")
    with pytest.raises(DomainError) as refused:
        act(case_in(State.REPORTED), Action.MERGE, STAFF, into_case_id="case-1")
    assert refused.value.field_violations[0].field == "into_case_id"


def test_too_many_photos_are_refused() -> None:
    photos = tuple(f"p/{i}.jpg" for i in range(10))
    with pytest.raises(DomainError) as refused:
        act(case_in(State.IN_PROGRESS), Action.RESOLVE, LEADER, note="已处理", photos=photos)
    assert refused.value.field_violations[0].field == "photos"
