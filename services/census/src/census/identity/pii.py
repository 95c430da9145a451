"""Protection of personal data (PIPL): ID numbers and phones encrypted at rest, found by a keyed
hash, and shown masked.

Settings (values made by :meth:`KeyRing.generate_setting` and
:meth:`LookupHasher.generate_setting`)::

    PII keys    "k2:<base64 of 32 bytes>,k1:<base64 of 32 bytes>"   first = current
    lookup key  "<base64 of 32 bytes>"

To rotate the encryption key, put a new key first and keep the old ones: new writes use the
new key, old rows stay readable, and :meth:`PiiCipher.needs_rotation` /
:meth:`PiiCipher.reencrypt` move rows over in the background. Remove a key only when no row
names it any more.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from census.identity.codes import (
    ID_NUMBER_SHAPE,
    compact_input,
    normalise_id_number,
    parse_mobile,
)
from shequ_kit.errors import DomainError
from shequ_kit.randomness import random_bytes
from shequ_kit.tenancy import TenantId

KEY_LENGTH: Final = 32  # AES-256 and the HMAC-SHA256 lookup key
_KEY_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,15}")
_FIELD: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")


class KeySettingError(ValueError):
    """A key setting is malformed. Messages never contain key material."""


class PiiProtectionError(Exception):
    """A stored ciphertext can't be decrypted. Never a user's fault: an integrity or
    configuration problem for operators. Messages never contain personal data."""


class UnknownKeyError(PiiProtectionError):
    """The ciphertext names a key that is not in the key ring."""


class UndecryptableError(PiiProtectionError):
    """The ciphertext is malformed, was altered, or belongs to another tenant or field."""


# --- Keys ------------------------------------------------------------------------------------


class KeyRing:
    """Encryption keys by short id; values are written with the current one, read with any."""

    def __init__(self, keys: Mapping[str, bytes], *, current: str) -> None:
        for key_id, key in keys.items():
            if not _KEY_ID.fullmatch(key_id):
                raise KeySettingError(
                    "a key id is 1 to 16 letters, digits, '-' or '_', starting with a letter "
                    "or digit"
                )
            if len(key) != KEY_LENGTH:
                raise KeySettingError(
                    f"key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_LENGTH}"
                )
        if current not in keys:
            raise KeySettingError(f"the current key {current!r} is not in the key ring")
        self._current = current
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    @classmethod
    def from_setting(cls, value: str) -> KeyRing:
        """Parse ``"k2:<base64>,k1:<base64>"``; the first key is the current one."""
        entries = value.strip().split(",")
        if entries == [""]:
            raise KeySettingError(
                "no PII keys configured; expected 'k2:<base64 of 32 bytes>,k1:<...>' "
                "(first is current); make one with KeyRing.generate_setting()"
            )
        keys: dict[str, bytes] = {}
        for position, entry in enumerate(entries, start=1):
            key_id, separator, encoded = (part.strip() for part in entry.partition(":"))
            if not separator:
                raise KeySettingError(
                    f"PII key entry {position} is not '<key id>:<base64 key>'"
                    + (" (empty entry: stray comma?)" if not entry.strip() else "")
                )
            if not _KEY_ID.fullmatch(key_id):
                raise KeySettingError(
                    f"PII key entry {position}: a key id is 1 to 16 letters, digits, '-' or '_'"
                )
            if key_id in keys:
                raise KeySettingError(f"PII key id {key_id!r} appears twice")
            keys[key_id] = _decode_key(encoded, f"PII key {key_id!r}")
        return cls(keys, current=next(iter(keys)))

    @staticmethod
    def generate_setting(key_id: str = "k1", *, existing: str | None = None) -> str:
        """A fresh random key as a setting entry; with ``existing``, the rotated setting.

        ``KeyRing.generate_setting("k2", existing=current_value)`` puts the new key ``k2``
        first (current) and keeps the existing keys readable.
        """
        if not _KEY_ID.fullmatch(key_id):
            raise KeySettingError("a key id is 1 to 16 letters, digits, '-' or '_'")
        entry = f"{key_id}:{base64.b64encode(os.urandom(KEY_LENGTH)).decode('ascii')}"
        if existing is None:
            return entry
        if key_id in KeyRing.from_setting(existing).key_ids:
            raise KeySettingError(f"key id {key_id!r} is already in the key ring")
        return f"{entry},{existing.strip()}"

    @property
    def current_key_id(self) -> str:
        return self._current

    @property
    def key_ids(self) -> tuple[str, ...]:
        """All key ids, the current one first."""
        return (self._current, *(key_id for key_id in self._ciphers if key_id != self._current))

    def cipher(self, key_id: str) -> AESGCM:
        """The AES-256-GCM cipher of ``key_id``; :class:`UnknownKeyError` if the ring lacks it."""
        try:
            return self._ciphers[key_id]
        except KeyError:
            raise UnknownKeyError(
                f"ciphertext names key {key_id!r}, which is not in the key ring "
                f"({', '.join(self.key_ids)}); was a retired key removed before every row "
                "was re-encrypted?"
            ) from None

    def __repr__(self) -> str:
        return f"KeyRing(key_ids={self.key_ids!r})"  # never the keys


def _decode_key(encoded: str, what: str) -> bytes:
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise KeySettingError(f"{what} is not valid base64") from None
    if len(key) != KEY_LENGTH:
        raise KeySettingError(f"{what} is {len(key)} bytes; it must be {KEY_LENGTH}")
    return key


# --- Encryption at rest ----------------------------------------------------------------------

# A stored value, version 1 (bytes):
#
#   offset 0       1 byte    version = 0x01
#   offset 1       1 byte    n = length of the key id (1..16)
#   offset 2       n bytes   key id, ASCII (e.g. b"k2")
#   offset 2+n     12 bytes  nonce, random per value
#   offset 14+n    rest      AES-256-GCM ciphertext || 16-byte tag
#
# The associated data is the header (version, n, key id) followed by b"<tenant id>|<field>",
# e.g. b"\x01\x02k2" + b"xiaoshan.shushan.hushan|id_number": a value copied into another
# tenant's row or another column, or with an edited header, fails to decrypt. Neither tenant
# ids nor field names can contain "|", so the joined text is unambiguous.
# Random 96-bit nonces are safe for up to 2^32 values per key — far beyond a census.
BLOB_VERSION: Final = 1
NONCE_LENGTH: Final = 12
TAG_LENGTH: Final = 16


class PiiCipher:
    """Encrypts personal data for one tenant's field and decrypts it with the key it names."""

    def __init__(self, keys: KeyRing) -> None:
        self._keys = keys

    def encrypt(self, plaintext: str, *, tenant_id: TenantId | str, field: str) -> bytes:
        """Encrypt with the current key, bound to ``tenant_id`` and ``field``."""
        key_id = self._keys.current_key_id
        header = bytes((BLOB_VERSION, len(key_id))) + key_id.encode("ascii")
        nonce = random_bytes.take(NONCE_LENGTH)  # never reused: each buffered byte goes once
        sealed = self._keys.cipher(key_id).encrypt(
            nonce, plaintext.encode("utf-8"), header + _binding(tenant_id, field)
        )
        return header + nonce + sealed

    def decrypt(self, blob: bytes, *, tenant_id: TenantId | str, field: str) -> str:
        """Decrypt a value stored for ``tenant_id`` and ``field``, with whichever key it names."""
        header, key_id, nonce, sealed = _split(blob)
        cipher = self._keys.cipher(key_id)
        try:
            plaintext = cipher.decrypt(nonce, sealed, header + _binding(tenant_id, field))
        except InvalidTag:
            raise UndecryptableError(
                f"a stored {field} value of tenant {tenant_id} does not decrypt with key "
                f"{key_id!r}: it was altered, or copied from another tenant or field"
            ) from None
        return plaintext.decode("utf-8")

    def needs_rotation(self, blob: bytes) -> bool:
        """Whether the value was written with a key other than the current one."""
        return key_id_of(blob) != self._keys.current_key_id

    def reencrypt(self, blob: bytes, *, tenant_id: TenantId | str, field: str) -> bytes:
        """The value under the current key; unchanged if it already uses it."""
        if not self.needs_rotation(blob):
            return blob
        plaintext = self.decrypt(blob, tenant_id=tenant_id, field=field)
        return self.encrypt(plaintext, tenant_id=tenant_id, field=field)


