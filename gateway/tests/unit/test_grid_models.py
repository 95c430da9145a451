"""The grid's REST bodies become the grid service's requests, and its answers REST documents:
field masks, words for enums, GeoJSON boundaries, times in Asia/Shanghai, fields named on
refusal."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from gateway.grid.models import (
    AddMember,
    AssignBuildings,
    CreateGrid,
    GridDetailOut,
    GridPlanOut,
    ProposeLayout,
    RecordVisit,
    UpdateGrid,
    UpdateMicroGrid,
    WhoCoversOut,
    WorkloadOut,
)
from shequ.grid.v1 import grid_pb2 as pb
from shequ_kit.errors import DomainError

SQUARE = {"type": "Polygon", "coordinates": [[[120.26, 30.18], [120.27, 30.18], [120.26, 30.19]]]}


def refused_fields(error: pytest.ExceptionInfo[ValidationError]) -> list[tuple[str | int, ...]]:
    return [e["loc"] for e in error.value.errors()]


def test_a_grid_is_created_with_its_boundary_as_geojson_text() -> None:
    request = CreateGrid.model_validate({"name": "第三网格", "boundary": SQUARE}).to_proto()
    assert (request.name, request.number) == ("第三网格", 0)
    assert '"type": "Polygon"' in request.boundary_geojson


def test_a_boundary_that_is_not_an_area_is_refused_by_name() -> None:
    with pytest.raises(ValidationError) as refused:
        CreateGrid.model_validate(
            {"name": "第三网格", "boundary": {"type": "Point", "coordinates": [120.2, 30.1]}}
        )
    assert refused_fields(refused) == [("boundary", "type")]


def test_a_division_code_has_twelve_digits() -> None:
    with pytest.raises(ValidationError) as refused:
        CreateGrid.model_validate({"name": "第三网格", "division_code": "3301090010"})
    assert refused_fields(refused) == [("division_code",)]


def test_a_grid_update_masks_the_fields_sent_and_null_clears_the_boundary() -> None:
    request = UpdateGrid.model_validate(
        {"boundary": None, "number": 4, "expected_version": 3}
    ).to_proto("g1")
    assert list(request.update_mask.paths) == ["boundary_geojson", "number"]
    assert (request.grid_id, request.number, request.boundary_geojson) == ("g1", 4, "")
    assert request.expected_version == 3


def test_a_name_cannot_be_cleared_and_the_version_read_is_required() -> None:
    with pytest.raises(ValidationError) as refused:
        UpdateGrid.model_validate({"name": None})
    assert sorted(refused_fields(refused)) == [("expected_version",), ("name",)]


def test_moving_a_micro_grid_to_another_grid_is_a_masked_grid_id() -> None:
    request = UpdateMicroGrid.model_validate({"grid_id": "g2", "expected_version": 1}).to_proto(
        "m1"
    )
    assert list(request.update_mask.paths) == ["grid_id"]
    assert request.grid_id == "g2"


def test_a_building_listed_twice_is_refused_before_the_service() -> None:
    with pytest.raises(ValidationError) as refused:
        AssignBuildings.model_validate({"micro_grid_id": "m1", "building_ids": ["b1", "b1"]})
    assert refused_fields(refused) == [("building_ids",)]


def test_a_micro_grid_leader_needs_the_micro_grid_they_lead() -> None:
    with pytest.raises(ValidationError) as refused:
        AddMember.model_validate({"role": "micro_grid_leader", "name": "陈建国"})
    assert refused_fields(refused) == [("micro_grid_id",)]
    request = AddMember.model_validate(
        {"role": "grid_worker", "name": "李娜", "account_username": "hushan-grid"}
    ).to_proto("g1")
    assert request.member.role == pb.MEMBER_ROLE_GRID_WORKER
    assert (request.member.grid_id, request.member.account_username) == ("g1", "hushan-grid")


def test_a_role_the_contract_does_not_know_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        AddMember.model_validate({"role": "mayor", "name": "李娜"})
    assert refused_fields(refused) == [("role",)]


def test_a_visit_without_a_place_names_the_field() -> None:
    body = RecordVisit.model_validate({"findings": "楼道有堆积物"})
    with pytest.raises(DomainError) as refused:
        body.to_proto()
    assert [v.field for v in refused.value.field_violations] == ["body.household_id"]


def test_a_visit_time_without_offset_is_beijing_time() -> None:
    request = RecordVisit.model_validate(
        {"household_id": "h1", "findings": "独居老人身体良好", "visited_at": "2026-11-20T09:30:00"}
    ).to_proto()
    assert request.visit.visited_at.ToDatetime(tzinfo=UTC) == datetime(
        2026, 11, 20, 1, 30, tzinfo=UTC
    )


def test_a_plan_needs_at_least_one_micro_grid_per_grid() -> None:
    with pytest.raises(ValidationError) as refused:
        ProposeLayout.model_validate({"grids": 13, "micro_grids": 12})
    assert refused_fields(refused) == [("micro_grids",)]
    request = ProposeLayout.model_validate({"grids": 13, "micro_grids": 45}).to_proto()
    assert (request.grids, request.micro_grids, request.mode) == (13, 45, pb.LAYOUT_MODE_FRESH)


def test_a_plan_shows_its_diff_and_leaves_absent_balances_null() -> None:
    proposal = pb.Proposal(
        id="p1",
        mode=pb.LAYOUT_MODE_REBALANCE,
        state=pb.PROPOSAL_STATE_STALE,
        micro_grid_balance=pb.Balance(count=45, max_over_mean=1.08),
        diff=pb.LayoutDiff(
            building_moves=[pb.BuildingMove(building_id="b9", to_micro_grid="new-1-1")],
            changed_buildings=1,
        ),
    )
    plan = GridPlanOut.of(proposal)
    assert (plan.mode, plan.state) == ("rebalance", "stale")
    assert plan.micro_grid_balance is not None
    assert plan.micro_grid_balance.max_over_mean == 1.08
    assert plan.current_micro_grid_balance is None
    assert plan.diff is not None
    assert plan.diff.building_moves[0].from_micro_grid is None
    assert plan.created_at is None


def test_escalation_keeps_its_order_and_the_community_step_has_no_member() -> None:
    reply = pb.WhoCoversResponse(
        building_id="b1",
        micro_grid=pb.MicroGrid(id="m1", grid_id="g1"),
        grid=pb.Grid(id="g1"),
        escalation=[
            pb.Responsible(
                level=pb.ESCALATION_LEVEL_MICRO_GRID_LEADER,
                member=pb.Member(
                    id="x", role=pb.MEMBER_ROLE_MICRO_GRID_LEADER, phone="138****5678"
                ),
            ),
            pb.Responsible(
                level=pb.ESCALATION_LEVEL_COMMUNITY, tenant_id="xiaoshan.shushan.hushan"
            ),
        ],
    )
    covering = WhoCoversOut.of(reply)
    assert [s.level for s in covering.escalation] == ["micro_grid_leader", "community"]
    assert covering.escalation[1].member is None
    assert WhoCoversOut.of(pb.WhoCoversResponse(building_id="b2")).micro_grid is None


def test_workload_care_tags_are_the_census_words() -> None:
    figures = WorkloadOut.of(
        pb.Workload(
            scope=pb.WORKLOAD_SCOPE_MICRO_GRID,
            by_care_tag={"CARE_TAG_ELDERLY": 12, "CARE_TAG_LIVING_ALONE": 2},
        )
    )
    assert figures.scope == "micro_grid"
    assert figures.by_care_tag == {"elderly": 12, "living_alone": 2}


def test_a_grid_answers_with_its_boundary_as_an_object() -> None:
    reply = pb.GetGridResponse(
        grid=pb.Grid(id="g1", boundary_geojson='{"type": "Polygon", "coordinates": []}'),
        micro_grids=[pb.MicroGrid(id="m1", grid_id="g1")],
    )
    grid = GridDetailOut.of_reply(reply)
    assert grid.boundary == {"type": "Polygon", "coordinates": []}
    assert [m.id for m in grid.micro_grids] == ["m1"]
    assert grid.micro_grids[0].boundary is None
