"""Exporting residents in the import template's shape, streamed from the database.

- The rows are the residents the list's filters select (``people.service.residents_matching``),
  current ones only, ordered by place (head of household first), read through a server-side
  cursor in batches: neither the rows nor (for CSV) the file are ever whole in memory.
- ID numbers and phones are masked as in every response, unless the caller revealed them
  (pii-reader and a reason, checked by the caller). Then every exported record gets a
  ``pii_reveal`` row, written one statement per batch and **committed before the batch's bytes
  are produced**: a download broken off may have audited a few rows more than were sent,
  never fewer. The export itself is one ``pii.exported`` entry of the audit log (how many
  records, which format, why), committed with the first batch.
- A street's export names each row's community in a trailing column.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from sqlalchemy import Row, Select, case
from sqlalchemy.orm import Session, sessionmaker

from census.identity.pii import mask_id_number, mask_phone
from census.imports.reading import ImportFormatName
from census.imports.template import CONTENT_TYPES
from census.imports.writing import ExportRow, csv_pieces, export_file_name, write_xlsx
from census.people.ages import derived_care_tags
from census.people.models import Resident
from census.people.service import (
    Protection,
    ResidentFilter,
    Reveal,
    audit_reveals_now,
    residents_matching,
    rows_of,
)
from census.places.models import Building, Complex, Dwelling, Unit
from census.vocabulary import CareTag, Relation, ResidenceType, Tenure
from shequ_kit import audit
from shequ_kit.tenancy import TenantId

# Rows fetched (and, when revealed, audited) together.
BATCH_ROWS: Final = 1_000
# Bytes per piece handed to gRPC.
CHUNK_BYTES: Final = 64 * 1024


@dataclass(frozen=True)
class ExportFile:
    file_name: str
    content_type: str
    # Produced lazily: reading the database, auditing and writing happen as this is consumed.
    chunks: Iterator[bytes]


def export_residents(
    sessions: sessionmaker[Session],
    protection: Protection,
    criteria: ResidentFilter,
    *,
    tenant: TenantId,
    file_format: ImportFormatName,
    reveal: Reveal | None,
    today: date,
) -> ExportFile:
    """The export of the residents ``criteria`` selects in ``tenant`` (see the module docstring).

    Filters are checked now (a bad id is an error before anything is sent); the rows are read
    as the chunks are consumed, each batch in the caller's tenant scope.
    """
    query = _export_query(protection, criteria, today)
    with_community = not tenant.is_community
    rows = _export_rows(sessions, protection, query, reveal, today=today, file_format=file_format)
    if file_format == "csv":
        pieces = csv_pieces(rows, masked=reveal is None, with_community=with_community)
    else:
        pieces = _xlsx_pieces(rows, masked=reveal is None, with_community=with_community)
    return ExportFile(
        file_name=export_file_name(tenant.value, today, file_format, masked=reveal is None),
        content_type=CONTENT_TYPES[file_format],
        chunks=chunked(pieces, CHUNK_BYTES),
    )


def chunked(pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    """The bytes of ``pieces`` again, cut into chunks of ``size`` (the last may be shorter)."""
    pending = bytearray()
    for piece in pieces:
        pending += piece
        while len(pending) >= size:
            yield bytes(pending[:size])
            del pending[:size]
    if pending:
        yield bytes(pending)


def _export_query(
    protection: Protection, criteria: ResidentFilter, today: date
) -> Select[*tuple[Any, ...]]:
    head_first = case((Resident.relation_to_head == Relation.SELF.value, 0), else_=1)
    return (
        residents_matching(protection, criteria, today)
        .with_only_columns(
            Resident.id,
            Resident.tenant_id,
            Resident.name,
            Resident.id_number_cipher,
            Resident.phone_cipher,
            Resident.relation_to_head,
            Resident.residence_type,
            Resident.tenure,
            Resident.moved_in_on,
            Resident.care_tags,
            Resident.birth_date,
            Resident.tags,
            Resident.verified_on,
            Complex.name.label("complex_name"),
            Building.number.label("building_number"),
            Unit.number.label("unit_number"),
            Dwelling.room,
        )
        .select_from(Resident)
        .join(Dwelling, Dwelling.id == Resident.dwelling_id)
        .join(Unit, Unit.id == Dwelling.unit_id)
        .join(Building, Building.id == Resident.building_id)
        .join(Complex, Complex.id == Resident.complex_id)
        .order_by(
            Resident.tenant_id,
            Complex.name,
            Building.number,
            Unit.number,
            Dwelling.room,
            head_first,
            Resident.name,
            Resident.id,
        )
    )


def _export_rows(
    sessions: sessionmaker[Session],
    protection: Protection,
    query: Select[*tuple[Any, ...]],
    reveal: Reveal | None,
    *,
    today: date,
    file_format: ImportFormatName,
) -> Iterator[ExportRow]:
    with sessions() as session:
        batches = session.execute(query.execution_options(yield_per=BATCH_ROWS)).partitions()
        for number, batch in enumerate(batches):
            if reveal is not None:
                audited = [(found.tenant_id, found.id) for found in batch]
                announce = _export_entry(query, reveal, file_format) if number == 0 else None
                audit_reveals_now(sessions, reveal, audited, announce=announce)
            for found in batch:
                yield export_row_of(protection, found, reveal=reveal is not None, today=today)


def _export_entry(
    query: Select[*tuple[Any, ...]], reveal: Reveal, file_format: ImportFormatName
) -> Callable[[Session], object]:
    """The audit log's entry of an unmasked export: how many records, which format, why."""

    def record_export(session: Session) -> object:
        records = rows_of(session, query)
        return audit.record(
            session,
            "pii.exported",
            target_kind="residents",
            summary=f"导出未脱敏的居民名单 {records} 人（{file_format}），理由：{reveal.reason}",
            summary_en=f"exported {records} residents unmasked ({file_format}); "
            f"reason: {reveal.reason}",
            detail={"records": records, "format": file_format, "reason": reveal.reason},
        )

    return record_export


