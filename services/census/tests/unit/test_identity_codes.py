from collections.abc import Callable
from datetime import date, timedelta

import pytest

from census.identity.codes import (
    AGE_BANDS,
    CREDIT_CODE_ALPHABET,
    ResidentId,
    Sex,
    age_band,
    age_on,
    credit_check_character,
    id_check_character,
    is_child,
    is_elderly,
    normalise_id_number,
    parse_credit_code,
    parse_id_number,
    parse_mobile,
)
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation

TODAY = date(2025, 6, 1)


def an_id_number(address: str = "330109", birth: str = "19900101", sequence: str = "123") -> str:
    first17 = address + birth + sequence
    return first17 + id_check_character(first17)


def a_credit_code(first17: str = "91330109MA2B0000K") -> str:
    return first17 + credit_check_character(first17)


def refused(call: Callable[[], object]) -> DomainError:
    """The invalid-input error ``call`` raises."""
    with pytest.raises(DomainError) as caught:
        call()
    assert caught.value.kind is ErrorKind.INVALID_INPUT
    return caught.value


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= character <= "\u9fff" for character in text)


# --- Resident ID numbers: accepted -----------------------------------------------------------


def test_id_numbers_built_with_id_check_character_are_accepted() -> None:
    start = date(1900, 1, 1)
    for step in range(400):
        birth = start + timedelta(days=step * 113)  # 1900 to 2024, every month and weekday
        sequence = f"{(step * 37) % 1000:03d}"
        number = an_id_number(birth=birth.strftime("%Y%m%d"), sequence=sequence)
        resident = parse_id_number(number, today=TODAY)
        assert resident.number == number
        assert resident.birth_date == birth


def test_id_check_character_satisfies_iso_7064_mod_11_2() -> None:
    # ISO 7064 MOD 11-2, stated independently: with X = 10 and weights 2^(17-i) mod 11 over
    # all 18 characters, the weighted sum is 1 mod 11.
    for seed in range(500):
        first17 = f"{(seed * 7_919_191_919_919) % 10**17:017d}"
        number = first17 + id_check_character(first17)
        values = [10 if character == "X" else int(character) for character in number]
        assert sum(value * pow(2, 17 - i, 11) for i, value in enumerate(values)) % 11 == 1


def test_published_id_numbers_are_accepted() -> None:
    # The example in GB 11643 itself, and the example in the issue.
    assert parse_id_number("11010519491231002X", today=TODAY).birth_date == date(1949, 12, 31)
    assert parse_id_number("330109199001011239", today=TODAY).birth_date == date(1990, 1, 1)


def test_check_character_x_is_accepted() -> None:
    assert id_check_character("11010519491231002") == "X"
    assert parse_id_number("11010519491231002X", today=TODAY).number == "11010519491231002X"


def test_lower_case_x_is_accepted_and_normalised_to_upper_case() -> None:
    assert parse_id_number("11010519491231002x", today=TODAY).number == "11010519491231002X"


def test_spaces_and_full_width_characters_are_normalised() -> None:
    assert parse_id_number(" 110105 19491231 002x\n", today=TODAY).number == "11010519491231002X"
    full_width = "１１０１０５１９４９１２３１００２Ｘ"
    assert parse_id_number(full_width, today=TODAY).number == "11010519491231002X"


def test_address_part_need_not_be_a_current_division_code() -> None:
    resident = parse_id_number(an_id_number(address="999999"), today=TODAY)
    assert resident.address_code == "999999"


def test_birth_date_and_sex_are_derived_from_the_number() -> None:
    resident = parse_id_number(an_id_number(birth="19851107", sequence="042"), today=TODAY)
    assert resident == ResidentId(
        number=an_id_number(birth="19851107", sequence="042"),
        birth_date=date(1985, 11, 7),
        sex=Sex.FEMALE,
    )


@pytest.mark.parametrize("last_digit", range(10))
def test_sex_follows_the_last_digit_of_the_sequence(last_digit: int) -> None:
    resident = parse_id_number(an_id_number(sequence=f"05{last_digit}"), today=TODAY)
    assert resident.sex is (Sex.MALE if last_digit % 2 == 1 else Sex.FEMALE)


