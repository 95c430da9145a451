"""Places: create and list complexes, buildings, units and dwellings; correct and remove
buildings.

A removed building (soft removal, ``census.models.Removable``) is gone from every read and
write: its units and dwellings stay in the history but take no new household, enterprise,
unit or dwelling.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from google.protobuf.message import Message
from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from census.corrections import (
    CHECKS,
    check_version,
    checked_mask,
    mark_removed,
    mark_verified,
    removal_reason,
    still_in_use,
)
from census.enterprises.models import Enterprise
from census.people.models import Household, Resident
from census.places.models import Building, Complex, Dwelling, Unit
from census.statistics import refresh_buildings
from shequ.census.v1 import events_pb2
from shequ.common.v1 import tenant_pb2
from shequ_kit.checks import flush_unique
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, invalid_input, not_found
from shequ_kit.outbox import Event, fact, publish
from shequ_kit.paging import Page, sort_key
from shequ_kit.tenancy import TenantId

SOURCE = "/shequ/census"
# As the gateway's contract says: far above any residential tower, so more is a typo.
MAX_FLOORS: Final = 300
# What a building correction may change; moving it to another complex is not a correction.
BUILDING_UPDATABLE: Final = frozenset({"number", "floors", "verified_on"})


required_text = CHECKS.required_text
parse_uuid = CHECKS.uuid


def already_exists(code: str, message_zh: str, message_en: str, field: str) -> DomainError:
    return DomainError(
        code, message_zh, message_en, ErrorKind.ALREADY_EXISTS, (FieldViolation(field, message_en),)
    )


def event(tenant: TenantId, topic: str, aggregate_id: uuid.UUID, payload: Message) -> Event:
    """A census fact for the outbox; its CloudEvents type is the payload's message name."""
    return fact(payload, source=SOURCE, topic=topic, tenant=tenant, aggregate_id=aggregate_id)


def create_complex(
    session: Session, *, name: str, address: str, delivered_year: int | None
) -> Complex:
    complex_ = Complex(
        name=required_text(name, "name", "小区名称", 100),
        address=CHECKS.optional_text(address, "address", "地址", 200),
        delivered_year=delivered_year or None,
    )
    session.add(complex_)
    flush_unique(
        session,
        already_exists(
            "census.complex_exists",
            f"小区“{complex_.name}”已存在",
            f"complex {complex_.name!r} exists",
            "name",
        ),
    )
    return complex_


def get_complex(session: Session, complex_id: str, field: str = "complex_id") -> Complex:
    complex_ = session.get(Complex, parse_uuid(complex_id, field))
    if complex_ is None:
        raise not_found("census.complex_not_found", "未找到该小区", f"no complex {complex_id}")
    return complex_


def list_complexes(session: Session, page: Page) -> Sequence[Complex]:
    query = select(Complex).order_by(Complex.name, Complex.id).limit(page.size + 1)
    if (after := sort_key(page, str, uuid.UUID)) is not None:
        query = query.where(tuple_(Complex.name, Complex.id) > after)
    return session.scalars(query).all()


def building_facts(building: Building) -> events_pb2.BuildingFacts:
    return events_pb2.BuildingFacts(
        building_id=str(building.id),
        complex_id=str(building.complex_id),
        number=building.number,
        floors=building.floors or 0,
    )


def _floors(value: int | None) -> int | None:
    """Floors above ground; 0 or none: not known yet."""
    if value is None or value == 0:
        return None
    if not 1 <= value <= MAX_FLOORS:
        raise invalid_input(
            "census.floors_invalid",
            f"层数应在1到{MAX_FLOORS}之间",
            f"floors must be between 1 and {MAX_FLOORS}",
            FieldViolation("floors", f"1 to {MAX_FLOORS}"),
        )
    return value


def _building_exists(complex_: Complex, number: str) -> DomainError:
    return already_exists(
        "census.building_exists",
        f"{complex_.name}{number}已存在",
        f"building {number!r} exists in {complex_.name!r}",
        "number",
    )


def create_building(
    session: Session,
    tenant: TenantId,
    topic: str,
    *,
    complex_id: str,
    number: str,
    floors: int | None,
    today: date | None = None,
) -> Building:
    """Register a building, with its statistics row of zeros counted on ``today`` (without a
    day, the row is written at the next statistics request)."""
    complex_ = get_complex(session, complex_id)
    building = Building(
        complex_id=complex_.id,
        number=required_text(number, "number", "楼幢号", 20),
        floors=_floors(floors),
    )
    session.add(building)
    flush_unique(session, _building_exists(complex_, building.number))
    if today is not None:
        refresh_buildings(session, [building.id], today)
    publish(
        session,
        event(
            tenant,
            topic,
            building.id,
            events_pb2.BuildingCreated(
                tenant=tenant_pb2.TenantRef(tenant_id=tenant.value),
                building=building_facts(building),
            ),
        ),
    )
    return building


