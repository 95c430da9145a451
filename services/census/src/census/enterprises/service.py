"""Enterprises and shops: registration (credit code checked, contact phone encrypted), lists,
corrections and removal."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from census.contacts import contact_name, contact_phone_of, protect_contact_phone
from census.corrections import (
    check_version,
    checked_mask,
    mark_removed,
    mark_verified,
    removal_reason,
)
from census.enterprises.models import Enterprise
from census.identity.codes import parse_credit_code
from census.people.service import Protection
from census.places.models import Dwelling
from census.places.service import (
    already_exists,
    event,
    get_complex,
    get_dwelling,
    parse_uuid,
    required_text,
)
from census.statistics import refresh_buildings
from census.vocabulary import ENTERPRISE_TYPES, EnterpriseType, parse_word
from shequ.census.v1 import events_pb2
from shequ_kit.checks import flush_unique
from shequ_kit.errors import DomainError, FieldViolation, invalid_input, not_found
from shequ_kit.outbox import publish, tenant_ref
from shequ_kit.paging import Page
from shequ_kit.tenancy import TenantId

# The proto carries int32; anything near it is a typo (extra digits), not a workforce.
MAX_EMPLOYEES: Final = 1_000_000
# What an enterprise correction may change: everything staff write about it.
ENTERPRISE_UPDATABLE: Final = frozenset(
    {
        "name",
        "credit_code",
        "type",
        "address",
        "dwelling_id",
        "contact_name",
        "contact_phone",
        "employees",
        "verified_on",
    }
)


@dataclass(frozen=True)
class EnterpriseDraft:
    """What staff write about an enterprise; building and complex come from the dwelling."""

    name: str
    credit_code: str
    type: str
    address: str = ""
    dwelling_id: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    employees: int = 0


def enterprise_facts(enterprise: Enterprise) -> events_pb2.EnterpriseFacts:
    """What grid needs for a micro-grid's workload; no name, code or contact."""
    return events_pb2.EnterpriseFacts(
        enterprise_id=str(enterprise.id),
        building_id=str(enterprise.building_id or ""),
        complex_id=str(enterprise.complex_id or ""),
        type=ENTERPRISE_TYPES[enterprise.type],
        employees=enterprise.employees,
    )


def _employees(value: int) -> int:
    if not 0 <= value <= MAX_EMPLOYEES:
        raise invalid_input(
            "census.employees_invalid",
            f"从业人数应在0到{MAX_EMPLOYEES}之间",
            f"employees must be between 0 and {MAX_EMPLOYEES}",
            FieldViolation("employees", f"0 to {MAX_EMPLOYEES}"),
        )
    return value


def _validated_columns(
    session: Session, protection: Protection, tenant: TenantId, draft: EnterpriseDraft
) -> dict[str, Any]:
    """The enterprise's columns from ``draft``, or the first problem as a field-named error.
    Without an address, the dwelling's address is used."""
    name = required_text(draft.name, "name", "企业名称", 100)
    credit_code = parse_credit_code(draft.credit_code)
    kind = parse_word(EnterpriseType, draft.type, field="type", label_zh="企业类型")
    dwelling = get_dwelling(session, draft.dwelling_id) if draft.dwelling_id.strip() else None
    address = draft.address.strip() or (dwelling.address if dwelling is not None else "")
    return {
        "name": name,
        "credit_code": credit_code,
        "type": kind.value,
        "address": required_text(address, "address", "地址", 300),
        "dwelling_id": dwelling.id if dwelling is not None else None,
        "building_id": dwelling.building_id if dwelling is not None else None,
        "complex_id": dwelling.complex_id if dwelling is not None else None,
        "contact_name": contact_name(draft.contact_name),
        "contact_phone_cipher": protect_contact_phone(protection, tenant, draft.contact_phone),
        "employees": _employees(draft.employees),
    }


def _registered_twice(credit_code: str) -> DomainError:
    return already_exists(
        "census.enterprise_exists",
        f"统一社会信用代码{credit_code}已登记",
        f"an enterprise with credit code {credit_code} is already registered",
        "credit_code",
    )


def create_enterprise(
    session: Session,
    protection: Protection,
    tenant: TenantId,
    topic: str,
    draft: EnterpriseDraft,
    *,
    verifier: str,
    today: date,
) -> Enterprise:
    """Register an enterprise or shop; nothing is written unless every field is valid.

    A credit code already registered to an operating enterprise of the community is refused
    (ALREADY_EXISTS on ``credit_code``). Without an address, a dwelling's address is used.
    """
    enterprise = Enterprise(
        **_validated_columns(session, protection, tenant, draft),
        verified_on=today,
        verified_by=verifier,
    )
    session.add(enterprise)
    flush_unique(session, _registered_twice(enterprise.credit_code))
    if enterprise.building_id is not None:  # one outside any building is counted live
        refresh_buildings(session, [enterprise.building_id], today)
    publish(
        session,
        event(
            tenant,
            topic,
            enterprise.id,
            events_pb2.EnterpriseCreated(
                tenant=tenant_ref(tenant), enterprise=enterprise_facts(enterprise)
            ),
        ),
    )
    return enterprise