def test_birth_on_29_february_of_a_leap_year_is_accepted() -> None:
    resident = parse_id_number(an_id_number(birth="20000229"), today=TODAY)
    assert resident.birth_date == date(2000, 2, 29)


def test_born_today_is_accepted() -> None:
    resident = parse_id_number(an_id_number(birth="20250601"), today=TODAY)
    assert resident.birth_date == TODAY


def test_resident_id_repr_does_not_show_the_number() -> None:
    resident = parse_id_number("330109199001011239", today=TODAY)
    assert "330109199001011239" not in repr(resident)


def test_normalise_id_number_returns_the_canonical_form() -> None:
    assert normalise_id_number(" 11010519491231002x ") == "11010519491231002X"


# --- Resident ID numbers: refused ------------------------------------------------------------


def test_id_number_with_wrong_check_character_is_refused_naming_the_field() -> None:
    error = refused(lambda: parse_id_number("330109199001011230", today=TODAY))
    assert error.code == "census.id_number_checksum"
    assert error.field_violations == (
        FieldViolation("id_number", "check character does not match"),
    )
    assert has_chinese(error.message_zh)
    assert "check character" in error.message_en


def test_id_number_error_names_the_field_the_caller_passes() -> None:
    error = refused(
        lambda: parse_id_number("330109199001011230", today=TODAY, field="rows[3].id_number")
    )
    assert [violation.field for violation in error.field_violations] == ["rows[3].id_number"]


def test_normalise_id_number_refuses_a_wrong_check_character() -> None:
    error = refused(lambda: normalise_id_number("330109199001011230", field="query"))
    assert error.code == "census.id_number_checksum"
    assert error.field_violations[0].field == "query"


def test_every_single_character_typo_is_refused() -> None:
    number = "330109199001011239"
    for position in range(18):
        for replacement in "0123456789X":
            if replacement == number[position] or (replacement == "X" and position < 17):
                continue
            typo = number[:position] + replacement + number[position + 1 :]
            with pytest.raises(DomainError):
                parse_id_number(typo, today=TODAY)


def test_swapped_neighbouring_digits_are_refused() -> None:
    error = refused(lambda: parse_id_number("330109199001012139", today=TODAY))
    assert error.code == "census.id_number_checksum"


@pytest.mark.parametrize(
    "birth",
    [
        "19900230",  # 30 February
        "20230229",  # 29 February of a common year
        "19000229",  # 1900 was not a leap year
        "19901301",  # month 13
        "19900001",  # month 0
        "19900100",  # day 0
        "19900431",  # 31 April
    ],
)
def test_impossible_birth_date_is_refused(birth: str) -> None:
    error = refused(lambda: parse_id_number(an_id_number(birth=birth), today=TODAY))
    assert error.code == "census.id_number_birth_date"
    assert error.field_violations[0].field == "id_number"
    assert "not a calendar date" in error.message_en


def test_future_birth_date_is_refused() -> None:
    error = refused(lambda: parse_id_number(an_id_number(birth="20250602"), today=TODAY))
    assert error.code == "census.id_number_birth_date"
    assert "future" in error.message_en


def test_birth_date_before_1900_is_refused() -> None:
    # Even GB 11643's own second example, born in 1880: nobody alive was.
    assert id_check_character("44052418800101001") == "4"
    error = refused(lambda: parse_id_number("440524188001010014", today=TODAY))
    assert error.code == "census.id_number_birth_date"
    assert "1900" in error.message_en


@pytest.mark.parametrize(
    "raw",
    [
        "33010919900101123",  # 17 characters
        "3301091990010112391",  # 19 characters
        "330109900101123",  # a 15-digit first-generation number
        "",
        "   ",
    ],
)
def test_id_number_of_wrong_length_is_refused(raw: str) -> None:
    error = refused(lambda: parse_id_number(raw, today=TODAY))
    assert error.code == "census.id_number_format"
    assert f"got {len(raw.strip())}" in error.field_violations[0].description


@pytest.mark.parametrize(
    "raw",
    [
        "3301091990010112X9",  # X only as the check character
        "33010919900101123Y",
        "33O109199001011239",  # letter O for zero
        "330109-99001011239",
        "三30109199001011239",
    ],
)
def test_id_number_with_non_digits_is_refused(raw: str) -> None:
    error = refused(lambda: parse_id_number(raw, today=TODAY))
    assert error.code == "census.id_number_format"


