"""The census projection: buildings, dwellings, households, residents (with care tags) and
enterprises of each community, from census events, without personal data. Every handler is an
upsert or a delete keyed by the census id, so applying an event twice changes nothing more
(the kit's consumer also records event ids). ``ResidentsImported`` (thousands of rows at once)
and operators' rebuilds replace the tenant's rows from census over gRPC (``grid.census_sync``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from grid.models import (
    CensusBuilding,
    CensusDwelling,
    CensusEnterprise,
    CensusHousehold,
    CensusResident,
)
from shequ.census.v1 import census_pb2, events_pb2
from shequ_kit.cloudevents import ReceivedEvent
from shequ_kit.db import TENANT_SETTING
from shequ_kit.tenancy import TenantId, require_tenant, tenant_scope

PREFIX = "shequ.census.v1."
# Care tags as the projection stores them: the census enum's names ("CARE_TAG_ELDERLY").
CARE_TAG_NAMES = {
    v.number: v.name for v in census_pb2.DESCRIPTOR.enum_types_by_name["CareTag"].values
}


class ForeignSourceError(ValueError):
    """A move names a source community outside the event's street: refused (dead-lettered).
    A street-level transfer is published in the street's scope, so it may speak for the
    communities of that one street and no other."""


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def care_tags(values: Iterable[int]) -> list[str]:
    return sorted({CARE_TAG_NAMES[v] for v in values if v and v in CARE_TAG_NAMES})


def _upsert(session: Session, model: type[Any], keys: list[str], row: dict[str, Any]) -> None:
    tenant = require_tenant()
    values = {"tenant_id": tenant.value, **row}
    statement = insert(model).values(**values)
    updates = {k: statement.excluded[k] for k in row if k not in keys}
    session.execute(
        statement.on_conflict_do_update(index_elements=["tenant_id", *keys], set_=updates)
        if updates
        else statement.on_conflict_do_nothing()
    )


def _delete(session: Session, model: type[Any], column: str, value: uuid.UUID | None) -> None:
    if value is None:
        return
    session.execute(
        delete(model).where(
            model.tenant_id == require_tenant().value, getattr(model, column) == value
        )
    )


def building(session: Session, facts: events_pb2.BuildingFacts) -> None:
    building_id, complex_id = _uuid(facts.building_id), _uuid(facts.complex_id)
    if building_id is None or complex_id is None:
        raise ValueError("building facts without ids")
    _upsert(
        session,
        CensusBuilding,
        ["building_id"],
        {
            "building_id": building_id,
            "complex_id": complex_id,
            "number": facts.number[:20],
            "floors": facts.floors,
        },
    )


def household(session: Session, facts: events_pb2.HouseholdFacts) -> None:
    household_id, dwelling_id = _uuid(facts.household_id), _uuid(facts.dwelling_id)
    building_id = _uuid(facts.building_id)
    if household_id is None or dwelling_id is None or building_id is None:
        raise ValueError("household facts without ids")
    _upsert(
        session,
        CensusDwelling,
        ["dwelling_id"],
        {"dwelling_id": dwelling_id, "building_id": building_id},
    )
    _upsert(
        session,
        CensusHousehold,
        ["household_id"],
        {"household_id": household_id, "dwelling_id": dwelling_id, "building_id": building_id},
    )


def resident(session: Session, facts: events_pb2.ResidentFacts) -> None:
    resident_id, building_id = _uuid(facts.resident_id), _uuid(facts.building_id)
    if resident_id is None or building_id is None:
        raise ValueError("resident facts without ids")
    _upsert(
        session,
        CensusResident,
        ["resident_id"],
        {
            "resident_id": resident_id,
            "household_id": _uuid(facts.household_id),
            "building_id": building_id,
            "care_tags": care_tags(facts.care_tags),
        },
    )


def enterprise(session: Session, facts: events_pb2.EnterpriseFacts) -> None:
    enterprise_id = _uuid(facts.enterprise_id)
    if enterprise_id is None:
        raise ValueError("enterprise facts without id")
    _upsert(
        session,
        CensusEnterprise,
        ["enterprise_id"],
        {"enterprise_id": enterprise_id, "building_id": _uuid(facts.building_id)},
    )


@dataclass
class CensusHandler:
    """The consumer's handler; ``resync`` replaces a tenant's projection from census."""

    resync: Callable[[Session, TenantId], object]
    applied: dict[str, int] = field(default_factory=dict)

    def __call__(self, session: Session, event: ReceivedEvent) -> None:
        name = event.type.removeprefix(PREFIX)
        decoder = DECODERS.get(name)
        if decoder is None or not event.type.startswith(PREFIX):
            return  # a fact the grid does not need
        message_type, apply = decoder
        message = event.decode_for_tenant(message_type)
        if name == "ResidentsImported":
            self.resync(session, event.tenant)
        else:
            apply(session, message)
        self.applied[name] = self.applied.get(name, 0) + 1


@contextmanager
def _writing_for(session: Session, tenant: TenantId) -> Iterator[None]:
    """Point this transaction's ORM scope and row-level security at ``tenant`` for the block,
    then back, so a change of two communities commits with the event id, once."""
    outer = require_tenant()
    setting = text("SELECT set_config(:key, :value, true)")
    with tenant_scope(tenant):
        session.execute(setting, {"key": TENANT_SETTING, "value": tenant.value})
        yield
    # Not in a finally: a failed statement aborts the transaction, which is rolled back anyway.
    session.execute(setting, {"key": TENANT_SETTING, "value": outer.value})


def _move_source(tenant: TenantId, m: events_pb2.ResidentMoved) -> TenantId:
    """The community the resident left: the event's own, or another of the same street."""
    if not m.from_tenant.tenant_id:
        return tenant  # facts from before from_tenant was set always moved within
    source = TenantId.parse(m.from_tenant.tenant_id)
    same_street = source.parent is not None and source.parent == tenant.parent
    if source != tenant and not (source.is_community and tenant.is_community and same_street):
        raise ForeignSourceError(
            f"a move into {tenant} cannot remove a record of {source}: not a community of "
            "the same street"
        )
    return source


