"""Whatever the community looks like — positions for all, some or none of its buildings,
explicit neighbours or not, a current layout with other counts — a valid request gets a
complete layout, and the diff applied to the current layout gives exactly the proposal."""

import random
from collections import Counter

import pytest

from grid.planner import Building, CurrentLayout, Mode, PlanRequest, Position, plan_layout


def random_request(seed: int) -> PlanRequest:
    rng = random.Random(seed)
    count = rng.randint(1, 40)
    complexes = rng.randint(1, 6)
    located = rng.choice(("all", "none", "some"))
    buildings = [
        Building(
            id=f"b{n:02d}",
            complex_id=f"c{rng.randrange(complexes)}",
            # Some idle buildings; the first one never, so there is work to balance.
            workload=1.0 if n == 0 else rng.choice((0.0, rng.uniform(1, 100))),
            position=Position(rng.uniform(0, 500), rng.uniform(0, 500))
            if located == "all" or (located == "some" and rng.random() < 0.5)
            else None,
        )
        for n in range(count)
    ]
    micro_grids = rng.randint(1, count)
    pairs = []
    if rng.random() < 0.3:
        pairs = [
            (f"b{rng.randrange(count):02d}", f"b{rng.randrange(count):02d}")
            for _ in range(rng.randint(1, 2 * count))
        ]
    current, mode = None, Mode.FRESH
    if rng.random() < 0.6:
        current_micro_grids = rng.randint(1, count)
        current_grids = rng.randint(1, current_micro_grids)
        covered = [b.id for b in buildings if rng.random() < 0.9]  # the rest are new
        current = CurrentLayout(
            {b: f"m{rng.randrange(current_micro_grids)}" for b in covered},
            {f"m{n}": f"g{rng.randrange(current_grids)}" for n in range(current_micro_grids)},
        )
        if current.micro_grid_of_building and rng.random() < 0.7:
            mode = Mode.REBALANCE
    return PlanRequest(
        buildings=buildings,
        grids=rng.randint(1, micro_grids),
        micro_grids=micro_grids,
        adjacency=pairs,
        current=current,
        mode=mode,
        stability=rng.random(),
    )


@pytest.mark.parametrize("seed", range(150))
def test_any_valid_request_gets_a_complete_layout_and_an_exact_diff(seed: int) -> None:
    request = random_request(seed)
    proposal = plan_layout(request)
    placed = Counter(b for m in proposal.micro_grids for b in m.building_ids)
    assert set(placed) == {b.id for b in request.buildings}
    assert set(placed.values()) == {1}
    assert len({m.key for m in proposal.micro_grids}) == request.micro_grids
    assert len({g.key for g in proposal.grids}) == request.grids
    assert all(m.building_ids for m in proposal.micro_grids)
    assert all(g.micro_grid_keys for g in proposal.grids)
    if request.current is not None:
        layout = dict(request.current.micro_grid_of_building)
        for move in proposal.diff.building_moves:
            assert layout.get(move.building_id) == move.from_micro_grid
            layout[move.building_id] = move.to_micro_grid
        assert layout == proposal.micro_grid_of_building
