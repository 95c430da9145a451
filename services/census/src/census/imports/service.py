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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Final

import psycopg
from sqlalchemy import select
from sqlalchemy.orm import Session

from census.imports.models import ImportJob
from census.imports.reading import ParsedRow, RowProblem, file_fingerprint, read_rows
from census.imports.template import ID_NUMBER, RELATION
from census.models import Base, driver_connection, stage_rows_of
from census.people.ages import derived_care_tags
from census.people.models import Household, Resident
from census.people.service import Protection
from census.places.models import Building, Complex, Dwelling, Unit
from census.places.service import event
from census.statistics import refresh_buildings
from census.vocabulary import Relation
from shequ.census.v1 import events_pb2
from shequ_kit import audit
from shequ_kit.bulk import StagedRows, analyze, insert_staged, stage_rows
from shequ_kit.outbox import publish, tenant_ref
from shequ_kit.randomness import random_bytes
from shequ_kit.tenancy import TenantId

MAX_REPORTED_PROBLEMS = 1_000
# Residents per batch handed to the writer: large enough that a COPY's fixed cost vanishes,
# small enough that the first batch's write starts early.
BATCH_ROWS: Final = 10_000
new_id = random_bytes.uuid4  # two or three per row: os.urandom one at a time costs more


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
    written with the batch that first names them)."""

    def __init__(self, session: Session, tenant: TenantId) -> None:
        self.tenant = tenant
        self.complexes = {c.name: c.id for c in session.scalars(select(Complex))}
        # A removed building's number names the building standing there now, or a new one.
        self.buildings = {
            (b.complex_id, b.number): b.id
            for b in session.scalars(select(Building).where(Building.removed_at.is_(None)))
        }
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

    def take_new(self) -> list[tuple[type[Base], list[dict[str, Any]]]]:
        """The places created since the last call, parents before children."""
        taken = [(model, self.new.pop(model, [])) for model in (Complex, Building, Unit, Dwelling)]
        return [(model, rows) for model, rows in taken if rows]


class _Batch:
    """The rows that will be written, checked against the community as it is now.

    Rows are handed to the writer every ``BATCH_ROWS`` residents, with the places and
    households they first name.
    """

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
                select(Household).where(
                    Household.head_resident_id.is_not(None), Household.removed_at.is_(None)
                )
            )
        }
        self.headed: set[uuid.UUID] = set(self.existing)
        self.households: dict[uuid.UUID, dict[str, Any]] = {}  # new ones, by dwelling
        self.new_households: list[dict[str, Any]] = []  # not yet handed to the writer
        # Households already written whose head came in a later batch: household → head.
        self.late_heads: dict[uuid.UUID, uuid.UUID] = {}
        self.written_households: set[uuid.UUID] = set()
        self.residents: list[tuple[object, ...]] = []  # not yet handed to the writer
        self.imported = 0
        self.buildings: set[uuid.UUID] = set()
        self.problems: list[RowProblem] = []

    def add(self, row: ParsedRow) -> None:
        id_hash = self.protection.hasher.hash_checked_id_number(row.id_number)
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
        is_head = row.relation_to_head is Relation.SELF
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
        resident_id = new_id()
        household_id = self.existing.get(dwelling_id)
        if household_id is None:
            household = self.households.get(dwelling_id)
            if household is None:
                household = self.households[dwelling_id] = {
                    "id": new_id(),
                    "tenant_id": self.tenant.value,
                    "dwelling_id": dwelling_id,
                    "building_id": building_id,
                    "complex_id": complex_id,
                    "tenure": row.tenure.value,
                    "head_resident_id": None,
                    "verified_on": row.verified_on,
                    "verified_by": self.actor,
                }
                self.new_households.append(household)
            household_id = household["id"]
            if is_head:
                household["head_resident_id"] = resident_id
                if household_id in self.written_households:
                    self.late_heads[household_id] = resident_id
        if is_head:
            self.headed.add(dwelling_id)
        self.registered.add(id_hash)
        self.buildings.add(building_id)
        tenant = self.tenant
        encrypt = self.protection.cipher.encrypt
        self.residents.append(
            (
                resident_id,
                tenant.value,
                new_id(),  # person_id
                household_id,
                dwelling_id,
                building_id,
                complex_id,
                row.name,
                encrypt(row.id_number, tenant_id=tenant, field="id_number"),
                id_hash,
                encrypt(row.phone, tenant_id=tenant, field="phone") if row.phone else None,
                row.sex.value,
                row.birth_date,
                row.relation_to_head.value,
                row.residence_type.value,
                row.tenure.value,
                row.moved_in_on,
                derived_care_tags(
                    row.birth_date, self.today, frozenset(t.value for t in row.care_tags)
                ),
                list(row.tags),
                row.verified_on,
                self.actor,
                1,  # version
            )
        )

    def take(self) -> _Rows:
        """The rows added since the last call, in the order foreign keys need."""
        taken = _Rows(self.places.take_new(), self.new_households, self.residents)
        self.written_households.update(h["id"] for h in self.new_households)
        self.imported += len(self.residents)
        self.new_households, self.residents = [], []
        return taken


RESIDENT_COLUMNS: Final = (
    "id",
    "tenant_id",
    "person_id",
    "household_id",
    "dwelling_id",
    "building_id",
    "complex_id",
    "name",
    "id_number_cipher",
    "id_number_hash",
    "phone_cipher",
    "sex",
    "birth_date",
    "relation_to_head",
    "residence_type",
    "tenure",
    "moved_in_on",
    "care_tags",
    "tags",
    "verified_on",
    "verified_by",
    "version",
)


@dataclass(frozen=True)
class _Rows:
    places: list[tuple[type[Base], list[dict[str, Any]]]]
    households: list[dict[str, Any]]
    residents: list[tuple[object, ...]]

    def stage(self, connection: psycopg.Connection[Any]) -> list[StagedRows]:
        """COPY every table's rows into staging tables, parents first."""
        staged = [stage_rows_of(connection, model, rows) for model, rows in self.places]
        staged.append(stage_rows_of(connection, Household, self.households))
        if self.residents:
            staged.append(
                stage_rows(connection, Resident.__tablename__, RESIDENT_COLUMNS, self.residents)
            )
        return [rows for rows in staged if rows is not None]


