"""Identity codes the census holds: resident ID numbers, credit codes, mobile numbers, ages.

- Resident ID number (公民身份号码), GB 11643: 6-digit address code, 8-digit birth date
  (YYYYMMDD), 3-digit sequence (odd last digit = male, even = female), ISO 7064 MOD 11-2 check
  character. The address code is not checked against the current division codes: divisions are
  merged and renamed, and a number stays valid for life.
- Unified social credit code (统一社会信用代码), GB 32100: 17 characters from an alphabet of 31
  plus a MOD 31 check character.
- Mainland mobile numbers: 11 digits ``1[3-9]xxxxxxxxx``. Landlines are not accepted.

Parsers accept what people type (surrounding and inner spaces, full-width characters from a
Chinese input method, lower-case letters) and return the one canonical form that is stored,
hashed and compared. Errors never echo the value: it is personal data and messages get logged.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Final

from shequ_kit.errors import DomainError, FieldViolation, invalid_input


def compact_input(raw: str) -> str:
    """Typed input folded to ASCII (full-width forms from Chinese input methods) without spaces.

    People group long numbers with spaces, so all whitespace goes.
    """
    return "".join(unicodedata.normalize("NFKC", raw).split())


# --- GB 11643 resident ID numbers -----------------------------------------------------------

ID_NUMBER_LENGTH: Final = 18
_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARACTERS: Final = "10X98765432"  # indexed by the weighted sum mod 11
ID_NUMBER_SHAPE: Final = re.compile(r"[0-9]{17}[0-9X]")
# Nobody alive was born before 1900; an earlier year is a typo in the birth-date digits.
EARLIEST_BIRTH_DATE: Final = date(1900, 1, 1)


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


@dataclass(frozen=True)
class ResidentId:
    """A valid resident ID number and what it says about its holder."""

    # Left out of repr so a logged or printed value does not leak the full number.
    number: str = field(repr=False)
    birth_date: date
    sex: Sex

    @property
    def address_code(self) -> str:
        """The division code where the number was issued (may no longer exist)."""
        return self.number[:6]


def id_check_character(first17: str) -> str:
    """The GB 11643 check character (``0``–``9`` or ``X``) for the first 17 digits."""
    if len(first17) != ID_NUMBER_LENGTH - 1 or not first17.isascii() or not first17.isdigit():
        raise ValueError("an ID number's check character needs exactly 17 ASCII digits")
    total = sum(map(operator.mul, map(int, first17), _ID_WEIGHTS))  # the hot loop of an import
    return _ID_CHECK_CHARACTERS[total % 11]


def normalise_id_number(raw: str, *, field: str = "id_number") -> str:
    """The canonical form (upper-case ``X``) of an ID number whose shape and check are right.

    For lookups (the keyed hash) where the birth date is irrelevant; to accept a new resident
    use :func:`parse_id_number`, which also checks the birth date.
    """
    number = _id_number_of_valid_shape(raw, field)
    _refuse_wrong_id_check_character(number, field)
    return number


def parse_id_number(raw: str, *, today: date, field: str = "id_number") -> ResidentId:
    """Validate a resident ID number and derive birth date and sex from it.

    ``field`` names the input in the error (``"id_number"``, ``"rows[3].id_number"``, ...).
    """
    number = _id_number_of_valid_shape(raw, field)
    # The birth date before the check character: a typo in those 8 digits is named precisely.
    birth_date = _birth_date_of(number, today, field)
    _refuse_wrong_id_check_character(number, field)
    sex = Sex.MALE if int(number[16]) % 2 == 1 else Sex.FEMALE
    return ResidentId(number=number, birth_date=birth_date, sex=sex)


def _id_number_of_valid_shape(raw: str, field: str) -> str:
    number = compact_input(raw).upper()
    if len(number) != ID_NUMBER_LENGTH:
        raise invalid_input(
            "census.id_number_format",
            f"公民身份号码应为18位，实际为{len(number)}位",
            f"an ID number has 18 characters, this one has {len(number)}",
            FieldViolation(field, f"must be 18 characters, got {len(number)}"),
        )
    if not ID_NUMBER_SHAPE.fullmatch(number):
        raise invalid_input(
            "census.id_number_format",
            "公民身份号码前17位应为数字，最后一位为数字或X",
            "an ID number is 17 digits followed by a digit or X",
            FieldViolation(field, "must be 17 digits followed by a digit or X"),
        )
    return number


def _birth_date_of(number: str, today: date, field: str) -> date:
    try:
        birth_date = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise _bad_birth_date(
            field,
            "公民身份号码中的出生日期不是有效日期",
            "the birth date in the ID number (characters 7 to 14) is not a calendar date",
        ) from None
    if birth_date < EARLIEST_BIRTH_DATE:
        raise _bad_birth_date(
            field,
            "公民身份号码中的出生日期早于1900年",
            "the birth date in the ID number is before 1900",
        )
    if birth_date > today:
        raise _bad_birth_date(
            field,
            "公民身份号码中的出生日期晚于今天",
            "the birth date in the ID number is in the future",
        )
    return birth_date


def _bad_birth_date(field: str, message_zh: str, message_en: str) -> DomainError:
    return invalid_input(
        "census.id_number_birth_date",
        message_zh,
        message_en,
        FieldViolation(field, message_en),
    )


def _refuse_wrong_id_check_character(number: str, field: str) -> None:
    if id_check_character(number[:17]) != number[17]:
        raise invalid_input(
            "census.id_number_checksum",
            "公民身份号码校验位不正确，请核对号码",
            "the ID number's check character does not match; please check the number",
            FieldViolation(field, "check character does not match"),
        )


# --- GB 32100 unified social credit codes ----------------------------------------------------

CREDIT_CODE_LENGTH: Final = 18
# Each character's value is its index here; I, O, S, V and Z are left out so they can't be
# confused with 1, 0, 5, U and 2.
CREDIT_CODE_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_FORBIDDEN_LETTERS: Final = frozenset("IOSVZ")
# 3^i mod 31 for i = 0..16: 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28. Checked against
# published codes: 91350100M000100Y43 (the commonly cited example), 914403001922038216 (Huawei
# Technologies Co., Ltd.) and 9144030071526726XG (Shenzhen Tencent Computer Systems Co., Ltd.).
_CREDIT_WEIGHTS: Final = tuple(pow(3, i, 31) for i in range(CREDIT_CODE_LENGTH - 1))


def credit_check_character(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters (already upper-case)."""
    if len(first17) != CREDIT_CODE_LENGTH - 1 or any(
        character not in CREDIT_CODE_ALPHABET for character in first17
    ):
        raise ValueError("a credit code's check character needs 17 characters of its alphabet")
    total = sum(
        CREDIT_CODE_ALPHABET.index(character) * weight
        for character, weight in zip(first17, _CREDIT_WEIGHTS, strict=True)
    )
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]  # 31 - 0 = 31 stands for 0


