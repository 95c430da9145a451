"""Places: create and list complexes, buildings, units and dwellings."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from google.protobuf.message import Message
from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from census.places.models import Building, Complex, Dwelling, Unit
from shequ.census.v1 import events_pb2
from shequ.common.v1 import tenant_pb2
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, invalid_input, not_found
from shequ_kit.outbox import Event, publish
from shequ_kit.paging import Page, sort_key
from shequ_kit.tenancy import TenantId

SOURCE = "/shequ/census"


def required_text(value: str, field: str, label_zh: str, max_length: int) -> str:
    cleaned = value.strip()
    if not cleaned or len(cleaned) > max_length:
        raise invalid_input(
            f"census.{field}_invalid",
            f"{label_zh}不能为空，且不超过{max_length}个字",
            f"{field} must be 1 to {max_length} characters",
            FieldViolation(field, f"1 to {max_length} characters"),
        )
    return cleaned


def parse_uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as error:
        raise invalid_input(
            "census.id_invalid",
            "编号格式不正确",
            f"{field} is not an id",
            FieldViolation(field, "not an id"),
        ) from error


def already_exists(code: str, message_zh: str, message_en: str, field: str) -> DomainError:
    return DomainError(
        code, message_zh, message_en, ErrorKind.ALREADY_EXISTS, (FieldViolation(field, message_en),)
    )


def event(tenant: TenantId, topic: str, aggregate_id: uuid.UUID, payload: Message) -> Event:
    """A census fact for the outbox; its CloudEvents type is the payload's message name."""
    return Event(
        type=f"shequ.census.v1.{type(payload).__name__}",
        source=SOURCE,
        topic=topic,
        tenant=tenant,
        aggregate_id=str(aggregate_id),
        payload=payload,
    )


def flush_unique(session: Session, error: DomainError) -> None:
    """Flush; a unique index refusing the row becomes ``error`` (the index decides, so two
    concurrent writers cannot both win)."""
    try:
        session.flush()
    except IntegrityError as integrity:
        raise error from integrity


def create_complex(
    session: Session, *, name: str, address: str, delivered_year: int | None
) -> Complex:
    complex_ = Complex(
        name=required_text(name, "name", "小区名称", 100),
        address=address.strip()[:200],
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


def create_building(
    session: Session,
    tenant: TenantId,
    topic: str,
    *,
    complex_id: str,
    number: str,
    floors: int | None,
) -> Building:
    complex_ = get_complex(session, complex_id)
    building = Building(
        complex_id=complex_.id,
        number=required_text(number, "number", "楼幢号", 20),
        floors=floors or None,
    )
    session.add(building)
    flush_unique(
        session,
        already_exists(
            "census.building_exists",
            f"{complex_.name}{building.number}已存在",
            f"building {building.number!r} exists in {complex_.name!r}",
            "number",
        ),
    )
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


def get_building(session: Session, building_id: str, field: str = "building_id") -> Building:
    building = session.get(Building, parse_uuid(building_id, field))
    if building is None:
        raise not_found("census.building_not_found", "未找到该楼幢", f"no building {building_id}")
    return building


def list_buildings(session: Session, complex_id: str, page: Page) -> Sequence[Building]:
    query = select(Building).order_by(Building.complex_id, Building.number, Building.id)
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
    if unit is None:
        raise not_found("census.unit_not_found", "未找到该单元", f"no unit {unit_id}")
    building = session.get(Building, unit.building_id)
    assert building is not None
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
    dwelling = session.get(Dwelling, parse_uuid(dwelling_id, field))
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
