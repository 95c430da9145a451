"""What the planner takes: workloads from counts, neighbours from positions or pairs, and the
requests it refuses — each with a reason in Chinese and English that names the field."""

import math
import random

import pytest

from grid.planner import (
    Building,
    CurrentLayout,
    Mode,
    PlanRequest,
    Position,
    WorkloadCounts,
    WorkloadWeights,
    building_workload,
    plan_layout,
)
from grid.planner.adjacency import Adjacency, building_adjacency, local_metres
from shequ_kit.errors import DomainError, ErrorKind


def row_of_buildings(count: int, *, complex_id: str = "a", located: bool = True) -> list[Building]:
    """Buildings 40 m apart along one street, equal work."""
    return [
        Building(
            id=f"{complex_id}{n:02d}",
            complex_id=complex_id,
            workload=10.0,
            position=Position(40.0 * n, 0.0) if located else None,
        )
        for n in range(count)
    ]


def refusal(request: PlanRequest) -> DomainError:
    with pytest.raises(DomainError) as failure:
        plan_layout(request)
    error = failure.value
    assert error.kind is ErrorKind.INVALID_INPUT
    assert error.message_zh
    assert error.message_en
    return error


# --- Workload ---------------------------------------------------------------------------------


def test_workload_weighs_each_count_by_default() -> None:
    counts = WorkloadCounts(
        households=40, residents=100, care_tagged_residents=12, enterprises=2, open_cases=1
    )
    # 40 households + 100 × 0.2 + 12 care-tagged + 2 × 1.5 + 1 × 3
    assert building_workload(counts) == pytest.approx(40 + 20 + 12 + 3 + 3)


def test_a_busier_building_weighs_more_than_a_quiet_one() -> None:
    quiet = WorkloadCounts(households=30, residents=70)
    busy = WorkloadCounts(households=30, residents=70, care_tagged_residents=10, open_cases=2)
    assert building_workload(busy) > building_workload(quiet)


def test_a_community_may_weigh_differently() -> None:
    counts = WorkloadCounts(households=10, enterprises=4)
    shops_count_double = WorkloadWeights(enterprises=3.0)
    assert building_workload(counts, shops_count_double) == pytest.approx(10 + 12)


def test_a_negative_count_is_refused_naming_it() -> None:
    with pytest.raises(DomainError) as failure:
        building_workload(WorkloadCounts(open_cases=-1))
    assert failure.value.field_violations[0].field == "open_cases"
    assert failure.value.message_zh == "工作量的计数不能为负数"


def test_an_infinite_weight_is_refused() -> None:
    with pytest.raises(DomainError) as failure:
        building_workload(WorkloadCounts(households=1), WorkloadWeights(residents=math.inf))
    assert failure.value.field_violations[0].field == "residents"


# --- Neighbours -------------------------------------------------------------------------------


def test_longitude_and_latitude_become_metres_east_and_north() -> None:
    # Xiaoshan: a thousandth of a degree is about 96 m east and 111 m north.
    east = local_metres(120.265, 30.185, origin_lon=120.264, origin_lat=30.185)
    north = local_metres(120.264, 30.186, origin_lon=120.264, origin_lat=30.185)
    assert east.x == pytest.approx(96.2, abs=0.5)
    assert east.y == pytest.approx(0.0)
    assert north.y == pytest.approx(111.2, abs=0.5)


def adjacency(
    positions: list[Position | None],
    complexes: list[int],
    *,
    pairs: list[tuple[int, int]] | None = None,
    numbers: list[str] | None = None,
) -> Adjacency:
    return building_adjacency(
        positions=positions,
        complexes=complexes,
        numbers=numbers or [""] * len(positions),
        pairs=pairs or [],
        neighbour_distance_m=50,
    )


def test_nearby_buildings_are_neighbours_and_distant_ones_are_not() -> None:
    known = adjacency(
        [Position(0, 0), Position(40, 0), Position(80, 0), Position(1000, 0)], [0, 0, 0, 1]
    ).known
    assert known[0] == {1}
    assert known[1] == {0, 2}
    # The far building is joined to the rest at its nearest point, so nothing is left alone.
    assert known[3] == {2}


def test_buildings_across_the_road_are_neighbours_though_their_own_complex_is_nearer() -> None:
    # Complex 0: a tight row at y=0; complex 1 across a 45 m road.
    row = [Position(10.0 * n, 0) for n in range(8)]
    across = [Position(10.0 * n, 45) for n in range(8)]
    known = adjacency([*row, *across], [0] * 8 + [1] * 8).known
    assert any(other >= 8 for other in known[3])


