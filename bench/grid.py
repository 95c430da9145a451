"""The grid layout planner at Shibei's size and at a big community's, next to a naive split.

Shibei: about 200 buildings in 4 complexes and 3 institutions, 13 grids and 45 micro-grids (the
numbers of DOMAIN.md). Big: 1,000 buildings in 20 complexes and 5 institutions, 43 grids and 150
micro-grids. Each is planned afresh (median of a few runs), and Shibei is re-balanced after five
buildings get twice the work. The naive split counts buildings off the list: what a clerk does
without the planner. Pure computation: no infrastructure, so ``python -m bench.grid`` runs alone.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

from grid.planner import Building, Mode, PlanRequest, Proposal, plan_layout
from grid.planner.report import balance_of
from grid.planner.synthetic import (
    SHIBEI_GRIDS,
    SHIBEI_MICRO_GRIDS,
    shibei_like,
    synthetic_community,
)

Row = tuple[str, float, str]
RUNS = 5
BIG_BUILDINGS = 1_000
BIG_GRIDS = 43
BIG_MICRO_GRIDS = 150


def timed(request: PlanRequest, runs: int) -> tuple[Proposal, float]:
    """The proposal and the median planning time in milliseconds."""
    samples = []
    proposal = None
    for _ in range(runs):
        began = time.perf_counter()
        proposal = plan_layout(request)
        samples.append((time.perf_counter() - began) * 1000)
    assert proposal is not None
    return proposal, statistics.median(samples)


def naive_max_over_mean(buildings: tuple[Building, ...], parts: int) -> float:
    n = len(buildings)
    return balance_of(
        [
            sum(b.workload for b in buildings[i * n // parts : (i + 1) * n // parts])
            for i in range(parts)
        ]
    ).max_over_mean


def fresh(name: str, buildings: tuple[Building, ...], grids: int, micro_grids: int) -> list[Row]:
    request = PlanRequest(buildings=buildings, grids=grids, micro_grids=micro_grids)
    proposal, took = timed(request, RUNS)
    size = f"{len(buildings):,} buildings → {grids} grids, {micro_grids} micro-grids"
    return [
        (f"{name}: plan {size}, median", took, "ms"),
        (f"{name}: micro-grid workload max/mean", proposal.micro_grid_balance.max_over_mean, "×"),
        (
            f"{name}: micro-grid workload coefficient of variation",
            100 * proposal.micro_grid_balance.coefficient_of_variation,
            "%",
        ),
        (f"{name}: grid workload max/mean", proposal.grid_balance.max_over_mean, "×"),
        (
            f"{name}: naive split (counting buildings) max/mean",
            naive_max_over_mean(buildings, micro_grids),
            "×",
        ),
        (
            f"{name}: micro-grids not contiguous",
            len(proposal.contiguity.non_contiguous_micro_grids),
            "",
        ),
    ]


def rebalance() -> list[Row]:
    buildings = shibei_like()
    current = plan_layout(
        PlanRequest(buildings=buildings, grids=SHIBEI_GRIDS, micro_grids=SHIBEI_MICRO_GRIDS)
    ).layout()
    busier = tuple(
        dataclasses.replace(b, workload=2 * b.workload) if n % 40 == 10 else b
        for n, b in enumerate(buildings)
    )
    request = PlanRequest(
        buildings=busier,
        grids=SHIBEI_GRIDS,
        micro_grids=SHIBEI_MICRO_GRIDS,
        current=current,
        mode=Mode.REBALANCE,
    )
    proposal, took = timed(request, RUNS)
    fresh_plan = plan_layout(dataclasses.replace(request, mode=Mode.FRESH))
    before = proposal.current_micro_grid_balance
    after = proposal.micro_grid_balance
    assert before is not None
    return [
        ("shibei re-balance after 5 buildings double their work, median", took, "ms"),
        ("shibei re-balance: micro-grid max/mean before", before.max_over_mean, "×"),
        ("shibei re-balance: micro-grid max/mean after", after.max_over_mean, "×"),
        ("shibei re-balance: assignments changed", proposal.diff.changed_assignments, ""),
        ("shibei fresh plan instead: assignments changed", fresh_plan.diff.changed_assignments, ""),
    ]


def run() -> list[Row]:
    big = synthetic_community(seed=2, buildings=BIG_BUILDINGS, complexes=20, institutions=5)
    return (
        fresh("shibei", shibei_like(), SHIBEI_GRIDS, SHIBEI_MICRO_GRIDS)
        + rebalance()
        + fresh("big community", big, BIG_GRIDS, BIG_MICRO_GRIDS)
    )


if __name__ == "__main__":
    rows = run()
    width = max(len(name) for name, _, _ in rows)
    for name, value, unit in rows:
        print(f"{name:<{width}}  {value:>10,.2f}  {unit}")