def get_building(
    session: Session, building_id: str, field: str = "building_id", *, for_update: bool = False
) -> Building:
    """A building that stands (not removed); ``for_update`` locks it for a correction or a
    removal, so concurrent writers wait and then see the version the first one left."""
    query = select(Building).where(
        Building.id == parse_uuid(building_id, field), Building.removed_at.is_(None)
    )
    building = session.scalar(query.with_for_update() if for_update else query)
    if building is None:
        raise not_found("census.building_not_found", "未找到该楼幢", f"no building {building_id}")
    return building


def list_buildings(session: Session, complex_id: str, page: Page) -> Sequence[Building]:
    query = (
        select(Building)
        .where(Building.removed_at.is_(None))
        .order_by(Building.complex_id, Building.number, Building.id)
    )
    if complex_id:
        query = query.where(Building.complex_id == get_complex(session, complex_id).id)
    if (after := sort_key(page, uuid.UUID, str, uuid.UUID)) is not None:
        query = query.where(tuple_(Building.complex_id, Building.number, Building.id) > after)
    return session.scalars(query.limit(page.size + 1)).all()


def create_unit(session: Session, *, building_id: str, number: str) -> Unit:
    building = get_building(session, building_id)
    unit = Unit(building_id=building.id, number=required_text(number, "number", "单元号", 20))
    session.add(unit)
    flush_unique(
        session,
        already_exists(
            "census.unit_exists",
            f"{building.number}{unit.number}已存在",
            f"unit {unit.number!r} exists",
            "number",
        ),
    )
    return unit


def create_dwelling(
    session: Session, *, unit_id: str, room: str, street_name: str = ""
) -> Dwelling:
    unit = session.get(Unit, parse_uuid(unit_id, "unit_id"))
    building = session.get(Building, unit.building_id) if unit is not None else None
    if unit is None or building is None or building.removed_at is not None:
        raise not_found("census.unit_not_found", "未找到该单元", f"no unit {unit_id}")
    complex_ = session.get(Complex, building.complex_id)
    assert complex_ is not None
    room = required_text(room, "room", "房号", 20)
    dwelling = Dwelling(
        unit_id=unit.id,
        building_id=building.id,
        complex_id=complex_.id,
        room=room,
        address=f"{street_name}{complex_.name}{building.number}{unit.number}{room}室",
    )
    session.add(dwelling)
    flush_unique(
        session,
        already_exists(
            "census.dwelling_exists",
            f"{dwelling.address}已存在",
            f"dwelling {room!r} exists",
            "room",
        ),
    )
    return dwelling


def get_dwelling(session: Session, dwelling_id: str, field: str = "dwelling_id") -> Dwelling:
    """A dwelling of a standing building, for a household or enterprise to be placed in.

    The building row is share-locked until the transaction ends: a concurrent removal of the
    building waits for this write and then counts it (or this write waits and finds the
    building gone), so nobody is placed in a removed building.
    """
    dwelling = session.scalar(
        select(Dwelling)
        .join(Building, Building.id == Dwelling.building_id)
        .where(Dwelling.id == parse_uuid(dwelling_id, field), Building.removed_at.is_(None))
        .with_for_update(read=True, of=Building)
    )
    if dwelling is None:
        raise invalid_input(
            "census.dwelling_not_found",
            "房屋不存在，请先登记房屋",
            f"no dwelling {dwelling_id}",
            FieldViolation(field, "no such dwelling"),
        )
    return dwelling


def list_dwellings(session: Session, building_id: str, page: Page) -> Sequence[Dwelling]:
    building = get_building(session, building_id)
    query = (
        select(Dwelling)
        .where(Dwelling.building_id == building.id)
        .order_by(Dwelling.unit_id, Dwelling.room, Dwelling.id)
    )
    if (after := sort_key(page, uuid.UUID, str, uuid.UUID)) is not None:
        query = query.where(tuple_(Dwelling.unit_id, Dwelling.room, Dwelling.id) > after)
    return session.scalars(query.limit(page.size + 1)).all()


# ---- corrections and removal ----


