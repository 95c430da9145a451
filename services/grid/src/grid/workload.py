"""Workload per building, micro-grid, grid, community and street, from the census projection,
the open cases of the cases projection and the visits of the last 30 days — all in this
service's own tables."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grid.models import (
    CaseProjection,
    CensusBuilding,
    CensusEnterprise,
    CensusHousehold,
    CensusResident,
    Coverage,
    Visit,
)
from grid.planner import WorkloadCounts, building_workload

VISIT_WINDOW: Final = timedelta(days=30)
BuildingKey = tuple[str, uuid.UUID]  # (tenant, building)


@dataclass
class Figures:
    buildings: int = 0
    households: int = 0
    residents: int = 0
    care_tagged_residents: int = 0
    by_care_tag: dict[str, int] = field(default_factory=dict)
    enterprises: int = 0
    open_cases: int = 0
    visits_last_30_days: int = 0

    def add(self, other: Figures) -> None:
        self.buildings += other.buildings
        self.households += other.households
        self.residents += other.residents
        self.care_tagged_residents += other.care_tagged_residents
        for tag, count in other.by_care_tag.items():
            self.by_care_tag[tag] = self.by_care_tag.get(tag, 0) + count
        self.enterprises += other.enterprises
        self.open_cases += other.open_cases
        self.visits_last_30_days += other.visits_last_30_days

    @property
    def weighted(self) -> float:
        return building_workload(
            WorkloadCounts(
                households=self.households,
                residents=self.residents,
                care_tagged_residents=self.care_tagged_residents,
                enterprises=self.enterprises,
                open_cases=self.open_cases,
            )
        )


def _count_by_building(
    session: Session, column: Any, tenant_column: Any, *where: Any
) -> Iterable[tuple[str, uuid.UUID, int]]:
    query = select(tenant_column, column, func.count()).group_by(tenant_column, column)
    for condition in where:
        query = query.where(condition)
    return [(str(t), b, int(c)) for t, b, c in session.execute(query)]


def per_building(session: Session, now: datetime | None = None) -> dict[BuildingKey, Figures]:
    """Figures of every building in the tenant's scope (a street: all its communities), the
    buildings of the projection and any building a count names."""
    figures: dict[BuildingKey, Figures] = defaultdict(Figures)
    for tenant, building_id in session.execute(
        select(CensusBuilding.tenant_id, CensusBuilding.building_id)
    ):
        figures[(tenant, building_id)].buildings = 1
    for tenant, building, count in _count_by_building(
        session, CensusHousehold.building_id, CensusHousehold.tenant_id
    ):
        figures[(tenant, building)].households = count
    for tenant, building, count in _count_by_building(
        session, CensusResident.building_id, CensusResident.tenant_id
    ):
        figures[(tenant, building)].residents = count
    for tenant, building, count in _count_by_building(
        session,
        CensusResident.building_id,
        CensusResident.tenant_id,
        func.cardinality(CensusResident.care_tags) > 0,
    ):
        figures[(tenant, building)].care_tagged_residents = count
    tag = func.unnest(CensusResident.care_tags).label("tag")
    tagged = select(CensusResident.tenant_id, CensusResident.building_id, tag).subquery()
    for tenant, building, name, count in session.execute(
        select(tagged.c.tenant_id, tagged.c.building_id, tagged.c.tag, func.count()).group_by(
            tagged.c.tenant_id, tagged.c.building_id, tagged.c.tag
        )
    ):
        figures[(tenant, building)].by_care_tag[name] = count
    for tenant, building, count in _count_by_building(
        session,
        CensusEnterprise.building_id,
        CensusEnterprise.tenant_id,
        CensusEnterprise.building_id.is_not(None),
    ):
        figures[(tenant, building)].enterprises = count
    for tenant, building, count in _count_by_building(
        session,
        CaseProjection.building_id,
        CaseProjection.tenant_id,
        CaseProjection.open,
        CaseProjection.building_id.is_not(None),
    ):
        figures[(tenant, building)].open_cases = count
    since = (now or datetime.now(UTC)) - VISIT_WINDOW
    for tenant, building, count in _count_by_building(
        session, Visit.building_id, Visit.tenant_id, Visit.visited_at >= since
    ):
        figures[(tenant, building)].visits_last_30_days = count
    return dict(figures)


def coverage_map(session: Session) -> dict[BuildingKey, uuid.UUID]:
    return {
        (tenant, building): micro
        for tenant, building, micro in session.execute(
            select(Coverage.tenant_id, Coverage.building_id, Coverage.micro_grid_id)
        )
    }
