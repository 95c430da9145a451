"""What staff review before applying a proposal: how even it is, and what it changes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from grid.planner.model import (
    Balance,
    BuildingMove,
    CurrentLayout,
    LayoutDiff,
    MicroGridMove,
    ProposedGrid,
    ProposedMicroGrid,
)


def balance_of(loads: Sequence[float]) -> Balance:
    """Balance figures of some workloads (all zero when there are none or they sum to zero)."""
    if not loads:
        return Balance(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    mean = sum(loads) / len(loads)
    spread = math.sqrt(sum((load - mean) ** 2 for load in loads) / len(loads))
    return Balance(
        count=len(loads),
        mean=mean,
        minimum=min(loads),
        maximum=max(loads),
        max_over_mean=max(loads) / mean if mean > 0 else 0.0,
        coefficient_of_variation=spread / mean if mean > 0 else 0.0,
    )


def current_balances(
    current: CurrentLayout, workloads: Mapping[str, float]
) -> tuple[Balance, Balance]:
    """The current layout's micro-grid and grid balance under today's workloads (micro-grids
    without buildings count, with nothing: they are part of the layout in force)."""
    micro: dict[str, float] = dict.fromkeys(current.grid_of_micro_grid, 0.0)
    for building, micro_grid in current.micro_grid_of_building.items():
        micro[micro_grid] = micro.get(micro_grid, 0.0) + workloads[building]
    grids: dict[str, float] = {}
    for micro_grid, load in micro.items():
        grid = current.grid_of_micro_grid[micro_grid]
        grids[grid] = grids.get(grid, 0.0) + load
    return balance_of(list(micro.values())), balance_of(list(grids.values()))


def diff_of(
    current: CurrentLayout | None,
    micro_grids: Sequence[ProposedMicroGrid],
    grids: Sequence[ProposedGrid],
) -> LayoutDiff:
    """Building moves, micro-grids changing grid, and what is created and removed."""
    before = current.micro_grid_of_building if current is not None else {}
    grid_before = current.grid_of_micro_grid if current is not None else {}
    moves = sorted(
        (
            BuildingMove(building, before.get(building), micro_grid.key)
            for micro_grid in micro_grids
            for building in micro_grid.building_ids
            if before.get(building) != micro_grid.key
        ),
        key=lambda move: move.building_id,
    )
    regrouped = sorted(
        (
            MicroGridMove(m.key, grid_before[m.current_id], m.grid_key)
            for m in micro_grids
            if m.current_id is not None and grid_before[m.current_id] != m.grid_key
        ),
        key=lambda move: move.micro_grid_key,
    )
    kept_micro = {m.current_id for m in micro_grids}
    kept_grids = {g.current_id for g in grids}
    return LayoutDiff(
        building_moves=tuple(moves),
        micro_grid_moves=tuple(regrouped),
        micro_grids_created=tuple(m.key for m in micro_grids if m.current_id is None),
        micro_grids_removed=tuple(sorted(set(grid_before) - kept_micro)),
        grids_created=tuple(g.key for g in grids if g.current_id is None),
        grids_removed=tuple(sorted(set(grid_before.values()) - kept_grids)),
    )
