"""Contiguous, balanced parts of a weighted graph: the planner's one algorithm, used twice —
buildings (or whole small complexes) into micro-grids, then micro-grids into grids.

- **Fresh**: recursive bisection by region growing. A region that needs k parts grows a first
  half from a peripheral node, nearest first and finishing a complex it has entered before
  entering another, until it holds k//2 parts' worth of weight; the rest is the second half.
  A growing prefix is always connected; pieces of the rest it cuts off join it, so both halves
  stay connected. The halves' part counts follow their weights; a half far from its parts'
  worth is grown again for one part fewer or more (``split``).
- **Re-balance**: start from the current parts; new nodes join the lightest neighbouring part;
  parts are dissolved into their neighbours (the lightest first) or split (the heaviest first)
  until the count is right.
- **Both** end with a local search: a node on a boundary moves to a neighbouring part when that
  lowers the cost — the squared deviation of the parts' weights from the mean, plus small costs
  for links between parts (ragged shapes) and for complexes spread over several parts, plus, in
  re-balance mode, a cost per node moved away from its current part. A move never empties a part
  and never splits one into more pieces, so contiguity is kept.

Every choice breaks ties by node index, so the same input gives the same parts.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from grid.planner.adjacency import connected_pieces, distance
from grid.planner.model import Position

# Costs in the units of the balance term, (weight − mean)² / mean²: moving a tenth of a part's
# share between two parts 10% apart gains 0.02 there.
CUT_COST: Final = 0.002  # per link between two parts
GROUP_COST: Final = 0.01  # per extra complex a part reaches into
MAX_PASSES: Final = 200
CHAIN_LENGTH: Final = 2  # moves in one chain: a third found little more, at ten times the time
EPSILON: Final = 1e-12
# How far from the mean a part a bisection's half may carry before other counts are tried.
SPLIT_TOLERANCE: Final = 0.02


@dataclass(frozen=True, slots=True)
class Graph:
    weights: Sequence[float]
    neighbours: Sequence[Sequence[int]]  # symmetric; connected, or the parts will not be
    groups: Sequence[int]  # the complex of each node: growth and moves keep one together
    positions: Sequence[Position] | None  # every node's, or None: hop counts stand in


@dataclass(frozen=True, slots=True)
class Homes:
    """Where each node is now, for re-balancing: part labels 0…count−1, every label used."""

    part: Sequence[int | None]  # None: a node new to the layout
    size: Sequence[int]  # assignments a move away from home changes (the buildings it holds)
    count: int


def fresh_parts(graph: Graph, k: int) -> list[int]:
    """``k`` connected parts of even weight: each node's part label, 0…k−1."""
    regions: list[list[int]] = []
    split(graph, list(range(len(graph.weights))), k, regions, sum(graph.weights) / k)
    part_of = [0] * len(graph.weights)
    for label, region in enumerate(regions):
        for node in region:
            part_of[node] = label
    refine(graph, part_of, k)
    return part_of


def rebalanced_parts(
    graph: Graph, k: int, homes: Homes, change_cost: float
) -> tuple[list[int], list[int | None]]:
    """``k`` parts moved as little from ``homes`` as balance allows: each node's part label and,
    per label, the home label it continues (None for a part created here)."""
    loads: dict[int, float] = dict.fromkeys(range(homes.count), 0.0)
    for node, part in enumerate(homes.part):
        if part is not None:
            loads[part] += graph.weights[node]
    placed = attach_new_nodes(graph, homes.part, loads)
    while len(loads) > k:
        dissolve(graph, placed, loads, min(loads, key=lambda p: (loads[p], p)))
    while len(loads) < k:
        splittable = [p for p in loads if sum(1 for q in placed if q == p) > 1]
        heaviest = max(splittable, key=lambda p: (loads[p], -p))
        split_part(graph, placed, loads, heaviest, homes)
    alive = sorted(loads)
    compact = {label: index for index, label in enumerate(alive)}
    final = [compact[part] for part in placed]
    home_labels = [
        compact.get(part) if part is not None else None for part in homes.part
    ]  # a dissolved home is no home: every place is equally a change
    refine(graph, final, k, Homes(home_labels, homes.size, k), change_cost)
    return final, [label if label < homes.count else None for label in alive]