class _Writer:
    """Moves staged batches into the tables on a thread of its own while the reader checks
    the next batch.

    PostgreSQL spends about as long checking, indexing and storing a batch as Python spends
    reading and encrypting one. The copy into staging tables needs Python (it formats every
    row) and runs on the reader's thread; the INSERT … SELECT only waits for the database, which
    releases the GIL, so it overlaps the reading of the next batch. One batch at most is in
    flight on the import's connection; an error reaches the caller at the next hand-over or at
    :meth:`finish`.
    """

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-writer")
        self._pending: Future[None] | None = None

    def submit(self, rows: _Rows) -> None:
        self._wait()  # the connection runs one statement at a time
        self._pending = self._thread.submit(
            insert_staged, self._connection, rows.stage(self._connection)
        )

    def finish(self) -> None:
        try:
            self._wait()
        finally:
            self._thread.shutdown(wait=True)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()


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
    # Strict mode may have to take back rows already written when a bad row comes later.
    savepoint = session.begin_nested()
    writer = _Writer(driver_connection(session))
    rows_total = 0
    try:
        for result in read_rows(data, format=file_format, today=today):  # type: ignore[arg-type]
            rows_total += 1
            if isinstance(result, ParsedRow):
                batch.add(result)
                if len(batch.residents) >= BATCH_ROWS:
                    rows = batch.take()
                    if not (strict and batch.problems):  # else all of it is taken back anyway
                        writer.submit(rows)
            else:
                batch.problems.extend(result)
        rows = batch.take()
        if not (strict and batch.problems):
            writer.submit(rows)
    finally:
        writer.finish()
    problems = sorted(batch.problems, key=lambda p: (p.row, p.column))
    reported = problems[:MAX_REPORTED_PROBLEMS]
    job_id = uuid.uuid4()
    if strict and problems:
        savepoint.rollback()
        return ImportOutcome(job_id, rows_total, 0, reported, already_imported=False)
    _set_late_heads(session, batch.late_heads)
    savepoint.commit()
    if batch.imported >= BATCH_ROWS:
        analyze(driver_connection(session), "building", "dwelling", "household", "resident")
    refresh_buildings(session, batch.buildings, today)
    session.add(
        ImportJob(
            id=job_id,
            fingerprint=fingerprint,
            file_name=file_name[:200],
            file_format=file_format,
            strict=strict,
            rows_total=rows_total,
            rows_imported=batch.imported,
            rejected=[asdict(p) for p in reported],
            imported_by=actor,
        )
    )
    rejected_rows = len({problem.row for problem in problems})
    audit.record(
        session,
        "import.committed",
        target_kind="import",
        target_id=job_id,
        summary=f"导入居民 {batch.imported} 人（共 {rows_total} 行，{rejected_rows} 行未导入）",
        summary_en=f"imported {batch.imported} residents ({rows_total} rows, "
        f"{rejected_rows} not imported)",
        detail={
            "rows_total": rows_total,
            "rows_imported": batch.imported,
            "rows_rejected": rejected_rows,
            "format": file_format,
            "strict": strict,
        },
    )
    publish(
        session,
        event(
            tenant,
            topic,
            job_id,
            events_pb2.ResidentsImported(
                tenant=tenant_ref(tenant), import_id=str(job_id), rows_imported=batch.imported
            ),
        ),
    )
    return ImportOutcome(job_id, rows_total, batch.imported, reported, already_imported=False)


def _set_late_heads(session: Session, heads: dict[uuid.UUID, uuid.UUID]) -> None:
    """Name the heads that came after their household was written (rare: a file sorted by
    something other than the dwelling)."""
    if heads:
        with driver_connection(session).cursor() as cursor:
            cursor.executemany(
                "UPDATE household SET head_resident_id = %s WHERE id = %s",
                [(head, household) for household, head in heads.items()],
            )
