"""What other services ask the census about places: who lives there (notify's audiences) and
how many (grid's workload). Answers carry no personal data (no ID number, phone or birth
date), except the phones of a notice's audience for a pii-reader who names the purpose: those
are audited per resident, batch by batch, before the batch is sent, and the stream is one
``pii.revealed`` entry of the audit log (how many residents, for what), with the first batch.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, NamedTuple

from sqlalchemy import Row, Select, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from census.people.ages import any_care_tag_condition, derived_care_tags
from census.people.models import Household, Resident
from census.people.service import Protection, Reveal, audit_reveals_now, rows_of
from census.places.models import Building
from census.places.service import parse_uuid
from census.vocabulary import CARE_TAGS, RESIDENCE_TYPES
from shequ_kit import audit
from shequ_kit.errors import FieldViolation, invalid_input

# Rows fetched (and, with phones, audited) per round trip while streaming: enough to keep the
# cursor busy, little memory.
STREAM_BATCH: Final = 1000
# More places than any street has; a longer list is a caller's bug, not an audience.
MAX_PLACES: Final = 10_000


@dataclass(frozen=True, slots=True)
class ResidentInPlace:
    """Enough to reach a person through notify's channels, and nothing more: whether a phone
    is on record, never the phone itself."""

    resident_id: uuid.UUID
    name: str
    complex_id: uuid.UUID
    building_id: uuid.UUID
    household_id: uuid.UUID
    care_tags: tuple[str, ...]
    has_phone: bool


class BuildingCounts(NamedTuple):
    households: dict[uuid.UUID, int]
    residents: dict[uuid.UUID, int]


def _ids(values: Sequence[str], field: str) -> list[uuid.UUID]:
    if len(values) > MAX_PLACES:
        raise invalid_input(
            f"census.{field}_too_many",
            f"一次最多查询{MAX_PLACES}个地点或居民",
            f"at most {MAX_PLACES} {field}",
            FieldViolation(field, f"at most {MAX_PLACES}"),
        )
    return [parse_uuid(value, f"{field}[{position}]") for position, value in enumerate(values)]


def _words(
    values: Collection[str], allowed: Collection[str], field: str, label_zh: str
) -> list[str]:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        choices = ", ".join(allowed)
        raise invalid_input(
            f"census.{field}_invalid",
            f"{label_zh}取值不正确",
            f"{field} must be among {choices}",
            FieldViolation(field, choices),
        )
    return sorted(set(values))


@dataclass(frozen=True)
class Audience:
    """Who an audience question is about: the current residents of the named complexes and
    buildings and the named residents (any of them; none named: the whole tenant), having any
    of ``care_tags`` and any of ``residence_types`` (empty: no condition)."""

    complex_ids: Sequence[str] = ()
    building_ids: Sequence[str] = ()
    resident_ids: Sequence[str] = ()
    care_tags: Collection[str] = ()
    residence_types: Collection[str] = ()


def _audience_query(
    audience: Audience, today: date, *, with_phones: bool
) -> Select[*tuple[Any, ...]]:
    """The audience in id order; the phones' ciphertexts only ``with_phones``."""
    complexes = _ids(audience.complex_ids, "complex_ids")
    buildings = _ids(audience.building_ids, "building_ids")
    residents = _ids(audience.resident_ids, "resident_ids")
    tags = _words(audience.care_tags, CARE_TAGS, "care_tags", "关爱标签")
    types = _words(audience.residence_types, RESIDENCE_TYPES, "residence_types", "户籍类型")
    query = (
        select(
            Resident.id,
            Resident.tenant_id,
            Resident.name,
            Resident.complex_id,
            Resident.building_id,
            Resident.household_id,
            Resident.care_tags,
            Resident.birth_date,
            Resident.phone_cipher.is_not(None).label("has_phone"),
            *([Resident.phone_cipher] if with_phones else []),
        )
        .where(Resident.moved_out_on.is_(None))
        .order_by(Resident.id)
        .execution_options(yield_per=STREAM_BATCH)
    )
    if complexes or buildings or residents:
        query = query.where(
            or_(
                Resident.complex_id.in_(complexes),
                Resident.building_id.in_(buildings),
                Resident.id.in_(residents),
            )
        )
    if tags:
        query = query.where(any_care_tag_condition(tags, today))
    if types:
        query = query.where(Resident.residence_type.in_(types))
    return query


def _in_place(row: Row[Any], today: date) -> ResidentInPlace:
    return ResidentInPlace(
        resident_id=row.id,
        name=row.name,
        complex_id=row.complex_id,
        building_id=row.building_id,
        household_id=row.household_id,
        care_tags=tuple(derived_care_tags(row.birth_date, today, row.care_tags)),
        has_phone=row.has_phone,
    )


