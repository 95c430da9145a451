import base64
import hashlib
import hmac

import pytest

from census.identity.pii import (
    KeyRing,
    KeySettingError,
    LookupHasher,
    PiiCipher,
    PiiProtectionError,
    UndecryptableError,
    UnknownKeyError,
    key_id_of,
    mask_id_number,
    mask_phone,
)
from shequ_kit.errors import DomainError
from shequ_kit.tenancy import InvalidTenantIdError, TenantId

HUSHAN = "xiaoshan.shushan.hushan"
XIANGYUAN = "xiaoshan.shushan.xiangyuan"
ID_NUMBER = "330109199001011239"


def a_key(seed: int) -> bytes:
    return bytes([seed]) * 32


def a_setting(*key_ids: str) -> str:
    """A key-ring setting with deterministic keys; ``k<n>`` gets key byte n."""
    return ",".join(
        f"{key_id}:{base64.b64encode(a_key(int(key_id[1:]))).decode()}" for key_id in key_ids
    )


def a_cipher(*key_ids: str) -> PiiCipher:
    return PiiCipher(KeyRing.from_setting(a_setting(*key_ids)))


# --- Key ring settings -----------------------------------------------------------------------


def test_first_key_of_the_setting_is_current() -> None:
    keys = KeyRing.from_setting(a_setting("k2", "k1"))
    assert keys.current_key_id == "k2"
    assert keys.key_ids == ("k2", "k1")


def test_setting_tolerates_spaces_around_entries() -> None:
    spaced = " k2 : " + a_setting("k2")[3:] + " ,\n k1:" + a_setting("k1")[3:] + "\n"
    assert KeyRing.from_setting(spaced).key_ids == ("k2", "k1")


def test_generated_setting_loads_with_its_key_current() -> None:
    setting = KeyRing.generate_setting("k7")
    assert KeyRing.from_setting(setting).key_ids == ("k7",)
    assert setting != KeyRing.generate_setting("k7")  # random each time


def test_rotated_setting_puts_the_new_key_first_and_keeps_the_old_ones() -> None:
    rotated = KeyRing.generate_setting("k3", existing=a_setting("k2", "k1"))
    assert KeyRing.from_setting(rotated).key_ids == ("k3", "k2", "k1")


def test_rotating_to_a_key_id_already_in_use_is_refused() -> None:
    with pytest.raises(KeySettingError, match="'k1' is already in the key ring"):
        KeyRing.generate_setting("k1", existing=a_setting("k2", "k1"))


SIXTEEN_BYTES = base64.b64encode(bytes(16)).decode()
GOOD = base64.b64encode(a_key(1)).decode()


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("", "no PII keys configured"),
        ("   ", "no PII keys configured"),
        (GOOD, "entry 1 is not '<key id>:<base64 key>'"),
        (f"k1:{GOOD},", r"entry 2 is not .* \(empty entry: stray comma\?\)"),
        (f"k1:{GOOD},k1:{GOOD}", "'k1' appears twice"),
        (f":{GOOD}", "entry 1: a key id is 1 to 16"),
        (f"key one:{GOOD}", "entry 1: a key id is 1 to 16"),
        (f"k{'1' * 20}:{GOOD}", "entry 1: a key id is 1 to 16"),
        ("k1:", "'k1' is 0 bytes; it must be 32"),
        ("k1:not base64!", "'k1' is not valid base64"),
        (f"k1:{SIXTEEN_BYTES}", "'k1' is 16 bytes; it must be 32"),
    ],
)
def test_malformed_key_setting_is_refused_with_a_clear_error(setting: str, complaint: str) -> None:
    with pytest.raises(KeySettingError, match=complaint):
        KeyRing.from_setting(setting)


def test_key_setting_errors_never_contain_key_material() -> None:
    for setting in [GOOD, f"k1:{SIXTEEN_BYTES}", f"k1:{GOOD[:-2]}", f"bad id:{GOOD}"]:
        with pytest.raises(KeySettingError) as caught:
            KeyRing.from_setting(setting)
        assert GOOD[:12] not in str(caught.value)
        assert SIXTEEN_BYTES[:12] not in str(caught.value)


def test_key_ring_repr_shows_ids_but_not_keys() -> None:
    keys = KeyRing.from_setting(a_setting("k2", "k1"))
    assert repr(keys) == "KeyRing(key_ids=('k2', 'k1'))"


