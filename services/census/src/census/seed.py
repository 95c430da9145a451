"""Demo census data for `make run`: the synthetic communities of DOMAIN.md's scale.

Written in bulk (one INSERT per table and community) under the community's tenant, with ID
numbers and phones encrypted and hashed exactly as registration does, and the buildings'
statistics counted as after any write. Idempotent: a community that already has places is left
alone. One ``ResidentsImported`` fact per community tells projections to rebuild, instead of
tens of thousands of single events.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from census.app import CensusCore
from census.models import driver_connection, insert_rows
from census.people.models import Household, Resident
from census.places.models import Building, Complex, Dwelling, Unit
from census.places.service import event
from census.statistics import refresh_buildings
from census.synthetic import DEMO_SIZES, SyntheticCommunity, demo_community
from shequ.census.v1 import events_pb2
from shequ.common.v1 import tenant_pb2
from shequ_kit.bulk import analyze
from shequ_kit.outbox import publish
from shequ_kit.tenancy import TenantId, tenant_scope

SEEDED_BY = "synthetic-demo"


def community_rows(
    community: SyntheticCommunity, core: CensusCore, tenant: TenantId
) -> dict[str, list[dict[str, object]]]:
    today = core.today()
    ids: defaultdict[str, uuid.UUID] = defaultdict(uuid.uuid4)
    common = {"tenant_id": tenant.value, "verified_on": today, "verified_by": SEEDED_BY}
    building_of_unit = {u.key: u.building_key for u in community.units}
    complex_of_building = {b.key: b.complex_key for b in community.buildings}
    place_of_dwelling = {}
    for d in community.dwellings:
        building = building_of_unit[d.unit_key]
        place_of_dwelling[d.key] = (building, complex_of_building[building])
    place_of_household = {h.key: place_of_dwelling[h.dwelling_key] for h in community.households}
    dwelling_of_household = {h.key: h.dwelling_key for h in community.households}
    tenure_of_household = {h.key: h.tenure.value for h in community.households}
    cipher, hasher = core.protection.cipher, core.protection.hasher
    return {
        "complex": [
            {
                **common,
                "id": ids[c.key],
                "name": c.name,
                "address": c.address,
                "delivered_year": c.delivered_year,
            }
            for c in community.complexes
        ],
        "building": [
            {
                **common,
                "id": ids[b.key],
                "complex_id": ids[b.complex_key],
                "number": b.number,
                "floors": b.floors,
            }
            for b in community.buildings
        ],
        "unit": [
            {**common, "id": ids[u.key], "building_id": ids[u.building_key], "number": u.number}
            for u in community.units
        ],
        "dwelling": [
            {
                **common,
                "id": ids[d.key],
                "unit_id": ids[d.unit_key],
                "building_id": ids[place_of_dwelling[d.key][0]],
                "complex_id": ids[place_of_dwelling[d.key][1]],
                "room": d.room,
                "address": d.address,
            }
            for d in community.dwellings
        ],
        "household": [
            {
                **common,
                "id": ids[h.key],
                "dwelling_id": ids[h.dwelling_key],
                "building_id": ids[place_of_household[h.key][0]],
                "complex_id": ids[place_of_household[h.key][1]],
                "tenure": h.tenure.value,
                "head_resident_id": ids[h.head_resident_key],
            }
            for h in community.households
        ],
        "resident": [
            {
                **common,
                "id": ids[r.key],
                "person_id": uuid.uuid4(),
                "household_id": ids[r.household_key],
                "dwelling_id": ids[dwelling_of_household[r.household_key]],
                "building_id": ids[place_of_household[r.household_key][0]],
                "complex_id": ids[place_of_household[r.household_key][1]],
                "name": r.name,
                "id_number_cipher": cipher.encrypt(
                    r.id_number, tenant_id=tenant, field="id_number"
                ),
                "id_number_hash": hasher.hash_id_number(r.id_number),
                "phone_cipher": (
                    cipher.encrypt(r.phone, tenant_id=tenant, field="phone") if r.phone else None
                ),
                "sex": r.sex.value,
                "birth_date": r.birth_date,
                "relation_to_head": r.relation_to_head.value,
                "residence_type": r.residence_type.value,
                "tenure": tenure_of_household[r.household_key],
                "moved_in_on": r.moved_in_on,
                "care_tags": [t.value for t in r.care_tags],
                "tags": [],
            }
            for r in community.residents
        ],
    }


def insert_community(
    session: Session, rows: dict[str, list[dict[str, object]]], today: date
) -> None:
    """Bulk-insert a community's rows (``community_rows``) and count its buildings for the
    statistics, as every write does."""
    for model in (Complex, Building, Unit, Dwelling, Household, Resident):
        insert_rows(session, model, rows[model.__tablename__])
    analyze(driver_connection(session), "building", "household", "resident")
    refresh_buildings(session, [cast(uuid.UUID, b["id"]) for b in rows["building"]], today)


def seed_demo_community(core: CensusCore, tenant_id: str) -> int:
    """Write the demo community of ``tenant_id``; returns the residents written (0 if it had
    data already)."""
    tenant = TenantId(tenant_id)
    with tenant_scope(tenant), core.sessions.begin() as session:
        if session.scalar(select(Complex.id).limit(1)) is not None:
            return 0
        rows = community_rows(demo_community(tenant_id, today=core.today()), core, tenant)
        insert_community(session, rows, core.today())
        import_id = f"{SEEDED_BY}-{tenant_id}"
        publish(
            session,
            event(
                tenant,
                core.settings.events_topic,
                uuid.uuid5(uuid.NAMESPACE_URL, import_id),
                events_pb2.ResidentsImported(
                    tenant=tenant_pb2.TenantRef(tenant_id=tenant.value),
                    import_id=import_id,
                    rows_imported=len(rows["resident"]),
                ),
            ),
        )
        return len(rows["resident"])


def seed_demo_communities(core: CensusCore) -> dict[str, int]:
    return {tenant_id: seed_demo_community(core, tenant_id) for tenant_id in DEMO_SIZES}
