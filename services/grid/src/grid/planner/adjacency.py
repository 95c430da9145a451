"""Who neighbours whom: the graph a micro-grid must stay connected in.

Buildings are nodes (by index); a link means a grid worker walks from one to the other without
passing a third building's area. Links come from, in this order:

1. explicit pairs, when the caller gives any (someone who knows the footpaths knows better);
   otherwise each located building's nearest neighbours within the neighbour distance, and its
   nearest of other complexes within that distance (across the road);
2. the complex: a complex (小区) is one walkable compound, so its buildings are always joined, and
   a building without a position is a neighbour of all of its complex (it is somewhere inside;
   the planner itself follows such buildings in the order of their numbers, see ``Adjacency``);
3. without explicit pairs, located areas that are still apart are joined by their closest pair
   of buildings (two complexes across a road are neighbours, however wide the road).

Areas nothing joins (complexes without positions or pairs) stay apart; the planner reports them.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from grid.planner.model import Position

# Mean Earth radius (IUGG), metres.
EARTH_RADIUS_M: Final = 6_371_008.8
# A building's derived neighbours: its nearest few within the distance — the buildings of its row
# and of the rows either side, not the whole block.
NEAREST: Final = 6
ACROSS: Final = 2

Links = list[set[int]]


def local_metres(lon: float, lat: float, *, origin_lon: float, origin_lat: float) -> Position:
    """Longitude/latitude (degrees, WGS-84 or GCJ-02 alike) as metres east and north of the
    origin: an equirectangular projection, off by well under a metre within a few kilometres."""
    scale = math.pi / 180 * EARTH_RADIUS_M
    return Position(
        x=(lon - origin_lon) * scale * math.cos(math.radians(origin_lat)),
        y=(lat - origin_lat) * scale,
    )


def distance(a: Position, b: Position) -> float:
    return math.hypot(a.x - b.x, a.y - b.y)


def connected_pieces(nodes: Iterable[int], neighbours: Sequence[Iterable[int]]) -> list[list[int]]:
    """The connected pieces of ``nodes`` (links leaving ``nodes`` are not followed), each sorted,
    in the order of their smallest node."""
    inside = set(nodes)
    seen: set[int] = set()
    pieces = []
    for start in sorted(inside):
        if start in seen:
            continue
        seen.add(start)
        piece = [start]
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for other in neighbours[node]:
                if other in inside and other not in seen:
                    seen.add(other)
                    piece.append(other)
                    queue.append(other)
        pieces.append(sorted(piece))
    return pieces


@dataclass(frozen=True, slots=True)
class Adjacency:
    # Who neighbours whom as far as anyone knows: contiguity is judged on it.
    known: Links
    # What the planner grows micro-grids along: part of ``known`` (a complex's buildings without
    # positions follow their numbers instead of all neighbouring all, which keeps a micro-grid a
    # run of numbers, as staff draw them, and the planner fast), with the separate areas
    # joined at their closest buildings so that every count of micro-grids can be formed.
    walk: Links


def building_adjacency(
    *,
    positions: Sequence[Position | None],
    complexes: Sequence[int],
    numbers: Sequence[str],
    pairs: Sequence[tuple[int, int]],
    neighbour_distance_m: float,
) -> Adjacency:
    """The adjacency of the buildings (by index): ``complexes`` and ``numbers`` give each
    building's complex and its number as residents say it ("3幢")."""
    walk: Links = [set() for _ in positions]
    if pairs:
        for a, b in pairs:
            link(walk, a, b)
    else:
        link_nearest(positions, complexes, neighbour_distance_m, walk)
    members: dict[int, list[int]] = {}
    for node, complex_ in enumerate(complexes):
        members.setdefault(complex_, []).append(node)
    somewhere_inside: list[tuple[list[int], list[int]]] = []
    for buildings in members.values():
        unlocated = [n for n in buildings if positions[n] is None]
        if unlocated and not pairs:
            unlocated.sort(key=lambda n: (number_order(numbers[n]), n))
            follow_numbers(unlocated, buildings, positions, walk)
            somewhere_inside.append((unlocated, buildings))
        join_areas(buildings, walk, positions)
    if not pairs:
        join_areas([n for n, p in enumerate(positions) if p is not None], walk, positions)
    known = [set(around) for around in walk]
    for unlocated, buildings in somewhere_inside:
        for node in unlocated:
            for other in buildings:
                link(known, node, other)
    join_areas(range(len(positions)), walk, positions)
    return Adjacency(known=known, walk=walk)


