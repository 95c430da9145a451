"""A building's workload: one number from what a grid worker looks after there.

DOMAIN.md: the workload of a micro-grid is its households, residents, care-tagged residents, open
cases and enterprises. They are not equally heavy, so each count has a weight, in "household
visits": a household is the unit because visiting every household (走访, 认百家门) and keeping its
records exact is the daily work every other item is measured against. A community may weigh
differently (``WorkloadWeights``); the defaults are a reasonable start, not a standard.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Final

from shequ_kit.errors import FieldViolation, invalid_input


@dataclass(frozen=True, slots=True)
class WorkloadCounts:
    households: int = 0
    residents: int = 0
    care_tagged_residents: int = 0  # elderly, children, living alone, disabled, key groups …
    enterprises: int = 0  # enterprises and shops (企业店铺) in the building
    open_cases: int = 0


@dataclass(frozen=True, slots=True)
class WorkloadWeights:
    # The unit: one household visited and its records verified.
    households: float = 1.0
    # Residents beyond the household visit (moves, verification of each record): a fraction.
    residents: float = 0.2
    # Care-tagged residents are visited again and again (the elderly living alone weekly).
    care_tagged_residents: float = 1.0
    # Inspections (fire safety, sanitation, anti-fraud) and contact upkeep of a shop or company.
    enterprises: float = 1.5
    # An open case is followed up until it closes: the heaviest single item.
    open_cases: float = 3.0


DEFAULT_WEIGHTS: Final = WorkloadWeights()


def building_workload(counts: WorkloadCounts, weights: WorkloadWeights = DEFAULT_WEIGHTS) -> float:
    """The weighted sum of ``counts``; refuses negative counts and negative or infinite weights
    (either would let a busy building look idle)."""
    total = 0.0
    for item in fields(WorkloadCounts):
        count: int = getattr(counts, item.name)
        weight: float = getattr(weights, item.name)
        if count < 0:
            raise invalid_input(
                "grid.workload_count_negative",
                "工作量的计数不能为负数",
                f"{item.name} must not be negative",
                FieldViolation(item.name, "must not be negative"),
            )
        if not math.isfinite(weight) or weight < 0:
            raise invalid_input(
                "grid.workload_weight_invalid",
                "工作量的权重必须是非负数",
                f"the weight of {item.name} must be a finite number ≥ 0",
                FieldViolation(item.name, "finite number ≥ 0"),
            )
        total += count * weight
    return total
