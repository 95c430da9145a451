"""Plan a community's grid layout: buildings into micro-grids, micro-grids into grids.

1. Check the request; index the buildings (by id, so the input's order does not matter) and
   link neighbours (``grid.planner.adjacency``).
2. Micro-grids: a complex whose workload is no more than a micro-grid's share moves as one piece
   (it stays whole); the buildings of bigger complexes move one by one. These pieces are
   partitioned into the requested number of contiguous micro-grids of even workload
   (``grid.planner.partition``) — afresh, or from the current layout with a cost per moved
   building (re-balance).
3. Grids: the micro-grids, as pieces, are partitioned the same way into the requested grids.
4. Identities: in re-balance mode a part continues the current micro-grid or grid it started
   from; in a fresh plan each takes the current id it shares the most buildings with. Micro-grids
   and grids the current layout lists without buildings are reused before new ones are made.
5. Numbers after GB/T 30428: grids west→east in rows north→south, micro-grids likewise within
   their grid (by the smallest building id when positions are missing).

Balance comes first for micro-grids: their leaders walk them daily. Grids group whole
micro-grids, so with 45 micro-grids in 13 grids some grids hold 3 and some 4 — the grid balance
reported shows what that costs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from grid.planner.adjacency import Links, building_adjacency, connected_pieces
from grid.planner.model import (
    Building,
    Contiguity,
    Mode,
    PlanRequest,
    Position,
    Proposal,
    ProposedGrid,
    ProposedMicroGrid,
)
from grid.planner.partition import Graph, Homes, fresh_parts, rebalanced_parts
from grid.planner.report import balance_of, current_balances, diff_of
from grid.planner.validation import check_request

# The cost of one moved building at stability 1, in the balance term's units (squared deviation
# from the mean, as a share of the mean): a building with a tenth of a micro-grid's workload then
# moves only between micro-grids at least 35% of the mean apart; at the default 0.3, 17.5%.
FULL_STABILITY_COST: Final = 0.05


@dataclass(frozen=True, slots=True)
class Community:
    """The request's buildings, indexed: everything below speaks of buildings by index."""

    buildings: tuple[Building, ...]  # sorted by id
    complexes: tuple[int, ...]  # each building's complex, as an index
    links: Links  # who neighbours whom, as known: contiguity is judged on it
    walk: Links  # what micro-grids grow along (``grid.planner.adjacency.Adjacency``)
    located: bool  # every building has a position
    current: tuple[str | None, ...]  # each building's current micro-grid

    def centre(self, members: Sequence[int]) -> Position:
        points = [p for n in members if (p := self.buildings[n].position) is not None]
        return Position(
            sum(p.x for p in points) / len(points), sum(p.y for p in points) / len(points)
        )


def plan_layout(request: PlanRequest) -> Proposal:
    """A proposed layout for ``request``: see the module docstring. Raises ``DomainError``
    (invalid input, naming the field) for a request it cannot plan."""
    check_request(request)
    community = index_community(request)
    change_cost = request.stability * FULL_STABILITY_COST
    micro_of, micro_ids = plan_micro_grids(community, request, change_cost)
    grid_of, grid_ids = plan_grids(community, request, micro_of, micro_ids, change_cost)
    return propose(
        community,
        request,
        micro_of=micro_of,
        micro_ids=micro_ids,
        grid_of=grid_of,
        grid_ids=grid_ids,
    )


def index_community(request: PlanRequest) -> Community:
    buildings = tuple(sorted(request.buildings, key=lambda b: b.id))
    index = {building.id: n for n, building in enumerate(buildings)}
    complex_index = {c: n for n, c in enumerate(sorted({b.complex_id for b in buildings}))}
    complexes = tuple(complex_index[b.complex_id] for b in buildings)
    positions = [b.position for b in buildings]
    adjacency = building_adjacency(
        positions=positions,
        complexes=complexes,
        numbers=[b.number for b in buildings],
        pairs=[(index[a], index[b]) for a, b in request.adjacency],
        neighbour_distance_m=request.neighbour_distance_m,
    )
    before = request.current.micro_grid_of_building if request.current is not None else {}
    return Community(
        buildings=buildings,
        complexes=complexes,
        links=adjacency.known,
        walk=adjacency.walk,
        located=all(p is not None for p in positions),
        current=tuple(before.get(b.id) for b in buildings),
    )


# --- Micro-grids -----------------------------------------------------------------------------


