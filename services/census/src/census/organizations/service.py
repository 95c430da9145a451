"""Organisations: registration with the complexes they serve, and lists."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from census.contacts import contact_name, protect_contact_phone
from census.organizations.models import Organization, ServedComplex
from census.people.service import Protection
from census.places.models import Complex
from census.places.service import already_exists, parse_uuid, required_text
from census.vocabulary import OrganisationKind, parse_word
from shequ_kit.checks import flush_unique
from shequ_kit.errors import FieldViolation, invalid_input
from shequ_kit.paging import Page
from shequ_kit.tenancy import TenantId


@dataclass(frozen=True)
class OrganizationDraft:
    kind: str
    name: str
    # The complexes it serves; none: the whole community (a party branch, a volunteer team).
    complex_ids: tuple[str, ...] = ()
    contact_name: str = ""
    contact_phone: str = ""


def _served_complexes(
    session: Session, tenant: TenantId, complex_ids: Sequence[str]
) -> list[uuid.UUID]:
    """The distinct complexes named, each one of this community, in a stable order."""
    wanted: dict[uuid.UUID, int] = {}  # complex → where it was first named
    for position, value in enumerate(complex_ids):
        wanted.setdefault(parse_uuid(value, f"complex_ids[{position}]"), position)
    found = set(
        session.scalars(
            # The street sees its communities' complexes; an organisation serves its own.
            select(Complex.id).where(Complex.id.in_(wanted), Complex.tenant_id == tenant.value)
        )
    )
    missing = sorted(position for complex_id, position in wanted.items() if complex_id not in found)
    if missing:
        raise invalid_input(
            "census.complex_not_found",
            "所选小区不存在或不属于本社区",
            "no such complex in this community",
            *(FieldViolation(f"complex_ids[{p}]", "no such complex") for p in missing),
        )
    return sorted(wanted)


def create_organization(
    session: Session,
    protection: Protection,
    tenant: TenantId,
    draft: OrganizationDraft,
    *,
    verifier: str,
    today: date,
) -> Organization:
    """Register an organisation; nothing is written unless every field is valid.

    Names are unique in a community (ALREADY_EXISTS on ``name``): two "晴庐业委会" would leave
    staff guessing which one a meeting notice went to.
    """
    kind = parse_word(OrganisationKind, draft.kind, field="kind", label_zh="组织类型")
    name = required_text(draft.name, "name", "组织名称", 100)
    organization = Organization(
        kind=kind.value,
        name=name,
        served=[
            ServedComplex(complex_id=complex_id)
            for complex_id in _served_complexes(session, tenant, draft.complex_ids)
        ],
        contact_name=contact_name(draft.contact_name),
        contact_phone_cipher=protect_contact_phone(protection, tenant, draft.contact_phone),
        verified_on=today,
        verified_by=verifier,
    )
    session.add(organization)
    flush_unique(
        session,
        already_exists(
            "census.organization_exists",
            f"组织“{name}”已存在",
            f"organisation {name!r} exists",
            "name",
        ),
    )
    return organization


def list_organizations(session: Session, page: Page, *, kind: str = "") -> Sequence[Organization]:
    """Organisations by name, optionally of one kind, with the complexes they serve."""
    query = select(Organization).order_by(Organization.name, Organization.id)
    if kind:
        wanted = parse_word(OrganisationKind, kind, field="kind", label_zh="组织类型")
        query = query.where(Organization.kind == wanted.value)
    if page.after:
        query = query.where(
            tuple_(Organization.name, Organization.id) > (page.after[0], uuid.UUID(page.after[1]))
        )
    return session.scalars(query.limit(page.size + 1)).all()
