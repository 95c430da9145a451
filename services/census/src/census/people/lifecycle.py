"""A resident's life in the census after registration: corrections, moves, leaving.

Every change checks the version the caller read (no lost updates between two staff members),
keeps the record's history (a move closes one stay and opens another for the same person), and
publishes its fact in the same transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from datetime import date

from sqlalchemy.orm import Session

from census.corrections import check_version, reason_within_limit
from census.people.models import Household, Resident
from census.people.service import (
    MIN_REASON_LENGTH,
    Protection,
    ResidentDraft,
    get_household,
    get_resident,
    resident_facts,
    validated_columns,
)
from census.places.service import event
from census.statistics import refresh_buildings
from shequ.census.v1 import events_pb2
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, invalid_input
from shequ_kit.outbox import publish, tenant_ref
from shequ_kit.tenancy import TenantId

# What a correction may change; moving to another household is a move, not a correction.
UPDATABLE = frozenset(
    {
        "name",
        "id_number",
        "phone",
        "relation_to_head",
        "residence_type",
        "tenure",
        "moved_in_on",
        "care_tags",
        "tags",
        "verified_on",
    }
)


def _current(resident: Resident) -> None:
    if resident.moved_out_on is not None:
        raise DomainError(
            "census.resident_moved_out",
            "该居民已迁出，不能再修改",
            f"the resident moved out on {resident.moved_out_on}",
            ErrorKind.CONFLICT,
        )


def _draft_of(resident: Resident, protection: Protection) -> ResidentDraft:
    """The record as a draft, personal data decrypted (inside the service only)."""
    cipher = protection.cipher
    return ResidentDraft(
        household_id=str(resident.household_id),
        name=resident.name,
        id_number=cipher.decrypt(
            resident.id_number_cipher, tenant_id=resident.tenant_id, field="id_number"
        ),
        phone=(
            cipher.decrypt(resident.phone_cipher, tenant_id=resident.tenant_id, field="phone")
            if resident.phone_cipher
            else ""
        ),
        relation_to_head=resident.relation_to_head,
        residence_type=resident.residence_type,
        tenure=resident.tenure,
        moved_in_on=resident.moved_in_on,
        care_tags=frozenset(resident.care_tags) - {"elderly", "child"},
        tags=tuple(resident.tags),
        verified_on=resident.verified_on,
    )


def update_resident(
    session: Session,
    protection: Protection,
    tenant: TenantId,
    topic: str,
    *,
    resident_id: str,
    changes: ResidentDraft,
    paths: Collection[str],
    expected_version: int,
    verifier: str,
    today: date,
) -> Resident:
    """Correct the fields named in ``paths`` (a field mask); the rest stay as they are."""
    unknown = set(paths) - UPDATABLE
    if not paths or unknown:
        raise invalid_input(
            "census.update_mask_invalid",
            "请指明要修改的字段；换户请用迁移",
            f"update_mask must name fields among {sorted(UPDATABLE)}",
            FieldViolation("update_mask", ", ".join(sorted(unknown)) or "empty"),
        )
    resident = get_resident(session, resident_id)
    _current(resident)
    check_version(resident, expected_version)
    merged = dataclasses.replace(
        _draft_of(resident, protection), **{path: getattr(changes, path) for path in paths}
    )
    household = session.get(Household, resident.household_id)
    assert household is not None
    columns = validated_columns(
        session, protection, tenant, merged, household, today=today, resident_id=resident.id
    )
    for column, value in columns.items():
        setattr(resident, column, value)
    if resident.relation_to_head == "self":
        household.head_resident_id = resident.id
    elif household.head_resident_id == resident.id:
        household.head_resident_id = None
    resident.verified_on = merged.verified_on if "verified_on" in paths else today
    resident.verified_by = verifier
    resident.version += 1
    refresh_buildings(session, [resident.building_id], today)
    publish(
        session,
        event(
            tenant,
            topic,
            resident.id,
            events_pb2.ResidentUpdated(
                tenant=tenant_ref(tenant), resident=resident_facts(resident, today)
            ),
        ),
    )
    return resident


def _leave_household(session: Session, resident: Resident) -> Household:
    household = session.get(Household, resident.household_id)
    assert household is not None
    if household.head_resident_id == resident.id:
        household.head_resident_id = None
    return household


def _moved_on(given: date | None, resident: Resident, today: date) -> date:
    moved_on = given or today
    if moved_on > today or (resident.moved_in_on and moved_on < resident.moved_in_on):
        raise invalid_input(
            "census.moved_on_invalid",
            "迁移日期应在入住日期之后、今天之前",
            "moved_on must lie between the move-in date and today",
            FieldViolation("moved_on", "between moved_in_on and today"),
        )
    return moved_on


def move_within_community(
    session: Session,
    tenant: TenantId,
    topic: str,
    resident_id: str,
    to_household_id: str,
    *,
    moved_on: date | None,
    expected_version: int,
    today: date,
) -> Resident:
    """The same stay continues in another household of this community."""
    resident = get_resident(session, resident_id)
    _current(resident)
    check_version(resident, expected_version)
    target = get_household(session, to_household_id, "to_household_id")
    if target.id == resident.household_id:
        raise invalid_input(
            "census.move_to_same_household",
            "已在该户",
            "already in that household",
            FieldViolation("to_household_id", "the current household"),
        )
    _moved_on(moved_on, resident, today)
    source = _leave_household(session, resident)
    resident.household_id, resident.dwelling_id = target.id, target.dwelling_id
    resident.building_id, resident.complex_id = target.building_id, target.complex_id
    if resident.relation_to_head == "self":
        resident.relation_to_head = "other"  # a household has one head; staff may correct
    resident.version += 1
    refresh_buildings(session, [source.building_id, target.building_id], today)
    publish(
        session,
        event(
            tenant,
            topic,
            resident.id,
            events_pb2.ResidentMoved(
                tenant=tenant_ref(tenant),
                resident=resident_facts(resident, today),
                from_tenant=tenant_ref(tenant),
                from_household_id=str(source.id),
                from_building_id=str(source.building_id),
                from_resident_id=str(resident.id),
            ),
        ),
    )
    return resident


def transfer_within_street(
    session: Session,
    protection: Protection,
    topic: str,
    *,
    source: TenantId,
    target: TenantId,
    resident_id: str,
    to_household_id: str,
    moved_on: date | None,
    expected_version: int,
    verifier: str,
    today: date,
) -> Resident:
    """Close the stay in ``source`` and open one in ``target`` for the same person.

    Runs in the street's scope (both communities visible). Personal data never leaves the
    service: it is decrypted and re-encrypted for the target community here.
    """
    resident = get_resident(session, resident_id)
    if resident.tenant_id != source.value:
        raise invalid_input(
            "census.resident_not_found",
            "未找到该居民",
            "no such resident here",
            FieldViolation("resident_id", "not in this community"),
        )
    _current(resident)
    check_version(resident, expected_version)
    target_household = get_household(session, to_household_id, "to_household_id")
    if target_household.tenant_id != target.value:
        raise invalid_input(
            "census.household_not_found",
            "目标社区没有该户",
            f"no household {to_household_id} in {target}",
            FieldViolation("to_household_id", f"not in {target}"),
        )
    day = _moved_on(moved_on, resident, today)
    draft = dataclasses.replace(
        _draft_of(resident, protection),
        household_id=str(target_household.id),
        relation_to_head="other" if target_household.head_resident_id else "self",
        moved_in_on=day,
        verified_on=today,
    )
    columns = validated_columns(session, protection, target, draft, target_household, today=today)
    arrival = Resident(
        tenant_id=target.value,
        person_id=resident.person_id,
        household_id=target_household.id,
        dwelling_id=target_household.dwelling_id,
        building_id=target_household.building_id,
        complex_id=target_household.complex_id,
        verified_on=today,
        verified_by=verifier,
        **columns,
    )
    source_household = _leave_household(session, resident)
    resident.moved_out_on, resident.left_reason = day, f"迁往 {target}"
    resident.version += 1
    session.add(arrival)
    session.flush()
    if arrival.relation_to_head == "self":
        target_household.head_resident_id = arrival.id
    # In the street's scope: both communities' rows are visible and writable here.
    refresh_buildings(session, [resident.building_id, arrival.building_id], today)
    publish(
        session,
        event(
            target,
            topic,
            arrival.id,
            events_pb2.ResidentMoved(
                tenant=tenant_ref(target),
                resident=resident_facts(arrival, today),
                from_tenant=tenant_ref(source),
                from_household_id=str(source_household.id),
                from_building_id=str(source_household.building_id),
                # The closed record: projections of the source community drop it.
                from_resident_id=str(resident.id),
            ),
        ),
    )
    return arrival


def close_stay(
    session: Session,
    tenant: TenantId,
    topic: str,
    resident_id: str,
    *,
    reason: str,
    moved_away: bool,
    moved_on: date | None,
    expected_version: int,
    today: date,
) -> Resident:
    """Moved away from the platform's communities, or a record removed (with its reason).
    The row stays, closed, for the history and the audit."""
    if len(reason.strip()) < MIN_REASON_LENGTH and not moved_away:
        raise invalid_input(
            "census.remove_reason_required",
            "删除记录须填写理由（至少4个字）",
            "a reason of at least 4 characters is required",
            FieldViolation("reason", "at least 4 characters"),
        )
    resident = get_resident(session, resident_id)
    _current(resident)
    check_version(resident, expected_version)
    source = _leave_household(session, resident)
    resident.moved_out_on = _moved_on(moved_on, resident, today)
    resident.left_reason = reason_within_limit(reason.strip(), "reason") or "迁出"
    resident.version += 1
    refresh_buildings(session, [resident.building_id], today)
    publish(
        session,
        event(
            tenant,
            topic,
            resident.id,
            events_pb2.ResidentRemoved(
                tenant=tenant_ref(tenant),
                resident_id=str(resident.id),
                household_id=str(source.id),
                building_id=str(source.building_id),
                moved_away=moved_away,
            ),
        ),
    )
    return resident
