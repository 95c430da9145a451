"""Households and residents: registration, filtered lists, audited reveals; corrections and
removal of households (a resident's later life is in ``lifecycle``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from sqlalchemy import Select, func, select, text, tuple_
from sqlalchemy.orm import Session, sessionmaker

from census import corrections
from census.corrections import (
    check_version,
    checked_mask,
    mark_removed,
    mark_verified,
    removal_reason,
    still_in_use,
)
from census.identity.codes import (
    age_band,
    age_on,
    parse_id_number,
    parse_mobile,
    years_before,
)
from census.identity.pii import LookupHasher, PiiCipher
from census.people.ages import care_tag_condition, derived_care_tags
from census.people.models import Household, PiiReveal, Resident
from census.places.service import already_exists, event, get_dwelling, parse_uuid, required_text
from census.statistics import forget_buildings, refresh_buildings
from census.vocabulary import (
    AGE_BANDS,
    CARE_TAGS,
    RESIDENCE_TYPES,
    SETTABLE_CARE_TAGS,
    TENURES,
    Relation,
    ResidenceType,
    Tenure,
    parse_word,
)
from shequ.census.v1 import events_pb2
from shequ_kit import audit
from shequ_kit.db import LIKE_ESCAPE, like_literal
from shequ_kit.errors import FieldViolation, invalid_input, not_found
from shequ_kit.outbox import publish, tenant_ref
from shequ_kit.paging import Page, sort_key
from shequ_kit.tenancy import TenantId
from shequ_kit.tokens import Principal

# Reveals and resident removal (lifecycle) give their reasons as every removal does.
MIN_REASON_LENGTH: Final = corrections.MIN_REASON_LENGTH
MAX_TAGS = 20
# What a household correction may change; moving house is registering a new household.
HOUSEHOLD_UPDATABLE: Final = frozenset({"tenure", "head_resident_id", "verified_on"})


@dataclass(frozen=True)
class Protection:
    """What a process needs to store and show personal data safely."""

    cipher: PiiCipher
    hasher: LookupHasher


@dataclass(frozen=True)
class ResidentDraft:
    household_id: str
    name: str
    id_number: str
    phone: str
    relation_to_head: str
    residence_type: str
    tenure: str
    moved_in_on: date | None = None
    care_tags: frozenset[str] = frozenset()
    tags: tuple[str, ...] = ()
    verified_on: date | None = None


@dataclass(frozen=True)
class ResidentFilter:
    complex_id: str = ""
    building_id: str = ""
    residence_type: str = ""
    care_tag: str = ""
    age_band: str = ""
    verified_before: date | None = None
    name_contains: str = ""
    id_number: str = ""
    include_moved_out: bool = False


def household_sizes(session: Session, household_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Current residents per household, for a page of households in one query."""
    if not household_ids:
        return {}
    rows = session.execute(
        select(Resident.household_id, func.count())
        .where(Resident.household_id.in_(household_ids), Resident.moved_out_on.is_(None))
        .group_by(Resident.household_id)
    )
    return {household: int(count) for household, count in rows}


def counts_in_building(session: Session, building_id: uuid.UUID) -> tuple[int, int]:
    households = session.scalar(
        select(func.count())
        .select_from(Household)
        .where(Household.building_id == building_id, Household.removed_at.is_(None))
    )
    residents = session.scalar(
        select(func.count())
        .select_from(Resident)
        .where(Resident.building_id == building_id, Resident.moved_out_on.is_(None))
    )
    return int(households or 0), int(residents or 0)


def household_facts(household: Household, size: int) -> events_pb2.HouseholdFacts:
    return events_pb2.HouseholdFacts(
        household_id=str(household.id),
        dwelling_id=str(household.dwelling_id),
        building_id=str(household.building_id),
        complex_id=str(household.complex_id),
        tenure=TENURES[household.tenure],
        size=size,
    )