def parse_credit_code(raw: str, field: str = "credit_code") -> str:
    """Validate a unified social credit code; returns it upper-case without spaces."""
    code = compact_input(raw).upper()
    if len(code) != CREDIT_CODE_LENGTH:
        raise invalid_input(
            "census.credit_code_format",
            f"统一社会信用代码应为18位，实际为{len(code)}位",
            f"a unified social credit code has 18 characters, this one has {len(code)}",
            FieldViolation(field, f"must be 18 characters, got {len(code)}"),
        )
    if _CREDIT_FORBIDDEN_LETTERS & set(code):
        raise invalid_input(
            "census.credit_code_format",
            "统一社会信用代码不使用字母I、O、S、V、Z，请核对（可能是数字1、0、5或字母U、数字2）",
            "a unified social credit code never contains I, O, S, V or Z "
            "(perhaps 1, 0, 5, U or 2 was meant)",
            FieldViolation(field, "must not contain the letters I, O, S, V or Z"),
        )
    if any(character not in CREDIT_CODE_ALPHABET for character in code):
        raise invalid_input(
            "census.credit_code_format",
            "统一社会信用代码只能由数字和大写字母组成",
            "a unified social credit code consists of digits and letters only",
            FieldViolation(field, "must contain only digits and letters"),
        )
    if credit_check_character(code[:17]) != code[17]:
        raise invalid_input(
            "census.credit_code_checksum",
            "统一社会信用代码校验位不正确，请核对代码",
            "the credit code's check character does not match; please check the code",
            FieldViolation(field, "check character does not match"),
        )
    return code


