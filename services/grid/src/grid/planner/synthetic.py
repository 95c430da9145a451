"""Synthetic communities for the planner's tests and benchmarks: complexes of buildings laid out
on a plane, each building with a plausible workload, all drawn from one seed.

Complexes are blocks of buildings in rows (35 m apart east–west, 45 m north–south, a few metres
of jitter) separated by 60 m roads; each complex has one building style (low-rise walk-ups,
mid-rise or high-rise), so workloads differ between complexes more than within one, as they do.
Institutions (a hospital, a utility company, a post building: Shibei's 开发区医院, 兴达市政,
邮电大楼) are single buildings on the roads between complexes, with enterprises and no
households; each is a complex of its own. A district (``synthetic_district``) is such
communities side by side with arterial roads between them; ``added_complex`` is new housing
next to a community, for re-balancing.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass
from typing import Final

from grid.planner.model import Building, Position
from grid.planner.workload import WorkloadCounts, building_workload

# Shibei (DOMAIN.md): 4 complexes, its institutions, 4,223 households in about 200 buildings,
# 13 grids and 45 micro-grids.
SHIBEI_BUILDINGS: Final = 200
SHIBEI_COMPLEXES: Final = 4
SHIBEI_INSTITUTIONS: Final = 3
SHIBEI_GRIDS: Final = 13
SHIBEI_MICRO_GRIDS: Final = 45

ROW_SPACING_M: Final = 45.0
COLUMN_SPACING_M: Final = 35.0
ROAD_M: Final = 60.0


@dataclass(frozen=True, slots=True)
class Style:
    floors: tuple[int, ...]
    units: tuple[int, ...]
    flats_per_floor: int


STYLES: Final = (
    Style(floors=(5, 6), units=(1, 2, 3), flats_per_floor=2),  # walk-ups
    Style(floors=(9, 11), units=(1, 2), flats_per_floor=2),  # mid-rise
    Style(floors=(17, 18), units=(1, 2), flats_per_floor=2),  # high-rise
)


def synthetic_community(
    *, seed: int, buildings: int, complexes: int, institutions: int = 0
) -> tuple[Building, ...]:
    """``buildings`` buildings (``institutions`` of them institutions) in ``complexes`` complexes
    of random sizes; the same arguments give the same community."""
    rng = random.Random(f"grid-planner/{seed}")  # noqa: S311 - not for secrets
    housing = buildings - institutions
    shares = [rng.uniform(0.5, 1.5) for _ in range(complexes)]
    sizes = [max(1, math.floor(housing * s / sum(shares))) for s in shares]
    sizes[-1] += housing - sum(sizes)
    blocks = [lattice(size) for size in sizes]
    order = list(range(complexes))
    rng.shuffle(order)
    pitch = max(extent for block in blocks for point in block for extent in point) + ROAD_M
    per_row = math.ceil(math.sqrt(complexes))
    corners: list[tuple[float, float]] = [(0.0, 0.0)] * complexes
    out: list[Building] = []
    for slot, block in enumerate(order):
        corners[block] = east, south = (slot % per_row) * pitch, (slot // per_row) * pitch
        style = rng.choice(STYLES)
        for number, (x, y) in enumerate(blocks[block], start=1):
            out.append(
                Building(
                    id=f"c{block + 1:02d}-b{number:03d}",
                    complex_id=f"c{block + 1:02d}",
                    workload=building_workload(housing_counts(rng, style)),
                    position=Position(
                        east + x + rng.uniform(-4, 4), -(south + y) + rng.uniform(-4, 4)
                    ),
                )
            )
    for number in range(complexes + 1, complexes + institutions + 1):
        # On the road east of a complex, somewhere along it.
        block = rng.randrange(complexes)
        east, south = corners[block]
        width = max(x for x, _ in blocks[block])
        depth = max(y for _, y in blocks[block])
        out.append(
            Building(
                id=f"c{number:02d}-b001",
                complex_id=f"c{number:02d}",
                workload=building_workload(institution_counts(rng)),
                position=Position(east + width + ROAD_M / 2, -(south + rng.uniform(0, depth))),
            )
        )
    return tuple(sorted(out, key=lambda b: b.id))


def shibei_like(seed: int = 1) -> tuple[Building, ...]:
    return synthetic_community(
        seed=seed,
        buildings=SHIBEI_BUILDINGS,
        complexes=SHIBEI_COMPLEXES,
        institutions=SHIBEI_INSTITUTIONS,
    )


def lattice(size: int) -> list[tuple[float, float]]:
    """Offsets (east, south) of ``size`` buildings in rows, a little wider than deep."""
    columns = math.ceil(math.sqrt(size * 1.3))
    return [((n % columns) * COLUMN_SPACING_M, (n // columns) * ROW_SPACING_M) for n in range(size)]


def housing_counts(rng: random.Random, style: Style) -> WorkloadCounts:
    dwellings = rng.choice(style.floors) * rng.choice(style.units) * style.flats_per_floor
    households = round(dwellings * rng.uniform(0.7, 1.0))
    residents = round(households * rng.uniform(2.0, 3.0))
    return WorkloadCounts(
        households=households,
        residents=residents,
        care_tagged_residents=round(residents * rng.uniform(0.05, 0.2)),
        enterprises=rng.choice((0, 0, 0, 0, 1, 2, 4)),  # shops on some ground floors
        open_cases=rng.choice((0, 0, 0, 1, 1, 2, 3)),
    )


def institution_counts(rng: random.Random) -> WorkloadCounts:
    return WorkloadCounts(enterprises=rng.randint(1, 4), open_cases=rng.choice((0, 1, 2)))


# A district (街道): Shibei-sized communities side by side, 5,000 buildings in all, planned as
# one into 400 micro-grids (about 12 buildings each, as a community's are) and 100 grids.
DISTRICT_BUILDINGS: Final = 5_000
DISTRICT_COMMUNITIES: Final = 25
DISTRICT_GRIDS: Final = 100
DISTRICT_MICRO_GRIDS: Final = 400
# Between communities run arterial roads, wider than the roads between complexes.
ARTERIAL_M: Final = 100.0


def synthetic_district(
    *, seed: int, buildings: int = DISTRICT_BUILDINGS, communities: int = DISTRICT_COMMUNITIES
) -> tuple[Building, ...]:
    """``buildings`` buildings in ``communities`` communities of random sizes (each a
    ``synthetic_community`` with 3–6 complexes and 1–3 institutions), laid out in rows west→east
    with arterial roads between them. Ids and complexes carry the community ("k07-c02-b013"), so
    complexes of different communities stay apart; the same arguments give the same district."""
    rng = random.Random(f"grid-planner-district/{seed}")  # noqa: S311 - not for secrets
    shares = [rng.uniform(0.6, 1.4) for _ in range(communities)]
    sizes = [max(8, math.floor(buildings * s / sum(shares))) for s in shares]
    sizes[-1] += buildings - sum(sizes)
    per_row = math.ceil(math.sqrt(communities))
    out: list[Building] = []
    east = north = 0.0
    row_depth = 0.0
    for number, size in enumerate(sizes, start=1):
        community = synthetic_community(
            seed=rng.randrange(1 << 30),
            buildings=size,
            complexes=rng.randint(3, 6),
            institutions=rng.randint(1, 3),
        )
        points = [b.position for b in community if b.position is not None]
        west_edge = min(p.x for p in points)
        north_edge = max(p.y for p in points)
        width = max(p.x for p in points) - west_edge
        depth = north_edge - min(p.y for p in points)
        if (number - 1) % per_row == 0 and number > 1:  # a new row of communities, further south
            east, north = 0.0, north - row_depth - ARTERIAL_M
            row_depth = 0.0
        prefix = f"k{number:02d}-"
        for b in community:
            assert b.position is not None  # every synthetic building has one
            out.append(
                dataclasses.replace(
                    b,
                    id=prefix + b.id,
                    complex_id=prefix + b.complex_id,
                    position=Position(
                        east + b.position.x - west_edge, north + b.position.y - north_edge
                    ),
                )
            )
        east += width + ARTERIAL_M
        row_depth = max(row_depth, depth)
    return tuple(sorted(out, key=lambda b: b.id))


def added_complex(
    community: tuple[Building, ...], *, seed: int, buildings: int, complex_id: str = "added"
) -> tuple[Building, ...]:
    """A new complex of ``buildings`` buildings (one style, as a developer builds them) a road
    east of ``community``'s north-east corner: what a re-balance after new housing is given."""
    rng = random.Random(f"grid-planner-added/{seed}")  # noqa: S311 - not for secrets
    points = [b.position for b in community if b.position is not None]
    east = max(p.x for p in points) + ROAD_M
    north = max(p.y for p in points)
    style = rng.choice(STYLES)
    return tuple(
        Building(
            id=f"{complex_id}-b{number:03d}",
            complex_id=complex_id,
            workload=building_workload(housing_counts(rng, style)),
            position=Position(east + x + rng.uniform(-4, 4), north - y + rng.uniform(-4, 4)),
        )
        for number, (x, y) in enumerate(lattice(buildings), start=1)
    )