def create_household(
    session: Session,
    tenant: TenantId,
    topic: str,
    *,
    dwelling_id: str,
    tenure: str,
    today: date | None = None,
) -> Household:
    """Register a household; its building's statistics are recounted on ``today`` (without a
    day, at the next statistics request)."""
    dwelling = get_dwelling(session, dwelling_id)
    household = Household(
        dwelling_id=dwelling.id,
        building_id=dwelling.building_id,
        complex_id=dwelling.complex_id,
        tenure=parse_word(Tenure, tenure, field="tenure", label_zh="是否租住").value,
    )
    session.add(household)
    session.flush()
    if today is None:
        forget_buildings(session, [household.building_id])
    else:
        refresh_buildings(session, [household.building_id], today)
    publish(
        session,
        event(
            tenant,
            topic,
            household.id,
            events_pb2.HouseholdCreated(
                tenant=tenant_ref(tenant), household=household_facts(household, 0)
            ),
        ),
    )
    return household


def get_household(session: Session, household_id: str, field: str = "household_id") -> Household:
    """A household (not removed) someone is registered or moved into.

    Its row stays locked until the transaction ends, as the write will update it (its head):
    a concurrent removal of the household waits and then counts the newcomer, or this write
    waits and finds the household gone.
    """
    household = session.scalar(
        select(Household)
        .where(Household.id == parse_uuid(household_id, field), Household.removed_at.is_(None))
        .with_for_update(key_share=True)
    )
    if household is None:
        raise invalid_input(
            "census.household_not_found",
            "该户不存在，请先登记户",
            f"no household {household_id}",
            FieldViolation(field, "no such household"),
        )
    return household


def list_households(session: Session, building_id: str, page: Page) -> Sequence[Household]:
    query = select(Household).where(Household.removed_at.is_(None)).order_by(Household.id)
    if building_id:
        query = query.where(Household.building_id == parse_uuid(building_id, "building_id"))
    if (after := sort_key(page, uuid.UUID)) is not None:
        query = query.where(Household.id > after[0])
    return session.scalars(query.limit(page.size + 1)).all()


def resident_facts(resident: Resident, today: date) -> events_pb2.ResidentFacts:
    return events_pb2.ResidentFacts(
        resident_id=str(resident.id),
        household_id=str(resident.household_id),
        building_id=str(resident.building_id),
        complex_id=str(resident.complex_id),
        residence_type=RESIDENCE_TYPES[resident.residence_type],
        tenure=TENURES[resident.tenure],
        age_band=AGE_BANDS[age_band(age_on(resident.birth_date, today)).key],
        care_tags=[
            CARE_TAGS[tag]
            for tag in derived_care_tags(resident.birth_date, today, resident.care_tags)
        ],
    )


def _clean_tags(draft: ResidentDraft) -> tuple[frozenset[str], list[str]]:
    unknown = draft.care_tags - SETTABLE_CARE_TAGS
    if unknown:
        raise invalid_input(
            "census.care_tags_invalid",
            "关爱标签取值不正确",
            f"care tags {sorted(unknown)} cannot be set by hand",
            FieldViolation("care_tags", ", ".join(sorted(SETTABLE_CARE_TAGS))),
        )
    tags = sorted({t.strip() for t in draft.tags if t.strip()})
    if len(tags) > MAX_TAGS or any(len(t) > 30 for t in tags):
        raise invalid_input(
            "census.tags_invalid",
            f"标签最多{MAX_TAGS}个，每个不超过30字",
            "at most 20 tags of 30 characters",
            FieldViolation("tags", "too many"),
        )
    return draft.care_tags, tags


