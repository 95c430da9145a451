"""The cases REST bodies become the cases service's requests, and its answers REST documents:
words for enums (the lifecycle's own), Chinese labels beside them, times in Asia/Shanghai,
rates null without a denominator, fields named on refusal."""

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, get_args

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import ValidationError

from cases import lifecycle
from cases.records import Source
from gateway.cases.models import (
    ACTION_ZH,
    CASE_SOURCES,
    CASE_STATES,
    LEVELS,
    RATINGS,
    STATE_ZH,
    ActionWord,
    CaseOut,
    CaseStatisticsOut,
    IndicatorsOut,
    PutCalendar,
    PutCategory,
    ReportCase,
    TakeAction,
    TimelineEntryOut,
    list_cases_request,
    statistics_request,
)
from shequ.cases.v1 import cases_pb2 as pb
from shequ_kit.errors import DomainError

BUILDING = "6b1a8c54-1111-4000-8000-000000000001"
BEIJING = timezone(timedelta(hours=8))


def refused_fields(error: pytest.ExceptionInfo[ValidationError]) -> list[tuple[str | int, ...]]:
    return [e["loc"] for e in error.value.errors()]


def stamp(moment: datetime) -> Timestamp:
    found = Timestamp()
    found.FromDatetime(moment)
    return found


def report(**fields: Any) -> ReportCase:
    return ReportCase.model_validate({"category_code": "0103", "title": "楼道堆放纸箱", **fields})


def list_request(**given: Any) -> pb.ListCasesRequest:
    filters: dict[str, Any] = dict.fromkeys(
        (
            "states", "category", "grid_id", "micro_grid_id", "building_id", "source", "level",
            "mine", "overdue", "since", "until", "q",
        )
    )  # fmt: skip
    return list_cases_request(**(filters | given))


# ---- the gateway's words are the service's ----


def test_the_gateways_words_are_the_lifecycles_words() -> None:
    assert set(CASE_STATES.words) == {s.value for s in lifecycle.State}
    assert set(LEVELS.words) == {lv.value for lv in lifecycle.Level}
    assert set(RATINGS.words) == {r.value for r in lifecycle.Rating}
    assert set(CASE_SOURCES.words) == {s.value for s in Source}
    assert list(get_args(ActionWord)) == [a.value for a in lifecycle.Action]


def test_the_chinese_labels_are_the_lifecycles_labels() -> None:
    assert {CASE_STATES.word(n): zh for n, zh in STATE_ZH.items()} == {
        s.value: zh for s, zh in lifecycle.STATE_ZH.items()
    }
    assert {a: zh for a, zh in ACTION_ZH.items() if a != "report"} == {
        a.value: zh for a, zh in lifecycle.ACTION_ZH.items()
    }


# ---- reporting ----


def test_a_report_at_a_building_carries_the_place_and_the_idempotency_key() -> None:
    request = report(
        place={"building_id": BUILDING, "address": " 晴庐3幢 "}, photos=["p/1.jpg"]
    ).to_proto("retry-7")
    assert request.place.building_id == BUILDING
    assert request.place.address == "晴庐3幢"
    assert not request.place.has_coordinates
    assert (request.idempotency_key, list(request.photos)) == ("retry-7", ["p/1.jpg"])
    # No source given: the service picks it from the caller's role.
    assert request.source == pb.CASE_SOURCE_UNSPECIFIED


def test_a_hotline_report_by_staff_names_its_source_and_reporter() -> None:
    request = report(
        source="hotline_12345", reporter_name="王秀英", reporter_phone="138 1234 5678"
    ).to_proto(None)
    assert request.source == pb.CASE_SOURCE_HOTLINE_12345
    assert (request.reporter_name, request.idempotency_key) == ("王秀英", "")


def test_a_blank_title_is_refused_by_name() -> None:
    with pytest.raises(ValidationError) as refused:
        report(title="   ")
    assert refused_fields(refused) == [("title",)]


def test_a_category_code_is_four_ascii_digits() -> None:
    for code in ("103", "01030", "０１０３", "0a03"):
        with pytest.raises(ValidationError) as refused:
            report(category_code=code)
        assert refused_fields(refused) == [("category_code",)]


def test_an_unknown_source_word_is_refused_listing_the_words() -> None:
    with pytest.raises(ValidationError) as refused:
        report(source="fax")
    assert refused_fields(refused) == [("source",)]
    assert "hotline_12345" in refused.value.errors()[0]["msg"]


def test_coordinates_come_in_pairs_and_within_range() -> None:
    with pytest.raises(ValidationError) as refused:
        report(place={"latitude": 30.18})
    assert refused_fields(refused) == [("place",)]
    with pytest.raises(ValidationError) as refused:
        report(place={"latitude": 91, "longitude": 120.26})
    assert refused_fields(refused) == [("place", "latitude")]
    place = report(place={"latitude": 30.18, "longitude": 120.26}).to_proto(None).place
    assert (place.has_coordinates, place.latitude, place.longitude) == (True, 30.18, 120.26)


