"""Rebuilding a community's census projection by asking census over gRPC, as this service's
own account (no user started the work): buildings, their dwellings and households, every
current resident's care tags (names are dropped on arrival), and enterprises.

Used for ``ResidentsImported`` (one fact for thousands of rows), ``rebuild-projection`` and the
RebuildProjection RPC. The tenant's rows are replaced in the caller's transaction, so readers
see either the old projection or the new one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from sqlalchemy import delete, or_, select, union
from sqlalchemy.orm import Session

from grid.models import (
    CensusBuilding,
    CensusDwelling,
    CensusEnterprise,
    CensusHousehold,
    CensusResident,
    Community,
)
from grid.projection import care_tags
from shequ.census.v1 import census_pb2 as cpb
from shequ.census.v1 import census_pb2_grpc
from shequ.common.v1 import paging_pb2
from shequ_kit.errors import DomainError, ErrorKind
from shequ_kit.grpc_client import make_channel
from shequ_kit.service_tokens import ServiceCredentials
from shequ_kit.tenancy import TenantId

PAGE = 500


@dataclass(frozen=True)
class Rebuilt:
    buildings: int
    households: int
    residents: int
    enterprises: int


class CensusClient:
    """CensusService as this service calls it (service account, explicit tenant)."""

    def __init__(self, target: str, credentials: ServiceCredentials, timeout_s: float) -> None:
        self._channel = make_channel(target, default_timeout_s=timeout_s)
        self._stub = census_pb2_grpc.CensusServiceStub(self._channel)
        self._credentials = credentials

    def close(self) -> None:
        self._channel.close()

    def _call(self, method: str, request: Any, tenant: TenantId) -> Any:
        try:
            return getattr(self._stub, method)(
                request, metadata=self._credentials.metadata(tenant.value)
            )
        except grpc.RpcError as error:
            raise DomainError(
                "grid.census_unavailable",
                "暂时无法从普查服务同步数据，请稍后重试",
                f"census {method} failed: {error.code()}",
                ErrorKind.UNAVAILABLE,
            ) from error

    def _pages(self, method: str, make: Any, items: str, tenant: TenantId) -> Iterator[Any]:
        token = ""
        while True:
            response = self._call(
                method, make(paging_pb2.PageRequest(page_size=PAGE, page_token=token)), tenant
            )
            yield from getattr(response, items)
            token = response.page.next_page_token
            if not token:
                return

    def buildings(self, tenant: TenantId) -> Iterator[cpb.Building]:
        return self._pages(
            "ListBuildings", lambda p: cpb.ListBuildingsRequest(page=p), "buildings", tenant
        )

    def dwellings(self, tenant: TenantId, building_id: str) -> Iterator[cpb.Dwelling]:
        return self._pages(
            "ListDwellings",
            lambda p: cpb.ListDwellingsRequest(building_id=building_id, page=p),
            "dwellings",
            tenant,
        )

    def households(self, tenant: TenantId, building_id: str) -> Iterator[cpb.Household]:
        return self._pages(
            "ListHouseholds",
            lambda p: cpb.ListHouseholdsRequest(building_id=building_id, page=p),
            "households",
            tenant,
        )

    def enterprises(self, tenant: TenantId) -> Iterator[cpb.Enterprise]:
        return self._pages(
            "ListEnterprises", lambda p: cpb.ListEnterprisesRequest(page=p), "enterprises", tenant
        )

    def residents(self, tenant: TenantId) -> Iterator[cpb.StreamResidentsInPlacesResponse]:
        try:
            yield from self._stub.StreamResidentsInPlaces(
                cpb.StreamResidentsInPlacesRequest(),
                metadata=self._credentials.metadata(tenant.value),
            )
        except grpc.RpcError as error:
            raise DomainError(
                "grid.census_unavailable",
                "暂时无法从普查服务同步数据，请稍后重试",
                f"census StreamResidentsInPlaces failed: {error.code()}",
                ErrorKind.UNAVAILABLE,
            ) from error


def rebuild_tenant(session: Session, census: CensusClient, tenant: TenantId) -> Rebuilt:
    """Replace ``tenant``'s projection with what census holds now (the session is in the
    tenant's scope)."""
    value = tenant.value
    buildings = list(census.buildings(tenant))
    dwellings: dict[uuid.UUID, uuid.UUID] = {}
    households: list[dict[str, Any]] = []
    for b in buildings:
        building_id = uuid.UUID(b.id)
        for d in census.dwellings(tenant, b.id):
            dwellings[uuid.UUID(d.id)] = building_id
        households += [
            {
                "tenant_id": value,
                "household_id": uuid.UUID(h.id),
                "dwelling_id": uuid.UUID(h.dwelling_id),
                "building_id": building_id,
            }
            for h in census.households(tenant, b.id)
        ]
    residents: list[dict[str, Any]] = [
        {
            "tenant_id": value,
            "resident_id": uuid.UUID(r.resident_id),
            "household_id": uuid.UUID(r.household_id) if r.household_id else None,
            "building_id": uuid.UUID(r.building_id),
            "care_tags": care_tags(r.care_tags),
        }
        for r in census.residents(tenant)
    ]
    enterprises: list[dict[str, Any]] = [
        {
            "tenant_id": value,
            "enterprise_id": uuid.UUID(e.id),
            "building_id": dwellings.get(uuid.UUID(e.dwelling_id)) if e.dwelling_id else None,
        }
        for e in census.enterprises(tenant)
    ]
    for model in (CensusResident, CensusHousehold, CensusDwelling, CensusEnterprise):
        session.execute(delete(model).where(model.tenant_id == value))
    session.execute(delete(CensusBuilding).where(CensusBuilding.tenant_id == value))
    rows: list[tuple[type[Any], list[dict[str, Any]]]] = [
        (
            CensusBuilding,
            [
                {
                    "tenant_id": value,
                    "building_id": uuid.UUID(b.id),
                    "complex_id": uuid.UUID(b.complex_id),
                    "number": b.number,
                    "floors": b.floors,
                }
                for b in buildings
            ],
        ),
        (
            CensusDwelling,
            [
                {"tenant_id": value, "dwelling_id": d, "building_id": b}
                for d, b in dwellings.items()
            ],
        ),
        (CensusHousehold, households),
        (CensusResident, residents),
        (CensusEnterprise, enterprises),
    ]
    for model, batch in rows:
        for start in range(0, len(batch), 2000):
            session.execute(model.__table__.insert(), batch[start : start + 2000])
    return Rebuilt(len(buildings), len(households), len(residents), len(enterprises))


def known_communities(session: Session, within: TenantId | None) -> list[TenantId]:
    """The communities grid has laid out or projected, in ``within``'s subtree (all for None);
    the session works across tenants (``system_scope``)."""
    laid_out = select(Community.tenant_id)
    projected = select(CensusBuilding.tenant_id).distinct()
    if within is not None:
        subtree = within.value + ".%"
        laid_out = laid_out.where(
            or_(Community.tenant_id == within.value, Community.tenant_id.like(subtree))
        )
        projected = projected.where(
            or_(CensusBuilding.tenant_id == within.value, CensusBuilding.tenant_id.like(subtree))
        )
    found = session.scalars(union(laid_out, projected)).all()
    return sorted({TenantId(value) for value in found}, key=lambda tenant: tenant.value)
