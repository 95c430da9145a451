"""Statistics of the base numbers (底数): households, residents by residence type, tenure, age band
and care tag, and enterprises — for the tenant, and per community, complex or building if asked.

Served from precomputed per-building tallies (``census.tallies``), never by counting residents
per request:

- Every write that changes a building's households, residents or enterprises calls
  ``refresh_buildings`` in its own transaction: one scan of those buildings' residents.
- Ages move with the calendar, so a row counted on another day is stale (age bands, and the
  elderly and child tags, which are derived from the birth date). ``statistics`` first recounts
  the scope's rows whose ``as_of`` is not today — once a day per tenant, only those buildings —
  then sums rows with one GROUPING SETS query. A street's session sees its communities' rows.
- Enterprises outside any building (a company on a road) have no row; they are counted from
  the enterprise table, a few hundred rows a community at most.
- ``rebuild_tallies`` recounts a tenant from scratch (``python -m census rebuild-statistics``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    delete,
    false,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from census.enterprises.models import Enterprise
from census.identity.codes import AGE_BANDS, AgeBand, years_before
from census.people.ages import care_tag_condition
from census.people.models import Household, Resident
from census.places.models import Building, Complex
from census.tallies import COLUMNS, BuildingTally
from census.vocabulary import CARE_TAGS, RESIDENCE_TYPES, TENURES
from shequ_kit.db import system_scope
from shequ_kit.tenancy import TenantId, require_tenant, tenant_scope


@dataclass
class Statistics:
    """The figures of one scope: a tenant (community or street), a complex or a building.

    Every breakdown lists all its words, with 0 where nobody counts, so charts and reports
    never have to guess whether a missing key means none.
    """

    scope_id: str
    scope_name: str
    # Households as registered (not removed), also those nobody currently lives in.
    households: int = 0
    residents: int = 0  # current: moved-out and removed records are history, not population
    by_residence_type: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(RESIDENCE_TYPES, 0)
    )
    by_tenure: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TENURES, 0))
    by_age_band: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys((band.key for band in AGE_BANDS), 0)
    )
    by_care_tag: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CARE_TAGS, 0))
    enterprises: int = 0


class Level(StrEnum):
    """What a part covers; the value names the column its rows are grouped by."""

    TOTAL = ""
    COMMUNITY = "tenant_id"
    COMPLEX = "complex_id"
    BUILDING = "building_id"


Scope = tuple[Level, str]  # the level and the id of the tenant, complex or building ('' total)
Tally = Callable[[Scope], Statistics]
Grouped = type[BuildingTally] | type[Enterprise]

_BREAKDOWN_COLUMNS = list(COLUMNS.values())
_FIGURES = ["households", "residents", "enterprises", *_BREAKDOWN_COLUMNS]


def statistics(
    session: Session, *, today: date, by_complex: bool, by_building: bool, street_parts: bool
) -> tuple[Statistics, list[Statistics]]:
    """The figures of the session's tenant (its whole subtree), and the parts asked for.

    Parts come in this order: one per community (``street_parts``, for a street: grouped by
    tenant), then one per complex, then one per building — every place of the scope, those
    without anyone included with zeros. Ages are full years on ``today``. Rows counted on
    another day are recounted first (in the session's transaction).
    """
    refresh_stale(session, today)
    asked = (
        (Level.TOTAL, True),
        (Level.COMMUNITY, street_parts),
        (Level.COMPLEX, by_complex),
        (Level.BUILDING, by_building),
    )
    levels = [level for level, wanted in asked if wanted]
    tallies: dict[Scope, Statistics] = {}

    def tally(scope: Scope) -> Statistics:
        return tallies.setdefault(scope, Statistics(scope_id=scope[1], scope_name=""))

    _sum_tallies(session, levels, tally)
    for scope, count in _placeless_enterprises(session, levels):
        tally(scope).enterprises += count

    total = tallies.get((Level.TOTAL, ""), Statistics(scope_id="", scope_name=""))
    total.scope_id = require_tenant().value
    parts: list[Statistics] = []
    for level, scope_id, scope_name in _places(session, levels, tallies):
        part = tallies.get((level, scope_id)) or Statistics(scope_id=scope_id, scope_name="")
        part.scope_name = scope_name
        parts.append(part)
    return total, parts


# --- keeping the tallies -------------------------------------------------------------------


def refresh_buildings(session: Session, building_ids: Iterable[uuid.UUID], today: date) -> None:
    """Recount the tallies of ``building_ids`` (ages on ``today``) in the session's transaction.

    Call it from every write that changes a building's households, residents or enterprises,
    after the change, with every building on either side of it. Buildings the session's tenant
    cannot see are left alone (row-level security); a removed building's row is dropped.
    """
    wanted = sorted(set(building_ids))
    if not wanted:
        return
    session.flush()  # the ORM's pending rows must be in the database before they are counted
    session.execute(
        delete(BuildingTally).where(
            BuildingTally.building_id.in_(
                select(Building.id).where(Building.id.in_(wanted), Building.removed_at.is_not(None))
            )
        ),
        execution_options={"synchronize_session": False},
    )
    standing = select(Building.tenant_id, Building.id, Building.complex_id).where(
        Building.id.in_(wanted), Building.removed_at.is_(None)
    )
    # Lock the rows first (in id order, so two writers never deadlock), creating missing ones:
    # under READ COMMITTED the count below then starts after every earlier writer of these
    # buildings committed, so no concurrent write is counted out.
    locked = insert(BuildingTally).from_select(
        ["tenant_id", "building_id", "complex_id", "as_of", *_FIGURES],
        standing.add_columns(literal(today), *(literal(0) for _ in _FIGURES)).order_by(Building.id),
    )
    session.execute(
        locked.on_conflict_do_update(
            index_elements=[BuildingTally.building_id],
            set_={"as_of": locked.excluded.as_of},
            where=false(),  # PostgreSQL still locks every conflicting row
        )
    )
    counted = _counted_buildings(standing, today)
    names = ["tenant_id", "building_id", "complex_id", "as_of", *_FIGURES]
    upsert = insert(BuildingTally).from_select(names, counted)
    session.execute(
        upsert.on_conflict_do_update(
            index_elements=[BuildingTally.building_id],
            set_={name: upsert.excluded[name] for name in names if name != "building_id"},
        )
    )


def forget_buildings(session: Session, building_ids: Iterable[uuid.UUID]) -> None:
    """Drop the tallies of ``building_ids``, so the next statistics request recounts them: for
    a write that does not know the day (ages are counted on one)."""
    session.flush()
    session.execute(
        delete(BuildingTally).where(BuildingTally.building_id.in_(sorted(set(building_ids)))),
        execution_options={"synchronize_session": False},  # tallies are never loaded as objects
    )


def refresh_stale(session: Session, today: date) -> None:
    """Recount the rows of the session's scope counted on another day, those missing and those
    of removed buildings — usually none, once a day every building."""
    tally = BuildingTally
    stale = session.scalars(
        select(Building.id)
        .outerjoin(tally, tally.building_id == Building.id)
        .where(
            or_(
                and_(
                    Building.removed_at.is_(None),
                    or_(tally.as_of.is_(None), tally.as_of != today),
                ),
                and_(Building.removed_at.is_not(None), tally.building_id.is_not(None)),
            )
        )
    ).all()
    refresh_buildings(session, stale, today)


def rebuild_tallies(session: Session, today: date) -> int:
    """Every tally of the session's tenant (its subtree) counted from the records again, every
    column overwritten and removed buildings' rows dropped; returns the buildings counted. For
    tests and operators: requests never need it. Safe beside writers (rows locked in id order).
    """
    buildings = session.execute(select(Building.id, Building.removed_at)).all()
    refresh_buildings(session, [building_id for building_id, _ in buildings], today)
    return sum(1 for _, removed_at in buildings if removed_at is None)


def rebuild_every_tenant(sessions: sessionmaker[Session], today: date) -> dict[str, int]:
    """``rebuild_tallies`` for every tenant with buildings, one transaction each; returns the
    buildings counted per tenant."""
    with system_scope(), sessions() as session:
        tenants = session.scalars(
            select(Building.tenant_id).distinct().order_by(Building.tenant_id)
        ).all()
    rebuilt: dict[str, int] = {}
    for tenant in tenants:
        with tenant_scope(TenantId(tenant)), sessions.begin() as session:
            rebuilt[tenant] = rebuild_tallies(session, today)
    return rebuilt


def _band_condition(band: AgeBand, today: date) -> ColumnElement[bool]:
    """Born so as to be ``band.low`` to ``band.high`` full years old on ``today``."""
    condition = Resident.birth_date <= years_before(today, band.low)
    if band.high is None:
        return condition
    return and_(condition, Resident.birth_date > years_before(today, band.high + 1))


def _resident_conditions(today: date) -> dict[str, ColumnElement[bool]]:
    """Column name → which current residents it counts."""
    bands = {band.key: band for band in AGE_BANDS}
    conditions: dict[str, ColumnElement[bool]] = {}
    for (breakdown, word), name in COLUMNS.items():
        match breakdown:
            case "by_residence_type":
                conditions[name] = Resident.residence_type == word
            case "by_tenure":
                conditions[name] = Resident.tenure == word
            case "by_age_band":
                conditions[name] = _band_condition(bands[word], today)
            case _:
                conditions[name] = care_tag_condition(word, today)
    return conditions


def _counted_buildings(standing: Select[str, uuid.UUID, uuid.UUID], today: date) -> Select[Any]:
    """(tenant, building, complex, as_of, figures…) of the standing buildings.

    Each table is grouped by building once and joined, never probed per building: right after
    a bulk import (statistics not yet analysed) a per-building probe may become a scan of the
    community per building, and one grouped pass stays linear whatever plan is chosen.
    """
    buildings = standing.subquery("standing")
    wanted = select(buildings.c.id)
    households = (
        select(Household.building_id, func.count().label("n"))
        .where(Household.building_id.in_(wanted), Household.removed_at.is_(None))
        .group_by(Household.building_id)
        .subquery("households")
    )
    enterprises = (
        select(Enterprise.building_id, func.count().label("n"))
        .where(
            Enterprise.building_id.in_(wanted),
            Enterprise.closed_on.is_(None),
            Enterprise.removed_at.is_(None),
        )
        .group_by(Enterprise.building_id)
        .subquery("enterprises")
    )
    residents = (
        select(
            Resident.building_id,
            func.count().label("residents"),
            *(
                func.count().filter(condition).label(name)
                for name, condition in _resident_conditions(today).items()
            ),
        )
        .where(Resident.building_id.in_(wanted), Resident.moved_out_on.is_(None))
        .group_by(Resident.building_id)
        .subquery("current")
    )
    return select(
        buildings.c.tenant_id,
        buildings.c.id,
        buildings.c.complex_id,
        literal(today),
        func.coalesce(households.c.n, 0),
        func.coalesce(residents.c.residents, 0),
        func.coalesce(enterprises.c.n, 0),
        *(func.coalesce(residents.c[name], 0) for name in _BREAKDOWN_COLUMNS),
    ).select_from(
        buildings.outerjoin(households, households.c.building_id == buildings.c.id)
        .outerjoin(residents, residents.c.building_id == buildings.c.id)
        .outerjoin(enterprises, enterprises.c.building_id == buildings.c.id)
    )


# --- summing them --------------------------------------------------------------------------


def _grouped_by(
    query: Select[*tuple[Any, ...]],
    model: Grouped,
    levels: Sequence[Level],
) -> Select[*tuple[Any, ...]]:
    """``query`` grouped at each of ``levels``, one GROUPING SETS query. Each place level adds
    its key and GROUPING(key), 0 on that level's rows."""
    places = [level for level in levels if level is not Level.TOTAL]
    sets = [tuple_()] if Level.TOTAL in levels else []
    for level in places:
        key: InstrumentedAttribute[Any] = getattr(model, level.value)
        sets.append(tuple_(key))
        query = query.add_columns(
            key.label(f"{level}_key"), func.grouping(key).label(f"{level}_apart")
        )
    return query.group_by(func.grouping_sets(*sets))


def _scope_of(row: Row[Any], levels: Sequence[Level]) -> Scope | None:
    """The scope a grouped row counts; None for enterprises outside any complex or building
    (counted in the totals, but in no place's part)."""
    values = row._mapping
    for level in levels:
        if level is not Level.TOTAL and values[f"{level}_apart"] == 0:
            key = values[f"{level}_key"]
            return None if key is None else (level, str(key))
    return Level.TOTAL, ""


def _sum_tallies(session: Session, levels: Sequence[Level], tally: Tally) -> None:
    """The buildings' rows added up at every level asked, in one scan of the scope's rows."""
    sums = [
        func.coalesce(func.sum(getattr(BuildingTally, name)), 0).label(name) for name in _FIGURES
    ]
    query = _grouped_by(select(*sums).select_from(BuildingTally), BuildingTally, levels)
    for row in session.execute(query):
        scope = _scope_of(row, levels)
        assert scope is not None  # a building always has a complex and a tenant
        figures = tally(scope)
        values = row._mapping
        figures.households = int(values["households"])
        figures.residents = int(values["residents"])
        figures.enterprises = int(values["enterprises"])
        for (breakdown, word), name in COLUMNS.items():
            getattr(figures, breakdown)[word] = int(values[name])


def _placeless_enterprises(
    session: Session, levels: Sequence[Level]
) -> Iterator[tuple[Scope, int]]:
    """Operating enterprises in no building, per scope (they have no building's row)."""
    query = _grouped_by(
        select(func.count().label("counted")).select_from(Enterprise), Enterprise, levels
    ).where(
        Enterprise.building_id.is_(None),
        Enterprise.closed_on.is_(None),
        Enterprise.removed_at.is_(None),
    )
    for row in session.execute(query):
        scope = _scope_of(row, levels)
        if scope is not None:
            yield scope, int(row.counted)


# --- the places the parts name -------------------------------------------------------------


def _places(
    session: Session, levels: Iterable[Level], tallies: dict[Scope, Statistics]
) -> Iterator[tuple[Level, str, str]]:
    """(level, id, name) of every community, complex and standing building the parts cover, in
    order. Communities have no names in the census (the tenant directory holds them), so their
    parts carry the id only.
    """
    if Level.COMMUNITY in levels:
        tenants = set(session.scalars(select(Complex.tenant_id).distinct()))
        tenants |= {scope_id for level, scope_id in tallies if level is Level.COMMUNITY}
        for tenant in sorted(tenants):
            yield Level.COMMUNITY, tenant, ""
    if Level.COMPLEX in levels:
        complexes = session.execute(
            select(Complex.id, Complex.name).order_by(Complex.tenant_id, Complex.name)
        )
        for complex_id, name in complexes:
            yield Level.COMPLEX, str(complex_id), name
    if Level.BUILDING in levels:
        buildings = session.execute(
            select(Building.id, Complex.name, Building.number)
            .join(Complex, Building.complex_id == Complex.id)
            .where(Building.removed_at.is_(None))
            .order_by(Complex.tenant_id, Complex.name, Building.number, Building.id)
        )
        for building_id, complex_name, number in buildings:
            yield Level.BUILDING, str(building_id), f"{complex_name}{number}"