def test_key_ring_refuses_keys_of_the_wrong_length_and_a_missing_current_key() -> None:
    with pytest.raises(KeySettingError, match="AES-256 needs 32"):
        KeyRing({"k1": bytes(31)}, current="k1")
    with pytest.raises(KeySettingError, match="current key 'k9' is not in the key ring"):
        KeyRing({"k1": a_key(1)}, current="k9")


# --- Encryption ------------------------------------------------------------------------------


@pytest.mark.parametrize("plaintext", [ID_NUMBER, "13812345678", "张三 · 湖山社区", ""])
def test_encrypted_value_decrypts_to_the_original(plaintext: str) -> None:
    cipher = a_cipher("k1")
    blob = cipher.encrypt(plaintext, tenant_id=HUSHAN, field="id_number")
    assert cipher.decrypt(blob, tenant_id=HUSHAN, field="id_number") == plaintext


def test_ciphertext_layout_is_version_key_id_nonce_then_sealed_text() -> None:
    blob = a_cipher("k12").encrypt(ID_NUMBER, tenant_id=HUSHAN, field="id_number")
    assert blob[:5] == b"\x01\x03k12"
    assert len(blob) == 1 + 1 + 3 + 12 + len(ID_NUMBER) + 16
    assert key_id_of(blob) == "k12"
    assert ID_NUMBER.encode() not in blob


def test_same_value_encrypts_differently_each_time() -> None:
    cipher = a_cipher("k1")
    first = cipher.encrypt(ID_NUMBER, tenant_id=HUSHAN, field="id_number")
    second = cipher.encrypt(ID_NUMBER, tenant_id=HUSHAN, field="id_number")
    assert first != second


def test_tenant_may_be_given_as_a_tenant_id() -> None:
    cipher = a_cipher("k1")
    blob = cipher.encrypt(ID_NUMBER, tenant_id=TenantId(HUSHAN), field="id_number")
    assert cipher.decrypt(blob, tenant_id=HUSHAN, field="id_number") == ID_NUMBER


def test_ciphertext_copied_to_another_tenant_fails_to_decrypt() -> None:
    cipher = a_cipher("k1")
    blob = cipher.encrypt(ID_NUMBER, tenant_id=HUSHAN, field="id_number")
    with pytest.raises(UndecryptableError, match="copied from another tenant or field") as caught:
        cipher.decrypt(blob, tenant_id=XIANGYUAN, field="id_number")
    assert ID_NUMBER not in str(caught.value)


def test_ciphertext_copied_to_another_field_fails_to_decrypt() -> None:
    cipher = a_cipher("k1")
    blob = cipher.encrypt("13812345678", tenant_id=HUSHAN, field="phone")
    with pytest.raises(UndecryptableError):
        cipher.decrypt(blob, tenant_id=HUSHAN, field="contact_phone")


def test_ciphertext_for_a_street_does_not_decrypt_for_its_community() -> None:
    cipher = a_cipher("k1")
    blob = cipher.encrypt(ID_NUMBER, tenant_id="xiaoshan.shushan", field="id_number")
    with pytest.raises(UndecryptableError):
        cipher.decrypt(blob, tenant_id=HUSHAN, field="id_number")


def test_every_flipped_byte_is_detected() -> None:
    cipher = a_cipher("k1")
    blob = cipher.encrypt(ID_NUMBER, tenant_id=HUSHAN, field="id_number")
    for position in range(len(blob)):
        for bit in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[position] ^= bit
            with pytest.raises(PiiProtectionError):
                cipher.decrypt(bytes(tampered), tenant_id=HUSHAN, field="id_number")


def test_flipped_byte_in_the_sealed_text_is_reported_as_undecryptable() -> None:
    cipher = a_cipher("k1")
    tampered = bytearray(cipher.encrypt(ID_NUMBER, tenant_id=HUSHAN, field="id_number"))
    tampered[20] ^= 0x01
    with pytest.raises(UndecryptableError, match="altered"):
        cipher.decrypt(bytes(tampered), tenant_id=HUSHAN, field="id_number")


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x02\x02k1" + bytes(40), b"\x01\x00" + bytes(40)])
def test_malformed_ciphertext_is_undecryptable(blob: bytes) -> None:
    with pytest.raises(UndecryptableError):
        a_cipher("k1").decrypt(blob, tenant_id=HUSHAN, field="id_number")


