"""Re-balancing the layout in force: few moves, a diff that is exactly the change, ids kept."""

import dataclasses
import functools

from grid.planner import (
    Building,
    CurrentLayout,
    LayoutDiff,
    Mode,
    PlanRequest,
    Position,
    Proposal,
    plan_layout,
)
from grid.planner.report import balance_of
from grid.planner.synthetic import SHIBEI_GRIDS, SHIBEI_MICRO_GRIDS, shibei_like

GRIDS, MICRO_GRIDS = SHIBEI_GRIDS, SHIBEI_MICRO_GRIDS


@functools.cache
def layout_in_force() -> CurrentLayout:
    """Shibei's layout as the grid service would store it: its own ids, not the planner's keys."""
    proposal = plan_layout(
        PlanRequest(buildings=shibei_like(), grids=GRIDS, micro_grids=MICRO_GRIDS)
    )
    micro_ids = {m.key: f"mg-{n:02d}" for n, m in enumerate(proposal.micro_grids)}
    grid_ids = {g.key: f"g-{n:02d}" for n, g in enumerate(proposal.grids)}
    return CurrentLayout(
        micro_grid_of_building={
            b: micro_ids[m] for b, m in proposal.micro_grid_of_building.items()
        },
        grid_of_micro_grid={micro_ids[m.key]: grid_ids[m.grid_key] for m in proposal.micro_grids},
    )


def busier(buildings: tuple[Building, ...], every: int = 40) -> tuple[Building, ...]:
    """A few buildings (one in ``every``) with twice the work: new tenants, open cases."""
    return tuple(
        dataclasses.replace(b, workload=2 * b.workload) if n % every == 10 else b
        for n, b in enumerate(buildings)
    )


def plan(
    buildings: tuple[Building, ...],
    *,
    mode: Mode = Mode.REBALANCE,
    current: CurrentLayout | None = None,
    micro_grids: int = MICRO_GRIDS,
    stability: float = 0.3,
) -> Proposal:
    return plan_layout(
        PlanRequest(
            buildings=buildings,
            grids=GRIDS,
            micro_grids=micro_grids,
            current=current or layout_in_force(),
            mode=mode,
            stability=stability,
        )
    )


def applied(current: CurrentLayout, proposal: Proposal) -> CurrentLayout:
    """The current layout with the diff applied, as the grid service would apply it."""
    diff: LayoutDiff = proposal.diff
    buildings = dict(current.micro_grid_of_building)
    for building in diff.building_moves:
        buildings[building.building_id] = building.to_micro_grid
    grids = {
        m: g for m, g in current.grid_of_micro_grid.items() if m not in diff.micro_grids_removed
    }
    for micro_grid in diff.micro_grid_moves:
        assert grids[micro_grid.micro_grid_key] == micro_grid.from_grid
        grids[micro_grid.micro_grid_key] = micro_grid.to_grid
    for created in diff.micro_grids_created:
        grids[created] = next(m.grid_key for m in proposal.micro_grids if m.key == created)
    return CurrentLayout(buildings, grids)


def test_a_few_busier_buildings_are_rebalanced_with_a_few_moves_not_a_new_plan() -> None:
    community = busier(shibei_like())
    rebalanced = plan(community)
    fresh = plan(community, mode=Mode.FRESH)
    before = rebalanced.current_micro_grid_balance
    assert before is not None
    assert before.max_over_mean > 1.3  # the busier buildings overload their micro-grids
    assert rebalanced.micro_grid_balance.max_over_mean < before.max_over_mean - 0.1
    assert rebalanced.diff.changed_buildings <= 10
    assert rebalanced.diff.changed_assignments * 4 < fresh.diff.changed_assignments
    # Every micro-grid and grid it continues keeps its id; none is created or removed.
    assert rebalanced.diff.micro_grids_created == rebalanced.diff.micro_grids_removed == ()
    assert rebalanced.diff.grids_created == rebalanced.diff.grids_removed == ()
    assert {m.key for m in rebalanced.micro_grids} == set(layout_in_force().grid_of_micro_grid)
    assert rebalanced.contiguity.non_contiguous_micro_grids == ()


def test_a_balanced_layout_is_left_as_it_is() -> None:
    proposal = plan(shibei_like())
    assert proposal.diff.changed_assignments == 0
    assert proposal.diff.building_moves == ()
    assert proposal.layout() == layout_in_force()
    assert proposal.current_micro_grid_balance == proposal.micro_grid_balance


def test_a_fresh_plan_of_an_unchanged_community_keeps_every_id() -> None:
    proposal = plan(shibei_like(), mode=Mode.FRESH)
    assert proposal.diff.changed_assignments == 0
    assert proposal.layout() == layout_in_force()