def test_id_number_errors_never_echo_the_number() -> None:
    for raw in ["330109199001011230", an_id_number(birth="19900230"), "3301091990010112391"]:
        with pytest.raises(DomainError) as caught:
            parse_id_number(raw, today=TODAY)
        error = caught.value
        texts = [error.message_zh, error.message_en, str(error)]
        texts += [violation.description for violation in error.field_violations]
        assert all(raw[6:14] not in text for text in texts)


def test_id_check_character_refuses_anything_but_17_digits() -> None:
    for bad in ["1234567890123456", "123456789012345678", "1234567890123456X", "１" * 17]:
        with pytest.raises(ValueError, match="17 ASCII digits"):
            id_check_character(bad)


# --- Unified social credit codes -------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y43",  # the commonly cited example
        "914403001922038216",  # Huawei Technologies Co., Ltd.
        "9144030071526726XG",  # Shenzhen Tencent Computer Systems Co., Ltd.
    ],
)
def test_published_credit_codes_are_accepted(code: str) -> None:
    assert parse_credit_code(code) == code


def test_credit_check_character_is_zero_when_the_sum_is_a_multiple_of_31() -> None:
    assert credit_check_character("91330109MA2B00008") == "0"
    assert parse_credit_code("91330109MA2B000080") == "91330109MA2B000080"


def test_credit_check_character_makes_the_weighted_sum_a_multiple_of_31() -> None:
    alphabet = CREDIT_CODE_ALPHABET
    for seed in range(500):
        first17 = "".join(alphabet[(seed * 17 + i * i * 7 + i) % 31] for i in range(17))
        code = first17 + credit_check_character(first17)
        values = [alphabet.index(character) for character in code]
        weights = [pow(3, i, 31) for i in range(17)] + [1]
        assert sum(v * w for v, w in zip(values, weights, strict=True)) % 31 == 0
        assert parse_credit_code(code) == code


def test_credit_code_is_normalised_to_upper_case_without_spaces() -> None:
    assert parse_credit_code(" 9144030071526726xg ") == "9144030071526726XG"
    assert parse_credit_code("9144 0300 7152 6726 XG") == "9144030071526726XG"


def test_credit_code_with_wrong_check_character_is_refused_naming_the_field() -> None:
    error = refused(lambda: parse_credit_code("91350100M000100Y44"))
    assert error.code == "census.credit_code_checksum"
    assert error.field_violations == (
        FieldViolation("credit_code", "check character does not match"),
    )
    assert has_chinese(error.message_zh)
    error = refused(lambda: parse_credit_code("91350100M000100Y44", field="enterprise.code"))
    assert error.field_violations[0].field == "enterprise.code"


@pytest.mark.parametrize("letter", ["I", "O", "S", "V", "Z"])
def test_credit_code_with_a_forbidden_letter_is_refused(letter: str) -> None:
    code = "91350100" + letter + "000100Y43"
    error = refused(lambda: parse_credit_code(code))
    assert error.code == "census.credit_code_format"
    assert "I, O, S, V or Z" in error.message_en
    assert error.field_violations[0].field == "credit_code"


def test_credit_code_forbidden_letter_in_lower_case_is_refused_too() -> None:
    error = refused(lambda: parse_credit_code("91350100o000100Y43"))
    assert error.code == "census.credit_code_format"


@pytest.mark.parametrize(
    "raw",
    ["91350100M000100Y4", "91350100M000100Y433", "", "91350100-000100Y43", "913501中M000100Y43"],
)
def test_malformed_credit_code_is_refused(raw: str) -> None:
    error = refused(lambda: parse_credit_code(raw))
    assert error.code == "census.credit_code_format"


def test_every_single_character_typo_in_a_credit_code_is_refused() -> None:
    code = "91350100M000100Y43"
    for position in range(18):
        for replacement in CREDIT_CODE_ALPHABET:
            if replacement != code[position]:
                typo = code[:position] + replacement + code[position + 1 :]
                with pytest.raises(DomainError):
                    parse_credit_code(typo)