# --- Fresh: recursive bisection --------------------------------------------------------------


def split(graph: Graph, region: list[int], k: int, out: list[list[int]], share: float) -> None:
    """Bisect ``region`` into ``k`` parts of about ``share`` each, recursively. A grown half
    rarely weighs exactly its parts' worth (whole complexes, cut-off pieces), and what a half
    carries too much its parts carry too: the local search can pass it on only between
    neighbouring parts, not out of a corner. So when the half meant for k//2 parts is off by
    more than ``SPLIT_TOLERANCE`` a part, one part fewer or more is tried too."""
    if k == 1:
        out.append(region)
        return
    if len(region) == k:
        out.extend([node] for node in region)
        return
    total = sum(graph.weights[node] for node in region)
    best: tuple[float, int, list[int], list[int]] | None = None
    for half in (k // 2, k // 2 - 1, k // 2 + 1):
        if not 1 <= half <= min(k - 1, len(region) - 1):
            continue
        first, rest = halves(graph, region, total * half / k, half, len(region) - (k - half))
        counted, off = counts_for(graph, (first, rest), k, total, share)
        if best is None or off < best[0]:
            best = (off, counted, first, rest)
        if off <= SPLIT_TOLERANCE:
            break
    assert best is not None  # k // 2 is always possible: 1 ≤ k // 2 < k ≤ len(region)
    _, counted, first, rest = best
    split(graph, first, counted, out, share)
    split(graph, rest, k - counted, out, share)


def counts_for(
    graph: Graph, halves: tuple[list[int], list[int]], k: int, total: float, share: float
) -> tuple[int, float]:
    """How many of the ``k`` parts the first half gets (its weight rounded to parts, or the
    other way round when that is nearer ``share`` a part) and how far from ``share`` a part the
    worse half then is, as a share of it."""
    first, rest = halves
    weight = sum(graph.weights[node] for node in first)
    exact = k * weight / total if total > 0 else k / 2
    low, high = max(1, k - len(rest)), min(k - 1, len(first))
    best: tuple[float, int] | None = None
    for rounded in sorted({round(exact), math.floor(exact), math.ceil(exact)}):
        counted = min(max(rounded, low), high)
        off = max(abs(weight / counted - share), abs((total - weight) / (k - counted) - share)) / (
            share if share > 0 else 1.0
        )
        if best is None or (off, abs(counted - exact)) < (best[0], abs(best[1] - exact)):
            best = (off, counted)
    assert best is not None
    return best[1], best[0]


def halves(
    graph: Graph, region: list[int], target: float, at_least: int, at_most: int
) -> tuple[list[int], list[int]]:
    """A grown first half of about ``target`` weight and the connected rest; pieces of the rest
    the growth cut off (they touch only the first half) join the first half."""
    first = grow(graph, region, target, at_least, at_most)
    taken = set(first)
    pieces = connected_pieces((n for n in region if n not in taken), graph.neighbours)
    kept = max(pieces, key=lambda p: (sum(graph.weights[n] for n in p), len(p), -p[0]))
    for piece in pieces:
        if piece is not kept:
            taken.update(piece)
    return sorted(taken), kept


def grow(graph: Graph, region: list[int], target: float, at_least: int, at_most: int) -> list[int]:
    """Nodes of ``region`` grown from a peripheral seed until their weight is nearest ``target``
    (``at_least`` to ``at_most`` nodes): nearest first, a started complex before a new one."""
    inside = set(region)
    seed = peripheral(graph, region)
    far = distances_from(graph, seed, inside)
    grown: list[int] = []
    taken: set[int] = set()
    started: set[int] = set()
    frontier: set[int] = set()
    heap: list[tuple[int, float, int]] = []
    weight = 0.0

    def push(node: int) -> None:
        heapq.heappush(heap, (0 if graph.groups[node] in started else 1, far[node], node))

    push(seed)
    while len(grown) < at_most:
        if not heap:  # the region is not connected: go on from its next node
            push(next(node for node in region if node not in taken))
        _, _, node = heapq.heappop(heap)
        if node in taken:
            continue
        step = graph.weights[node]
        if len(grown) >= at_least and (
            weight >= target or weight + step - target >= target - weight
        ):
            break
        grown.append(node)
        taken.add(node)
        frontier.discard(node)
        weight += step
        group = graph.groups[node]
        if group not in started:
            started.add(group)
            for waiting in sorted(frontier):
                if graph.groups[waiting] == group:
                    push(waiting)  # again, now ahead of other complexes
        for other in graph.neighbours[node]:
            if other in inside and other not in taken and other not in frontier:
                frontier.add(other)
                push(other)
    return grown


def peripheral(graph: Graph, region: list[int]) -> int:
    """A node at the region's edge: farthest from its centroid, or (without positions) at the
    end of a longest breadth-first path, found by two sweeps."""
    if graph.positions is not None:
        points = graph.positions
        centre = Position(
            sum(points[n].x for n in region) / len(region),
            sum(points[n].y for n in region) / len(region),
        )
        return max(region, key=lambda n: (distance(centre, points[n]), -n))
    inside = set(region)
    node = region[0]
    for _ in range(2):
        hops = hop_counts(graph, node, inside)
        node = max(region, key=lambda n: (hops.get(n, -1.0), -n))
    return node


def distances_from(graph: Graph, seed: int, inside: set[int]) -> dict[int, float]:
    if graph.positions is not None:
        points = graph.positions
        return {node: distance(points[seed], points[node]) for node in inside}
    hops = hop_counts(graph, seed, inside)
    return {node: hops.get(node, math.inf) for node in inside}


def hop_counts(graph: Graph, start: int, inside: set[int]) -> dict[int, float]:
    hops = {start: 0.0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for other in graph.neighbours[node]:
            if other in inside and other not in hops:
                hops[other] = hops[node] + 1
                queue.append(other)
    return hops


# --- Re-balance: from the current parts to k parts -------------------------------------------


def attach_new_nodes(
    graph: Graph, homes: Sequence[int | None], loads: dict[int, float]
) -> list[int]:
    """Every node's part: its home, or for a new node the lightest part next to it when it
    joins (new nodes join in index order, those next to nothing placed yet in later rounds)."""
    part_of = list(homes)
    pending = [node for node, part in enumerate(part_of) if part is None]
    while pending:
        waiting = []
        for node in pending:
            around = {p for o in graph.neighbours[node] if (p := part_of[o]) is not None}
            if around:
                part = min(around, key=lambda p: (loads[p], p))
                part_of[node] = part
                loads[part] += graph.weights[node]
            else:
                waiting.append(node)
        if len(waiting) == len(pending):  # an area of new nodes only: nothing to grow from
            lightest = min(loads, key=lambda p: (loads[p], p))
            part_of[waiting[0]] = lightest
            loads[lightest] += graph.weights[waiting[0]]
            waiting = waiting[1:]
        pending = waiting
    return [part for part in part_of if part is not None]  # all of them by now


def dissolve(graph: Graph, part_of: list[int], loads: dict[int, float], part: int) -> None:
    """Hand the part's nodes one by one to the neighbouring part they weigh down least."""
    members = {node for node, p in enumerate(part_of) if p == part}
    del loads[part]
    while members:
        moves = [
            (loads[part_of[o]] + graph.weights[node], node, part_of[o])
            for node in members
            for o in graph.neighbours[node]
            if part_of[o] != part
        ]
        if moves:
            _, node, target = min(moves)
        else:  # nothing around (the graph is not connected): the lightest part takes it
            node = min(members)
            target = min(loads, key=lambda p: (loads[p], p))
        part_of[node] = target
        loads[target] += graph.weights[node]
        members.discard(node)


def split_part(
    graph: Graph, part_of: list[int], loads: dict[int, float], part: int, homes: Homes
) -> None:
    """Halve the part by weight; the half holding more of its current members keeps the label."""
    members = [node for node, p in enumerate(part_of) if p == part]
    first, rest = halves(graph, members, loads[part] / 2, 1, len(members) - 1)

    def at_home(nodes: list[int]) -> int:
        return sum(homes.size[n] for n in nodes if homes.part[n] == part)

    leaving = rest if at_home(first) >= at_home(rest) else first
    label = max(max(loads) + 1, homes.count)
    loads[label] = sum(graph.weights[node] for node in leaving)
    loads[part] -= loads[label]
    for node in leaving:
        part_of[node] = label


# --- Both: local search ----------------------------------------------------------------------


def refine(
    graph: Graph,
    part_of: list[int],
    k: int,
    homes: Homes | None = None,
    change_cost: float = 0.0,
) -> None:
    """Move boundary nodes to neighbouring parts while that lowers the cost (module docstring):
    single moves until none helps, then chains that pass weight on through a neighbour, and
    single moves again, until neither helps."""
    search = LocalSearch(graph, part_of, k, homes, change_cost)
    if search.scale == 0:
        return
    for _ in range(MAX_PASSES):
        search.single_moves()
        if not search.chain_moves():
            return


class LocalSearch:
    """The parts being improved, with what the cost of a move needs at hand."""

    def __init__(
        self,
        graph: Graph,
        part_of: list[int],
        k: int,
        homes: Homes | None,
        change_cost: float,
    ) -> None:
        self.graph = graph
        self.part_of = part_of  # changed in place: the caller's list is the result
        self.homes = homes
        self.change_cost = change_cost
        self.members: list[set[int]] = [set() for _ in range(k)]
        self.loads = [0.0] * k
        self.groups: list[Counter[int]] = [Counter() for _ in range(k)]
        for node, part in enumerate(part_of):
            self.members[part].add(node)
            self.loads[part] += graph.weights[node]
            self.groups[part][graph.groups[node]] += 1
        self.share = sum(self.loads) / k
        self.scale = 1 / (self.share * self.share) if self.share > 0 else 0.0
        self.linked: dict[int, Counter[int]] = {}
        # Each part's version, bumped by every kept move in or out. A chain search from a part
        # reads only the parts it reaches, so while none of them changed it would fail again:
        # ``failed`` keeps their versions at its last failure and the search is skipped.
        self.version = [0] * k
        self.failed: dict[int, dict[int, int]] = {}
        self.reached: set[int] = set()

    def links(self, node: int) -> Counter[int]:
        """Links from ``node`` per part (cached; a move changes only its neighbours' counts)."""
        if node not in self.linked:
            self.linked[node] = Counter(self.part_of[o] for o in self.graph.neighbours[node])
        return self.linked[node]

    def gain(self, node: int, target: int, links: Counter[int]) -> float:
        """The cost change of moving ``node`` to ``target`` (negative: better)."""
        source = self.part_of[node]
        weight = self.graph.weights[node]
        group = self.graph.groups[node]
        gain = (
            2 * weight * (weight + self.loads[target] - self.loads[source]) * self.scale
            + CUT_COST * (links[source] - links[target])
            + GROUP_COST * ((self.groups[target][group] == 0) - (self.groups[source][group] == 1))
        )
        if self.homes is not None and (home := self.homes.part[node]) is not None:
            gain += self.change_cost * self.homes.size[node] * ((target != home) - (source != home))
        return gain

    def movable(self, node: int, links: Counter[int]) -> bool:
        """Moving ``node`` leaves its part non-empty and in no more pieces than before: its
        neighbours in the part still reach each other without it (a search that stops once
        they all are found, usually a few steps away, instead of recounting the part)."""
        source = self.part_of[node]
        if len(self.members[source]) == 1:
            return False
        if links[source] <= 1:  # a leaf, or a piece of its own: nothing hangs on it
            return True
        neighbours = self.graph.neighbours
        part_of = self.part_of
        around = [o for o in neighbours[node] if part_of[o] == source]
        missing = set(around[1:])
        seen = {node, around[0]}
        queue = deque([around[0]])
        while queue:
            here = queue.popleft()
            for other in neighbours[here]:
                if other not in seen and part_of[other] == source:
                    seen.add(other)
                    missing.discard(other)
                    if not missing:
                        return True
                    queue.append(other)
        return False

    def move(self, node: int, target: int) -> None:
        source = self.part_of[node]
        weight = self.graph.weights[node]
        group = self.graph.groups[node]
        self.part_of[node] = target
        self.members[source].discard(node)
        self.members[target].add(node)
        self.loads[source] -= weight
        self.loads[target] += weight
        self.groups[source][group] -= 1
        self.groups[target][group] += 1
        self.version[source] += 1
        self.version[target] += 1
        # The neighbours' link counts change by one each: kept up to date, not recounted.
        for other in self.graph.neighbours[node]:
            counts = self.linked.get(other)
            if counts is not None:
                if counts[source] == 1:
                    del counts[source]
                else:
                    counts[source] -= 1
                counts[target] += 1

    def single_moves(self) -> None:
        """Passes over the nodes, each to its best neighbouring part, until a pass moves none."""
        for _ in range(MAX_PASSES):
            moved = False
            for node in range(len(self.part_of)):
                source = self.part_of[node]
                links = self.links(node)
                best, best_target = -EPSILON, -1
                for target in sorted(links):
                    if target != source and (gain := self.gain(node, target, links)) < best:
                        best, best_target = gain, target
                if best_target >= 0 and self.movable(node, links):
                    self.move(node, best_target)
                    moved = True
            if not moved:
                return

    def chain_moves(self) -> bool:
        """From each part above the mean, heaviest first: the first chain of up to
        ``CHAIN_LENGTH`` moves (A → B, then B → C, …) that lowers the cost, kept; True if any."""
        improved = False
        heavy = sorted(
            (p for p, load in enumerate(self.loads) if load > self.share),
            key=lambda p: (-self.loads[p], p),
        )
        for part in heavy:
            if self.loads[part] <= self.share or self.unchanged_since_failure(part):
                continue
            self.reached = {part}
            if self.chain(part, CHAIN_LENGTH, 0.0, [part]):
                improved = True
                self.failed.pop(part, None)
            else:
                self.failed[part] = {p: self.version[p] for p in self.reached}
        return improved

    def unchanged_since_failure(self, part: int) -> bool:
        versions = self.failed.get(part)
        return versions is not None and all(self.version[p] == v for p, v in versions.items())

    def chain(self, part: int, length: int, gained: float, passed: list[int]) -> bool:
        """Moves from ``part`` on, after the chain through ``passed`` gained ``gained``. The
        last move may return to the first part: a swap of a heavy node for a light one."""
        for node in sorted(self.members[part]):
            links = self.links(node)
            for target in sorted(links):
                self.reached.add(target)
                if target in passed and not (length == 1 and target == passed[0] != part):
                    continue
                gain = self.gain(node, target, links)
                weight = self.graph.weights[node]
                done = gained + gain < -EPSILON
                # Only a part left above the mean has weight worth passing on.
                onward = length > 1 and self.loads[target] + weight > self.share
                if not (done or onward):
                    continue
                if not self.movable(node, links):
                    break
                # Undone exactly: the loads as they were (no rounding left over), and the
                # versions too, since nothing changed.
                before = (self.loads[part], self.loads[target])
                versions = (self.version[part], self.version[target])
                self.move(node, target)
                if done or self.chain(target, length - 1, gained + gain, [*passed, target]):
                    return True
                self.move(node, part)
                self.loads[part], self.loads[target] = before
                self.version[part], self.version[target] = versions
        return False
