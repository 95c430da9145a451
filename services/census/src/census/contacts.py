"""The contact person of an enterprise or organisation: the name in clear, the phone protected
like a resident's (encrypted for the tenant and field, masked in answers).

A shopkeeper's or committee member's mobile number is personal information under PIPL just as
a resident's is, even when it is published on a shop sign.
"""

from __future__ import annotations

from typing import Final, Protocol

from census.identity.codes import parse_mobile
from census.people.service import Protection
from shequ_kit.errors import FieldViolation, invalid_input
from shequ_kit.tenancy import TenantId

CONTACT_PHONE_FIELD: Final = "contact_phone"
MAX_CONTACT_NAME: Final = 50


class HasContactPhone(Protocol):
    @property
    def tenant_id(self) -> str: ...
    @property
    def contact_phone_cipher(self) -> bytes | None: ...


def contact_name(value: str) -> str:
    """The contact's name, optional (a register may lack it), at most 50 characters."""
    cleaned = value.strip()
    if len(cleaned) > MAX_CONTACT_NAME:
        raise invalid_input(
            "census.contact_name_invalid",
            f"联系人姓名不超过{MAX_CONTACT_NAME}个字",
            f"contact_name must be at most {MAX_CONTACT_NAME} characters",
            FieldViolation("contact_name", f"at most {MAX_CONTACT_NAME} characters"),
        )
    return cleaned


def protect_contact_phone(protection: Protection, tenant: TenantId, raw: str) -> bytes | None:
    """The contact's mobile number validated and encrypted; None when none was given."""
    if not raw.strip():
        return None
    phone = parse_mobile(raw, CONTACT_PHONE_FIELD)
    return protection.cipher.encrypt(phone, tenant_id=tenant, field=CONTACT_PHONE_FIELD)


def contact_phone_of(protection: Protection, record: HasContactPhone) -> str:
    """The contact's phone in clear ('' if none), for the boundary to mask or reveal."""
    if record.contact_phone_cipher is None:
        return ""
    return protection.cipher.decrypt(
        record.contact_phone_cipher, tenant_id=record.tenant_id, field=CONTACT_PHONE_FIELD
    )