def test_credit_check_character_refuses_characters_outside_its_alphabet() -> None:
    for bad in ["91350100M000100Y", "91350100I000100Y4", "91350100m000100Y4"]:
        with pytest.raises(ValueError, match="17 characters of its alphabet"):
            credit_check_character(bad)


def test_builder_credit_codes_are_accepted() -> None:
    assert parse_credit_code(a_credit_code()) == a_credit_code()


# --- Mobile numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "+86-138-1234-5678",
        "+8613812345678",
        "8613812345678",
        "0086 138 1234 5678",
        " 13812345678\t",
        "１３８１２３４５６７８",  # full-width, from a Chinese input method
    ],
)
def test_common_forms_of_a_mobile_number_are_normalised_to_11_digits(raw: str) -> None:
    assert parse_mobile(raw) == "13812345678"


@pytest.mark.parametrize("second_digit", "3456789")
def test_mobile_numbers_starting_13_to_19_are_accepted(second_digit: str) -> None:
    assert parse_mobile(f"1{second_digit}012345678") == f"1{second_digit}012345678"


def test_mobile_starting_with_86_after_the_prefix_is_not_mistaken_for_a_prefix() -> None:
    assert parse_mobile("+86 186 8612 3456") == "18686123456"


@pytest.mark.parametrize(
    "raw",
    [
        "12812345678",  # no 12x mobile numbers
        "10812345678",
        "1381234567",  # 10 digits
        "138123456789",  # 12 digits
        "0571-86012345",  # a landline
        "057186012345",
        "+1 13812345678",
        "86 12812345678",
        "1381234567a",
        "138.1234.5678",
        "",
    ],
)
def test_malformed_mobile_number_is_refused_naming_the_field(raw: str) -> None:
    error = refused(lambda: parse_mobile(raw))
    assert error.code == "census.phone_format"
    assert error.field_violations[0].field == "phone"
    assert has_chinese(error.message_zh)


def test_mobile_error_names_the_field_the_caller_passes() -> None:
    error = refused(lambda: parse_mobile("0571-86012345", field="contact_phone"))
    assert error.field_violations[0].field == "contact_phone"
    assert "0571" not in error.message_en


# --- Ages ------------------------------------------------------------------------------------


def test_age_increases_on_the_birthday_itself() -> None:
    born = date(1990, 6, 15)
    assert age_on(born, date(2025, 6, 14)) == 34
    assert age_on(born, date(2025, 6, 15)) == 35
    assert age_on(born, born) == 0


def test_someone_born_on_29_february_turns_older_on_1_march_in_common_years() -> None:
    born = date(2000, 2, 29)
    assert age_on(born, date(2023, 2, 28)) == 22
    assert age_on(born, date(2023, 3, 1)) == 23
    assert age_on(born, date(2024, 2, 29)) == 24


def test_age_on_a_day_before_birth_is_an_error() -> None:
    with pytest.raises(ValueError, match="before the birth date"):
        age_on(date(2000, 1, 2), date(2000, 1, 1))


@pytest.mark.parametrize(
    ("age", "key"),
    [
        (0, "0-6"),
        (6, "0-6"),
        (7, "7-17"),
        (17, "7-17"),
        (18, "18-34"),
        (34, "18-34"),
        (35, "35-59"),
        (59, "35-59"),
        (60, "60-79"),
        (79, "60-79"),
        (80, "80+"),
        (125, "80+"),
    ],
)
def test_age_band_boundaries(age: int, key: str) -> None:
    assert age_band(age).key == key


def test_every_age_falls_in_exactly_one_band() -> None:
    for age in range(131):
        assert sum(band.contains(age) for band in AGE_BANDS) == 1


def test_negative_age_has_no_band() -> None:
    with pytest.raises(ValueError, match="never negative"):
        age_band(-1)


def test_child_is_under_18_and_elderly_is_60_and_over() -> None:
    assert is_child(0)
    assert is_child(17)
    assert not is_child(18)
    assert not is_elderly(59)
    assert is_elderly(60)
    assert is_elderly(100)


def test_age_from_a_parsed_id_number() -> None:
    resident = parse_id_number(an_id_number(birth="19650601"), today=TODAY)
    age = age_on(resident.birth_date, TODAY)
    assert age == 60
    assert is_elderly(age)
    assert age_band(age).key == "60-79"