def residents_in_places(
    session: Session, audience: Audience, today: date
) -> Iterator[ResidentInPlace]:
    """The audience's residents, without phones.

    Streamed from a server-side cursor in batches, in id order, so an audience of a whole
    street never sits in memory; the session must stay open while the caller iterates.
    """
    for row in session.execute(_audience_query(audience, today, with_phones=False)):
        yield _in_place(row, today)


def residents_with_phones(
    sessions: sessionmaker[Session],
    protection: Protection,
    audience: Audience,
    reveal: Reveal,
    today: date,
) -> Iterator[tuple[ResidentInPlace, str]]:
    """The audience's residents, each with the phone in clear ("" when none is on record), for
    delivering a notice.

    Every resident streamed gets an audit row with ``reveal``'s purpose, one statement per
    batch committed before the batch is handed out (as an unmasked export does). The next
    batch is read and audited while this one is handed out, so the stream does not stop at
    every batch for the database (a stream cut short has audited at most one batch more than
    it sent, never fewer).
    """
    cipher = protection.cipher
    query = _audience_query(audience, today, with_phones=True)
    with sessions() as session:
        batches = session.execute(query).partitions()
        for batch in _read_ahead(_audited(sessions, reveal, query, batches)):
            for row in batch:
                phone = (
                    cipher.decrypt(row.phone_cipher, tenant_id=row.tenant_id, field="phone")
                    if row.phone_cipher is not None
                    else ""
                )
                yield _in_place(row, today), phone


def _audited(
    sessions: sessionmaker[Session],
    reveal: Reveal,
    query: Select[Any],
    batches: Iterator[Sequence[Row[Any]]],
) -> Iterator[Sequence[Row[Any]]]:
    """Each batch once its audit rows (and, with the first, the log's entry) are committed."""
    for number, batch in enumerate(batches):
        announce = _audience_entry(query, reveal) if number == 0 else None
        audited = [(row.tenant_id, row.id) for row in batch]
        audit_reveals_now(sessions, reveal, audited, announce=announce)
        yield batch


def _audience_entry(query: Select[Any], reveal: Reveal) -> Callable[[Session], object]:
    """The audit log's entry of the phones read for a notice: how many residents, for what."""

    def record_audience(session: Session) -> object:
        residents = rows_of(session, query)
        return audit.record(
            session,
            "pii.revealed",
            target_kind="audience",
            summary=f"为发送通知读取 {residents} 位居民的手机号，用途：{reveal.reason}",
            summary_en=f"read the phones of {residents} residents to send a notice; "
            f"purpose: {reveal.reason}",
            detail={"residents": residents, "purpose": reveal.reason},
        )

    return record_audience


def _read_ahead(batches: Iterator[Sequence[Row[Any]]]) -> Iterator[Sequence[Row[Any]]]:
    """``batches`` with the next one prepared in a thread of its own while the caller works on
    the current one. The thread runs in the caller's context (tenant, request id), one step at
    a time, so the session behind ``batches`` is never used by two threads at once; when the
    caller stops early, the step under way is finished before the session closes."""
    with ThreadPoolExecutor(1, thread_name_prefix="census-read-ahead") as ahead:
        coming = ahead.submit(contextvars.copy_context().run, _next_batch, batches)
        while (batch := coming.result()) is not None:
            coming = ahead.submit(contextvars.copy_context().run, _next_batch, batches)
            yield batch


def _next_batch(batches: Iterator[Sequence[Row[Any]]]) -> Sequence[Row[Any]] | None:
    return next(batches, None)


def households_per_building(session: Session, building_ids: Sequence[str]) -> BuildingCounts:
    """Households (not removed) and current residents of each named building (none named:
    every standing building of the tenant), every building present with 0 where nobody lives."""
    wanted = _ids(building_ids, "building_ids")
    if not wanted:
        wanted = list(
            session.scalars(
                select(Building.id).where(Building.removed_at.is_(None)).order_by(Building.id)
            )
        )
    households = dict.fromkeys(wanted, 0)
    residents = dict.fromkeys(wanted, 0)
    if not wanted:
        return BuildingCounts(households, residents)
    for building_id, count in session.execute(
        select(Household.building_id, func.count())
        .where(Household.building_id.in_(wanted), Household.removed_at.is_(None))
        .group_by(Household.building_id)
    ):
        households[building_id] = int(count)
    for building_id, count in session.execute(
        select(Resident.building_id, func.count())
        .where(Resident.building_id.in_(wanted), Resident.moved_out_on.is_(None))
        .group_by(Resident.building_id)
    ):
        residents[building_id] = int(count)
    return BuildingCounts(households, residents)