def follow_numbers(
    unlocated: list[int], buildings: list[int], positions: Sequence[Position | None], walk: Links
) -> None:
    """Buildings without a position in a row by number; the row starts at every located
    building of the complex (where exactly it lies is unknown)."""
    for a, b in itertools.pairwise(unlocated):
        link(walk, a, b)
    for located in buildings:
        if positions[located] is not None:
            link(walk, unlocated[0], located)


def number_order(number: str) -> tuple[tuple[int, int, str], ...]:
    """Sorts "2幢" before "10幢": digit runs by value, the rest as text."""
    return tuple(
        (0, int(part), "") if "0" <= part[0] <= "9" else (1, 0, part)
        for part in re.findall(r"[0-9]+|[^0-9]+", number)
    )


def link(links: Links, a: int, b: int) -> None:
    if a != b:
        links[a].add(b)
        links[b].add(a)


def link_nearest(
    positions: Sequence[Position | None],
    complexes: Sequence[int],
    reach: float,
    links: Links,
) -> None:
    """Each located building to its ``NEAREST`` nearest within ``reach``, and to its ``ACROSS``
    nearest of other complexes within ``reach`` (its own complex's buildings would otherwise
    take every place, and two complexes across a road would touch at one building only).
    A bucket grid of ``reach``-sized cells keeps it to the buildings nearby."""
    buckets: dict[tuple[int, int], list[int]] = {}
    for node, position in enumerate(positions):
        if position is not None:
            buckets.setdefault(cell(position, reach), []).append(node)
    for node, position in enumerate(positions):
        if position is None:
            continue
        column, row = cell(position, reach)
        near: list[tuple[float, int]] = []
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for other in buckets.get((column + dx, row + dy), ()):
                    there = positions[other]
                    if other != node and there is not None:
                        gap = distance(position, there)
                        if gap <= reach:
                            near.append((gap, other))
        near.sort()
        across = [(gap, other) for gap, other in near if complexes[other] != complexes[node]]
        for _, other in near[:NEAREST] + across[:ACROSS]:
            link(links, node, other)


def cell(position: Position, size: float) -> tuple[int, int]:
    return math.floor(position.x / size), math.floor(position.y / size)


def join_areas(nodes: Sequence[int], links: Links, positions: Sequence[Position | None]) -> None:
    """Link the areas of ``nodes`` into one, the smallest area first, each to the rest by the
    closest pair of located buildings (by index where positions are missing)."""
    while True:
        areas = connected_pieces(nodes, links)
        if len(areas) <= 1:
            return
        smallest = min(areas, key=lambda area: (len(area), area[0]))
        inside = set(smallest)
        rest = [node for node in nodes if node not in inside]
        a, b = closest_pair(smallest, rest, positions)
        link(links, a, b)


def closest_pair(
    these: Sequence[int], those: Sequence[int], positions: Sequence[Position | None]
) -> tuple[int, int]:
    best: tuple[float, int, int] | None = None
    for a in these:
        here = positions[a]
        if here is None:
            continue
        for b in those:
            there = positions[b]
            if there is not None:
                candidate = (distance(here, there), a, b)
                if best is None or candidate < best:
                    best = candidate
    if best is None:
        return these[0], those[0]
    return best[1], best[2]
