"""The census slice built so far, through its real gRPC server with real Keycloak tokens."""

from collections.abc import Callable
from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from sqlalchemy import select

from census.app import CensusCore
from census.identity.codes import id_check_character
from census.models import outbox
from census.people.models import PiiReveal
from shequ.census.v1 import census_pb2 as pb
from shequ.census.v1 import events_pb2
from shequ.common.v1 import paging_pb2
from shequ_infra import LocalInfrastructure
from shequ_kit.db import system_scope
from shequ_kit.grpc_client import error_detail

HUSHAN = "xiaoshan.shushan.hushan"
XIANGYUAN = "xiaoshan.shushan.xiangyuan"
Call = Callable[..., Any]


def id_number(birth: str, sequence: str = "123", area: str = "330109") -> str:
    first17 = f"{area}{birth}{sequence}"
    return first17 + id_check_character(first17)


def refused(action: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as failure:
        action()
    return failure.value


@pytest.fixture(scope="module")
def household(call: Call) -> pb.Household:
    complex_ = call(
        "CreateComplex",
        pb.CreateComplexRequest(name="晴庐", address="市心北路", delivered_year=2017),
    ).complex
    building = call(
        "CreateBuilding", pb.CreateBuildingRequest(complex_id=complex_.id, number="3幢", floors=18)
    ).building
    unit = call("CreateUnit", pb.CreateUnitRequest(building_id=building.id, number="1单元")).unit
    dwelling = call(
        "CreateDwelling", pb.CreateDwellingRequest(unit_id=unit.id, room="502")
    ).dwelling
    assert dwelling.address == "晴庐3幢1单元502室"
    created: pb.Household = call(
        "CreateHousehold",
        pb.CreateHouseholdRequest(dwelling_id=dwelling.id, tenure=pb.TENURE_OWNER),
    ).household
    return created


def resident_input(household: pb.Household, **overrides: Any) -> pb.ResidentInput:
    fields: dict[str, Any] = dict(
        household_id=household.id,
        name="王秀英",
        id_number=id_number("19500302", "124"),
        phone="138 1234 5678",
        relation_to_head=pb.RELATION_TO_HEAD_SELF,
        residence_type=pb.RESIDENCE_TYPE_REGISTERED,
        tenure=pb.TENURE_OWNER,
        care_tags=[pb.CARE_TAG_LIVING_ALONE],
    )
    fields.update(overrides)
    return pb.ResidentInput(**fields)


@pytest.fixture(scope="module")
def elder(call: Call, household: pb.Household) -> pb.Resident:
    created: pb.Resident = call(
        "CreateResident", pb.CreateResidentRequest(resident=resident_input(household))
    ).resident
    return created


def test_staff_register_a_resident_whose_personal_data_comes_back_masked(
    elder: pb.Resident,
) -> None:
    assert elder.pii_masked
    assert elder.id_number == "330109**********" + id_number("19500302", "124")[-2:]
    assert elder.phone == "138****5678"
    assert elder.birth_date == "1950-03-02"
    assert elder.sex == pb.SEX_FEMALE  # sequence 124: even
    assert elder.age_band == pb.AGE_BAND_60_79
    assert set(elder.care_tags) == {pb.CARE_TAG_ELDERLY, pb.CARE_TAG_LIVING_ALONE}
    assert elder.verification.verified_by == "hushan-staff"


def test_nothing_stores_personal_data_in_clear(
    infra: LocalInfrastructure, elder: pb.Resident
) -> None:
    with psycopg.connect(infra.postgres.superuser_dsn("census")) as connection:
        row = connection.execute(
            "SELECT id_number_cipher, phone_cipher FROM resident WHERE id = %s", (elder.id,)
        ).fetchone()
    assert row is not None
    assert b"330109" not in bytes(row[0])
    assert b"13812345678" not in bytes(row[1])


def test_a_pii_reader_sees_unmasked_data_with_a_reason_and_it_is_audited(
    call: Call, core: CensusCore, elder: pb.Resident
) -> None:
    revealed = call(
        "RevealResident",
        pb.RevealResidentRequest(resident_id=elder.id, reason="上门核实独居老人情况"),
        user="hushan-pii",
    ).resident
    assert not revealed.pii_masked
    assert revealed.id_number == id_number("19500302", "124")
    assert revealed.phone == "13812345678"
    with system_scope(), core.sessions() as session:
        audit = session.scalars(select(PiiReveal).where(PiiReveal.resident_id == elder.id)).all()
    assert [(a.actor_username, a.reason, a.tenant_id) for a in audit] == [
        ("hushan-pii", "上门核实独居老人情况", HUSHAN)
    ]


def test_a_reveal_needs_a_reason_and_the_pii_reader_role(call: Call, elder: pb.Resident) -> None:
    no_reason = refused(
        lambda: call(
            "RevealResident", pb.RevealResidentRequest(resident_id=elder.id), user="hushan-pii"
        )
    )
    assert no_reason.code() is grpc.StatusCode.INVALID_ARGUMENT
    detail = error_detail(no_reason)
    assert detail is not None
    assert detail.field_violations[0].field == "reason"
    staff = refused(
        lambda: call(
            "RevealResident", pb.RevealResidentRequest(resident_id=elder.id, reason="想看看")
        )
    )
    assert staff.code() is grpc.StatusCode.PERMISSION_DENIED


def test_the_audit_of_reveals_cannot_be_rewritten(
    infra: LocalInfrastructure, elder: pb.Resident
) -> None:
    with psycopg.connect(infra.postgres.dsn("census")) as connection:
        connection.execute("SELECT set_config('shequ.tenant_id', %s, true)", (HUSHAN,))
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            connection.execute("UPDATE pii_reveal SET reason = 'nothing to see'")


def test_the_same_id_number_twice_in_a_community_is_refused(
    call: Call, household: pb.Household, elder: pb.Resident
) -> None:
    again = refused(
        lambda: call(
            "CreateResident",
            pb.CreateResidentRequest(
                resident=resident_input(
                    household,
                    relation_to_head=pb.RELATION_TO_HEAD_SPOUSE,
                    id_number=id_number("19500302", "124").lower(),
                )
            ),
        )
    )
    assert again.code() is grpc.StatusCode.ALREADY_EXISTS
    detail = error_detail(again)
    assert detail is not None
    assert detail.code == "census.duplicate_id_number"
    assert detail.field_violations[0].field == "id_number"


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"id_number": id_number("19800101")[:-1] + "0"}, "id_number", "census.id_number_checksum"),
        ({"id_number": "33010919800230123X"}, "id_number", "census.id_number_birth_date"),
        ({"phone": "12345"}, "phone", "census.phone_format"),
        (
            {"household_id": "6b1a8c54-0000-4000-8000-000000000000"},
            "household_id",
            "census.household_not_found",
        ),
        ({"name": "  "}, "name", "census.name_invalid"),
        ({"moved_in_on": "2026-13-01"}, "resident.moved_in_on", "census.date_invalid"),
        (
            {"residence_type": pb.RESIDENCE_TYPE_UNSPECIFIED},
            "residence_type",
            "census.residence_type_invalid",
        ),
    ],
)
def test_invalid_resident_input_is_refused_naming_the_field_and_writes_nothing(
    call: Call,
    household: pb.Household,
    overrides: dict[str, Any],
    field: str,
    code: str,
) -> None:
    before = call("ListResidents", pb.ListResidentsRequest()).residents
    error = refused(
        lambda: call(
            "CreateResident",
            pb.CreateResidentRequest(
                resident=resident_input(
                    household,
                    **{
                        "relation_to_head": pb.RELATION_TO_HEAD_CHILD,
                        "id_number": id_number("20100505", "311"),
                        **overrides,
                    },
                )
            ),
        )
    )
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    detail = error_detail(error)
    assert detail is not None
    assert detail.code == code
    assert detail.field_violations[0].field == field
    assert detail.message_zh
    assert call("ListResidents", pb.ListResidentsRequest()).residents == before


