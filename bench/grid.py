"""The grid layout planner at Shibei's size and at a big community's, next to a naive split.

Shibei: about 200 buildings in 4 complexes and 3 institutions, 13 grids and 45 micro-grids (the
numbers of DOMAIN.md). Big: 1,000 buildings in 20 complexes and 5 institutions, 43 grids and 150
micro-grids. District: 5,000 buildings in 25 communities, 100 grids and 400 micro-grids (targets:
at most 5 s, micro-grid max/mean at most 1.15), re-balanced too after one new complex of 40
buildings gets micro-grids for its work. Each is planned afresh (median of a few runs), and
Shibei is re-balanced after five buildings get twice the work. The naive split counts buildings
off the list: what a clerk does without the planner. Pure computation: no infrastructure, so
``python -m bench.grid`` runs alone.
"""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time

import grpc

from bench.results import Figure, in_group, printed
from grid.planner import Building, Mode, PlanRequest, Proposal, plan_layout
from grid.planner.report import balance_of
from grid.planner.synthetic import (
    DISTRICT_GRIDS,
    DISTRICT_MICRO_GRIDS,
    SHIBEI_GRIDS,
    SHIBEI_MICRO_GRIDS,
    added_complex,
    shibei_like,
    synthetic_community,
    synthetic_district,
)
from shequ.common.v1 import paging_pb2
from shequ.grid.v1 import grid_pb2 as gpb
from shequ.grid.v1 import grid_pb2_grpc
from shequ_infra import LocalInfrastructure
from shequ_infra.platform import RunningPlatform

RUNS = 5
BIG_BUILDINGS = 1_000
BIG_GRIDS = 43
BIG_MICRO_GRIDS = 150
DISTRICT_RUNS = 3  # a second or so each
ADDED_BUILDINGS = 40


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


def fresh(
    name: str, buildings: tuple[Building, ...], grids: int, micro_grids: int, runs: int = RUNS
) -> list[Figure]:
    request = PlanRequest(buildings=buildings, grids=grids, micro_grids=micro_grids)
    proposal, took = timed(request, runs)
    size = f"{len(buildings):,} buildings → {grids} grids, {micro_grids} micro-grids"
    return [
        Figure(f"{name}: plan {size}, median", took, "ms"),
        Figure(
            f"{name}: micro-grid workload max/mean", proposal.micro_grid_balance.max_over_mean, "×"
        ),
        Figure(
            f"{name}: micro-grid workload coefficient of variation",
            100 * proposal.micro_grid_balance.coefficient_of_variation,
            "%",
        ),
        Figure(f"{name}: grid workload max/mean", proposal.grid_balance.max_over_mean, "×"),
        Figure(
            f"{name}: naive split (counting buildings) max/mean",
            naive_max_over_mean(buildings, micro_grids),
            "×",
        ),
        Figure(
            f"{name}: micro-grids not contiguous",
            len(proposal.contiguity.non_contiguous_micro_grids),
            "",
        ),
    ]


def rebalance() -> list[Figure]:
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
        Figure("shibei re-balance after 5 buildings double their work, median", took, "ms"),
        Figure("shibei re-balance: micro-grid max/mean before", before.max_over_mean, "×"),
        Figure("shibei re-balance: micro-grid max/mean after", after.max_over_mean, "×"),
        Figure("shibei re-balance: assignments changed", proposal.diff.changed_assignments, ""),
        Figure(
            "shibei fresh plan instead: assignments changed",
            fresh_plan.diff.changed_assignments,
            "",
        ),
    ]


def district() -> list[Figure]:
    buildings = synthetic_district(seed=1)
    rows = fresh("district", buildings, DISTRICT_GRIDS, DISTRICT_MICRO_GRIDS, DISTRICT_RUNS)
    current = plan_layout(
        PlanRequest(buildings=buildings, grids=DISTRICT_GRIDS, micro_grids=DISTRICT_MICRO_GRIDS)
    ).layout()
    added = added_complex(buildings, seed=7, buildings=ADDED_BUILDINGS)
    share = sum(b.workload for b in buildings) / DISTRICT_MICRO_GRIDS
    request = PlanRequest(
        buildings=buildings + added,
        grids=DISTRICT_GRIDS,
        # The new complex gets micro-grids for its work, as staff would size them.
        micro_grids=DISTRICT_MICRO_GRIDS + round(sum(b.workload for b in added) / share),
        current=current,
        mode=Mode.REBALANCE,
    )
    proposal, took = timed(request, DISTRICT_RUNS)
    moved = proposal.diff.changed_buildings
    return [
        *rows,
        Figure(f"district re-balance after a new complex of {ADDED_BUILDINGS}, median", took, "ms"),
        Figure("district re-balance: max/mean", proposal.micro_grid_balance.max_over_mean, "×"),
        Figure("district re-balance: placed buildings moved", 100 * moved / len(buildings), "%"),
    ]