def plan_micro_grids(
    community: Community, request: PlanRequest, change_cost: float
) -> tuple[list[int], list[str | None]]:
    """Each building's micro-grid (0…m−1) and, per micro-grid, the current id it continues."""
    k = request.micro_grids
    rebalance = request.mode is Mode.REBALANCE
    share = sum(b.workload for b in community.buildings) / k
    atoms = pieces_that_move_whole(community, share, k, keep_current_splits=rebalance)
    graph = piece_graph(community, atoms)
    if rebalance:
        ids = sorted({m for m in community.current if m is not None})
        label = {micro_grid: n for n, micro_grid in enumerate(ids)}
        homes = Homes(
            part=[
                label[m] if (m := next_current(community, atom)) is not None else None
                for atom in atoms
            ],
            size=[sum(1 for n in atom if community.current[n] is not None) for atom in atoms],
            count=len(ids),
        )
        parts, origins = rebalanced_parts(graph, k, homes, change_cost)
        continued = [ids[o] if o is not None else None for o in origins]
    else:
        parts = fresh_parts(graph, k)
        continued = [None] * k
    micro_of = [0] * len(community.buildings)
    for atom, part in zip(atoms, parts, strict=True):
        for n in atom:
            micro_of[n] = part
    if request.current is not None and not rebalance:
        continued = matched_ids(micro_of, list(community.current), k)
    if request.current is not None:
        used = set(request.current.micro_grid_of_building.values())
        continued = reuse_empty(continued, set(request.current.grid_of_micro_grid) - used)
    return micro_of, continued


def next_current(community: Community, atom: list[int]) -> str | None:
    return next((m for n in atom if (m := community.current[n]) is not None), None)


def pieces_that_move_whole(
    community: Community, share: float, k: int, *, keep_current_splits: bool
) -> list[list[int]]:
    """Whole complexes no heavier than ``share``, single buildings of the others. A complex the
    current layout already splits stays split when re-balancing (joining it would move
    buildings for no balance gain); with fewer pieces than micro-grids, every building is one."""
    members: dict[int, list[int]] = {}
    for n, complex_ in enumerate(community.complexes):
        members.setdefault(complex_, []).append(n)
    atoms: list[list[int]] = []
    for buildings in members.values():
        weight = sum(community.buildings[n].workload for n in buildings)
        currents = {community.current[n] for n in buildings} - {None}
        if weight <= share and not (keep_current_splits and len(currents) > 1):
            atoms.append(buildings)
        else:
            atoms.extend([n] for n in buildings)
    if len(atoms) < k:
        return [[n] for n in range(len(community.buildings))]
    return sorted(atoms)


def piece_graph(community: Community, atoms: list[list[int]]) -> Graph:
    atom_of = {n: a for a, atom in enumerate(atoms) for n in atom}
    return Graph(
        weights=[sum(community.buildings[n].workload for n in atom) for atom in atoms],
        neighbours=[
            sorted({atom_of[o] for n in atom for o in community.walk[n]} - {a})
            for a, atom in enumerate(atoms)
        ],
        groups=[community.complexes[atom[0]] for atom in atoms],
        positions=[community.centre(atom) for atom in atoms] if community.located else None,
    )


# --- Grids -----------------------------------------------------------------------------------


def plan_grids(
    community: Community,
    request: PlanRequest,
    micro_of: list[int],
    micro_ids: list[str | None],
    change_cost: float,
) -> tuple[list[int], list[str | None]]:
    """Each micro-grid's grid (0…g−1) and, per grid, the current id it continues."""
    k = request.grids
    current = request.current
    members = members_of(micro_of, request.micro_grids)
    graph = Graph(
        weights=[sum(community.buildings[n].workload for n in m) for m in members],
        neighbours=[
            sorted({micro_of[o] for n in m for o in community.walk[n]} - {label})
            for label, m in enumerate(members)
        ],
        # A micro-grid's complex is where most of its buildings are.
        groups=[
            min(Counter(community.complexes[n] for n in m).items(), key=lambda c: (-c[1], c[0]))[0]
            for m in members
        ],
        positions=[community.centre(m) for m in members] if community.located else None,
    )
    if request.mode is Mode.REBALANCE and current is not None:
        before = [current.grid_of_micro_grid[m] if m is not None else None for m in micro_ids]
        ids = sorted({g for g in before if g is not None})
        label = {grid: n for n, grid in enumerate(ids)}
        homes = Homes(
            part=[label[g] if g is not None else None for g in before],
            size=[int(g is not None) for g in before],
            count=len(ids),
        )
        parts, origins = rebalanced_parts(graph, k, homes, change_cost)
        continued = [ids[o] if o is not None else None for o in origins]
    else:
        parts = fresh_parts(graph, k)
        continued = [None] * k
        if current is not None:
            grid_before = [
                current.grid_of_micro_grid[m] if m is not None else None for m in community.current
            ]
            continued = matched_ids([parts[m] for m in micro_of], grid_before, k)
    if current is not None:
        used = {current.grid_of_micro_grid[m] for m in current.micro_grid_of_building.values()}
        continued = reuse_empty(continued, set(current.grid_of_micro_grid.values()) - used)
    return parts, continued


# --- Identities, numbers and the proposal ----------------------------------------------------


