"""What the layout planner is asked and what it proposes: plain values, no database, no transport.

Positions are metres in a local plane of the community: ``x`` east, ``y`` north of any fixed
origin. Metres, not longitude/latitude, because every distance the planner uses (who neighbours
whom, how compact a micro-grid is) is a walking distance; a caller holding lon/lat converts with
``grid.planner.adjacency.local_metres`` (exact enough over a community's kilometre or two).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

# The default weight a stable layout carries in re-balance mode (see ``PlanRequest.stability``).
DEFAULT_STABILITY: Final = 0.3
# Buildings closer than this are neighbours when no explicit adjacency is given: across a lane or
# a courtyard, not across a block.
DEFAULT_NEIGHBOUR_DISTANCE_M: Final = 120.0


class Mode(StrEnum):
    # Plan from scratch; a current layout, if given, only names the diff and which ids continue.
    FRESH = "fresh"
    # Start from the current layout and move as few buildings as the balance needs.
    REBALANCE = "rebalance"


@dataclass(frozen=True, slots=True)
class Position:
    """Metres east (``x``) and north (``y``) of the community's origin."""

    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Building:
    """A building as the planner sees it: where it is and how much work it makes.

    ``workload`` is one number (``grid.planner.workload.building_workload`` makes it from the
    census counts and open cases). A building without ``position`` is placed by its complex and
    the explicit adjacency only, next to the buildings numbered before and after it.
    """

    id: str
    complex_id: str
    workload: float
    position: Position | None = None
    number: str = ""  # as residents say it, "3幢"


@dataclass(frozen=True, slots=True)
class CurrentLayout:
    """The layout in force: building → micro-grid and micro-grid → grid (ids as the service
    stores them). Buildings it does not name are new and get placed; micro-grids without
    buildings may be listed (they are reused before new ones are created)."""

    micro_grid_of_building: Mapping[str, str]
    grid_of_micro_grid: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class PlanRequest:
    buildings: Sequence[Building]
    grids: int
    micro_grids: int
    # Pairs of building ids that are neighbours. Given, they replace the neighbours derived
    # from positions (a planner who knows the footpaths knows better than distances).
    adjacency: Sequence[tuple[str, str]] = ()
    current: CurrentLayout | None = None
    mode: Mode = Mode.FRESH
    # Re-balance only, 0 to 1: how much balance one moved building must buy. 0 moves a building
    # for any gain; 1 only for a large one (see ``grid.planner.layout.FULL_STABILITY_COST``).
    stability: float = DEFAULT_STABILITY
    neighbour_distance_m: float = DEFAULT_NEIGHBOUR_DISTANCE_M


# --- The proposal ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProposedMicroGrid:
    # The current micro-grid's id when this one continues it, else "new-<grid>-<number>".
    key: str
    current_id: str | None
    grid_key: str
    # Within its grid, 1…, west→east and north→south (the last two digits of the grid code).
    number: int
    building_ids: tuple[str, ...]
    workload: float
    # Its buildings as connected pieces of the adjacency; one piece means contiguous.
    pieces: tuple[tuple[str, ...], ...]

    @property
    def contiguous(self) -> bool:
        return len(self.pieces) == 1


@dataclass(frozen=True, slots=True)
class ProposedGrid:
    key: str  # the current grid's id when this one continues it, else "new-<number>"
    current_id: str | None
    # 1…, west→east and north→south over the community (the 3 digits after the community code).
    number: int
    micro_grid_keys: tuple[str, ...]  # in number order
    workload: float
    contiguous: bool


@dataclass(frozen=True, slots=True)
class Balance:
    """How even the workloads are: max/mean (what the busiest carries against the average) and
    the coefficient of variation (standard deviation / mean, over all of them)."""

    count: int
    mean: float
    minimum: float
    maximum: float
    max_over_mean: float
    coefficient_of_variation: float


@dataclass(frozen=True, slots=True)
class BuildingMove:
    building_id: str
    from_micro_grid: str | None  # None: the building is new to the layout
    to_micro_grid: str


@dataclass(frozen=True, slots=True)
class MicroGridMove:
    micro_grid_key: str  # a continued micro-grid whose grid changes
    from_grid: str
    to_grid: str


@dataclass(frozen=True, slots=True)
class LayoutDiff:
    """What applying the proposal changes in the current layout (all of it when there is none)."""

    building_moves: tuple[BuildingMove, ...]
    micro_grid_moves: tuple[MicroGridMove, ...]
    micro_grids_created: tuple[str, ...]  # keys of proposed micro-grids that continue none
    micro_grids_removed: tuple[str, ...]  # current ids no proposed micro-grid continues
    grids_created: tuple[str, ...]
    grids_removed: tuple[str, ...]

    @property
    def changed_buildings(self) -> int:
        """Buildings of the current layout that change micro-grid."""
        return sum(1 for move in self.building_moves if move.from_micro_grid is not None)

    @property
    def placed_buildings(self) -> int:
        """Buildings the current layout did not cover, now placed."""
        return sum(1 for move in self.building_moves if move.from_micro_grid is None)

    @property
    def changed_assignments(self) -> int:
        """Assignments staff must change: buildings to micro-grids and micro-grids to grids."""
        return self.changed_buildings + len(self.micro_grid_moves)


@dataclass(frozen=True, slots=True)
class Contiguity:
    # Connected areas of the adjacency: more than one means some buildings have no known
    # neighbour link to the rest (no positions or pairs join them), so a micro-grid or grid
    # spanning two areas cannot be contiguous; positions or adjacency pairs would join them.
    separate_areas: int
    non_contiguous_micro_grids: tuple[str, ...]
    non_contiguous_grids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Proposal:
    micro_grids: tuple[ProposedMicroGrid, ...]  # by grid number, then micro-grid number
    grids: tuple[ProposedGrid, ...]  # by number
    micro_grid_balance: Balance
    grid_balance: Balance
    contiguity: Contiguity
    diff: LayoutDiff
    # The current layout's balance under today's workloads, to show what the proposal improves.
    current_micro_grid_balance: Balance | None = None
    current_grid_balance: Balance | None = None
    micro_grid_of_building: Mapping[str, str] = field(default_factory=dict)

    def layout(self) -> CurrentLayout:
        """The proposal as a layout (keys as ids): what applying it makes current."""
        return CurrentLayout(
            micro_grid_of_building=dict(self.micro_grid_of_building),
            grid_of_micro_grid={m.key: m.grid_key for m in self.micro_grids},
        )