def run() -> list[Figure]:
    big = synthetic_community(seed=2, buildings=BIG_BUILDINGS, complexes=20, institutions=5)
    return (
        fresh("shibei", shibei_like(), SHIBEI_GRIDS, SHIBEI_MICRO_GRIDS)
        + rebalance()
        + fresh("big community", big, BIG_GRIDS, BIG_MICRO_GRIDS)
        + district()
    )


COVERAGE_TENANT = "xiaoshan.shushan.hushan"
COVERAGE_CALLERS = (1, 2, 4)
COVERAGE_CALLS = 1_200


def coverage_latency(infra: LocalInfrastructure, platform: RunningPlatform) -> list[Figure]:
    """WhoCovers as cases will ask it: the platform's grid server in its own process (Hushan's
    seeded layout and members), 1, 2 and 4 concurrent callers in this process with a real token,
    each call timed at the caller (target p99 ≤ 10 ms). Answers come from the server's notified
    cache after the first call per building; docs/grid.md has the uncached figures."""
    token = infra.keycloak.password_grant("hushan-staff", "shequ-demo")["access_token"]
    metadata = (("authorization", f"Bearer {token}"), ("x-tenant-id", COVERAGE_TENANT))
    with grpc.insecure_channel(platform.grid_target) as channel:
        stub = grid_pb2_grpc.GridServiceStub(channel)
        listed = stub.ListCoverage(
            gpb.ListCoverageRequest(page=paging_pb2.PageRequest(page_size=500)),
            metadata=metadata,
            timeout=10,
        )
    targets = [c.building_id for c in listed.coverage]
    assert targets, "the demo seed covers Hushan's buildings"
    rows: list[Figure] = []
    for callers in COVERAGE_CALLERS:
        latencies, elapsed = _who_covers_load(platform.grid_target, metadata, targets, callers)
        rows += [
            Figure(
                f"grid WhoCovers p50, {callers} concurrent callers",
                latencies[len(latencies) // 2],
                "ms",
            ),
            Figure(
                f"grid WhoCovers p99, {callers} concurrent callers (target ≤ 10)",
                latencies[int(len(latencies) * 0.99)],
                "ms",
            ),
            Figure(
                f"grid WhoCovers throughput, {callers} callers", len(latencies) / elapsed, "calls/s"
            ),
        ]
    return rows


def _who_covers_load(
    target: str, metadata: tuple[tuple[str, str], ...], buildings: list[str], callers: int
) -> tuple[list[float], float]:
    """Sorted latencies (ms) of COVERAGE_CALLS calls spread over ``callers`` threads, and the
    seconds they took."""
    latencies: list[float] = []
    lock = threading.Lock()

    def caller(worker: int) -> None:
        with grpc.insecure_channel(target) as channel:
            stub = grid_pb2_grpc.GridServiceStub(channel)
            request = gpb.WhoCoversRequest(building_id=buildings[0])
            stub.WhoCovers(request, metadata=metadata, timeout=10)  # connect once
            mine: list[float] = []
            for n in range(COVERAGE_CALLS // callers):
                building = buildings[(worker * 31 + n) % len(buildings)]
                request = gpb.WhoCoversRequest(building_id=building)
                began = time.perf_counter()
                stub.WhoCovers(request, metadata=metadata, timeout=10)
                mine.append((time.perf_counter() - began) * 1000)
        with lock:
            latencies.extend(mine)

    began = time.perf_counter()
    threads = [threading.Thread(target=caller, args=(w,)) for w in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return sorted(latencies), elapsed


if __name__ == "__main__":
    print(printed(in_group("grid", run())))