def test_applying_the_diff_to_the_current_layout_gives_the_proposal() -> None:
    community = busier(shibei_like(), every=25)
    for proposal in (
        plan(community, stability=0.0),
        plan(community, mode=Mode.FRESH),
        plan(community, micro_grids=MICRO_GRIDS + 2),
    ):
        assert applied(layout_in_force(), proposal) == proposal.layout()
        moved = sum(
            1
            for b, m in proposal.micro_grid_of_building.items()
            if layout_in_force().micro_grid_of_building[b] != m
        )
        assert proposal.diff.changed_buildings == moved


def test_more_stability_moves_fewer_buildings_for_less_balance() -> None:
    community = busier(shibei_like())
    loose = plan(community, stability=0.0)
    stable = plan(community, stability=1.0)
    assert stable.diff.changed_buildings < loose.diff.changed_buildings / 4
    assert loose.micro_grid_balance.coefficient_of_variation < (
        stable.micro_grid_balance.coefficient_of_variation
    )


def test_the_current_balance_is_measured_with_todays_workloads() -> None:
    community = busier(shibei_like())
    proposal = plan(community)
    workload = {b.id: b.workload for b in community}
    loads: dict[str, float] = {}
    for building, micro_grid in layout_in_force().micro_grid_of_building.items():
        loads[micro_grid] = loads.get(micro_grid, 0.0) + workload[building]
    assert proposal.current_micro_grid_balance == balance_of(list(loads.values()))


def test_new_buildings_join_a_micro_grid_next_to_them() -> None:
    community = shibei_like()
    anchor = next(b for b in community if b.id == "c02-b010")
    assert anchor.position is not None
    new = tuple(
        Building(
            id=f"c02-new{n}",
            complex_id="c02",
            workload=anchor.workload,
            position=Position(anchor.position.x + 10 * n, anchor.position.y - 20),
        )
        for n in (1, 2)
    )
    proposal = plan(community + new)
    assert proposal.diff.placed_buildings == 2
    placed = {m.building_id: m.to_micro_grid for m in proposal.diff.building_moves}
    assert placed["c02-new1"] in layout_in_force().grid_of_micro_grid
    assert proposal.diff.changed_buildings <= 4
    assert proposal.contiguity.non_contiguous_micro_grids == ()


def test_one_more_micro_grid_is_split_off_the_heaviest_and_the_rest_stay() -> None:
    proposal = plan(busier(shibei_like()), micro_grids=MICRO_GRIDS + 1)
    assert len(proposal.diff.micro_grids_created) == 1
    assert proposal.diff.micro_grids_removed == ()
    created = next(m for m in proposal.micro_grids if m.current_id is None)
    assert created.key.startswith("new-")
    assert created.building_ids
    assert proposal.diff.changed_buildings <= 12
    assert proposal.contiguity.non_contiguous_micro_grids == ()


def test_one_fewer_micro_grid_removes_one_and_hands_its_buildings_to_neighbours() -> None:
    current = layout_in_force()
    proposal = plan(shibei_like(), micro_grids=MICRO_GRIDS - 1)
    assert len(proposal.diff.micro_grids_removed) == 1
    assert proposal.diff.micro_grids_created == ()
    (removed,) = proposal.diff.micro_grids_removed
    its_buildings = {b for b, m in current.micro_grid_of_building.items() if m == removed}
    moved = {m.building_id for m in proposal.diff.building_moves}
    assert its_buildings <= moved
    assert proposal.diff.changed_buildings <= len(its_buildings) + 10
    assert proposal.contiguity.non_contiguous_micro_grids == ()


def test_a_micro_grid_without_buildings_is_filled_before_a_new_one_is_made() -> None:
    current = layout_in_force()
    with_empty = CurrentLayout(
        current.micro_grid_of_building, {**current.grid_of_micro_grid, "mg-empty": "g-00"}
    )
    proposal = plan(busier(shibei_like()), current=with_empty, micro_grids=MICRO_GRIDS + 1)
    assert proposal.diff.micro_grids_created == ()
    assert proposal.diff.micro_grids_removed == ()
    filled = next(m for m in proposal.micro_grids if m.key == "mg-empty")
    assert filled.building_ids


def test_an_empty_micro_grid_not_needed_is_removed() -> None:
    current = layout_in_force()
    with_empty = CurrentLayout(
        current.micro_grid_of_building, {**current.grid_of_micro_grid, "mg-empty": "g-00"}
    )
    proposal = plan(shibei_like(), current=with_empty)
    assert proposal.diff.micro_grids_removed == ("mg-empty",)
    assert proposal.diff.changed_buildings == 0