def key_id_of(blob: bytes) -> str:
    """The id of the key a stored value was encrypted with (for rotation reports)."""
    return _split(blob)[1]


def _split(blob: bytes) -> tuple[bytes, str, bytes, bytes]:
    if len(blob) < 2 or blob[0] != BLOB_VERSION:
        raise UndecryptableError("not a version 1 personal-data ciphertext")
    key_id_end = 2 + blob[1]
    if blob[1] == 0 or len(blob) < key_id_end + NONCE_LENGTH + TAG_LENGTH:
        raise UndecryptableError("personal-data ciphertext is truncated")
    try:
        key_id = blob[2:key_id_end].decode("ascii")
    except UnicodeDecodeError:
        raise UndecryptableError("personal-data ciphertext has a garbled key id") from None
    nonce_end = key_id_end + NONCE_LENGTH
    return blob[:key_id_end], key_id, blob[key_id_end:nonce_end], blob[nonce_end:]


@functools.lru_cache(maxsize=1024)
def _binding(tenant_id: TenantId | str, field: str) -> bytes:
    tenant = tenant_id if isinstance(tenant_id, TenantId) else TenantId.parse(tenant_id)
    if not _FIELD.fullmatch(field):
        raise ValueError("a field name is lower-case letters, digits and '_'")
    return f"{tenant}|{field}".encode("ascii")


