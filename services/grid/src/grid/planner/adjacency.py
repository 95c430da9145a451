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
    closest pair of located buildings (by index where positions are missing). The areas are
    found once and merged as they are joined: a link joins exactly two of them."""
    areas: dict[int, list[int]] = {}  # by a label: the area's smallest node at the start
    label_of: dict[int, int] = {}
    for area in connected_pieces(nodes, links):
        areas[area[0]] = area
        for node in area:
            label_of[node] = area[0]
    located = [n for n in nodes if positions[n] is not None]
    while len(areas) > 1:
        smallest = min(areas, key=lambda label: (len(areas[label]), areas[label][0]))
        these = areas[smallest]
        those = [n for n in located if label_of[n] != smallest]
        if those and any(positions[n] is not None for n in these):
            a, b = closest_pair(these, those, positions)
        else:  # no distance to go by: its first building and the first outside, by index
            a, b = these[0], next(n for n in nodes if label_of[n] != smallest)
        link(links, a, b)
        joined = label_of[b]
        for node in areas[smallest]:
            label_of[node] = joined
        areas[joined] = sorted(areas[joined] + areas.pop(smallest))


def closest_pair(
    these: Sequence[int], those: Sequence[int], positions: Sequence[Position | None]
) -> tuple[int, int]:
    """The closest pair of a located node of ``these`` and one of ``those`` (ties by index),
    or the first of each when either has none located. A bucket grid of ``those`` keeps the
    search near each node of ``these``: rings of cells outward, only as far as the best pair
    found so far may still be beaten."""
    here = [(a, p) for a in these if (p := positions[a]) is not None]
    there = [(b, p) for b in those if (p := positions[b]) is not None]
    if not here or not there:
        return these[0], those[0]
    size = bucket_size([p for _, p in there])
    buckets: dict[tuple[int, int], list[tuple[int, Position]]] = {}
    for b, p in there:
        buckets.setdefault(cell(p, size), []).append((b, p))
    columns = [c for c, _ in buckets]
    rows = [r for _, r in buckets]
    best: tuple[float, int, int] | None = None
    for a, p in here:
        column, row = cell(p, size)
        widest = max(
            abs(column - min(columns)),
            abs(column - max(columns)),
            abs(row - min(rows)),
            abs(row - max(rows)),
        )
        for ring in range(widest + 1):
            # Every point of a cell ``ring`` cells away is more than (ring − 1) cells away.
            if best is not None and (ring - 1) * size > best[0]:
                break
            for key in ring_cells(column, row, ring):
                for b, q in buckets.get(key, ()):
                    candidate = (distance(p, q), a, b)
                    if best is None or candidate < best:
                        best = candidate
    assert best is not None  # ``there`` is not empty and the rings cover all its cells
    return best[1], best[2]


def bucket_size(points: Sequence[Position]) -> float:
    """A cell size giving the points a few to a cell on average (at least a metre)."""
    width = max(p.x for p in points) - min(p.x for p in points)
    height = max(p.y for p in points) - min(p.y for p in points)
    return 2 * max(math.sqrt(width * height / len(points)), (width + height) / len(points), 1.0)


def ring_cells(column: int, row: int, ring: int) -> Iterable[tuple[int, int]]:
    """The cells exactly ``ring`` cells from (column, row) in either direction."""
    if ring == 0:
        yield column, row
        return
    for dx in range(-ring, ring + 1):
        yield column + dx, row - ring
        yield column + dx, row + ring
    for dy in range(-ring + 1, ring):
        yield column - ring, row + dy
        yield column + ring, row + dy
