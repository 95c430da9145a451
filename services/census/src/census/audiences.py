"""What other services ask the census about places: who lives there (notify's audiences) and
how many (grid's workload). Answers carry no personal data: no ID number, phone or birth date.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final, NamedTuple

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from census.people.ages import any_care_tag_condition, derived_care_tags
from census.people.models import Household, Resident
from census.places.models import Building
from census.places.service import parse_uuid
from census.vocabulary import CARE_TAGS, RESIDENCE_TYPES
from shequ_kit.errors import FieldViolation, invalid_input

# Rows fetched per round trip while streaming: enough to keep the cursor busy, little memory.
STREAM_BATCH: Final = 1000
# More places than any street has; a longer list is a caller's bug, not an audience.
MAX_PLACES: Final = 10_000


@dataclass(frozen=True, slots=True)
class ResidentInPlace:
    """Enough to reach a person through notify's channels, and nothing more."""

    resident_id: uuid.UUID
    name: str
    building_id: uuid.UUID
    household_id: uuid.UUID
    care_tags: tuple[str, ...]


class BuildingCounts(NamedTuple):
    households: dict[uuid.UUID, int]
    residents: dict[uuid.UUID, int]


def _ids(values: Sequence[str], field: str) -> list[uuid.UUID]:
    if len(values) > MAX_PLACES:
        raise invalid_input(
            f"census.{field}_too_many",
            f"一次最多查询{MAX_PLACES}个地点",
            f"at most {MAX_PLACES} {field}",
            FieldViolation(field, f"at most {MAX_PLACES}"),
        )
    return [parse_uuid(value, f"{field}[{position}]") for position, value in enumerate(values)]


def _words(
    values: Collection[str], allowed: Collection[str], field: str, label_zh: str
) -> list[str]:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        choices = ", ".join(allowed)
        raise invalid_input(
            f"census.{field}_invalid",
            f"{label_zh}取值不正确",
            f"{field} must be among {choices}",
            FieldViolation(field, choices),
        )
    return sorted(set(values))


def residents_in_places(
    session: Session,
    *,
    complex_ids: Sequence[str] = (),
    building_ids: Sequence[str] = (),
    care_tags: Collection[str] = (),
    residence_types: Collection[str] = (),
    today: date,
) -> Iterator[ResidentInPlace]:
    """Current residents of the named complexes and buildings (either; none named: the whole
    tenant) having any of ``care_tags`` and any of ``residence_types`` (empty: no condition).

    Streamed from a server-side cursor in batches, in id order, so an audience of a whole
    street never sits in memory; the session must stay open while the caller iterates.
    """
    complexes, buildings = _ids(complex_ids, "complex_ids"), _ids(building_ids, "building_ids")
    tags = _words(care_tags, CARE_TAGS, "care_tags", "关爱标签")
    types = _words(residence_types, RESIDENCE_TYPES, "residence_types", "户籍类型")
    query = (
        select(
            Resident.id,
            Resident.name,
            Resident.building_id,
            Resident.household_id,
            Resident.care_tags,
            Resident.birth_date,
        )
        .where(Resident.moved_out_on.is_(None))
        .order_by(Resident.id)
        .execution_options(yield_per=STREAM_BATCH)
    )
    if complexes or buildings:
        query = query.where(
            or_(Resident.complex_id.in_(complexes), Resident.building_id.in_(buildings))
        )
    if tags:
        query = query.where(any_care_tag_condition(tags, today))
    if types:
        query = query.where(Resident.residence_type.in_(types))
    for row in session.execute(query):
        yield ResidentInPlace(
            resident_id=row.id,
            name=row.name,
            building_id=row.building_id,
            household_id=row.household_id,
            care_tags=tuple(derived_care_tags(row.birth_date, today, row.care_tags)),
        )


def households_per_building(session: Session, building_ids: Sequence[str]) -> BuildingCounts:
    """Households (not removed) and current residents of each named building (none named:
    every standing building of the tenant), every building present with 0 where nobody lives."""
    wanted = _ids(building_ids, "building_ids")
    if not wanted:
        wanted = list(
            session.scalars(
                select(Building.id).where(Building.removed_at.is_(None)).order_by(Building.id)
            )
        )
    households = dict.fromkeys(wanted, 0)
    residents = dict.fromkeys(wanted, 0)
    if not wanted:
        return BuildingCounts(households, residents)
    for building_id, count in session.execute(
        select(Household.building_id, func.count())
        .where(Household.building_id.in_(wanted), Household.removed_at.is_(None))
        .group_by(Household.building_id)
    ):
        households[building_id] = int(count)
    for building_id, count in session.execute(
        select(Resident.building_id, func.count())
        .where(Resident.building_id.in_(wanted), Resident.moved_out_on.is_(None))
        .group_by(Resident.building_id)
    ):
        residents[building_id] = int(count)
    return BuildingCounts(households, residents)