def export_row_of(
    protection: Protection, found: Row[Any], *, reveal: bool, today: date
) -> ExportRow:
    """A row of the export query as the file shows it: personal data decrypted, and masked as
    in every response unless this is an audited reveal."""
    cipher = protection.cipher
    id_number = cipher.decrypt(found.id_number_cipher, tenant_id=found.tenant_id, field="id_number")
    phone = (
        cipher.decrypt(found.phone_cipher, tenant_id=found.tenant_id, field="phone")
        if found.phone_cipher
        else ""
    )
    if not reveal:
        id_number, phone = mask_id_number(id_number), mask_phone(phone) if phone else ""
    return ExportRow(
        name=found.name,
        id_number=id_number,
        phone=phone,
        relation_to_head=Relation(found.relation_to_head),
        residence_type=ResidenceType(found.residence_type),
        tenure=Tenure(found.tenure),
        complex_name=found.complex_name,
        building_number=found.building_number,
        unit_number=found.unit_number,
        room=found.room,
        moved_in_on=found.moved_in_on,
        care_tags=frozenset(
            CareTag(tag) for tag in derived_care_tags(found.birth_date, today, found.care_tags)
        ),
        tags=tuple(found.tags),
        verified_on=found.verified_on,
        community=found.tenant_id,
    )


def _xlsx_pieces(
    rows: Iterable[ExportRow], *, masked: bool, with_community: bool
) -> Iterator[bytes]:
    # The workbook is complete only when saved, so it goes to a temporary file first (deleted
    # on close) and is streamed from there.
    with tempfile.TemporaryFile() as spool:
        write_xlsx(rows, spool, masked=masked, with_community=with_community)
        spool.seek(0)
        while piece := spool.read(CHUNK_BYTES):
            yield piece
