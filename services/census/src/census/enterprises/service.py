"""Enterprises and shops: registration (credit code checked, contact phone encrypted) and lists."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from census.contacts import contact_name, protect_contact_phone
from census.enterprises.models import Enterprise
from census.identity.codes import parse_credit_code
from census.people.service import Protection, tenant_ref
from census.places.service import (
    already_exists,
    event,
    flush_unique,
    get_complex,
    get_dwelling,
    required_text,
)
from census.vocabulary import ENTERPRISE_TYPES, EnterpriseType, parse_word
from shequ.census.v1 import events_pb2
from shequ_kit.errors import FieldViolation, invalid_input
from shequ_kit.outbox import publish
from shequ_kit.paging import Page
from shequ_kit.tenancy import TenantId

# The proto carries int32; anything near it is a typo (extra digits), not a workforce.
MAX_EMPLOYEES: Final = 1_000_000


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
    name = required_text(draft.name, "name", "企业名称", 100)
    credit_code = parse_credit_code(draft.credit_code)
    kind = parse_word(EnterpriseType, draft.type, field="type", label_zh="企业类型")
    dwelling = get_dwelling(session, draft.dwelling_id) if draft.dwelling_id.strip() else None
    address = draft.address.strip() or (dwelling.address if dwelling is not None else "")
    enterprise = Enterprise(
        name=name,
        credit_code=credit_code,
        type=kind.value,
        address=required_text(address, "address", "地址", 300),
        dwelling_id=dwelling.id if dwelling is not None else None,
        building_id=dwelling.building_id if dwelling is not None else None,
        complex_id=dwelling.complex_id if dwelling is not None else None,
        contact_name=contact_name(draft.contact_name),
        contact_phone_cipher=protect_contact_phone(protection, tenant, draft.contact_phone),
        employees=_employees(draft.employees),
        verified_on=today,
        verified_by=verifier,
    )
    session.add(enterprise)
    flush_unique(
        session,
        already_exists(
            "census.enterprise_exists",
            f"统一社会信用代码{credit_code}已登记",
            f"an enterprise with credit code {credit_code} is already registered",
            "credit_code",
        ),
    )
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
        .where(Enterprise.closed_on.is_(None))
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