def test_explicit_pairs_replace_distances() -> None:
    found = adjacency([Position(0, 0), Position(40, 0), Position(80, 0)], [0, 1, 2], pairs=[(0, 2)])
    assert found.known[0] == {2}
    assert found.known[1] == set()
    # Planning still needs every building reachable: the lone one is joined, as planning only.
    assert found.walk[1]


def test_a_building_without_position_neighbours_its_whole_complex() -> None:
    known = adjacency([Position(0, 0), Position(500, 0), None], [0, 0, 0]).known
    assert known[2] == {0, 1}


def test_without_positions_the_planner_follows_building_numbers() -> None:
    found = adjacency([None] * 4, [0] * 4, numbers=["10幢", "2幢", "1幢", "3幢"])
    assert found.walk == [{3}, {2, 3}, {1}, {0, 1}]  # 1幢 – 2幢 – 3幢 – 10幢
    assert found.known[0] == {1, 2, 3}


def test_a_complex_without_positions_is_cut_into_runs_of_building_numbers() -> None:
    # Ids say nothing about the order (the service's ids are UUIDs); the numbers do.
    ids = random.Random(3).sample(range(1000), 12)
    buildings = [
        Building(id=f"id-{ids[n]:04d}", complex_id="a", workload=10.0, number=f"{n + 1}幢")
        for n in range(12)
    ]
    proposal = plan_layout(PlanRequest(buildings=buildings, grids=1, micro_grids=3))
    number_of = {b.id: int(b.number.removesuffix("幢")) for b in buildings}
    runs = sorted(sorted(number_of[b] for b in m.building_ids) for m in proposal.micro_grids)
    assert runs == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]


def test_without_positions_complexes_are_separate_areas_and_reported() -> None:
    buildings = row_of_buildings(4, complex_id="a", located=False) + row_of_buildings(
        1, complex_id="b", located=False
    )
    proposal = plan_layout(PlanRequest(buildings=buildings, grids=1, micro_grids=2))
    assert proposal.contiguity.separate_areas == 2
    # Complex b is too light for a micro-grid of its own, so one micro-grid spans both areas.
    assert len(proposal.contiguity.non_contiguous_micro_grids) == 1
    assert proposal.contiguity.non_contiguous_grids == (proposal.grids[0].key,)
    spanning = next(m for m in proposal.micro_grids if not m.contiguous)
    assert ("b00",) in spanning.pieces


def test_explicit_pairs_make_a_layout_contiguous_without_positions() -> None:
    buildings = row_of_buildings(6, located=False) + row_of_buildings(
        6, complex_id="b", located=False
    )
    chain = [(f"a{n:02d}", f"a{n + 1:02d}") for n in range(5)] + [
        (f"b{n:02d}", f"b{n + 1:02d}") for n in range(5)
    ]
    proposal = plan_layout(
        PlanRequest(buildings=buildings, grids=2, micro_grids=4, adjacency=[*chain, ("a05", "b00")])
    )
    assert proposal.contiguity.separate_areas == 1
    assert proposal.contiguity.non_contiguous_micro_grids == ()
    assert proposal.micro_grid_balance.max_over_mean == pytest.approx(1.0)


def test_as_many_micro_grids_as_buildings_gives_one_building_each() -> None:
    proposal = plan_layout(PlanRequest(buildings=row_of_buildings(5), grids=2, micro_grids=5))
    assert sorted(len(m.building_ids) for m in proposal.micro_grids) == [1] * 5
    assert sorted(len(g.micro_grid_keys) for g in proposal.grids) == [2, 3]


