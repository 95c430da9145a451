"""Statistics of the base numbers (底数): households, residents by residence type, tenure, age band
and care tag, and enterprises — for the tenant, and per community, complex or building if asked.

PostgreSQL does the counting. One grouped query per table, with GROUPING SETS, yields the total
and every breakdown asked for in a single scan; care tags are counted from ``unnest``. No
resident row ever reaches Python, so a street of 20 communities costs the same few queries as
one building.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, func, select, true, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from census.enterprises.models import Enterprise
from census.identity.codes import AGE_BANDS, AgeBand
from census.people.models import Household, Resident
from census.people.service import years_before
from census.places.models import Building, Complex
from census.vocabulary import CARE_TAGS, RESIDENCE_TYPES, TENURES
from shequ_kit.tenancy import require_tenant


@dataclass
class Statistics:
    """The figures of one scope: a tenant (community or street), a complex or a building.

    Every breakdown lists all its words, with 0 where nobody counts, so charts and reports
    never have to guess whether a missing key means none.
    """

    scope_id: str
    scope_name: str
    # Households as registered, also those nobody currently lives in (as GetBuilding counts).
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
Placed = type[Resident] | type[Household] | type[Enterprise]


def statistics(
    session: Session, *, today: date, by_complex: bool, by_building: bool, street_parts: bool
) -> tuple[Statistics, list[Statistics]]:
    """The figures of the session's tenant (its whole subtree), and the parts asked for.

    Parts come in this order: one per community (``street_parts``, for a street: grouped by
    tenant), then one per complex, then one per building — every place of the scope, those
    without anyone included with zeros. Ages are full years on ``today``.
    """
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

    _count_residents(session, levels, today, tally)
    _count_care_tags(session, levels, tally)
    for scope, count in _counted(session, Household, levels):
        tally(scope).households = count
    for scope, count in _counted(session, Enterprise, levels, where=Enterprise.closed_on.is_(None)):
        tally(scope).enterprises = count

    tenant = require_tenant().value
    total = tallies.get((Level.TOTAL, ""), Statistics(scope_id="", scope_name=""))
    total.scope_id = tenant
    parts: list[Statistics] = []
    for level, scope_id, scope_name in _places(session, levels, tallies):
        part = tallies.get((level, scope_id)) or Statistics(scope_id=scope_id, scope_name="")
        part.scope_name = scope_name
        parts.append(part)
    return total, parts


# --- the grouped queries -------------------------------------------------------------------


def _grouped_by(
    query: Select[*tuple[Any, ...]],
    model: Placed,
    levels: Sequence[Level],
    *within: ColumnElement[Any],
) -> Select[*tuple[Any, ...]]:
    """``query`` grouped at each of ``levels`` (and by ``within`` inside each), one GROUPING
    SETS query. Each place level adds its key and GROUPING(key), 0 on that level's rows."""
    places = [level for level in levels if level is not Level.TOTAL]
    sets = [tuple_(*within)] if Level.TOTAL in levels else []
    for level in places:
        key: InstrumentedAttribute[Any] = getattr(model, level.value)
        sets.append(tuple_(key, *within))
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


def _counted(
    session: Session,
    model: Placed,
    levels: Sequence[Level],
    where: ColumnElement[bool] | None = None,
) -> Iterator[tuple[Scope, int]]:
    query = _grouped_by(select(func.count().label("counted")).select_from(model), model, levels)
    if where is not None:
        query = query.where(where)
    for row in session.execute(query):
        scope = _scope_of(row, levels)
        if scope is not None:
            yield scope, int(row.counted)


def _band_condition(band: AgeBand, today: date) -> ColumnElement[bool]:
    """Born so as to be ``band.low`` to ``band.high`` full years old on ``today``."""
    condition = Resident.birth_date <= years_before(today, band.low)
    if band.high is None:
        return condition
    return and_(condition, Resident.birth_date > years_before(today, band.high + 1))


def _count_residents(session: Session, levels: Sequence[Level], today: date, tally: Tally) -> None:
    """Residents and three breakdowns, as FILTERed counts of one grouped scan."""
    breakdowns: list[tuple[str, str, ColumnElement[bool]]] = [
        *(("by_residence_type", word, Resident.residence_type == word) for word in RESIDENCE_TYPES),
        *(("by_tenure", word, Resident.tenure == word) for word in TENURES),
        *(("by_age_band", band.key, _band_condition(band, today)) for band in AGE_BANDS),
    ]
    counts = [
        func.count().filter(condition).label(f"n{position}")
        for position, (_, _, condition) in enumerate(breakdowns)
    ]
    query = _grouped_by(
        select(func.count().label("residents"), *counts).select_from(Resident), Resident, levels
    ).where(Resident.moved_out_on.is_(None))
    for row in session.execute(query):
        scope = _scope_of(row, levels)
        assert scope is not None  # a resident always has a building and a complex
        figures = tally(scope)
        figures.residents = int(row.residents)
        for position, (breakdown, word, _) in enumerate(breakdowns):
            getattr(figures, breakdown)[word] = int(row._mapping[f"n{position}"])


def _count_care_tags(session: Session, levels: Sequence[Level], tally: Tally) -> None:
    """Residents per care tag: one row per (scope, tag) from the unnested tag arrays."""
    tags = func.unnest(Resident.care_tags).table_valued("tag").render_derived(name="care_tag")
    query = _grouped_by(
        select(tags.c.tag, func.count().label("counted")).select_from(Resident).join(tags, true()),
        Resident,
        levels,
        tags.c.tag,
    ).where(Resident.moved_out_on.is_(None))
    for row in session.execute(query):
        scope = _scope_of(row, levels)
        assert scope is not None
        tally(scope).by_care_tag[row.tag] = int(row.counted)


# --- the places the parts name -------------------------------------------------------------


def _places(
    session: Session, levels: Iterable[Level], tallies: dict[Scope, Statistics]
) -> Iterator[tuple[Level, str, str]]:
    """(level, id, name) of every community, complex and building the parts cover, in order.

    Communities have no names in the census (the tenant directory holds them), so their
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
            .order_by(Complex.tenant_id, Complex.name, Building.number, Building.id)
        )
        for building_id, complex_name, number in buildings:
            yield Level.BUILDING, str(building_id), f"{complex_name}{number}"
