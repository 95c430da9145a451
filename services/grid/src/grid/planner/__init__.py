"""The grid layout planner: a balanced, contiguous layout of grids and micro-grids for a
community's buildings, fresh or re-balanced from the layout in force. Pure computation — no
database, no transport; the grid service feeds it and applies what staff accept.

``plan_layout(PlanRequest(...)) -> Proposal``; ``building_workload`` weighs a building's counts.
"""

from grid.planner.layout import plan_layout
from grid.planner.model import (
    Balance,
    Building,
    BuildingMove,
    Contiguity,
    CurrentLayout,
    LayoutDiff,
    MicroGridMove,
    Mode,
    PlanRequest,
    Position,
    Proposal,
    ProposedGrid,
    ProposedMicroGrid,
)
from grid.planner.workload import (
    DEFAULT_WEIGHTS,
    WorkloadCounts,
    WorkloadWeights,
    building_workload,
)

__all__ = [
    "DEFAULT_WEIGHTS",
    "Balance",
    "Building",
    "BuildingMove",
    "Contiguity",
    "CurrentLayout",
    "LayoutDiff",
    "MicroGridMove",
    "Mode",
    "PlanRequest",
    "Position",
    "Proposal",
    "ProposedGrid",
    "ProposedMicroGrid",
    "WorkloadCounts",
    "WorkloadWeights",
    "building_workload",
    "plan_layout",
]
