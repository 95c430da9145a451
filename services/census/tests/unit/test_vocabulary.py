"""The census's words and their proto enums: every word has its enum value and back."""

from collections.abc import Mapping
from enum import StrEnum

import pytest

from census.vocabulary import (
    ENTERPRISE_TYPES,
    ORGANIZATION_KINDS,
    EnterpriseType,
    OrganisationKind,
    parse_word,
    word_of,
)
from shequ.census.v1 import census_pb2 as pb
from shequ_kit.errors import DomainError, ErrorKind


@pytest.mark.parametrize(
    ("words", "table", "proto_values"),
    [
        (EnterpriseType, ENTERPRISE_TYPES, pb.EnterpriseType.values()),
        (OrganisationKind, ORGANIZATION_KINDS, pb.OrganizationKind.values()),
    ],
)
def test_every_word_maps_to_one_proto_value_and_back(
    words: type[StrEnum], table: Mapping[str, int], proto_values: list[int]
) -> None:
    assert set(table) == set(words)
    assert sorted(table.values()) == sorted(v for v in proto_values if v != 0)
    for word, number in table.items():
        back = word_of(table, number)
        assert back == word
        assert isinstance(back, words)  # keyed by the members, so the member comes back


def test_an_unspecified_proto_value_has_no_word() -> None:
    assert word_of(ENTERPRISE_TYPES, pb.ENTERPRISE_TYPE_UNSPECIFIED) == ""


def test_a_word_parses_to_its_member() -> None:
    assert parse_word(EnterpriseType, "company", field="type", label_zh="企业类型") is (
        EnterpriseType.COMPANY
    )


@pytest.mark.parametrize("typed", ["", "Company", "bank"])
def test_an_unknown_word_is_refused_naming_the_field_and_the_choices(typed: str) -> None:
    with pytest.raises(DomainError) as failure:
        parse_word(OrganisationKind, typed, field="kind", label_zh="组织类型")
    error = failure.value
    assert error.kind is ErrorKind.INVALID_INPUT
    assert error.message_zh == "组织类型取值不正确"
    assert error.field_violations[0].field == "kind"
    assert "owners_committee" in error.field_violations[0].description