def test_another_community_cannot_see_hushan_residents(call: Call, elder: pb.Resident) -> None:
    hidden = refused(
        lambda: call(
            "GetResident",
            pb.GetResidentRequest(resident_id=elder.id),
            user="xiangyuan-staff",
            tenant=XIANGYUAN,
        )
    )
    assert hidden.code() is grpc.StatusCode.NOT_FOUND
    assert (
        call(
            "ListResidents", pb.ListResidentsRequest(), user="xiangyuan-staff", tenant=XIANGYUAN
        ).residents
        == []
    )
    crossing = refused(
        lambda: call("ListResidents", pb.ListResidentsRequest(), user="xiangyuan-staff")
    )
    assert crossing.code() is grpc.StatusCode.PERMISSION_DENIED


def test_a_street_admin_reads_across_communities_but_does_not_write(
    call: Call, elder: pb.Resident
) -> None:
    seen = call(
        "ListResidents", pb.ListResidentsRequest(), user="shushan-admin", tenant="xiaoshan.shushan"
    )
    assert elder.id in {r.id for r in seen.residents}
    assert all(r.pii_masked for r in seen.residents)
    write = refused(
        lambda: call(
            "CreateComplex",
            pb.CreateComplexRequest(name="街道小区"),
            user="shushan-admin",
            tenant="xiaoshan.shushan",
        )
    )
    assert write.code() is grpc.StatusCode.PERMISSION_DENIED