# --- Mobile numbers --------------------------------------------------------------------------

# Optional country code (+86, 86 or 0086), then 1, a second digit 3-9 and nine more digits.
# An 11-digit number never starts with 86, so the prefix can't swallow part of a number.
_MOBILE: Final = re.compile(r"(?:\+86|0086|86)?(1[3-9][0-9]{9})")


def parse_mobile(raw: str, field: str = "phone") -> str:
    """Validate a mainland mobile number; returns its 11 digits.

    Accepts spaces and hyphens anywhere and a leading ``+86``, ``86`` or ``0086``
    (``+86 138-1234-5678`` → ``13812345678``). Landlines are refused.
    """
    match = _MOBILE.fullmatch(compact_input(raw).replace("-", ""))
    if match is None:
        raise invalid_input(
            "census.phone_format",
            "请填写11位手机号码（1开头，第二位为3至9），暂不支持固定电话",
            "expected an 11-digit mainland mobile number starting with 13 to 19; "
            "landlines are not accepted",
            FieldViolation(field, "must be an 11-digit mobile number starting with 13-19"),
        )
    return match.group(1)


# --- Ages and the bands statistics use -------------------------------------------------------

# 民法典 art. 17: 18 and over is an adult, so a child (一小) is under 18.
ADULT_AGE: Final = 18
# 老年人权益保障法 art. 2: the elderly (一老) are those aged 60 and over.
ELDERLY_AGE: Final = 60
# 80 and over are the "oldest old" (高龄老人) that ageing statistics count separately.
OLDEST_OLD_AGE: Final = 80


@dataclass(frozen=True)
class AgeBand:
    """Ages ``low`` to ``high`` inclusive; ``high`` is None for the open top band."""

    key: str
    low: int
    high: int | None

    def contains(self, age: int) -> bool:
        return self.low <= age and (self.high is None or age <= self.high)


# 0-6: pre-school (school starts at 6-7; the national 0-6岁儿童健康管理 programme); 7-17:
# school-age children; 18-34 and 35-59: working age, young and middle; 60-79 elderly;
# 80+ oldest old. Contiguous and covering every age from 0.
AGE_BANDS: Final = (
    AgeBand("0-6", 0, 6),
    AgeBand("7-17", 7, ADULT_AGE - 1),
    AgeBand("18-34", ADULT_AGE, 34),
    AgeBand("35-59", 35, ELDERLY_AGE - 1),
    AgeBand("60-79", ELDERLY_AGE, OLDEST_OLD_AGE - 1),
    AgeBand("80+", OLDEST_OLD_AGE, None),
)


def age_on(birth_date: date, day: date) -> int:
    """Age in full years (周岁) on ``day``.

    A birthday counts on the day itself; someone born on 29 February turns a year older on
    1 March in years without one.
    """
    if day < birth_date:
        raise ValueError("the day is before the birth date")
    had_birthday = (day.month, day.day) >= (birth_date.month, birth_date.day)
    return day.year - birth_date.year - (0 if had_birthday else 1)


def years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def age_band(age: int) -> AgeBand:
    """The statistics band an age falls in."""
    for band in AGE_BANDS:
        if band.contains(age):
            return band
    raise ValueError("an age is never negative")


def is_child(age: int) -> bool:
    return 0 <= age < ADULT_AGE


def is_elderly(age: int) -> bool:
    return age >= ELDERLY_AGE
