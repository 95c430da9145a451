"""A fresh layout for a Shibei-sized community: complete, balanced, contiguous, reproducible."""

import functools
import json
import os
import random
import subprocess
import sys
from collections import Counter

import pytest

from grid.planner import Building, PlanRequest, Position, Proposal, plan_layout
from grid.planner.report import balance_of
from grid.planner.synthetic import (
    SHIBEI_GRIDS,
    SHIBEI_MICRO_GRIDS,
    shibei_like,
    synthetic_community,
)

# What the tests hold the planner to on Shibei-like communities (measured: 1.07–1.10 and
# CV 0.04–0.05). A clerk counting buildings off the list gets 1.5–1.7 and CV 0.2–0.33.
MICRO_GRID_MAX_OVER_MEAN = 1.15
MICRO_GRID_VARIATION = 0.06
# 45 micro-grids in 13 grids: some hold 3, some 4, so 4/3.46 = 1.16 is built in.
GRID_MAX_OVER_MEAN = 1.25


@functools.cache
def shibei_plan(seed: int = 1) -> Proposal:
    return plan_layout(
        PlanRequest(buildings=shibei_like(seed), grids=SHIBEI_GRIDS, micro_grids=SHIBEI_MICRO_GRIDS)
    )


def naive_split(buildings: tuple[Building, ...], parts: int) -> list[float]:
    """The workloads of micro-grids made by counting buildings off the list (by id)."""
    n = len(buildings)
    return [
        sum(b.workload for b in buildings[i * n // parts : (i + 1) * n // parts])
        for i in range(parts)
    ]


def test_every_building_is_in_exactly_one_micro_grid_of_one_grid() -> None:
    proposal = shibei_plan()
    placed = Counter(b for m in proposal.micro_grids for b in m.building_ids)
    assert set(placed) == {b.id for b in shibei_like()}
    assert set(placed.values()) == {1}
    grid_of = Counter(k for g in proposal.grids for k in g.micro_grid_keys)
    assert set(grid_of) == {m.key for m in proposal.micro_grids}
    assert set(grid_of.values()) == {1}
    for micro_grid in proposal.micro_grids:
        grid = next(g for g in proposal.grids if g.key == micro_grid.grid_key)
        assert micro_grid.key in grid.micro_grid_keys
    assert proposal.micro_grid_of_building == {
        b: m.key for m in proposal.micro_grids for b in m.building_ids
    }


def test_the_requested_numbers_of_grids_and_micro_grids_are_met() -> None:
    proposal = shibei_plan()
    assert len(proposal.grids) == SHIBEI_GRIDS
    assert len(proposal.micro_grids) == SHIBEI_MICRO_GRIDS
    assert all(m.building_ids for m in proposal.micro_grids)
    assert all(g.micro_grid_keys for g in proposal.grids)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_workload_is_balanced_far_better_than_counting_buildings(seed: int) -> None:
    proposal = shibei_plan(seed)
    naive = balance_of(naive_split(shibei_like(seed), SHIBEI_MICRO_GRIDS))
    balance = proposal.micro_grid_balance
    assert balance.max_over_mean <= MICRO_GRID_MAX_OVER_MEAN < naive.max_over_mean
    assert balance.coefficient_of_variation <= MICRO_GRID_VARIATION
    assert naive.coefficient_of_variation > 3 * MICRO_GRID_VARIATION
    assert proposal.grid_balance.max_over_mean <= GRID_MAX_OVER_MEAN


def test_reported_balance_matches_the_micro_grids_workloads() -> None:
    proposal = shibei_plan()
    loads = [m.workload for m in proposal.micro_grids]
    workload = {b.id: b.workload for b in shibei_like()}
    for micro_grid in proposal.micro_grids:
        expected = sum(workload[b] for b in micro_grid.building_ids)
        assert micro_grid.workload == pytest.approx(expected)
    assert proposal.micro_grid_balance.maximum == max(loads)
    assert proposal.micro_grid_balance.max_over_mean == pytest.approx(
        max(loads) / (sum(loads) / len(loads))
    )
    assert sum(g.workload for g in proposal.grids) == pytest.approx(sum(loads))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_micro_grid_and_grid_is_contiguous(seed: int) -> None:
    proposal = shibei_plan(seed)
    assert proposal.contiguity.separate_areas == 1
    assert proposal.contiguity.non_contiguous_micro_grids == ()
    assert proposal.contiguity.non_contiguous_grids == ()
    assert all(len(m.pieces) == 1 for m in proposal.micro_grids)


def test_a_micro_grid_is_compact_not_scattered_across_the_community() -> None:
    proposal = shibei_plan()
    where = {b.id: b.position for b in shibei_like()}
    for micro_grid in proposal.micro_grids:
        points = [where[b] for b in micro_grid.building_ids]
        assert all(p is not None for p in points)
        xs = [p.x for p in points if p is not None]
        ys = [p.y for p in points if p is not None]
        # A handful of buildings 35–45 m apart: a few hundred metres across at most.
        assert max(xs) - min(xs) < 400
        assert max(ys) - min(ys) < 400


def test_a_small_complex_stays_whole_and_a_big_one_is_shared_out() -> None:
    community = shibei_like()
    # A three-building complex lighter than a micro-grid's share, beside the first complex.
    share = sum(b.workload for b in community) / SHIBEI_MICRO_GRIDS
    corner = min((b for b in community if b.complex_id == "c01"), key=lambda b: b.id).position
    assert corner is not None
    small = tuple(
        Building(
            id=f"small-{n}",
            complex_id="small",
            workload=share / 5,
            position=Position(corner.x - 80, corner.y + 40 * n),
        )
        for n in range(3)
    )
    proposal = plan_layout(
        PlanRequest(buildings=community + small, grids=SHIBEI_GRIDS, micro_grids=SHIBEI_MICRO_GRIDS)
    )
    holding = {m.key for m in proposal.micro_grids for b in m.building_ids if b.startswith("small")}
    assert len(holding) == 1
    complexes = Counter(
        b.complex_id for b in community if b.workload and b.complex_id.startswith("c0")
    )
    biggest = max(complexes, key=lambda c: complexes[c])
    spread = {m.key for m in proposal.micro_grids for b in m.building_ids if b.startswith(biggest)}
    assert len(spread) > 3


def test_most_micro_grids_lie_within_one_complex() -> None:
    complex_of = {b.id: b.complex_id for b in shibei_like()}
    mixed = [
        m for m in shibei_plan().micro_grids if len({complex_of[b] for b in m.building_ids}) > 1
    ]
    assert len(mixed) <= SHIBEI_MICRO_GRIDS // 6


def test_grids_and_micro_grids_are_numbered_in_reading_order() -> None:
    proposal = shibei_plan()
    assert [g.number for g in proposal.grids] == list(range(1, SHIBEI_GRIDS + 1))
    for grid in proposal.grids:
        numbers = [m.number for m in proposal.micro_grids if m.grid_key == grid.key]
        assert numbers == list(range(1, len(grid.micro_grid_keys) + 1))
    # No current layout: everything is new, keyed by its code's numbers.
    first = proposal.micro_grids[0]
    assert (first.key, first.grid_key, first.current_id) == ("new-001-01", "new-001", None)
    # Grid 1 lies north of the last grid (rows run north to south).
    where = {b.id: b.position for b in shibei_like()}

    def north(grid_number: int) -> float:
        grid = proposal.grids[grid_number - 1]
        ys = [
            p.y
            for m in proposal.micro_grids
            if m.grid_key == grid.key
            for b in m.building_ids
            if (p := where[b]) is not None
        ]
        return sum(ys) / len(ys)

    assert north(1) > north(SHIBEI_GRIDS)


def test_without_a_current_layout_the_diff_places_every_building() -> None:
    diff = shibei_plan().diff
    assert diff.placed_buildings == len(shibei_like())
    assert diff.changed_buildings == 0
    assert len(diff.micro_grids_created) == SHIBEI_MICRO_GRIDS
    assert diff.micro_grids_removed == ()


def test_the_input_order_does_not_change_the_plan() -> None:
    shuffled = list(shibei_like())
    random.Random(5).shuffle(shuffled)
    again = plan_layout(
        PlanRequest(buildings=shuffled, grids=SHIBEI_GRIDS, micro_grids=SHIBEI_MICRO_GRIDS)
    )
    assert again == shibei_plan()


PLAN_IN_A_FRESH_PROCESS = """
import json
from grid.planner import PlanRequest, plan_layout
from grid.planner.synthetic import shibei_like
proposal = plan_layout(PlanRequest(buildings=shibei_like(), grids=13, micro_grids=45))
print(json.dumps(proposal.micro_grid_of_building, sort_keys=True))
"""


def test_the_same_input_gives_the_same_plan_in_every_process() -> None:
    # String hashing changes with PYTHONHASHSEED: a set's order must decide nothing.
    layouts = []
    for hash_seed in ("1", "2"):
        run = subprocess.run(
            [sys.executable, "-c", PLAN_IN_A_FRESH_PROCESS],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
        layouts.append(json.loads(run.stdout))
    assert layouts[0] == layouts[1] == dict(shibei_plan().micro_grid_of_building)


def test_a_thousand_buildings_are_planned_within_seconds() -> None:
    community = synthetic_community(seed=2, buildings=1000, complexes=20, institutions=5)
    proposal = plan_layout(PlanRequest(buildings=community, grids=43, micro_grids=150))
    assert len(proposal.micro_grids) == 150
    assert proposal.micro_grid_balance.max_over_mean <= MICRO_GRID_MAX_OVER_MEAN
    assert proposal.contiguity.non_contiguous_micro_grids == ()