def _resident_moved(session: Session, m: events_pb2.ResidentMoved) -> None:
    tenant = require_tenant()
    source = _move_source(tenant, m)
    resident(session, m.resident)
    left = _uuid(m.from_resident_id)
    if left is None or left == _uuid(m.resident.resident_id):
        return  # the same record moved (or a fact from before from_resident_id existed)
    # A transfer opens a new record in the target: drop the closed one in the source.
    if source == tenant:
        _delete(session, CensusResident, "resident_id", left)
        return
    with _writing_for(session, source):
        _delete(session, CensusResident, "resident_id", left)


DECODERS: Mapping[str, tuple[type[Any], Callable[[Session, Any], None]]] = {
    "BuildingCreated": (events_pb2.BuildingCreated, lambda s, m: building(s, m.building)),
    "BuildingUpdated": (events_pb2.BuildingUpdated, lambda s, m: building(s, m.building)),
    "BuildingRemoved": (
        events_pb2.BuildingRemoved,
        lambda s, m: _delete(s, CensusBuilding, "building_id", _uuid(m.building_id)),
    ),
    "HouseholdCreated": (events_pb2.HouseholdCreated, lambda s, m: household(s, m.household)),
    "HouseholdUpdated": (events_pb2.HouseholdUpdated, lambda s, m: household(s, m.household)),
    "HouseholdRemoved": (
        events_pb2.HouseholdRemoved,
        lambda s, m: _delete(s, CensusHousehold, "household_id", _uuid(m.household_id)),
    ),
    "ResidentRegistered": (events_pb2.ResidentRegistered, lambda s, m: resident(s, m.resident)),
    "ResidentUpdated": (events_pb2.ResidentUpdated, lambda s, m: resident(s, m.resident)),
    "ResidentMoved": (events_pb2.ResidentMoved, _resident_moved),
    "ResidentRemoved": (
        events_pb2.ResidentRemoved,
        lambda s, m: _delete(s, CensusResident, "resident_id", _uuid(m.resident_id)),
    ),
    "EnterpriseCreated": (events_pb2.EnterpriseCreated, lambda s, m: enterprise(s, m.enterprise)),
    "EnterpriseUpdated": (events_pb2.EnterpriseUpdated, lambda s, m: enterprise(s, m.enterprise)),
    "EnterpriseRemoved": (
        events_pb2.EnterpriseRemoved,
        lambda s, m: _delete(s, CensusEnterprise, "enterprise_id", _uuid(m.enterprise_id)),
    ),
    "ResidentsImported": (events_pb2.ResidentsImported, lambda s, m: None),
}
