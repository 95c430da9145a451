"""Applying an import file to a community: the reader's rows, checked against the database,
written in bulk in one transaction.

- Rows the reader refused, ID numbers already registered here, and a second head for one
  household are reported row by row (row, column, message) and never written.
- Lenient mode commits every good row; strict mode commits nothing if any row is bad.
- The same file (by content hash) imported again changes nothing and returns the first report.
- Places named in the file (complex, building, unit, room) are found or created; rows naming
  the same dwelling form one household (added to the dwelling's household if it has one).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from census.identity.codes import parse_id_number
from census.imports.models import ImportJob
from census.imports.reading import ParsedRow, RowProblem, file_fingerprint, read_rows
from census.imports.template import ID_NUMBER, RELATION
from census.models import insert_rows
from census.people.models import Household, Resident
from census.people.service import Protection, derived_care_tags, tenant_ref
from census.places.models import Building, Complex, Dwelling, Unit
from census.places.service import event
from shequ.census.v1 import events_pb2
from shequ_kit.outbox import publish
from shequ_kit.tenancy import TenantId

MAX_REPORTED_PROBLEMS = 1_000


@dataclass(frozen=True)
class ImportOutcome:
    import_id: uuid.UUID
    rows_total: int
    rows_imported: int
    rejected: list[RowProblem]
    already_imported: bool


def _problem(row: int, column: str, zh: str, en: str) -> RowProblem:
    return RowProblem(row=row, column=column, message_zh=zh, message_en=en)


class _Places:
    """The community's places by name, created on first mention (ids assigned here, rows
    inserted in bulk at the end)."""

    def __init__(self, session: Session, tenant: TenantId) -> None:
        self.tenant = tenant
        self.complexes = {c.name: c.id for c in session.scalars(select(Complex))}
        self.buildings = {(b.complex_id, b.number): b.id for b in session.scalars(select(Building))}
        self.units = {(u.building_id, u.number): u.id for u in session.scalars(select(Unit))}
        self.dwellings = {
            (d.unit_id, d.room): (d.id, d.building_id, d.complex_id)
            for d in session.scalars(select(Dwelling))
        }
        self.new: dict[type[Any], list[dict[str, Any]]] = defaultdict(list)

    def dwelling(self, row: ParsedRow, today: date) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
        common = {"tenant_id": self.tenant.value, "verified_on": today, "verified_by": "import"}
        complex_id = self.complexes.get(row.complex_name)
        if complex_id is None:
            complex_id = self.complexes[row.complex_name] = uuid.uuid4()
            self.new[Complex].append(
                {**common, "id": complex_id, "name": row.complex_name, "address": ""}
            )
        building_id = self.buildings.get((complex_id, row.building_number))
        if building_id is None:
            building_id = self.buildings[(complex_id, row.building_number)] = uuid.uuid4()
            self.new[Building].append(
                {
                    **common,
                    "id": building_id,
                    "complex_id": complex_id,
                    "number": row.building_number,
                }
            )
        unit_id = self.units.get((building_id, row.unit_number))
        if unit_id is None:
            unit_id = self.units[(building_id, row.unit_number)] = uuid.uuid4()
            self.new[Unit].append(
                {**common, "id": unit_id, "building_id": building_id, "number": row.unit_number}
            )
        found = self.dwellings.get((unit_id, row.room))
        if found is None:
            found = (uuid.uuid4(), building_id, complex_id)
            self.dwellings[(unit_id, row.room)] = found
            self.new[Dwelling].append(
                {
                    **common,
                    "id": found[0],
                    "unit_id": unit_id,
                    "building_id": building_id,
                    "complex_id": complex_id,
                    "room": row.room,
                    "address": (
                        f"{row.complex_name}{row.building_number}{row.unit_number}{row.room}室"
                    ),
                }
            )
        return found


class _Batch:
    """The rows that will be written, checked against the community as it is now."""

    def __init__(
        self, session: Session, protection: Protection, tenant: TenantId, *, actor: str, today: date
    ) -> None:
        self.protection, self.tenant, self.actor, self.today = protection, tenant, actor, today
        self.registered = set(
            session.scalars(select(Resident.id_number_hash).where(Resident.moved_out_on.is_(None)))
        )
        self.places = _Places(session, tenant)
        self.existing = {
            h.dwelling_id: h.id
            for h in session.scalars(
                select(Household).where(Household.head_resident_id.is_not(None))
            )
        }
        self.headed: set[uuid.UUID] = set(self.existing)
        self.households: dict[uuid.UUID, dict[str, Any]] = {}
        self.residents: list[dict[str, Any]] = []
        self.problems: list[RowProblem] = []

    def add(self, row: ParsedRow) -> None:
        id_hash = self.protection.hasher.hash_id_number(row.id_number)
        if id_hash in self.registered:
            self.problems.append(
                _problem(
                    row.row,
                    ID_NUMBER.header_zh,
                    "该身份证号已在本社区登记",
                    "this ID number is already registered here",
                )
            )
            return
        dwelling_id, building_id, complex_id = self.places.dwelling(row, self.today)
        is_head = row.relation_to_head.value == "self"
        if is_head and dwelling_id in self.headed:
            self.problems.append(
                _problem(
                    row.row,
                    RELATION.header_zh,
                    "该户已有户主",
                    "the household of this dwelling already has a head",
                )
            )
            return
        resident_id = uuid.uuid4()
        household_id = self.existing.get(dwelling_id)
        if household_id is None:
            household = self.households.setdefault(
                dwelling_id,
                {
                    "id": uuid.uuid4(),
                    "tenant_id": self.tenant.value,
                    "dwelling_id": dwelling_id,
                    "building_id": building_id,
                    "complex_id": complex_id,
                    "tenure": row.tenure.value,
                    "head_resident_id": None,
                    "verified_on": row.verified_on,
                    "verified_by": self.actor,
                },
            )
            household_id = household["id"]
            if is_head:
                household["head_resident_id"] = resident_id
        if is_head:
            self.headed.add(dwelling_id)
        self.registered.add(id_hash)
        identity = parse_id_number(row.id_number, today=self.today)
        cipher = self.protection.cipher
        self.residents.append(
            {
                "id": resident_id,
                "tenant_id": self.tenant.value,
                "person_id": uuid.uuid4(),
                "household_id": household_id,
                "dwelling_id": dwelling_id,
                "building_id": building_id,
                "complex_id": complex_id,
                "name": row.name,
                "id_number_cipher": cipher.encrypt(
                    row.id_number, tenant_id=self.tenant, field="id_number"
                ),
                "id_number_hash": id_hash,
                "phone_cipher": (
                    cipher.encrypt(row.phone, tenant_id=self.tenant, field="phone")
                    if row.phone
                    else None
                ),
                "sex": identity.sex.value,
                "birth_date": identity.birth_date,
                "relation_to_head": row.relation_to_head.value,
                "residence_type": row.residence_type.value,
                "tenure": row.tenure.value,
                "moved_in_on": row.moved_in_on,
                "care_tags": derived_care_tags(
                    identity.birth_date, self.today, frozenset(t.value for t in row.care_tags)
                ),
                "tags": list(row.tags),
                "verified_on": row.verified_on,
                "verified_by": self.actor,
            }
        )

    def write(self, session: Session) -> None:
        for model in (Complex, Building, Unit, Dwelling):
            insert_rows(session, model, self.places.new[model])
        insert_rows(session, Household, list(self.households.values()))
        insert_rows(session, Resident, self.residents)


def import_residents(
    session: Session,
    protection: Protection,
    tenant: TenantId,
    topic: str,
    data: bytes,
    *,
    file_name: str,
    file_format: str,
    strict: bool,
    actor: str,
    today: date,
) -> ImportOutcome:
    """Import a file of residents into ``tenant`` (see the module docstring for the rules)."""
    fingerprint = file_fingerprint(data)
    earlier = session.scalar(select(ImportJob).where(ImportJob.fingerprint == fingerprint))
    if earlier is not None:
        return ImportOutcome(
            earlier.id,
            earlier.rows_total,
            earlier.rows_imported,
            [RowProblem(**p) for p in earlier.rejected],
            already_imported=True,
        )
    batch = _Batch(session, protection, tenant, actor=actor, today=today)
    rows_total = 0
    for result in read_rows(data, format=file_format, today=today):  # type: ignore[arg-type]
        rows_total += 1
        if isinstance(result, ParsedRow):
            batch.add(result)
        else:
            batch.problems.extend(result)
    problems = sorted(batch.problems, key=lambda p: (p.row, p.column))
    reported = problems[:MAX_REPORTED_PROBLEMS]
    job_id = uuid.uuid4()
    if strict and problems:
        return ImportOutcome(job_id, rows_total, 0, reported, already_imported=False)
    batch.write(session)
    session.add(
        ImportJob(
            id=job_id,
            fingerprint=fingerprint,
            file_name=file_name[:200],
            file_format=file_format,
            strict=strict,
            rows_total=rows_total,
            rows_imported=len(batch.residents),
            rejected=[asdict(p) for p in reported],
            imported_by=actor,
        )
    )
    publish(
        session,
        event(
            tenant,
            topic,
            job_id,
            events_pb2.ResidentsImported(
                tenant=tenant_ref(tenant), import_id=str(job_id), rows_imported=len(batch.residents)
            ),
        ),
    )
    return ImportOutcome(job_id, rows_total, len(batch.residents), reported, already_imported=False)