def members_of(part_of: Sequence[int], k: int) -> list[list[int]]:
    members: list[list[int]] = [[] for _ in range(k)]
    for node, part in enumerate(part_of):
        members[part].append(node)
    return members


def matched_ids(part_of: Sequence[int], before: Sequence[str | None], k: int) -> list[str | None]:
    """Per part, the current id it shares the most buildings with, the biggest overlaps first
    (each id continues one part at most)."""
    overlap = Counter((part, b) for part, b in zip(part_of, before, strict=True) if b is not None)
    continued: list[str | None] = [None] * k
    taken: set[str] = set()
    for (part, current_id), _ in sorted(overlap.items(), key=lambda o: (-o[1], o[0][1], o[0][0])):
        if continued[part] is None and current_id not in taken:
            continued[part] = current_id
            taken.add(current_id)
    return continued


def reuse_empty(continued: list[str | None], empty: set[str]) -> list[str | None]:
    """Parts that continue nothing take the ids of current parts without buildings, in order."""
    spare = iter(sorted(empty - set(continued)))
    return [c if c is not None else next(spare, None) for c in continued]


def reading_order(centres: Sequence[Position]) -> list[int]:
    """Indices of ``centres`` in rows north→south, each row west→east (rows of about √n)."""
    per_row = max(1, round(math.sqrt(len(centres))))
    north_first = sorted(range(len(centres)), key=lambda i: (-centres[i].y, centres[i].x, i))
    order: list[int] = []
    for start in range(0, len(north_first), per_row):
        row = north_first[start : start + per_row]
        order.extend(sorted(row, key=lambda i: (centres[i].x, -centres[i].y, i)))
    return order


def numbered(community: Community, groups: Sequence[list[int]]) -> list[int]:
    """The labels of ``groups`` (building indices each) in numbering order."""
    if community.located:
        return reading_order([community.centre(members) for members in groups])
    return sorted(range(len(groups)), key=lambda g: min(groups[g]))


def propose(
    community: Community,
    request: PlanRequest,
    *,
    micro_of: list[int],
    micro_ids: list[str | None],
    grid_of: list[int],
    grid_ids: list[str | None],
) -> Proposal:
    buildings = community.buildings
    micro_members = members_of(micro_of, request.micro_grids)
    grid_members = members_of([grid_of[m] for m in micro_of], request.grids)
    micro_grids: list[ProposedMicroGrid] = []
    grids: list[ProposedGrid] = []
    for grid_number, grid in enumerate(numbered(community, grid_members), start=1):
        grid_key = grid_ids[grid] or f"new-{grid_number:03d}"
        inside = [m for m in range(request.micro_grids) if grid_of[m] == grid]
        keys = []
        for number, index in enumerate(numbered(community, [micro_members[m] for m in inside]), 1):
            micro = inside[index]
            members = micro_members[micro]
            keys.append(micro_ids[micro] or f"new-{grid_number:03d}-{number:02d}")
            micro_grids.append(
                ProposedMicroGrid(
                    key=keys[-1],
                    current_id=micro_ids[micro],
                    grid_key=grid_key,
                    number=number,
                    building_ids=tuple(buildings[n].id for n in members),
                    workload=sum(buildings[n].workload for n in members),
                    pieces=tuple(
                        tuple(buildings[n].id for n in piece)
                        for piece in connected_pieces(members, community.links)
                    ),
                )
            )
        grids.append(
            ProposedGrid(
                key=grid_key,
                current_id=grid_ids[grid],
                number=grid_number,
                micro_grid_keys=tuple(keys),
                workload=sum(buildings[n].workload for n in grid_members[grid]),
                contiguous=len(connected_pieces(grid_members[grid], community.links)) == 1,
            )
        )
    current = request.current
    before = (
        current_balances(current, {b.id: b.workload for b in buildings})
        if current is not None
        else None
    )
    return Proposal(
        micro_grids=tuple(micro_grids),
        grids=tuple(grids),
        micro_grid_balance=balance_of([m.workload for m in micro_grids]),
        grid_balance=balance_of([g.workload for g in grids]),
        contiguity=contiguity_of(community, micro_grids, grids),
        diff=diff_of(current, micro_grids, grids),
        current_micro_grid_balance=before[0] if before is not None else None,
        current_grid_balance=before[1] if before is not None else None,
        micro_grid_of_building={b: m.key for m in micro_grids for b in m.building_ids},
    )


def contiguity_of(
    community: Community, micro_grids: Sequence[ProposedMicroGrid], grids: Sequence[ProposedGrid]
) -> Contiguity:
    return Contiguity(
        separate_areas=len(connected_pieces(range(len(community.buildings)), community.links)),
        non_contiguous_micro_grids=tuple(m.key for m in micro_grids if not m.contiguous),
        non_contiguous_grids=tuple(g.key for g in grids if not g.contiguous),
    )