def test_a_building_id_that_is_not_an_id_is_refused_by_name() -> None:
    with pytest.raises(ValidationError) as refused:
        report(place={"building_id": "3幢"})
    assert refused_fields(refused) == [("place", "building_id")]


def test_at_most_nine_photos_none_empty() -> None:
    with pytest.raises(ValidationError) as refused:
        report(photos=[f"p/{i}.jpg" for i in range(10)])
    assert refused_fields(refused) == [("photos",)]
    with pytest.raises(ValidationError) as refused:
        report(photos=["p/1.jpg", " "])
    assert refused_fields(refused) == [("photos", 1)]


# ---- actions ----


def test_an_action_carries_its_rating_as_the_proto_value() -> None:
    request = TakeAction.model_validate(
        {"action": "rate", "expected_version": 7, "rating": "unsatisfied", "note": "又堆上了"}
    ).to_proto("c1")
    assert (request.case_id, request.action, request.expected_version) == ("c1", "rate", 7)
    assert request.rating == pb.RATING_UNSATISFIED
    assert not request.HasField("until")


def test_an_unknown_action_or_rating_is_refused_by_name() -> None:
    with pytest.raises(ValidationError) as refused:
        TakeAction.model_validate({"action": "teleport", "expected_version": 1})
    assert refused_fields(refused) == [("action",)]
    assert "send_back" in refused.value.errors()[0]["msg"]
    with pytest.raises(ValidationError) as refused:
        TakeAction.model_validate({"action": "rate", "expected_version": 1, "rating": "great"})
    assert refused_fields(refused) == [("rating",)]


def test_people_escalate_on_request_only() -> None:
    with pytest.raises(ValidationError) as refused:
        TakeAction.model_validate(
            {"action": "escalate", "expected_version": 1, "reason": "overdue"}
        )
    assert refused_fields(refused) == [("reason",)]


def test_an_extension_date_without_offset_is_beijing_time() -> None:
    request = TakeAction.model_validate(
        {"action": "request_extension", "expected_version": 3, "until": "2026-11-27T17:30:00"}
    ).to_proto("c1")
    assert request.until.ToDatetime(tzinfo=UTC) == datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def test_an_extension_date_that_is_no_date_is_refused_by_name() -> None:
    with pytest.raises(ValidationError) as refused:
        TakeAction.model_validate(
            {"action": "request_extension", "expected_version": 3, "until": "next friday"}
        )
    assert refused_fields(refused) == [("until",)]


def test_the_version_read_is_required() -> None:
    with pytest.raises(ValidationError) as refused:
        TakeAction.model_validate({"action": "start"})
    assert refused_fields(refused) == [("expected_version",)]


# ---- what a case looks like ----


def dispatched_case() -> pb.Case:
    return pb.Case(
        id="c1",
        number="20261123-0001",
        state=pb.CASE_STATE_DISPATCHED,
        source=pb.CASE_SOURCE_RESIDENT_APP,
        level=pb.LEVEL_MICRO_GRID,
        place=pb.Place(building_id=BUILDING),
        reported_at=stamp(datetime(2026, 11, 23, 1, 30, tzinfo=UTC)),
        deadline=stamp(datetime(2026, 11, 26, 1, 30, tzinfo=UTC)),
        allowed_actions=["start", "resolve"],
        version=3,
    )


def test_a_case_shows_words_labels_and_beijing_times() -> None:
    case = CaseOut.of(dispatched_case())
    assert (case.state, case.state_label, case.source) == ("dispatched", "已派遣", "resident_app")
    assert (case.level, case.level_label) == ("micro_grid", "微网格")
    assert case.reported_at == datetime(2026, 11, 23, 9, 30, tzinfo=BEIJING)
    assert case.model_dump(mode="json")["deadline"] == "2026-11-26T09:30:00+08:00"
    assert case.allowed_actions == ["start", "resolve"]


def test_what_a_case_does_not_have_is_null() -> None:
    case = CaseOut.of(dispatched_case())
    assert (case.closed_at, case.rating, case.assignee, case.description) == (
        None,
        None,
        None,
        None,
    )
    assert (case.place.latitude, case.place.longitude) == (None, None)
    assert case.place.building_id == BUILDING


def test_the_first_timeline_line_has_no_from_state() -> None:
    entry = TimelineEntryOut.of(
        pb.TimelineEntry(
            action="report",
            actor="8b4e3d2c",
            capacity="resident",
            to_state=pb.CASE_STATE_REPORTED,
            at=stamp(datetime(2026, 11, 23, 1, 30, tzinfo=UTC)),
        )
    )
    assert (entry.from_state, entry.to_state, entry.to_state_label) == (None, "reported", "已上报")
    assert (entry.action_label, entry.note) == ("上报", None)


# ---- listing ----


