"""Enterprises, organisations, statistics and the questions other services ask, over gRPC."""

from collections.abc import Callable
from typing import Any

from census.identity.codes import credit_check_character, id_check_character
from shequ.census.v1 import census_pb2 as pb

Call = Callable[..., Any]


def credit_code(serial: str) -> str:
    first17 = f"91330109MA2B{serial}"
    return first17 + credit_check_character(first17)


def test_enterprises_are_registered_with_a_checked_credit_code_and_a_masked_contact(
    call: Call,
) -> None:
    created = call(
        "CreateEnterprise",
        pb.CreateEnterpriseRequest(
            name="湖山便利店",
            credit_code=credit_code("00001"),
            type=pb.ENTERPRISE_TYPE_INDIVIDUAL_BUSINESS,
            address="湖山路1号",
            contact_name="周店长",
            contact_phone="13612345678",
            employees=3,
        ),
    ).enterprise
    assert created.contact_phone == "136****5678"
    assert created.type == pb.ENTERPRISE_TYPE_INDIVIDUAL_BUSINESS
    listed = call(
        "ListEnterprises", pb.ListEnterprisesRequest(type=pb.ENTERPRISE_TYPE_INDIVIDUAL_BUSINESS)
    ).enterprises
    assert created.id in {e.id for e in listed}


def test_organisations_serve_complexes_of_the_community(call: Call) -> None:
    complex_ = call("CreateComplex", pb.CreateComplexRequest(name="统计花园")).complex
    created = call(
        "CreateOrganization",
        pb.CreateOrganizationRequest(
            kind=pb.ORGANIZATION_KIND_OWNERS_COMMITTEE,
            name="统计花园业委会",
            complex_ids=[complex_.id],
            contact_name="业委会主任",
            contact_phone="13512345678",
        ),
    ).organization
    assert list(created.complex_ids) == [complex_.id]
    assert created.contact_phone == "135****5678"
    kinds = call(
        "ListOrganizations", pb.ListOrganizationsRequest(kind=pb.ORGANIZATION_KIND_OWNERS_COMMITTEE)
    ).organizations
    assert "统计花园业委会" in {o.name for o in kinds}


def test_statistics_audiences_and_building_counts_agree_with_what_was_registered(
    call: Call,
) -> None:
    complex_ = call("CreateComplex", pb.CreateComplexRequest(name="受众小区")).complex
    building = call(
        "CreateBuilding", pb.CreateBuildingRequest(complex_id=complex_.id, number="9幢")
    ).building
    unit = call("CreateUnit", pb.CreateUnitRequest(building_id=building.id, number="1单元")).unit
    dwelling = call(
        "CreateDwelling", pb.CreateDwellingRequest(unit_id=unit.id, room="901")
    ).dwelling
    household = call(
        "CreateHousehold",
        pb.CreateHouseholdRequest(dwelling_id=dwelling.id, tenure=pb.TENURE_OWNER),
    ).household
    for name, birth, relation in [
        ("老王", "19400101", pb.RELATION_TO_HEAD_SELF),
        ("小王", "20180101", pb.RELATION_TO_HEAD_CHILD),
    ]:
        first17 = f"330109{birth}987"
        call(
            "CreateResident",
            pb.CreateResidentRequest(
                resident=pb.ResidentInput(
                    household_id=household.id,
                    name=name,
                    id_number=first17 + id_check_character(first17),
                    relation_to_head=relation,
                    residence_type=pb.RESIDENCE_TYPE_REGISTERED,
                    tenure=pb.TENURE_OWNER,
                )
            ),
        )

    figures = call("GetStatistics", pb.GetStatisticsRequest(by_building=True))
    ours = next(p for p in figures.parts if p.scope_id == building.id)
    assert (ours.households, ours.residents) == (1, 2)
    assert ours.by_care_tag["elderly"] == 1
    assert ours.by_care_tag["child"] == 1
    assert figures.total.residents >= 2

    elderly = list(
        call(
            "StreamResidentsInPlaces",
            pb.StreamResidentsInPlacesRequest(
                building_ids=[building.id], care_tags=[pb.CARE_TAG_ELDERLY]
            ),
        )
    )
    assert [person.name for person in elderly] == ["老王"]

    counts = call(
        "CountHouseholdsPerBuilding",
        pb.CountHouseholdsPerBuildingRequest(building_ids=[building.id]),
    )
    assert (counts.households[building.id], counts.residents[building.id]) == (1, 2)


def test_a_street_gets_its_statistics_per_community(call: Call) -> None:
    street = call(
        "GetStatistics", pb.GetStatisticsRequest(), user="shushan-admin", tenant="xiaoshan.shushan"
    )
    parts = {part.scope_id: part.residents for part in street.parts}
    assert "xiaoshan.shushan.hushan" in parts
    assert sum(parts.values()) == street.total.residents