# --- Refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "code", "field"),
    [
        (PlanRequest(buildings=[], grids=1, micro_grids=1), "grid.plan_no_buildings", "buildings"),
        (
            PlanRequest(buildings=row_of_buildings(3), grids=0, micro_grids=1),
            "grid.plan_grids_invalid",
            "grids",
        ),
        (
            PlanRequest(buildings=row_of_buildings(10), grids=4, micro_grids=3),
            "grid.plan_fewer_micro_grids_than_grids",
            "micro_grids",
        ),
        (
            PlanRequest(buildings=row_of_buildings(3), grids=1, micro_grids=4),
            "grid.plan_more_micro_grids_than_buildings",
            "micro_grids",
        ),
        (
            PlanRequest(buildings=row_of_buildings(2) * 2, grids=1, micro_grids=1),
            "grid.plan_building_duplicate",
            "buildings.id",
        ),
        (
            PlanRequest(
                buildings=[Building(id="x", complex_id=" ", workload=1)], grids=1, micro_grids=1
            ),
            "grid.plan_complex_missing",
            "buildings.complex_id",
        ),
        (
            PlanRequest(
                buildings=[Building(id="x", complex_id="a", workload=-1)], grids=1, micro_grids=1
            ),
            "grid.plan_workload_invalid",
            "buildings.workload",
        ),
        (
            PlanRequest(
                buildings=[Building(id="x", complex_id="a", workload=0)], grids=1, micro_grids=1
            ),
            "grid.plan_workload_zero",
            "buildings.workload",
        ),
        (
            PlanRequest(
                buildings=[
                    Building(id="x", complex_id="a", workload=1, position=Position(math.nan, 0))
                ],
                grids=1,
                micro_grids=1,
            ),
            "grid.plan_position_invalid",
            "buildings.position",
        ),
        (
            PlanRequest(
                buildings=row_of_buildings(3), grids=1, micro_grids=1, adjacency=[("a00", "zz")]
            ),
            "grid.plan_adjacency_unknown_building",
            "adjacency",
        ),
        (
            PlanRequest(buildings=row_of_buildings(3), grids=1, micro_grids=1, stability=1.5),
            "grid.plan_stability_invalid",
            "stability",
        ),
        (
            PlanRequest(
                buildings=row_of_buildings(3), grids=1, micro_grids=1, neighbour_distance_m=0
            ),
            "grid.plan_neighbour_distance_invalid",
            "neighbour_distance_m",
        ),
        (
            PlanRequest(buildings=row_of_buildings(3), grids=1, micro_grids=1, mode=Mode.REBALANCE),
            "grid.plan_current_required",
            "current",
        ),
        (
            PlanRequest(
                buildings=row_of_buildings(3),
                grids=1,
                micro_grids=1,
                current=CurrentLayout({"a00": "m1", "gone": "m1"}, {"m1": "g1"}),
            ),
            "grid.plan_current_unknown_buildings",
            "current.micro_grid_of_building",
        ),
        (
            PlanRequest(
                buildings=row_of_buildings(3),
                grids=1,
                micro_grids=1,
                current=CurrentLayout({"a00": "m1", "a01": "m2"}, {"m1": "g1"}),
            ),
            "grid.plan_current_micro_grid_without_grid",
            "current.grid_of_micro_grid",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_request_the_planner_cannot_answer_is_refused_naming_the_field(
    request_: PlanRequest, code: str, field: str
) -> None:
    error = refusal(request_)
    assert error.code == code
    assert [v.field for v in error.field_violations] == [field]


def test_too_many_micro_grids_says_how_many_buildings_there_are() -> None:
    error = refusal(PlanRequest(buildings=row_of_buildings(3), grids=1, micro_grids=4))
    assert error.message_zh == "微网格数（4）不能多于楼幢数（3）：每个微网格至少有一幢楼"
    assert "micro_grids (4) must not exceed the buildings (3)" in error.message_en


def test_fewer_micro_grids_than_grids_explains_why() -> None:
    error = refusal(PlanRequest(buildings=row_of_buildings(10), grids=13, micro_grids=12))
    assert error.message_zh == "微网格数（12）不能少于网格数（13）：每个网格至少有一个微网格"


def test_unknown_buildings_in_the_current_layout_are_listed() -> None:
    current = CurrentLayout({"gone-1": "m1", "gone-2": "m1", "a00": "m1"}, {"m1": "g1"})
    error = refusal(
        PlanRequest(buildings=row_of_buildings(3), grids=1, micro_grids=1, current=current)
    )
    assert "gone-1、gone-2" in error.message_zh
    assert "a00" not in error.message_en


def test_rebalancing_a_layout_that_covers_nothing_asks_for_a_fresh_plan() -> None:
    error = refusal(
        PlanRequest(
            buildings=row_of_buildings(3),
            grids=1,
            micro_grids=1,
            current=CurrentLayout({}, {"m1": "g1"}),
            mode=Mode.REBALANCE,
        )
    )
    assert error.code == "grid.plan_current_required"
    assert "新规划" in error.message_zh