# --- Keyed hashes for exact lookup -----------------------------------------------------------

# HMAC-SHA256 with its own key over the normalised value — not a plain hash: there are only
# about 10^11 plausible ID numbers and 10^10 mobile numbers, so an unkeyed hash is reversed by
# trying them all. The hash is deliberately tenant-independent: equal numbers hash equally in
# every community, so "same ID number twice in a tenant" is a unique index on
# (tenant_id, hash), and a street can recognise the same person across its communities (a move
# between communities, a duplicate registration) without decrypting anything. A tenant-scoped
# hash would hide that link and force the street to decrypt every row to find it. The price is
# that the hash column links a person across tenants — but only for the census service, the
# only holder of the lookup key. Changing the lookup key means recomputing every hash from the
# decrypted values, so the hash carries no key id.


class LookupHasher:
    """Keyed hashes of normalised ID numbers and phones, for exact-match lookup."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_LENGTH:
            raise KeySettingError(f"the lookup key is {len(key)} bytes; it must be {KEY_LENGTH}")
        self._key = key

    @classmethod
    def from_setting(cls, value: str) -> LookupHasher:
        """Parse the lookup-key setting: base64 of 32 bytes."""
        if not value.strip():
            raise KeySettingError(
                "no PII lookup key configured; make one with LookupHasher.generate_setting()"
            )
        return cls(_decode_key(value.strip(), "the PII lookup key"))

    @staticmethod
    def generate_setting() -> str:
        """A fresh random lookup key, as the setting's value."""
        return base64.b64encode(os.urandom(KEY_LENGTH)).decode("ascii")

    def hash_id_number(self, number: str, *, field: str = "id_number") -> bytes:
        """The lookup hash of an ID number (normalised first; a malformed one is refused)."""
        return self._digest("id_number", normalise_id_number(number, field=field))

    def hash_checked_id_number(self, number: str) -> bytes:
        """The lookup hash of a number :func:`parse_id_number` already accepted (an import's
        hot path checks each number once)."""
        return self._digest("id_number", number)

    def hash_phone(self, phone: str, *, field: str = "phone") -> bytes:
        """The lookup hash of a mobile number (normalised first; a malformed one is refused)."""
        return self._digest("phone", parse_mobile(phone, field))

    def _digest(self, kind: str, normalised: str) -> bytes:
        # The kind keeps an ID number's and a phone's hashes apart even if the strings met.
        return hmac.new(self._key, f"{kind}|{normalised}".encode("ascii"), hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "LookupHasher(key=<hidden>)"


# --- Masking ---------------------------------------------------------------------------------

# What stands for each hidden character; an import refuses values that contain it.
MASK_CHARACTER: Final = "*"


def mask_id_number(value: str) -> str:
    """``330109199001011239`` → ``330109**********39``: the address code and last 2 stay.

    Anything not shaped like an ID number is masked so that at most half of it shows.
    """
    number = compact_input(value).upper()
    if ID_NUMBER_SHAPE.fullmatch(number):
        return number[:6] + MASK_CHARACTER * 10 + number[-2:]
    return _mask_conservatively(number, head=6, tail=2)


def mask_phone(value: str) -> str:
    """``13812345678`` (or ``+86 138 1234 5678``) → ``138****5678``.

    Anything that is not a mobile number is masked so that at most half of it shows.
    """
    try:
        phone = parse_mobile(value)
    except DomainError:
        return _mask_conservatively(compact_input(value), head=3, tail=4)
    return phone[:3] + MASK_CHARACTER * 4 + phone[-4:]


def _mask_conservatively(characters: str, *, head: int, tail: int) -> str:
    # Show at most a quarter at each end, so a short or mangled value (a 17-digit ID, a
    # landline, a typo) never shows more than it hides; under 4 characters nothing shows.
    quarter = len(characters) // 4
    shown_head, shown_tail = min(head, quarter), min(tail, quarter)
    hidden = len(characters) - shown_head - shown_tail
    return (
        characters[:shown_head]
        + MASK_CHARACTER * hidden
        + characters[len(characters) - shown_tail :]
    )