def test_truncated_ciphertext_is_undecryptable() -> None:
    cipher = a_cipher("k1")
    blob = cipher.encrypt(ID_NUMBER, tenant_id=HUSHAN, field="id_number")
    for length in range(len(blob)):
        with pytest.raises(UndecryptableError):
            cipher.decrypt(blob[:length], tenant_id=HUSHAN, field="id_number")


def test_ciphertext_naming_an_unknown_key_fails_with_a_clear_error() -> None:
    blob = a_cipher("k3").encrypt(ID_NUMBER, tenant_id=HUSHAN, field="id_number")
    with pytest.raises(UnknownKeyError) as caught:
        a_cipher("k2", "k1").decrypt(blob, tenant_id=HUSHAN, field="id_number")
    message = str(caught.value)
    assert "'k3', which is not in the key ring (k2, k1)" in message
    assert "retired key removed" in message


def test_key_replaced_under_the_same_id_fails_to_decrypt() -> None:
    blob = a_cipher("k1").encrypt(ID_NUMBER, tenant_id=HUSHAN, field="id_number")
    other_k1 = PiiCipher(KeyRing({"k1": a_key(99)}, current="k1"))
    with pytest.raises(UndecryptableError):
        other_k1.decrypt(blob, tenant_id=HUSHAN, field="id_number")


def test_malformed_tenant_or_field_is_a_programming_error() -> None:
    cipher = a_cipher("k1")
    with pytest.raises(InvalidTenantIdError):
        cipher.encrypt(ID_NUMBER, tenant_id="Hushan|x", field="id_number")
    with pytest.raises(ValueError, match="field name"):
        cipher.encrypt(ID_NUMBER, tenant_id=HUSHAN, field="id|number")


# --- Key rotation ----------------------------------------------------------------------------


def test_old_key_still_decrypts_after_rotation() -> None:
    old = a_cipher("k1").encrypt(ID_NUMBER, tenant_id=HUSHAN, field="id_number")
    rotated = a_cipher("k2", "k1")
    assert rotated.decrypt(old, tenant_id=HUSHAN, field="id_number") == ID_NUMBER


def test_value_under_an_old_key_needs_rotation_and_one_under_the_current_key_does_not() -> None:
    old = a_cipher("k1").encrypt(ID_NUMBER, tenant_id=HUSHAN, field="id_number")
    rotated = a_cipher("k2", "k1")
    assert rotated.needs_rotation(old)
    assert not rotated.needs_rotation(
        rotated.encrypt(ID_NUMBER, tenant_id=HUSHAN, field="id_number")
    )


def test_new_writes_use_the_current_key() -> None:
    blob = a_cipher("k2", "k1").encrypt(ID_NUMBER, tenant_id=HUSHAN, field="id_number")
    assert key_id_of(blob) == "k2"


def test_reencrypt_moves_a_value_to_the_current_key() -> None:
    old = a_cipher("k1").encrypt(ID_NUMBER, tenant_id=HUSHAN, field="id_number")
    rotated = a_cipher("k2", "k1")
    renewed = rotated.reencrypt(old, tenant_id=HUSHAN, field="id_number")
    assert key_id_of(renewed) == "k2"
    assert not rotated.needs_rotation(renewed)
    assert a_cipher("k2").decrypt(renewed, tenant_id=HUSHAN, field="id_number") == ID_NUMBER


def test_reencrypt_leaves_a_value_under_the_current_key_unchanged() -> None:
    cipher = a_cipher("k2", "k1")
    blob = cipher.encrypt(ID_NUMBER, tenant_id=HUSHAN, field="id_number")
    assert cipher.reencrypt(blob, tenant_id=HUSHAN, field="id_number") is blob


def test_reencrypt_refuses_a_value_from_another_tenant() -> None:
    old = a_cipher("k1").encrypt(ID_NUMBER, tenant_id=HUSHAN, field="id_number")
    with pytest.raises(UndecryptableError):
        a_cipher("k2", "k1").reencrypt(old, tenant_id=XIANGYUAN, field="id_number")


# --- Lookup hashes ---------------------------------------------------------------------------


def a_hasher(seed: int = 7) -> LookupHasher:
    return LookupHasher(a_key(seed))