def test_list_filters_become_the_services_request() -> None:
    request = list_request(
        states=["dispatched", "in_progress"], mine="assigned", overdue=True, q=" 纸箱 "
    )
    assert list(request.states) == [pb.CASE_STATE_DISPATCHED, pb.CASE_STATE_IN_PROGRESS]
    assert (request.assigned_to_me, request.reported_by_me) == (True, False)
    assert (request.overdue_only, request.query) == (True, "纸箱")
    assert request.source == pb.CASE_SOURCE_UNSPECIFIED
    assert list_request(mine="reported").reported_by_me


def test_a_list_period_must_run_forward() -> None:
    with pytest.raises(DomainError) as refused:
        list_request(
            since=datetime(2026, 11, 23, 10, 0), until=datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
        )
    assert [v.field for v in refused.value.field_violations] == ["query.until"]


# ---- statistics ----


def test_rates_without_a_denominator_are_null_and_zero_rates_stay_zero() -> None:
    figures = IndicatorsOut.of(
        pb.Indicators(
            reported=1,
            by_state=[pb.StateCount(state=pb.CASE_STATE_RATED, count=1)],
            closed=2,
            reopened=1,
            has_rework_rate=True,
            rework_rate=0.5,
            has_closure_rate=False,
            has_satisfaction_rate=True,
            satisfaction_rate=0.0,
            mean_handling_seconds=5400,
        )
    )
    assert figures.by_state == {"rated": 1}
    assert (figures.rework_rate, figures.closure_rate, figures.satisfaction_rate) == (
        0.5,
        None,
        0.0,
    )
    assert figures.mean_handling_hours == 1.5
    assert IndicatorsOut.of(pb.Indicators()).mean_handling_hours is None


def test_statistics_name_their_period_in_beijing_time() -> None:
    reply = pb.GetStatisticsResponse(
        start=stamp(datetime(2026, 10, 31, 16, 0, tzinfo=UTC)),
        end=stamp(datetime(2026, 11, 30, 16, 0, tzinfo=UTC)),
        total=pb.Indicators(),
    )
    shown = CaseStatisticsOut.of(reply).model_dump(mode="json")
    assert (shown["start"], shown["end"]) == (
        "2026-11-01T00:00:00+08:00",
        "2026-12-01T00:00:00+08:00",
    )


def test_a_statistics_period_needs_both_ends_in_order() -> None:
    with pytest.raises(DomainError) as refused:
        statistics_request(datetime(2026, 11, 1), None, None)
    assert [v.field for v in refused.value.field_violations] == ["query.end"]
    with pytest.raises(DomainError) as refused:
        statistics_request(datetime(2026, 11, 1), datetime(2026, 10, 1), None)
    assert [v.field for v in refused.value.field_violations] == ["query.end"]
    request = statistics_request(datetime(2026, 11, 1), datetime(2026, 12, 1), "category")
    assert request.start.ToDatetime(tzinfo=UTC) == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert request.group_by == pb.STATISTICS_GROUPING_CATEGORY
    assert not statistics_request(None, None, None).HasField("start")


# ---- catalogue and calendar ----


def test_a_category_is_put_under_its_path_code_with_its_major() -> None:
    body = PutCategory.model_validate(
        {
            "expected_version": 0,
            "major_name": "小区治理",
            "name": "电动车楼道充电",
            "acceptance_standard": "楼道内发现电动车充电",
            "closing_standard": "车辆移出、线路拆除",
            "deadline_amount": 4,
            "deadline_unit": "working_hours",
            "responsible_level": "micro_grid",
            "urgent": True,
        }
    )
    request = body.to_proto("1101")
    assert (request.category.code, request.category.major_code) == ("1101", "11")
    assert request.category.deadline_unit == pb.DEADLINE_UNIT_WORKING_HOURS
    assert request.category.responsible_level == pb.LEVEL_MICRO_GRID
    assert (request.category.urgent, request.category.enabled, request.expected_version) == (
        True,
        True,
        0,
    )


def test_a_category_with_an_unknown_unit_or_level_is_refused_by_name() -> None:
    with pytest.raises(ValidationError) as refused:
        PutCategory.model_validate(
            {
                "expected_version": 0,
                "name": "x",
                "acceptance_standard": "x",
                "closing_standard": "x",
                "deadline_amount": 1,
                "deadline_unit": "weeks",
                "responsible_level": "district",
            }
        )
    assert sorted(refused_fields(refused)) == [("deadline_unit",), ("responsible_level",)]


def test_a_calendar_day_is_a_holiday_or_a_working_day_not_both() -> None:
    with pytest.raises(ValidationError) as refused:
        PutCalendar.model_validate(
            {
                "holidays": ["2026-10-09"],
                "adjusted_working_days": ["2026-10-09"],
                "expected_version": 0,
            }
        )
    assert "2026-10-09" in str(refused.value)
    request = PutCalendar.model_validate(
        {"holidays": [date(2026, 10, 9), "2026-10-08", "2026-10-09"], "expected_version": 2}
    ).to_proto()
    assert list(request.holidays) == ["2026-10-08", "2026-10-09"]
    assert request.expected_version == 2
