from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.census.models import (
    AGE_BANDS,
    CARE_TAGS,
    RELATIONS,
    RESIDENCE_TYPES,
    SEXES,
    TENURES,
    CreateHousehold,
    CreateResident,
    ProtoEnumWords,
    ResidentOut,
)
from shequ.census.v1 import census_pb2 as pb


def test_enum_words_are_the_value_names_without_prefix_in_lower_case() -> None:
    assert RESIDENCE_TYPES.words == ("registered", "resident", "migrant")
    assert RESIDENCE_TYPES.word(pb.RESIDENCE_TYPE_MIGRANT) == "migrant"
    assert AGE_BANDS.word(pb.AGE_BAND_60_79) == "60_79"
    assert AGE_BANDS.word(pb.AGE_BAND_80_PLUS) == "80_plus"
    assert RELATIONS.word(pb.RELATION_TO_HEAD_SELF) == "self"
    assert CARE_TAGS.word(pb.CARE_TAG_LIVING_ALONE) == "living_alone"


@pytest.mark.parametrize(
    "words", [RESIDENCE_TYPES, TENURES, SEXES, RELATIONS, CARE_TAGS, AGE_BANDS], ids=repr
)
def test_every_word_round_trips_and_unspecified_has_none(words: ProtoEnumWords[Any]) -> None:
    assert words.word(0) is None
    assert words.number(None) == 0
    for word in words.words:
        assert words.word(words.number(word)) == word
    assert words.word(999) is None  # a value newer than this gateway's contract


def test_a_word_the_contract_does_not_know_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        CreateHousehold(dwelling_id="d", tenure="renting")
    assert refused.value.errors()[0]["loc"] == ("tenure",)


def test_a_resident_request_becomes_its_proto_with_enum_numbers_and_dates() -> None:
    request = CreateResident(
        household_id="h",
        name="王秀英",
        id_number="330109195003021248",
        relation_to_head="self",
        residence_type="migrant",
        tenure="tenant",
        moved_in_on=date(2020, 5, 1),
        care_tags=["living_alone", "veteran"],
    ).to_proto()
    assert request.resident.residence_type == pb.RESIDENCE_TYPE_MIGRANT
    assert request.resident.tenure == pb.TENURE_TENANT
    assert list(request.resident.care_tags) == [pb.CARE_TAG_LIVING_ALONE, pb.CARE_TAG_VETERAN]
    assert request.resident.moved_in_on == "2020-05-01"
    assert request.resident.phone == ""
    assert request.resident.verified_on == ""


def test_a_resident_answer_shows_words_dates_and_nulls_for_what_is_absent() -> None:
    shown = ResidentOut.of(
        pb.Resident(
            id="r",
            name="王秀英",
            id_number="330109**********48",
            pii_masked=True,
            sex=pb.SEX_FEMALE,
            birth_date="1950-03-02",
            age_band=pb.AGE_BAND_60_79,
            residence_type=pb.RESIDENCE_TYPE_REGISTERED,
            care_tags=[pb.CARE_TAG_ELDERLY, pb.CareTag.ValueType(999)],
            verification=pb.Verification(verified_on="2026-11-23", verified_by="hushan-staff"),
        )
    )
    assert shown.sex == "female"
    assert shown.age_band == "60_79"
    assert shown.birth_date == date(1950, 3, 2)
    assert shown.care_tags == ["elderly"]
    assert shown.phone is None
    assert shown.tenure is None
    assert shown.moved_out_on is None
    assert shown.updated_at is None
    assert shown.verification.verified_on == date(2026, 11, 23)