def test_equal_normalised_id_numbers_hash_equally() -> None:
    hasher = a_hasher()
    canonical = hasher.hash_id_number("11010519491231002X")
    assert hasher.hash_id_number("11010519491231002x") == canonical
    assert hasher.hash_id_number(" 110105 19491231 002X ") == canonical
    assert hasher.hash_id_number("１１０１０５１９４９１２３１００２Ｘ") == canonical


def test_equal_normalised_phones_hash_equally() -> None:
    hasher = a_hasher()
    assert hasher.hash_phone("+86 138-1234-5678") == hasher.hash_phone("13812345678")


def test_different_values_hash_differently() -> None:
    hasher = a_hasher()
    assert hasher.hash_id_number(ID_NUMBER) != hasher.hash_id_number("11010519491231002X")
    assert hasher.hash_phone("13812345678") != hasher.hash_phone("13812345679")


def test_different_lookup_keys_give_different_hashes() -> None:
    assert a_hasher(1).hash_id_number(ID_NUMBER) != a_hasher(2).hash_id_number(ID_NUMBER)
    assert a_hasher(1).hash_phone("13812345678") != a_hasher(2).hash_phone("13812345678")


def test_lookup_hash_construction_is_stable() -> None:
    # Stored hashes are compared with new ones for years: the construction must never drift.
    key = a_key(7)
    assert a_hasher(7).hash_id_number(ID_NUMBER) == (
        hmac.new(key, b"id_number|330109199001011239", hashlib.sha256).digest()
    )
    assert a_hasher(7).hash_phone("13812345678") == (
        hmac.new(key, b"phone|13812345678", hashlib.sha256).digest()
    )


def test_hashing_a_malformed_value_is_refused_naming_the_field() -> None:
    hasher = a_hasher()
    with pytest.raises(DomainError) as caught:
        hasher.hash_id_number("330109199001011230", field="query")
    assert caught.value.code == "census.id_number_checksum"
    assert caught.value.field_violations[0].field == "query"
    with pytest.raises(DomainError) as caught:
        hasher.hash_phone("0571-86012345")
    assert caught.value.code == "census.phone_format"


def test_generated_lookup_key_setting_loads() -> None:
    setting = LookupHasher.generate_setting()
    assert len(base64.b64decode(setting)) == 32
    assert LookupHasher.from_setting(setting).hash_phone("13812345678")


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("", "no PII lookup key configured"),
        ("not base64!", "not valid base64"),
        (SIXTEEN_BYTES, "16 bytes; it must be 32"),
        (f"k1:{GOOD}", "not valid base64"),
    ],
)
def test_malformed_lookup_key_setting_is_refused(setting: str, complaint: str) -> None:
    with pytest.raises(KeySettingError, match=complaint):
        LookupHasher.from_setting(setting)


def test_lookup_hasher_repr_hides_the_key() -> None:
    assert repr(a_hasher()) == "LookupHasher(key=<hidden>)"


# --- Masking ---------------------------------------------------------------------------------


def test_id_number_is_masked_keeping_the_first_6_and_last_2() -> None:
    assert mask_id_number("330109199001011239") == "330109**********39"
    assert mask_id_number("11010519491231002x") == "110105**********2X"


def test_phone_is_masked_keeping_the_first_3_and_last_4() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+86 138 1234 5678") == "138****5678"


def test_masking_hides_the_birth_date() -> None:
    assert "19900101" not in mask_id_number("330109199001011239")


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("33010919900101123", "3301***********23"),  # 17 characters: a quarter at each end
        ("3301091990010112391", "3301*************91"),
        ("abc", "***"),
        ("", ""),
    ],
)
def test_malformed_id_numbers_are_masked_conservatively(value: str, masked: str) -> None:
    assert mask_id_number(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("0571-86012345", "057*******345"),  # a landline
        ("1381234567", "13******67"),
        ("abc", "***"),
        ("", ""),
    ],
)
def test_malformed_phones_are_masked_conservatively(value: str, masked: str) -> None:
    assert mask_phone(value) == masked


def test_masking_never_shows_more_of_a_malformed_value_than_it_hides() -> None:
    for length in range(40):
        for value in ["7" * length, "".join(str(i % 10) for i in range(length))]:
            for mask in (mask_id_number, mask_phone):
                masked = mask(value)
                shown = sum(character != "*" for character in masked)
                assert len(masked) == length
                assert shown <= length - shown, (mask.__name__, value, masked)