def validated_columns(
    session: Session,
    protection: Protection,
    tenant: TenantId,
    draft: ResidentDraft,
    household: Household,
    *,
    today: date,
    resident_id: uuid.UUID | None = None,
) -> dict[str, object]:
    """The resident's columns from ``draft``, or the first problem as a field-named error.

    ``resident_id`` names the record being changed, so it is not its own duplicate or head.
    """
    identity = parse_id_number(draft.id_number, today=today)
    phone = parse_mobile(draft.phone) if draft.phone.strip() else None
    if draft.moved_in_on is not None and draft.moved_in_on > today:
        raise invalid_input(
            "census.moved_in_on_future",
            "入住日期不能晚于今天",
            "moved_in_on is in the future",
            FieldViolation("moved_in_on", "future"),
        )
    care_tags, tags = _clean_tags(draft)
    relation = parse_word(
        Relation, draft.relation_to_head, field="relation_to_head", label_zh="与户主关系"
    ).value
    if relation == "self" and household.head_resident_id not in (None, resident_id):
        raise invalid_input(
            "census.household_has_head",
            "该户已有户主",
            "the household already has a head",
            FieldViolation("relation_to_head", "the household has a head"),
        )
    id_number_hash = protection.hasher.hash_id_number(identity.number)
    duplicate = session.scalar(
        select(Resident.id).where(
            Resident.id_number_hash == id_number_hash,
            Resident.moved_out_on.is_(None),
            Resident.tenant_id == tenant.value,
        )
    )
    if duplicate is not None and duplicate != resident_id:
        raise already_exists(
            "census.duplicate_id_number",
            "该身份证号已在本社区登记",
            "a resident with this ID number is already registered",
            "id_number",
        )
    cipher = protection.cipher
    return {
        "name": required_text(draft.name, "name", "姓名", 50),
        "id_number_cipher": cipher.encrypt(identity.number, tenant_id=tenant, field="id_number"),
        "id_number_hash": id_number_hash,
        "phone_cipher": cipher.encrypt(phone, tenant_id=tenant, field="phone") if phone else None,
        "sex": identity.sex.value,
        "birth_date": identity.birth_date,
        "relation_to_head": relation,
        "residence_type": parse_word(
            ResidenceType, draft.residence_type, field="residence_type", label_zh="户籍类型"
        ).value,
        "tenure": parse_word(Tenure, draft.tenure, field="tenure", label_zh="是否租住").value,
        "moved_in_on": draft.moved_in_on,
        "care_tags": derived_care_tags(identity.birth_date, today, care_tags),
        "tags": tags,
    }


def create_resident(
    session: Session,
    protection: Protection,
    tenant: TenantId,
    topic: str,
    draft: ResidentDraft,
    *,
    verifier: str,
    today: date,
) -> Resident:
    """Register a resident; nothing is written unless every field is valid."""
    household = get_household(session, draft.household_id)
    resident = Resident(
        household_id=household.id,
        dwelling_id=household.dwelling_id,
        building_id=household.building_id,
        complex_id=household.complex_id,
        verified_on=draft.verified_on or today,
        verified_by=verifier,
        **validated_columns(session, protection, tenant, draft, household, today=today),
    )
    session.add(resident)
    session.flush()
    if resident.relation_to_head == "self":
        household.head_resident_id = resident.id
    refresh_buildings(session, [resident.building_id], today)
    publish(
        session,
        event(
            tenant,
            topic,
            resident.id,
            events_pb2.ResidentRegistered(
                tenant=tenant_ref(tenant), resident=resident_facts(resident, today)
            ),
        ),
    )
    return resident


def get_resident(session: Session, resident_id: str) -> Resident:
    resident = session.get(Resident, parse_uuid(resident_id, "resident_id"))
    if resident is None:
        raise not_found("census.resident_not_found", "未找到该居民", f"no resident {resident_id}")
    return resident


def _birth_dates_for(band_key: str, today: date) -> tuple[date, date | None]:
    """Birth dates (after, on or before) of people whose age on ``today`` is in the band."""
    low_text, _, high_text = band_key.rstrip("+").partition("-")
    latest = years_before(today, int(low_text))
    earliest = years_before(today, int(high_text) + 1) if high_text else None
    return latest, earliest


def _filtered(
    query: Select[Resident], protection: Protection, criteria: ResidentFilter, today: date
) -> Select[Resident]:
    if not criteria.include_moved_out:
        query = query.where(Resident.moved_out_on.is_(None))
    if criteria.complex_id:
        query = query.where(Resident.complex_id == parse_uuid(criteria.complex_id, "complex_id"))
    if criteria.building_id:
        query = query.where(Resident.building_id == parse_uuid(criteria.building_id, "building_id"))
    if criteria.residence_type:
        query = query.where(Resident.residence_type == criteria.residence_type)
    if criteria.care_tag:
        query = query.where(care_tag_condition(criteria.care_tag, today))
    if criteria.age_band:
        latest, earliest = _birth_dates_for(criteria.age_band, today)
        query = query.where(Resident.birth_date <= latest)
        if earliest is not None:
            query = query.where(Resident.birth_date > earliest)
    if criteria.verified_before is not None:
        query = query.where(
            (Resident.verified_on < criteria.verified_before) | Resident.verified_on.is_(None)
        )
    if criteria.name_contains:
        # LIKE metacharacters typed by a user are searched for literally.
        escaped = like_literal(criteria.name_contains)
        query = query.where(Resident.name.like(f"%{escaped}%", escape=LIKE_ESCAPE))
    if criteria.id_number:
        query = query.where(
            Resident.id_number_hash == protection.hasher.hash_id_number(criteria.id_number)
        )
    return query