def test_residents_do_not_read_the_census(call: Call) -> None:
    error = refused(
        lambda: call("ListResidents", pb.ListResidentsRequest(), user="hushan-resident")
    )
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.usefixtures("household")  # registers 晴庐 first
def test_residents_list_complexes_and_buildings_but_nothing_inside_them(call: Call) -> None:
    # Names and numbers are posted at the gate: a resident names the place of a problem.
    gate = call("CreateComplex", pb.CreateComplexRequest(name="公告小区", address="门口路1号"))
    posted = call(
        "CreateBuilding", pb.CreateBuildingRequest(complex_id=gate.complex.id, number="1幢")
    ).building
    call(
        "UpdateBuilding",
        pb.UpdateBuildingRequest(
            building_id=posted.id,
            update_mask=FieldMask(paths=["floors"]),
            floors=6,
            expected_version=posted.version,
        ),
    )
    complexes = call("ListComplexes", pb.ListComplexesRequest(), user="hushan-resident").complexes
    assert {"晴庐", "公告小区"} <= {c.name for c in complexes}
    buildings = call(
        "ListBuildings", pb.ListBuildingsRequest(complex_id=gate.complex.id), user="hushan-resident"
    ).buildings
    assert [(b.number, b.floors) for b in buildings] == [("1幢", 6)]
    # Who verified the building (a staff member) is the census's, not the resident's.
    assert buildings[0].verification.verified_by == ""
    staff_view = call("ListBuildings", pb.ListBuildingsRequest(complex_id=gate.complex.id))
    assert staff_view.buildings[0].verification.verified_by == "hushan-staff"
    # No counts, dwellings, households or people behind the numbers.
    for method, request in [
        ("GetBuilding", pb.GetBuildingRequest(building_id=posted.id)),
        ("ListDwellings", pb.ListDwellingsRequest(building_id=posted.id)),
        ("ListHouseholds", pb.ListHouseholdsRequest(building_id=posted.id)),
        ("ListResidents", pb.ListResidentsRequest(building_id=posted.id)),
    ]:
        with pytest.raises(grpc.RpcError) as failure:
            call(method, request, user="hushan-resident")
        assert failure.value.code() is grpc.StatusCode.PERMISSION_DENIED, method


def test_a_resident_does_not_list_another_communitys_buildings(call: Call) -> None:
    error = refused(
        lambda: call(
            "ListBuildings", pb.ListBuildingsRequest(), user="hushan-resident", tenant=XIANGYUAN
        )
    )
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


def test_lists_filter_and_page_through_residents(
    call: Call, household: pb.Household, elder: pb.Resident
) -> None:
    for name, birth, sequence in [
        ("李小明", "20150606", "211"),
        ("张%伟", "19900707", "233"),
        ("陈静", "19880808", "244"),
    ]:
        call(
            "CreateResident",
            pb.CreateResidentRequest(
                resident=resident_input(
                    household,
                    name=name,
                    id_number=id_number(birth, sequence),
                    phone="",
                    relation_to_head=pb.RELATION_TO_HEAD_OTHER,
                    care_tags=[],
                )
            ),
        )
    # Only this module's complex: other test modules share the database.
    qinglu = next(
        c.id for c in call("ListComplexes", pb.ListComplexesRequest()).complexes if c.name == "晴庐"
    )
    names: list[str] = []
    token = ""
    while True:
        page = call(
            "ListResidents",
            pb.ListResidentsRequest(
                complex_id=qinglu, page=paging_pb2.PageRequest(page_size=2, page_token=token)
            ),
        )
        names += [r.name for r in page.residents]
        token = page.page.next_page_token
        if not token:
            break
    assert sorted(names) == sorted(["王秀英", "李小明", "张%伟", "陈静"])
    assert len(names) == len(set(names))

    def names_where(**criteria: Any) -> set[str]:
        return {
            r.name
            for r in call(
                "ListResidents", pb.ListResidentsRequest(complex_id=qinglu, **criteria)
            ).residents
        }

    assert names_where(care_tag=pb.CARE_TAG_ELDERLY) == {"王秀英"}
    assert names_where(care_tag=pb.CARE_TAG_CHILD) == {"李小明"}
    assert names_where(age_band=pb.AGE_BAND_35_59) == {"张%伟", "陈静"}
    assert names_where(name_contains="%") == {"张%伟"}  # a literal %, not a wildcard
    assert names_where(id_number=id_number("19880808", "244")) == {"陈静"}


def test_registration_publishes_facts_without_personal_data(
    core: CensusCore, elder: pb.Resident
) -> None:
    with system_scope(), core.sessions() as session:
        rows = session.execute(
            select(outbox.c.event_type, outbox.c.payload).where(outbox.c.aggregate_id == elder.id)
        ).all()
    assert [r.event_type for r in rows] == ["shequ.census.v1.ResidentRegistered"]
    payload = events_pb2.ResidentRegistered.FromString(rows[0].payload)
    assert payload.tenant.tenant_id == HUSHAN
    assert payload.resident.age_band == pb.AGE_BAND_60_79
    assert "王秀英".encode() not in rows[0].payload
