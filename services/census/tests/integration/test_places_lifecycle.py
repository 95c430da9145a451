"""Correcting and removing buildings, households and enterprises through the real server:
field masks and versions, refusals while people still live there, history kept, natural keys
free again, facts published, and nothing of another community within reach.

Each test registers its own complex in 湖山 (names used only here), so counts are exact.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message
from sqlalchemy import select

from census.app import CensusCore
from census.enterprises.models import Enterprise
from census.identity.codes import credit_check_character, id_check_character
from census.models import outbox
from census.people.models import Household
from census.places.models import Building
from shequ.census.v1 import census_pb2 as pb
from shequ.census.v1 import events_pb2
from shequ.common.v1 import errors_pb2, paging_pb2
from shequ_kit.db import system_scope
from shequ_kit.grpc_client import error_detail

HUSHAN = "xiaoshan.shushan.hushan"
XIANGYUAN = "xiaoshan.shushan.xiangyuan"
TODAY = "2026-11-23"
Call = Callable[..., Any]


def id_number(birth: str, sequence: str) -> str:
    first17 = f"330109{birth}{sequence}"
    return first17 + id_check_character(first17)


def credit_code(body: str) -> str:
    return body + credit_check_character(body)


def refused(action: Callable[[], Any], code: grpc.StatusCode) -> errors_pb2.ErrorDetail:
    with pytest.raises(grpc.RpcError) as failure:
        action()
    assert failure.value.code() is code, failure.value
    detail = error_detail(failure.value)
    assert detail is not None
    assert detail.message_zh
    assert detail.message_en
    return detail


def fields(detail: errors_pb2.ErrorDetail) -> list[str]:
    return [violation.field for violation in detail.field_violations]


@dataclass(frozen=True)
class Place:
    complex: pb.Complex
    building: pb.Building
    unit: pb.Unit
    dwelling: pb.Dwelling


def new_place(call: Call, complex_name: str, number: str = "3幢", room: str = "101") -> Place:
    complex_ = call("CreateComplex", pb.CreateComplexRequest(name=complex_name)).complex
    building = call(
        "CreateBuilding",
        pb.CreateBuildingRequest(complex_id=complex_.id, number=number, floors=6),
    ).building
    unit = call("CreateUnit", pb.CreateUnitRequest(building_id=building.id, number="1单元")).unit
    dwelling = call("CreateDwelling", pb.CreateDwellingRequest(unit_id=unit.id, room=room)).dwelling
    return Place(complex_, building, unit, dwelling)


def new_household(call: Call, dwelling: pb.Dwelling) -> pb.Household:
    household: pb.Household = call(
        "CreateHousehold",
        pb.CreateHouseholdRequest(dwelling_id=dwelling.id, tenure=pb.TENURE_TENANT),
    ).household
    return household


def register(
    call: Call,
    household: pb.Household,
    birth: str,
    sequence: str,
    relation: pb.RelationToHead.ValueType = pb.RELATION_TO_HEAD_SELF,
) -> pb.Resident:
    resident: pb.Resident = call(
        "CreateResident",
        pb.CreateResidentRequest(
            resident=pb.ResidentInput(
                household_id=household.id,
                name="林住户",
                id_number=id_number(birth, sequence),
                relation_to_head=relation,
                residence_type=pb.RESIDENCE_TYPE_RESIDENT,
                tenure=pb.TENURE_TENANT,
            )
        ),
    ).resident
    return resident


def new_enterprise(
    call: Call, code: str, dwelling_id: str = "", address: str = ""
) -> pb.Enterprise:
    enterprise: pb.Enterprise = call(
        "CreateEnterprise",
        pb.CreateEnterpriseRequest(
            name=f"湖山商户{code[-4:]}",
            credit_code=code,
            type=pb.ENTERPRISE_TYPE_INDIVIDUAL_BUSINESS,
            dwelling_id=dwelling_id,
            address=address,
            contact_phone="13812345678",
            employees=3,
        ),
    ).enterprise
    return enterprise


def published(core: CensusCore, aggregate_id: str) -> list[tuple[str, bytes]]:
    """The facts in the outbox about one record, oldest first: (event type, payload)."""
    with system_scope(), core.sessions() as session:
        rows = session.execute(
            select(outbox.c.event_type, outbox.c.payload)
            .where(outbox.c.aggregate_id == aggregate_id)
            .order_by(outbox.c.id)
        )
        return [(event_type, bytes(payload)) for event_type, payload in rows]


def last_fact(core: CensusCore, aggregate_id: str, message: type[Message]) -> Any:
    event_type, payload = published(core, aggregate_id)[-1]
    assert event_type == f"shequ.census.v1.{message.__name__}"
    return message.FromString(payload)


# ---- buildings ----


def test_a_renumbered_building_takes_its_dwellings_and_shops_addresses_along(
    call: Call, core: CensusCore
) -> None:
    place = new_place(call, "更名苑", number="3幢")
    assert place.dwelling.address == "更名苑3幢1单元101室"
    shop = new_enterprise(call, credit_code("92330109MA2R1E0N1"), dwelling_id=place.dwelling.id)
    elsewhere = new_enterprise(
        call, credit_code("92330109MA2R1E0N2"), dwelling_id=place.dwelling.id, address="沿街1号"
    )

    corrected = call(
        "UpdateBuilding",
        pb.UpdateBuildingRequest(
            building_id=place.building.id,
            number="13幢",
            floors=18,
            update_mask=FieldMask(paths=["number", "floors"]),
            expected_version=1,
        ),
        user="hushan-pii",
    ).building
    assert (corrected.number, corrected.floors, corrected.version) == ("13幢", 18, 2)
    assert corrected.verification.verified_on == TODAY
    assert corrected.verification.verified_by == "hushan-pii"

    dwellings = call(
        "ListDwellings", pb.ListDwellingsRequest(building_id=place.building.id)
    ).dwellings
    assert [d.address for d in dwellings] == ["更名苑13幢1单元101室"]
    get = call("GetEnterprise", pb.GetEnterpriseRequest(enterprise_id=shop.id)).enterprise
    assert get.address == "更名苑13幢1单元101室"
    kept = call("GetEnterprise", pb.GetEnterpriseRequest(enterprise_id=elsewhere.id)).enterprise
    assert kept.address == "沿街1号"  # typed by staff: not the dwelling's to change

    fact = last_fact(core, place.building.id, events_pb2.BuildingUpdated)
    assert (fact.tenant.tenant_id, fact.building.number, fact.building.floors) == (
        HUSHAN,
        "13幢",
        18,
    )


def test_a_building_correction_is_checked_like_a_registration(call: Call) -> None:
    place = new_place(call, "校验苑", number="1幢")
    call("CreateBuilding", pb.CreateBuildingRequest(complex_id=place.complex.id, number="2幢"))

    def update(paths: list[str], version: int = 1, **values: Any) -> Any:
        return call(
            "UpdateBuilding",
            pb.UpdateBuildingRequest(
                building_id=place.building.id,
                update_mask=FieldMask(paths=paths),
                expected_version=version,
                **values,
            ),
        )

    taken = refused(lambda: update(["number"], number="2幢"), grpc.StatusCode.ALREADY_EXISTS)
    assert (taken.code, fields(taken)) == ("census.building_exists", ["number"])
    blank = refused(lambda: update(["number"], number="  "), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields(blank) == ["number"]
    floors = refused(lambda: update(["floors"], floors=999), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields(floors) == ["floors"]
    moved = refused(lambda: update(["complex_id"]), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields(moved) == ["update_mask"]
    assert "complex_id" in moved.message_zh
    future = refused(
        lambda: update(["verified_on"], verified_on="2026-12-01"), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert fields(future) == ["verified_on"]
    unversioned = refused(lambda: update(["floors"], 0, floors=7), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields(unversioned) == ["expected_version"]

    # None of the refusals wrote anything: version 1 still applies, and then it is stale.
    assert update(["verified_on"], verified_on="2026-11-20").building.version == 2
    stale = refused(lambda: update(["floors"], floors=7), grpc.StatusCode.FAILED_PRECONDITION)
    assert (stale.code, stale.params["current_version"]) == ("census.stale_version", "2")
    again = call("GetBuilding", pb.GetBuildingRequest(building_id=place.building.id)).building
    assert (again.number, again.floors, again.verification.verified_on) == (
        "1幢",
        6,
        "2026-11-20",
    )


def test_a_building_is_removed_only_once_nobody_lives_there(call: Call, core: CensusCore) -> None:
    place = new_place(call, "拆除苑", number="5幢")
    household = new_household(call, place.dwelling)
    resident = register(call, household, "19700101", "511")

    def remove(reason: str = "楼幢已拆除", version: int = 1) -> Any:
        return call(
            "RemoveBuilding",
            pb.RemoveBuildingRequest(
                building_id=place.building.id, reason=reason, expected_version=version
            ),
        )

    lived_in = refused(remove, grpc.StatusCode.FAILED_PRECONDITION)
    assert lived_in.code == "census.building_in_use"
    assert dict(lived_in.params) == {"households": "1", "residents": "1", "enterprises": "0"}
    assert "1户、1位现住居民" in lived_in.message_zh

    call(
        "RemoveResident",
        pb.RemoveResidentRequest(resident_id=resident.id, reason="重复登记", expected_version=1),
    )
    still = refused(remove, grpc.StatusCode.FAILED_PRECONDITION)
    assert dict(still.params) == {"households": "1", "residents": "0", "enterprises": "0"}
    call(
        "RemoveHousehold",
        pb.RemoveHouseholdRequest(
            household_id=household.id, reason="全户已迁走", expected_version=1
        ),
    )
    no_reason = refused(lambda: remove(reason="拆"), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields(no_reason) == ["reason"]

    remove()

    gone = refused(
        lambda: call("GetBuilding", pb.GetBuildingRequest(building_id=place.building.id)),
        grpc.StatusCode.NOT_FOUND,
    )
    assert gone.code == "census.building_not_found"
    listed = call("ListBuildings", pb.ListBuildingsRequest(complex_id=place.complex.id))
    assert list(listed.buildings) == []
    nobody_moves_in = refused(
        lambda: new_household(call, place.dwelling), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert fields(nobody_moves_in) == ["dwelling_id"]
    counts = call("CountHouseholdsPerBuilding", pb.CountHouseholdsPerBuildingRequest()).households
    assert place.building.id not in counts
    # The number is free again for the building that replaces it.
    rebuilt = call(
        "CreateBuilding", pb.CreateBuildingRequest(complex_id=place.complex.id, number="5幢")
    ).building
    assert rebuilt.id != place.building.id

    with system_scope(), core.sessions() as session:
        row = session.get(Building, uuid.UUID(place.building.id))
        assert row is not None
        assert (row.removed_by, row.removed_reason, row.version) == (
            "hushan-staff",
            "楼幢已拆除",
            2,
        )
        assert row.removed_at is not None
    fact = last_fact(core, place.building.id, events_pb2.BuildingRemoved)
    assert (fact.tenant.tenant_id, fact.building_id) == (HUSHAN, place.building.id)


def test_an_enterprise_in_a_building_holds_up_its_removal(call: Call) -> None:
    place = new_place(call, "商铺苑", number="1幢")
    new_enterprise(call, credit_code("92330109MA2R1E0N3"), dwelling_id=place.dwelling.id)
    occupied = refused(
        lambda: call(
            "RemoveBuilding",
            pb.RemoveBuildingRequest(
                building_id=place.building.id, reason="楼幢已拆除", expected_version=1
            ),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert occupied.params["enterprises"] == "1"
    assert "1家企业店铺" in occupied.message_zh


# ---- households ----


def test_a_new_head_takes_over_and_the_former_head_becomes_other(
    call: Call, core: CensusCore
) -> None:
    place = new_place(call, "换户主苑")
    household = new_household(call, place.dwelling)
    head = register(call, household, "19500101", "611")
    spouse = register(call, household, "19520202", "622", pb.RELATION_TO_HEAD_SPOUSE)

    updated = call(
        "UpdateHousehold",
        pb.UpdateHouseholdRequest(
            household_id=household.id,
            head_resident_id=spouse.id,
            tenure=pb.TENURE_OWNER,
            update_mask=FieldMask(paths=["head_resident_id", "tenure"]),
            expected_version=household.version,
        ),
    ).household
    assert (updated.head_resident_id, updated.tenure, updated.size) == (
        spouse.id,
        pb.TENURE_OWNER,
        2,
    )
    assert updated.version == household.version + 1
    assert updated.verification.verified_by == "hushan-staff"

    def relation(resident: pb.Resident) -> int:
        found = call("GetResident", pb.GetResidentRequest(resident_id=resident.id)).resident
        return int(found.relation_to_head)

    assert relation(spouse) == pb.RELATION_TO_HEAD_SELF
    assert relation(head) == pb.RELATION_TO_HEAD_OTHER

    fact = last_fact(core, household.id, events_pb2.HouseholdUpdated)
    assert (fact.household.household_id, fact.household.size) == (household.id, 2)
    assert fact.household.tenure == pb.TENURE_OWNER


def test_the_head_must_be_a_current_member_of_the_household(call: Call) -> None:
    place = new_place(call, "户主苑")
    household = new_household(call, place.dwelling)
    register(call, household, "19600303", "633")
    neighbour_dwelling = call(
        "CreateDwelling", pb.CreateDwellingRequest(unit_id=place.unit.id, room="102")
    ).dwelling
    neighbour = register(call, new_household(call, neighbour_dwelling), "19610404", "644")
    leaver = register(call, household, "19900505", "655", pb.RELATION_TO_HEAD_CHILD)
    call(
        "MoveResident",
        pb.MoveResidentRequest(resident_id=leaver.id, expected_version=leaver.version),
    )

    for candidate in (neighbour.id, leaver.id, ""):
        request = pb.UpdateHouseholdRequest(
            household_id=household.id,
            head_resident_id=candidate,
            update_mask=FieldMask(paths=["head_resident_id"]),
            expected_version=household.version,
        )
        wrong = refused(partial(call, "UpdateHousehold", request), grpc.StatusCode.INVALID_ARGUMENT)
        assert (wrong.code, fields(wrong)) == ("census.head_not_in_household", ["head_resident_id"])
    moved = refused(
        lambda: call(
            "UpdateHousehold",
            pb.UpdateHouseholdRequest(
                household_id=household.id,
                update_mask=FieldMask(paths=["dwelling_id"]),
                expected_version=household.version,
            ),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields(moved) == ["update_mask"]


def test_a_household_is_removed_once_its_residents_have_left(call: Call, core: CensusCore) -> None:
    place = new_place(call, "散户苑")
    household = new_household(call, place.dwelling)
    resident = register(call, household, "19800606", "666")

    def remove(version: int) -> Any:
        return call(
            "RemoveHousehold",
            pb.RemoveHouseholdRequest(
                household_id=household.id, reason="全户迁出", expected_version=version
            ),
        )

    lived_in = refused(lambda: remove(household.version), grpc.StatusCode.FAILED_PRECONDITION)
    assert (lived_in.code, lived_in.params["residents"]) == ("census.household_in_use", "1")
    assert "1位现住居民" in lived_in.message_zh
    call(
        "MoveResident",
        pb.MoveResidentRequest(resident_id=resident.id, expected_version=resident.version),
    )
    current = call("ListHouseholds", pb.ListHouseholdsRequest(building_id=place.building.id))
    (before,) = current.households
    stale = refused(lambda: remove(before.version + 1), grpc.StatusCode.FAILED_PRECONDITION)
    assert stale.code == "census.stale_version"

    remove(before.version)

    listed = call("ListHouseholds", pb.ListHouseholdsRequest(building_id=place.building.id))
    assert list(listed.households) == []
    building = call("GetBuilding", pb.GetBuildingRequest(building_id=place.building.id))
    assert (building.households, building.residents) == (0, 0)
    nobody_joins = refused(
        lambda: register(call, household, "19810707", "677"), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert fields(nobody_joins) == ["household_id"]
    again = refused(lambda: remove(before.version + 1), grpc.StatusCode.NOT_FOUND)
    assert again.code == "census.household_not_found"
    # The former member's history still names the household.
    former = call("GetResident", pb.GetResidentRequest(resident_id=resident.id)).resident
    assert (former.household_id, former.moved_out_on) == (household.id, TODAY)

    with system_scope(), core.sessions() as session:
        row = session.get(Household, uuid.UUID(household.id))
        assert row is not None
        assert (row.removed_reason, row.head_resident_id) == ("全户迁出", None)
    fact = last_fact(core, household.id, events_pb2.HouseholdRemoved)
    assert (fact.household_id, fact.building_id) == (household.id, place.building.id)


# ---- enterprises ----


def test_an_enterprise_is_read_corrected_with_registration_rules_and_removed(
    call: Call, core: CensusCore
) -> None:
    code = credit_code("91330109MA2R1E0N4")
    other_code = credit_code("91330109MA2R1E0N5")
    enterprise = new_enterprise(call, code, address="湖山路8号")
    new_enterprise(call, other_code, address="湖山路9号")
    assert (
        call("GetEnterprise", pb.GetEnterpriseRequest(enterprise_id=enterprise.id)).enterprise
        == enterprise
    )

    def update(paths: list[str], version: int, **values: Any) -> Any:
        return call(
            "UpdateEnterprise",
            pb.UpdateEnterpriseRequest(
                enterprise_id=enterprise.id,
                update_mask=FieldMask(paths=paths),
                expected_version=version,
                **values,
            ),
        )

    corrected = update(
        ["employees", "contact_phone", "type"],
        1,
        employees=12,
        contact_phone="139 0000 1111",
        type=pb.ENTERPRISE_TYPE_COMPANY,
    ).enterprise
    assert (corrected.employees, corrected.contact_phone, corrected.version) == (
        12,
        "139****1111",
        2,
    )
    assert corrected.type == pb.ENTERPRISE_TYPE_COMPANY
    assert (corrected.name, corrected.address) == (enterprise.name, "湖山路8号")

    misprinted = code[:-1] + ("0" if code[-1] != "0" else "1")
    checksum = refused(
        lambda: update(["credit_code"], 2, credit_code=misprinted),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields(checksum) == ["credit_code"]
    taken = refused(
        lambda: update(["credit_code"], 2, credit_code=other_code), grpc.StatusCode.ALREADY_EXISTS
    )
    assert (taken.code, fields(taken)) == ("census.enterprise_exists", ["credit_code"])
    phone = refused(
        lambda: update(["contact_phone"], 2, contact_phone="0571-8888"),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields(phone) == ["contact_phone"]
    stale = refused(
        lambda: update(["employees"], 1, employees=1), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert stale.params["current_version"] == "2"

    fact = last_fact(core, enterprise.id, events_pb2.EnterpriseUpdated)
    assert (fact.enterprise.employees, fact.enterprise.type) == (12, pb.ENTERPRISE_TYPE_COMPANY)

    call(
        "RemoveEnterprise",
        pb.RemoveEnterpriseRequest(
            enterprise_id=enterprise.id, reason="已歇业注销", expected_version=2
        ),
    )
    refused(
        lambda: call("GetEnterprise", pb.GetEnterpriseRequest(enterprise_id=enterprise.id)),
        grpc.StatusCode.NOT_FOUND,
    )
    listed = call(
        "ListEnterprises", pb.ListEnterprisesRequest(page=paging_pb2.PageRequest(page_size=500))
    )
    assert enterprise.id not in {e.id for e in listed.enterprises}
    # The same legal entity may be registered again (reopened, or entered correctly).
    again = new_enterprise(call, code, address="湖山路10号")
    assert again.id != enterprise.id
    with system_scope(), core.sessions() as session:
        row = session.get(Enterprise, uuid.UUID(enterprise.id))
        assert row is not None
        assert (row.removed_by, row.removed_reason) == ("hushan-staff", "已歇业注销")
    removed = last_fact(core, enterprise.id, events_pb2.EnterpriseRemoved)
    assert (removed.enterprise_id, removed.building_id) == (enterprise.id, "")


def test_an_enterprise_moved_to_a_dwelling_takes_its_address_and_building(
    call: Call, core: CensusCore
) -> None:
    place = new_place(call, "迁店苑", number="2幢", room="103")
    enterprise = new_enterprise(call, credit_code("92330109MA2R1E0N6"), address="临时摊位")
    moved = call(
        "UpdateEnterprise",
        pb.UpdateEnterpriseRequest(
            enterprise_id=enterprise.id,
            dwelling_id=place.dwelling.id,
            address="",
            update_mask=FieldMask(paths=["dwelling_id", "address"]),
            expected_version=1,
        ),
    ).enterprise
    assert (moved.dwelling_id, moved.address) == (place.dwelling.id, "迁店苑2幢1单元103室")
    fact = last_fact(core, enterprise.id, events_pb2.EnterpriseUpdated)
    assert fact.enterprise.building_id == place.building.id
    nowhere = refused(
        lambda: call(
            "UpdateEnterprise",
            pb.UpdateEnterpriseRequest(
                enterprise_id=enterprise.id,
                dwelling_id="6b1a8c54-0000-4000-8000-000000000000",
                update_mask=FieldMask(paths=["dwelling_id"]),
                expected_version=2,
            ),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields(nowhere) == ["dwelling_id"]


# ---- who may ----


def test_another_community_finds_none_of_these_records(call: Call) -> None:
    place = new_place(call, "隔离苑")
    household = new_household(call, place.dwelling)
    enterprise = new_enterprise(call, credit_code("92330109MA2R1E0N7"), address="湖山路11号")
    mask = FieldMask(paths=["verified_on"])
    attempts = {
        "UpdateBuilding": pb.UpdateBuildingRequest(
            building_id=place.building.id, verified_on=TODAY, update_mask=mask, expected_version=1
        ),
        "RemoveBuilding": pb.RemoveBuildingRequest(
            building_id=place.building.id, reason="越权删除", expected_version=1
        ),
        "UpdateHousehold": pb.UpdateHouseholdRequest(
            household_id=household.id, verified_on=TODAY, update_mask=mask, expected_version=1
        ),
        "RemoveHousehold": pb.RemoveHouseholdRequest(
            household_id=household.id, reason="越权删除", expected_version=1
        ),
        "GetEnterprise": pb.GetEnterpriseRequest(enterprise_id=enterprise.id),
        "UpdateEnterprise": pb.UpdateEnterpriseRequest(
            enterprise_id=enterprise.id, verified_on=TODAY, update_mask=mask, expected_version=1
        ),
        "RemoveEnterprise": pb.RemoveEnterpriseRequest(
            enterprise_id=enterprise.id, reason="越权删除", expected_version=1
        ),
    }
    for method, request in attempts.items():
        refused(
            partial(call, method, request, user="xiangyuan-staff", tenant=XIANGYUAN),
            grpc.StatusCode.NOT_FOUND,
        )
    # Untouched at home.
    assert (
        call("GetBuilding", pb.GetBuildingRequest(building_id=place.building.id)).building.version
        == 1
    )
    assert (
        call(
            "GetEnterprise", pb.GetEnterpriseRequest(enterprise_id=enterprise.id)
        ).enterprise.version
        == 1
    )


def test_only_community_staff_correct_and_remove(call: Call) -> None:
    place = new_place(call, "权限苑")
    request = pb.RemoveBuildingRequest(
        building_id=place.building.id, reason="楼幢已拆除", expected_version=1
    )
    refused(
        lambda: call("RemoveBuilding", request, user="hushan-grid"),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    refused(
        lambda: call("RemoveBuilding", request, user="shushan-admin", tenant="xiaoshan.shushan"),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert (
        call("GetBuilding", pb.GetBuildingRequest(building_id=place.building.id)).building.version
        == 1
    )


# ---- statistics ----


def test_removed_records_leave_the_statistics(call: Call) -> None:
    place = new_place(call, "统计删除苑")
    household = new_household(call, place.dwelling)
    shop = new_enterprise(call, credit_code("92330109MA2R1E0N8"), dwelling_id=place.dwelling.id)

    def figures() -> tuple[int, int]:
        parts = call("GetStatistics", pb.GetStatisticsRequest(by_complex=True)).parts
        (part,) = [p for p in parts if p.scope_id == place.complex.id]
        return part.households, part.enterprises

    assert figures() == (1, 1)
    call(
        "RemoveEnterprise",
        pb.RemoveEnterpriseRequest(enterprise_id=shop.id, reason="登记有误", expected_version=1),
    )
    call(
        "RemoveHousehold",
        pb.RemoveHouseholdRequest(household_id=household.id, reason="登记有误", expected_version=1),
    )
    assert figures() == (0, 0)