def residents_matching(
    protection: Protection, criteria: ResidentFilter, today: date
) -> Select[Resident]:
    """The residents ``criteria`` selects, unordered: the list pages it, the export streams it."""
    return _filtered(select(Resident), protection, criteria, today)


def list_residents(
    session: Session, protection: Protection, criteria: ResidentFilter, page: Page, today: date
) -> Sequence[Resident]:
    query = residents_matching(protection, criteria, today).order_by(Resident.name, Resident.id)
    if (after := sort_key(page, str, uuid.UUID)) is not None:
        query = query.where(tuple_(Resident.name, Resident.id) > after)
    return session.scalars(query.limit(page.size + 1)).all()


def record_reveal(
    session: Session, principal: Principal, resident: Resident, reason: str, request_id: str | None
) -> None:
    """Write the trail row of an unmasked read and its entry in the audit log, in the caller's
    transaction; refused without a real reason."""
    cleaned = reveal_reason(reason, field="reason")
    session.add(
        PiiReveal(
            tenant_id=resident.tenant_id,
            resident_id=resident.id,
            actor_subject=principal.subject,
            actor_username=principal.username,
            reason=cleaned,
            request_id=request_id,
        )
    )
    audit.record(
        session,
        "pii.revealed",
        target_kind="resident",
        target_id=resident.id,
        summary=f"查看一位居民未脱敏的身份证号和手机号，理由：{cleaned}",
        summary_en=f"revealed a resident's unmasked ID number and phone; reason: {cleaned}",
        detail={"reason": cleaned},
        tenant=TenantId(resident.tenant_id),
    )


def reveal_reason(reason: str, *, field: str) -> str:
    """The reason an unmasked read is audited with, as stored; refused unless it says something."""
    cleaned = reason.strip()
    if len(cleaned) < MIN_REASON_LENGTH:
        raise invalid_input(
            "census.reveal_reason_required",
            "查看敏感信息须填写理由（至少4个字）",
            "a reason of at least 4 characters is required",
            FieldViolation(field, "at least 4 characters"),
        )
    return corrections.reason_within_limit(cleaned, field)


@dataclass(frozen=True)
class Reveal:
    """An unmasked read of many records (an export, the phones of a notice's audience): who
    asked, why (already checked with :func:`reveal_reason`), and the request to name."""

    principal: Principal
    reason: str
    request_id: str | None


def audit_reveals_now(
    sessions: sessionmaker[Session],
    reveal: Reveal,
    residents: Sequence[tuple[str, uuid.UUID]],
    *,
    announce: Callable[[Session], object] | None = None,
) -> None:
    """The audit rows of one batch of a streamed reveal, committed before the batch is sent;
    with the first batch, ``announce`` writes the stream's one entry in the audit log.

    Their own transaction: the audit must not wait for (or vanish with) the end of a stream
    that may take minutes or be broken off; a stream cut short may have audited a few records
    more than were sent, never fewer.
    """
    with sessions.begin() as session:
        if announce is not None:
            announce(session)
        record_reveals(session, reveal.principal, residents, reveal.reason, reveal.request_id)


def rows_of(session: Session, query: Select[Any]) -> int:
    """How many rows ``query`` selects (a streamed reveal's entry names its size)."""
    counted = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return int(counted or 0)


def record_reveals(
    session: Session,
    principal: Principal,
    residents: Sequence[tuple[str, uuid.UUID]],
    reason: str,
    request_id: str | None,
) -> None:
    """The audit rows of an unmasked export, one per (tenant, resident), in one statement.

    ``reason`` is already cleaned (:func:`reveal_reason`). Row-level security checks each
    row's tenant as for any insert.
    """
    if not residents:
        return
    session.execute(
        text(
            f"INSERT INTO {PiiReveal.__tablename__} "  # noqa: S608 - the name is the model's
            "(tenant_id, resident_id, actor_subject, actor_username, reason, request_id) "
            "SELECT tenant, resident, :subject, :username, :reason, :request_id "
            "FROM unnest(CAST(:tenants AS text[]), CAST(:residents AS uuid[])) "
            "AS audited(tenant, resident)"
        ),
        {
            "subject": principal.subject,
            "username": principal.username,
            "reason": reason,
            "request_id": request_id,
            "tenants": [tenant for tenant, _ in residents],
            "residents": [resident for _, resident in residents],
        },
    )