def list_enterprises(
    session: Session, page: Page, *, complex_id: str = "", enterprise_type: str = ""
) -> Sequence[Enterprise]:
    """Operating enterprises by name, optionally of one complex and of one type."""
    query = (
        select(Enterprise)
        .where(Enterprise.closed_on.is_(None), Enterprise.removed_at.is_(None))
        .order_by(Enterprise.name, Enterprise.id)
    )
    if complex_id:
        query = query.where(Enterprise.complex_id == get_complex(session, complex_id).id)
    if enterprise_type:
        kind = parse_word(EnterpriseType, enterprise_type, field="type", label_zh="企业类型")
        query = query.where(Enterprise.type == kind.value)
    if page.after:
        query = query.where(
            tuple_(Enterprise.name, Enterprise.id) > (page.after[0], uuid.UUID(page.after[1]))
        )
    return session.scalars(query.limit(page.size + 1)).all()


def get_enterprise(session: Session, enterprise_id: str, *, for_update: bool = False) -> Enterprise:
    """An enterprise record that was not removed (closed ones stay readable as history);
    ``for_update`` locks it for a correction or a removal."""
    query = select(Enterprise).where(
        Enterprise.id == parse_uuid(enterprise_id, "enterprise_id"),
        Enterprise.removed_at.is_(None),
    )
    enterprise = session.scalar(query.with_for_update() if for_update else query)
    if enterprise is None:
        raise not_found(
            "census.enterprise_not_found", "未找到该企业店铺", f"no enterprise {enterprise_id}"
        )
    return enterprise


def _draft_of(protection: Protection, enterprise: Enterprise) -> EnterpriseDraft:
    """The record as a draft, the contact phone decrypted (inside the service only)."""
    return EnterpriseDraft(
        name=enterprise.name,
        credit_code=enterprise.credit_code,
        type=enterprise.type,
        address=enterprise.address,
        dwelling_id=str(enterprise.dwelling_id or ""),
        contact_name=enterprise.contact_name,
        contact_phone=contact_phone_of(protection, enterprise),
        employees=enterprise.employees,
    )


def _follows_dwelling(session: Session, enterprise: Enterprise) -> bool:
    """Whether the address is still the one taken from its dwelling at registration."""
    if enterprise.dwelling_id is None:
        return False
    dwelling = session.get(Dwelling, enterprise.dwelling_id)
    return dwelling is not None and dwelling.address == enterprise.address


def update_enterprise(
    session: Session,
    protection: Protection,
    tenant: TenantId,
    topic: str,
    *,
    enterprise_id: str,
    changes: EnterpriseDraft,
    verified_on: date | None,
    paths: Collection[str],
    expected_version: int,
    verifier: str,
    today: date,
) -> Enterprise:
    """Correct the fields named in ``paths`` (a field mask), checked as at registration.

    Moved to another dwelling without a new address given: an address that was the old
    dwelling's becomes the new one's; an empty dwelling_id means not in any dwelling.
    """
    mask = checked_mask(paths, ENTERPRISE_UPDATABLE)
    enterprise = get_enterprise(session, enterprise_id, for_update=True)
    check_version(enterprise, expected_version)
    before = enterprise.building_id
    merged = dataclasses.replace(
        _draft_of(protection, enterprise),
        **{path: getattr(changes, path) for path in mask if path != "verified_on"},
    )
    if "dwelling_id" in mask and "address" not in mask and _follows_dwelling(session, enterprise):
        merged = dataclasses.replace(merged, address="")
    for column, value in _validated_columns(session, protection, tenant, merged).items():
        setattr(enterprise, column, value)
    mark_verified(enterprise, mask, verified_on, verifier=verifier, today=today)
    enterprise.version += 1
    flush_unique(session, _registered_twice(enterprise.credit_code))
    # Both buildings when it moved; one outside any building is counted live.
    moved = {before, enterprise.building_id} - {None}
    refresh_buildings(session, [building for building in moved if building is not None], today)
    publish(
        session,
        event(
            tenant,
            topic,
            enterprise.id,
            events_pb2.EnterpriseUpdated(
                tenant=tenant_ref(tenant), enterprise=enterprise_facts(enterprise)
            ),
        ),
    )
    return enterprise


def remove_enterprise(
    session: Session,
    tenant: TenantId,
    topic: str,
    *,
    enterprise_id: str,
    reason: str,
    expected_version: int,
    remover: str,
    today: date,
) -> Enterprise:
    """Remove an enterprise that closed, moved away or was registered by mistake; the row
    stays for the history, and its credit code may be registered again."""
    reason = removal_reason(reason)
    enterprise = get_enterprise(session, enterprise_id, for_update=True)
    check_version(enterprise, expected_version)
    mark_removed(enterprise, reason=reason, remover=remover)
    enterprise.version += 1
    if enterprise.building_id is not None:
        refresh_buildings(session, [enterprise.building_id], today)
    publish(
        session,
        event(
            tenant,
            topic,
            enterprise.id,
            events_pb2.EnterpriseRemoved(
                tenant=tenant_ref(tenant),
                enterprise_id=str(enterprise.id),
                building_id=str(enterprise.building_id or ""),
            ),
        ),
    )
    return enterprise
