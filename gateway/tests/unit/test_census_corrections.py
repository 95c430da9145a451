"""PATCH bodies of buildings, households and enterprises become field masks; DELETE bodies
carry the reason and version."""

import pytest
from pydantic import ValidationError

from gateway.census.models import Removal, UpdateBuilding, UpdateEnterprise, UpdateHousehold
from shequ.census.v1 import census_pb2 as pb


def test_only_the_fields_sent_are_in_the_mask_and_null_is_sent() -> None:
    body = UpdateBuilding.model_validate({"floors": None, "number": "8幢", "expected_version": 2})
    request = body.to_proto("b1")
    assert list(request.update_mask.paths) == ["number", "floors"]
    assert (request.building_id, request.number, request.floors) == ("b1", "8幢", 0)
    assert request.expected_version == 2


def test_a_field_that_cannot_be_corrected_is_refused_by_name() -> None:
    with pytest.raises(ValidationError) as refused:
        UpdateHousehold.model_validate({"dwelling_id": "d1", "expected_version": 1})
    assert [error["loc"] for error in refused.value.errors()] == [("dwelling_id",)]


def test_the_version_read_is_required() -> None:
    with pytest.raises(ValidationError) as refused:
        UpdateEnterprise.model_validate({"employees": 3})
    assert [error["loc"] for error in refused.value.errors()] == [("expected_version",)]


def test_an_enterprise_correction_carries_words_as_proto_values() -> None:
    body = UpdateEnterprise.model_validate(
        {
            "type": "company",
            "contact_phone": None,
            "verified_on": "2026-11-20",
            "expected_version": 1,
        }
    )
    request = body.to_proto("e1")
    assert list(request.update_mask.paths) == ["verified_on", "type", "contact_phone"]
    assert (request.type, request.contact_phone, request.verified_on) == (
        pb.ENTERPRISE_TYPE_COMPANY,
        "",
        "2026-11-20",
    )


def test_a_removal_names_the_record_its_reason_and_version() -> None:
    removal = Removal(reason="楼幢已拆除", expected_version=4)
    assert removal.building("b1") == pb.RemoveBuildingRequest(
        building_id="b1", reason="楼幢已拆除", expected_version=4
    )
    assert removal.household("h1").household_id == "h1"
    assert removal.enterprise("e1").enterprise_id == "e1"