# ---- household corrections and removal ----


@dataclass(frozen=True)
class HouseholdChanges:
    """The values a household correction may set; only the fields named in its mask apply."""

    tenure: str = ""
    head_resident_id: str = ""
    verified_on: date | None = None


def household_to_change(session: Session, household_id: str) -> Household:
    """The household a correction or removal is about, locked against concurrent writers."""
    household = session.scalar(
        select(Household)
        .where(
            Household.id == parse_uuid(household_id, "household_id"),
            Household.removed_at.is_(None),
        )
        .with_for_update()
    )
    if household is None:
        raise not_found("census.household_not_found", "未找到该户", f"no household {household_id}")
    return household


def _current_members(session: Session, household: Household) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Resident)
            .where(Resident.household_id == household.id, Resident.moved_out_on.is_(None))
        )
        or 0
    )


def _change_head(session: Session, household: Household, head_resident_id: str) -> None:
    """A household has one head (关系“户主”): the new head's relation becomes "self", the
    former head's "other" (staff may refine it)."""
    field = "head_resident_id"
    head = (
        session.scalar(
            select(Resident).where(
                Resident.id == parse_uuid(head_resident_id, field),
                Resident.household_id == household.id,
                Resident.moved_out_on.is_(None),
            )
        )
        if head_resident_id.strip()
        else None
    )
    if head is None:
        raise invalid_input(
            "census.head_not_in_household",
            "户主须为本户的现住居民",
            "the head must be a current resident of this household",
            FieldViolation(field, "a current resident of this household"),
        )
    if head.id == household.head_resident_id:
        return
    if household.head_resident_id is not None:
        former = session.get(Resident, household.head_resident_id)
        if former is not None and former.relation_to_head == "self":
            former.relation_to_head = "other"
            former.version += 1
    if head.relation_to_head != "self":
        head.relation_to_head = "self"
        head.version += 1
    household.head_resident_id = head.id


def update_household(
    session: Session,
    tenant: TenantId,
    topic: str,
    *,
    household_id: str,
    changes: HouseholdChanges,
    paths: Collection[str],
    expected_version: int,
    verifier: str,
    today: date,
) -> tuple[Household, int]:
    """Correct tenure, head or verification date (a field mask); the household and its size."""
    mask = checked_mask(paths, HOUSEHOLD_UPDATABLE)
    household = household_to_change(session, household_id)
    check_version(household, expected_version)
    if "tenure" in mask:
        household.tenure = parse_word(
            Tenure, changes.tenure, field="tenure", label_zh="是否租住"
        ).value
    if "head_resident_id" in mask:
        _change_head(session, household, changes.head_resident_id)
    mark_verified(household, mask, changes.verified_on, verifier=verifier, today=today)
    household.version += 1
    refresh_buildings(session, [household.building_id], today)
    size = _current_members(session, household)
    publish(
        session,
        event(
            tenant,
            topic,
            household.id,
            events_pb2.HouseholdUpdated(
                tenant=tenant_ref(tenant), household=household_facts(household, size)
            ),
        ),
    )
    return household, size


def remove_household(
    session: Session,
    tenant: TenantId,
    topic: str,
    *,
    household_id: str,
    reason: str,
    expected_version: int,
    remover: str,
    today: date,
) -> Household:
    """Remove a household registered by mistake or dissolved; the row stays for the history
    (former members still name it). Refused while anyone currently lives in it."""
    reason = removal_reason(reason)
    household = household_to_change(session, household_id)
    check_version(household, expected_version)
    members = _current_members(session, household)
    if members:
        raise still_in_use(
            "census.household_in_use",
            f"该户还有{members}位现住居民，请先迁出或删除后再删除该户",
            f"the household still has {members} current residents; move or remove them first",
            residents=members,
        )
    mark_removed(household, reason=reason, remover=remover)
    household.head_resident_id = None
    household.version += 1
    refresh_buildings(session, [household.building_id], today)
    publish(
        session,
        event(
            tenant,
            topic,
            household.id,
            events_pb2.HouseholdRemoved(
                tenant=tenant_ref(tenant),
                household_id=str(household.id),
                building_id=str(household.building_id),
            ),
        ),
    )
    return household