@dataclass(frozen=True)
class BuildingChanges:
    """The values a building correction may set; only the fields named in its mask apply."""

    number: str = ""
    floors: int | None = None
    verified_on: date | None = None


def _readdress(session: Session, building: Building, complex_name: str, old_number: str) -> None:
    """Dwelling addresses name the building ("晴庐3幢1单元502室"): a renumbered building's
    dwellings follow, and so do enterprises whose address was their dwelling's."""
    old, new = f"{complex_name}{old_number}", f"{complex_name}{building.number}"
    dwellings = session.scalars(select(Dwelling).where(Dwelling.building_id == building.id))
    readdressed: dict[uuid.UUID, tuple[str, str]] = {}
    for dwelling in dwellings:
        if old in dwelling.address:
            before = dwelling.address
            dwelling.address = before.replace(old, new, 1)
            readdressed[dwelling.id] = (before, dwelling.address)
    if not readdressed:
        return
    for enterprise in session.scalars(
        select(Enterprise).where(
            Enterprise.dwelling_id.in_(readdressed), Enterprise.removed_at.is_(None)
        )
    ):
        assert enterprise.dwelling_id is not None
        before, after = readdressed[enterprise.dwelling_id]
        if enterprise.address == before:
            enterprise.address = after


def update_building(
    session: Session,
    tenant: TenantId,
    topic: str,
    *,
    building_id: str,
    changes: BuildingChanges,
    paths: Collection[str],
    expected_version: int,
    verifier: str,
    today: date,
) -> Building:
    """Correct the number, floors or verification date of a building (a field mask).

    A new number must be free among the complex's standing buildings; the addresses of its
    dwellings follow the new number.
    """
    mask = checked_mask(paths, BUILDING_UPDATABLE)
    building = get_building(session, building_id, for_update=True)
    check_version(building, expected_version)
    complex_ = session.get(Complex, building.complex_id)
    assert complex_ is not None
    old_number = building.number
    if "number" in mask:
        building.number = required_text(changes.number, "number", "楼幢号", 20)
    if "floors" in mask:
        building.floors = _floors(changes.floors)
    mark_verified(building, mask, changes.verified_on, verifier=verifier, today=today)
    building.version += 1
    flush_unique(session, _building_exists(complex_, building.number))
    if building.number != old_number:
        _readdress(session, building, complex_.name, old_number)
    publish(
        session,
        event(
            tenant,
            topic,
            building.id,
            events_pb2.BuildingUpdated(
                tenant=tenant_pb2.TenantRef(tenant_id=tenant.value),
                building=building_facts(building),
            ),
        ),
    )
    return building


def remove_building(
    session: Session,
    tenant: TenantId,
    topic: str,
    *,
    building_id: str,
    reason: str,
    expected_version: int,
    remover: str,
    today: date,
) -> None:
    """Remove a building entered by mistake or demolished; the row stays for the history.

    Refused while anyone still lives there (households not removed, current residents) or an
    operating enterprise is registered in it: they move or are removed first, so no record
    points into a building that no longer exists.
    """
    reason = removal_reason(reason)
    building = get_building(session, building_id, for_update=True)
    check_version(building, expected_version)
    households = session.scalar(
        select(func.count())
        .select_from(Household)
        .where(Household.building_id == building.id, Household.removed_at.is_(None))
    )
    residents = session.scalar(
        select(func.count())
        .select_from(Resident)
        .where(Resident.building_id == building.id, Resident.moved_out_on.is_(None))
    )
    enterprises = session.scalar(
        select(func.count())
        .select_from(Enterprise)
        .where(
            Enterprise.building_id == building.id,
            Enterprise.removed_at.is_(None),
            Enterprise.closed_on.is_(None),
        )
    )
    if households or residents or enterprises:
        raise still_in_use(
            "census.building_in_use",
            f"{building.number}还有{households}户、{residents}位现住居民、"
            f"{enterprises}家企业店铺，请先迁出或删除后再删除楼幢",
            f"building {building.number!r} still has {households} households, {residents} "
            f"current residents and {enterprises} enterprises; move or remove them first",
            households=households or 0,
            residents=residents or 0,
            enterprises=enterprises or 0,
        )
    mark_removed(building, reason=reason, remover=remover)
    building.version += 1
    refresh_buildings(session, [building.id], today)  # drops its (empty) statistics row
    publish(
        session,
        event(
            tenant,
            topic,
            building.id,
            events_pb2.BuildingRemoved(
                tenant=tenant_pb2.TenantRef(tenant_id=tenant.value), building_id=str(building.id)
            ),
        ),
    )
