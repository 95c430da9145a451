"""Contact phones of enterprises and organisations are protected like residents' phones."""

import pytest

from census.contacts import contact_name, contact_phone_of, protect_contact_phone
from census.enterprises.models import Enterprise
from census.identity.pii import KeyRing, LookupHasher, PiiCipher, UndecryptableError
from census.people.service import Protection
from shequ_kit.errors import DomainError
from shequ_kit.tenancy import TenantId

CHAOWEN = TenantId("xiaoshan.shushan.chaowen")
PROTECTION = Protection(
    cipher=PiiCipher(KeyRing({"k1": bytes(32)}, current="k1")),
    hasher=LookupHasher(bytes([1]) * 32),
)


def test_a_contact_phone_is_normalised_then_encrypted_for_the_tenant() -> None:
    sealed = protect_contact_phone(PROTECTION, CHAOWEN, "+86 139-0000-1111")
    assert sealed is not None
    assert b"13900001111" not in sealed
    shop = Enterprise(tenant_id=CHAOWEN.value, contact_phone_cipher=sealed)
    assert contact_phone_of(PROTECTION, shop) == "13900001111"


def test_a_contact_phone_is_bound_to_its_field() -> None:
    sealed = protect_contact_phone(PROTECTION, CHAOWEN, "13900001111")
    assert sealed is not None
    with pytest.raises(UndecryptableError):
        PROTECTION.cipher.decrypt(sealed, tenant_id=CHAOWEN, field="phone")


def test_no_contact_phone_is_stored_as_none_and_read_as_empty() -> None:
    assert protect_contact_phone(PROTECTION, CHAOWEN, "  ") is None
    shop = Enterprise(tenant_id=CHAOWEN.value, contact_phone_cipher=None)
    assert contact_phone_of(PROTECTION, shop) == ""


def test_a_landline_is_refused_naming_contact_phone() -> None:
    with pytest.raises(DomainError) as failure:
        protect_contact_phone(PROTECTION, CHAOWEN, "0571-82345678")
    assert failure.value.field_violations[0].field == "contact_phone"


def test_a_contact_name_is_trimmed_and_bounded() -> None:
    assert contact_name("  沈经理 ") == "沈经理"
    with pytest.raises(DomainError):
        contact_name("名" * 51)
