"""What a plan request must satisfy before planning: every refusal says why, in Chinese and
English, and names the field (the gateway turns it into a problem naming that field)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

from grid.planner.model import Mode, PlanRequest
from shequ_kit.errors import DomainError, FieldViolation, invalid_input

# Far above any community (Shibei has about 200 buildings, a big one 1,000); the bound keeps one
# request from occupying the planner for minutes.
MAX_BUILDINGS: Final = 10_000
SHOWN_IDS: Final = 5  # ids an error lists before "…"


def refuse(code: str, message_zh: str, message_en: str, field: str) -> DomainError:
    return invalid_input(f"grid.{code}", message_zh, message_en, FieldViolation(field, message_en))


def listed(ids: Iterable[str]) -> str:
    names = sorted(ids)
    shown = "、".join(names[:SHOWN_IDS])
    return shown + (" …" if len(names) > SHOWN_IDS else "")


def check_request(request: PlanRequest) -> None:
    """Refuse a request the planner cannot answer sensibly (the first problem found)."""
    check_counts(request)
    check_buildings(request)
    check_adjacency(request)
    check_current(request)
    if not 0 <= request.stability <= 1:
        raise refuse(
            "plan_stability_invalid",
            "稳定性须在0到1之间",
            "stability must be between 0 and 1",
            "stability",
        )
    if not (math.isfinite(request.neighbour_distance_m) and request.neighbour_distance_m > 0):
        raise refuse(
            "plan_neighbour_distance_invalid",
            "相邻距离须为正数（米）",
            "neighbour_distance_m must be a positive number of metres",
            "neighbour_distance_m",
        )


def check_counts(request: PlanRequest) -> None:
    buildings = len(request.buildings)
    if buildings == 0:
        raise refuse("plan_no_buildings", "没有楼幢，无法划分网格", "no buildings", "buildings")
    if buildings > MAX_BUILDINGS:
        raise refuse(
            "plan_too_many_buildings",
            f"楼幢数（{buildings}）超过上限{MAX_BUILDINGS}",
            f"{buildings} buildings exceed the limit of {MAX_BUILDINGS}",
            "buildings",
        )
    if request.grids < 1:
        raise refuse("plan_grids_invalid", "网格数至少为1", "grids must be at least 1", "grids")
    if request.micro_grids < request.grids:
        raise refuse(
            "plan_fewer_micro_grids_than_grids",
            f"微网格数（{request.micro_grids}）不能少于网格数（{request.grids}）："
            "每个网格至少有一个微网格",
            f"micro_grids ({request.micro_grids}) must not be fewer than grids "
            f"({request.grids}): every grid holds at least one micro-grid",
            "micro_grids",
        )
    if request.micro_grids > buildings:
        raise refuse(
            "plan_more_micro_grids_than_buildings",
            f"微网格数（{request.micro_grids}）不能多于楼幢数（{buildings}）："
            "每个微网格至少有一幢楼",
            f"micro_grids ({request.micro_grids}) must not exceed the buildings ({buildings}): "
            "every micro-grid holds at least one building",
            "micro_grids",
        )


def check_buildings(request: PlanRequest) -> None:
    seen: set[str] = set()
    duplicates: set[str] = set()
    for building in request.buildings:
        if not building.id.strip():
            raise refuse(
                "plan_building_id_missing",
                "楼幢编号不能为空",
                "a building has no id",
                "buildings.id",
            )
        if building.id in seen:
            duplicates.add(building.id)
        seen.add(building.id)
        if not building.complex_id.strip():
            raise refuse(
                "plan_complex_missing",
                f"楼幢{building.id}没有所属小区",
                f"building {building.id} has no complex_id",
                "buildings.complex_id",
            )
        if not (math.isfinite(building.workload) and building.workload >= 0):
            raise refuse(
                "plan_workload_invalid",
                f"楼幢{building.id}的工作量须为非负数",
                f"the workload of building {building.id} must be a finite number ≥ 0",
                "buildings.workload",
            )
        position = building.position
        if position is not None and not (math.isfinite(position.x) and math.isfinite(position.y)):
            raise refuse(
                "plan_position_invalid",
                f"楼幢{building.id}的坐标不是有效数值",
                f"the position of building {building.id} is not a finite number",
                "buildings.position",
            )
    if duplicates:
        raise refuse(
            "plan_building_duplicate",
            f"楼幢重复：{listed(duplicates)}",
            f"buildings listed twice: {listed(duplicates)}",
            "buildings.id",
        )
    if sum(building.workload for building in request.buildings) <= 0:
        raise refuse(
            "plan_workload_zero",
            "所有楼幢的工作量都为零，无法均衡",
            "every building's workload is zero: there is nothing to balance",
            "buildings.workload",
        )


def check_adjacency(request: PlanRequest) -> None:
    known = {building.id for building in request.buildings}
    unknown = {b for pair in request.adjacency for b in pair if b not in known}
    if unknown:
        raise refuse(
            "plan_adjacency_unknown_building",
            f"相邻关系中有未知楼幢：{listed(unknown)}",
            f"adjacency names unknown buildings: {listed(unknown)}",
            "adjacency",
        )


def check_current(request: PlanRequest) -> None:
    current = request.current
    if current is None:
        if request.mode is Mode.REBALANCE:
            raise refuse(
                "plan_current_required",
                "重新均衡需要提供当前的网格布局",
                "re-balancing needs the current layout",
                "current",
            )
        return
    known = {building.id for building in request.buildings}
    unknown = set(current.micro_grid_of_building) - known
    if unknown:
        raise refuse(
            "plan_current_unknown_buildings",
            f"当前布局中有不在本次规划内的楼幢：{listed(unknown)}",
            f"the current layout names buildings the request does not list: {listed(unknown)}",
            "current.micro_grid_of_building",
        )
    micro_grids = set(current.micro_grid_of_building.values()) | set(current.grid_of_micro_grid)
    if any(not m.strip() for m in micro_grids) or any(
        not g.strip() for g in current.grid_of_micro_grid.values()
    ):
        raise refuse(
            "plan_current_id_missing",
            "当前布局中有空的网格或微网格编号",
            "the current layout has an empty grid or micro-grid id",
            "current",
        )
    orphans = set(current.micro_grid_of_building.values()) - set(current.grid_of_micro_grid)
    if orphans:
        raise refuse(
            "plan_current_micro_grid_without_grid",
            f"当前布局中这些微网格没有所属网格：{listed(orphans)}",
            f"the current layout gives no grid for micro-grids: {listed(orphans)}",
            "current.grid_of_micro_grid",
        )
    if request.mode is Mode.REBALANCE and not current.micro_grid_of_building:
        raise refuse(
            "plan_current_required",
            "当前布局没有覆盖任何楼幢，无法重新均衡；请做新规划",
            "the current layout covers no building: plan afresh instead of re-balancing",
            "current",
        )
