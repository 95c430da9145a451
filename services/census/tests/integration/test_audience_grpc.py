"""Notify's audience question over the census's real gRPC server, with real Keycloak tokens:
named residents united with the places, whether a phone is on record, and phones in clear only
for a pii-reader who names the purpose — each streamed resident audited with it."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from sqlalchemy import select

from census.app import CensusCore
from census.identity.codes import id_check_character
from census.people.models import PiiReveal
from shequ.census.v1 import census_pb2 as pb
from shequ_infra import LocalInfrastructure
from shequ_kit.db import system_scope
from shequ_kit.grpc_client import error_detail
from shequ_kit.service_tokens import ServiceCredentials

HUSHAN = "xiaoshan.shushan.hushan"
XIANGYUAN = "xiaoshan.shushan.xiangyuan"
SHUSHAN = "xiaoshan.shushan"
Call = Callable[..., Any]


@dataclass(frozen=True)
class Neighbourhood:
    """Two complexes of Hushan named only here: 听涛苑 (one building) and 观澜苑."""

    tingtao: str
    tingtao_building: str
    guanlan: str
    residents: dict[str, str]  # name → id
    phones: dict[str, str]  # name → phone, for those who gave one


def place(call: Call, complex_name: str) -> tuple[str, str, str]:
    """A complex with one building and one household: their ids."""
    complex_ = call("CreateComplex", pb.CreateComplexRequest(name=complex_name)).complex
    building = call(
        "CreateBuilding", pb.CreateBuildingRequest(complex_id=complex_.id, number="1幢")
    ).building
    unit = call("CreateUnit", pb.CreateUnitRequest(building_id=building.id, number="1单元")).unit
    dwelling = call(
        "CreateDwelling", pb.CreateDwellingRequest(unit_id=unit.id, room="101")
    ).dwelling
    household = call(
        "CreateHousehold",
        pb.CreateHouseholdRequest(dwelling_id=dwelling.id, tenure=pb.TENURE_OWNER),
    ).household
    return complex_.id, building.id, household.id


def register(
    call: Call, household_id: str, name: str, birth: str, sequence: str, **fields: Any
) -> str:
    first17 = f"330109{birth}{sequence}"
    resident = pb.ResidentInput(
        household_id=household_id,
        name=name,
        id_number=first17 + id_check_character(first17),
        residence_type=pb.RESIDENCE_TYPE_REGISTERED,
        tenure=pb.TENURE_OWNER,
        **fields,
    )
    return str(call("CreateResident", pb.CreateResidentRequest(resident=resident)).resident.id)


@pytest.fixture(scope="module")
def hood(call: Call) -> Neighbourhood:
    tingtao, tingtao_building, first = place(call, "听涛苑")
    guanlan, _, second = place(call, "观澜苑")
    phones = {"听涛老赵": "13711112222", "听涛小赵": "13733334444", "观澜老钱": "13855556666"}
    residents = {
        "听涛老赵": register(
            call,
            first,
            "听涛老赵",
            "19410207",
            "551",
            phone=phones["听涛老赵"],
            relation_to_head=pb.RELATION_TO_HEAD_SELF,
        ),
        "听涛赵妻": register(
            call, first, "听涛赵妻", "19430315", "552", relation_to_head=pb.RELATION_TO_HEAD_SPOUSE
        ),
        "听涛小赵": register(
            call,
            first,
            "听涛小赵",
            "20170521",
            "553",
            phone=phones["听涛小赵"],
            relation_to_head=pb.RELATION_TO_HEAD_OTHER,
        ),
        "观澜老钱": register(
            call,
            second,
            "观澜老钱",
            "19390909",
            "554",
            phone=phones["观澜老钱"],
            relation_to_head=pb.RELATION_TO_HEAD_SELF,
        ),
        "观澜钱子": register(
            call, second, "观澜钱子", "19850101", "555", relation_to_head=pb.RELATION_TO_HEAD_CHILD
        ),
    }
    return Neighbourhood(tingtao, tingtao_building, guanlan, residents, phones)


def stream(call: Call, **fields: Any) -> dict[str, pb.StreamResidentsInPlacesResponse]:
    user = fields.pop("user", "hushan-staff")
    tenant = fields.pop("tenant", HUSHAN)
    token = fields.pop("token", None)
    request = pb.StreamResidentsInPlacesRequest(**fields)
    found = list(call("StreamResidentsInPlaces", request, user=user, tenant=tenant, token=token))
    by_name = {person.name: person for person in found}
    assert len(by_name) == len(found), "nobody is streamed twice"
    return by_name


def refused(action: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as failure:
        action()
    return failure.value


def audit_of(core: CensusCore, resident_ids: list[str]) -> list[PiiReveal]:
    wanted = [uuid.UUID(r) for r in resident_ids]
    with system_scope(), core.sessions() as session:
        return list(session.scalars(select(PiiReveal).where(PiiReveal.resident_id.in_(wanted))))


# --- without phones -----------------------------------------------------------------------


def test_an_audience_says_whether_a_phone_is_on_record_but_never_the_phone(
    call: Call, core: CensusCore, hood: Neighbourhood
) -> None:
    found = stream(call, complex_ids=[hood.tingtao])

    assert set(found) == {"听涛老赵", "听涛赵妻", "听涛小赵"}
    assert {name: p.has_phone for name, p in found.items()} == {
        "听涛老赵": True,
        "听涛赵妻": False,
        "听涛小赵": True,
    }
    assert {p.phone for p in found.values()} == {""}
    assert {(p.complex_id, p.building_id) for p in found.values()} == {
        (hood.tingtao, hood.tingtao_building)
    }
    assert audit_of(core, list(hood.residents.values())) == []


def test_named_residents_are_united_with_the_places_and_filtered_like_them(
    call: Call, hood: Neighbourhood
) -> None:
    qian = hood.residents["观澜老钱"]
    united = stream(call, building_ids=[hood.tingtao_building], resident_ids=[qian])
    elderly = stream(
        call,
        building_ids=[hood.tingtao_building],
        resident_ids=[qian, hood.residents["观澜钱子"]],
        care_tags=[pb.CARE_TAG_ELDERLY],
    )
    only_named = stream(call, resident_ids=[qian])

    assert set(united) == {"听涛老赵", "听涛赵妻", "听涛小赵", "观澜老钱"}
    assert united["观澜老钱"].complex_id == hood.guanlan
    assert set(elderly) == {"听涛老赵", "听涛赵妻", "观澜老钱"}
    assert set(only_named) == {"观澜老钱"}


def test_a_malformed_resident_id_is_refused_naming_its_position(call: Call) -> None:
    bad = refused(lambda: stream(call, resident_ids=[str(uuid.uuid4()), "老赵"]))

    assert bad.code() is grpc.StatusCode.INVALID_ARGUMENT
    detail = error_detail(bad)
    assert detail is not None
    assert [v.field for v in detail.field_violations] == ["resident_ids[1]"]


# --- phones ---------------------------------------------------------------------------------


def test_phones_without_the_pii_reader_role_are_refused_and_audit_nothing(
    call: Call, core: CensusCore, hood: Neighbourhood
) -> None:
    asked = {"complex_ids": [hood.tingtao], "with_phones": True, "purpose": "反诈提醒短信"}
    staff = refused(lambda: stream(call, **asked))
    street = refused(lambda: stream(call, user="shushan-admin", tenant=SHUSHAN, **asked))

    for denied in (staff, street):
        assert denied.code() is grpc.StatusCode.PERMISSION_DENIED
        detail = error_detail(denied)
        assert detail is not None
        assert detail.params["required_roles"] == "pii-reader"
        assert "pii-reader" in detail.message_zh
        assert "pii-reader" in detail.message_en
    assert audit_of(core, list(hood.residents.values())) == []


def test_phones_without_a_purpose_are_refused_naming_the_field(
    call: Call, core: CensusCore, hood: Neighbourhood
) -> None:
    blank = refused(
        lambda: stream(
            call, user="hushan-pii", complex_ids=[hood.tingtao], with_phones=True, purpose="  "
        )
    )

    assert blank.code() is grpc.StatusCode.INVALID_ARGUMENT
    detail = error_detail(blank)
    assert detail is not None
    assert [v.field for v in detail.field_violations] == ["purpose"]
    assert audit_of(core, list(hood.residents.values())) == []


def test_phones_come_in_clear_and_every_streamed_resident_is_audited_with_the_purpose(
    call: Call, core: CensusCore, hood: Neighbourhood
) -> None:
    purpose = f"notice {uuid.uuid4()}"
    found = stream(
        call, user="hushan-pii", complex_ids=[hood.tingtao], with_phones=True, purpose=purpose
    )

    assert {name: p.phone for name, p in found.items()} == {
        "听涛老赵": hood.phones["听涛老赵"],
        "听涛赵妻": "",
        "听涛小赵": hood.phones["听涛小赵"],
    }
    assert found["听涛赵妻"].has_phone is False
    audit = [a for a in audit_of(core, list(hood.residents.values())) if a.reason == purpose]
    streamed = sorted(p.resident_id for p in found.values())
    assert sorted(str(a.resident_id) for a in audit) == streamed
    assert {(a.actor_username, a.tenant_id) for a in audit} == {("hushan-pii", HUSHAN)}
    assert len({a.request_id for a in audit}) == 1


def test_notifys_service_account_reads_phones_of_a_community_and_is_audited(
    call: Call, core: CensusCore, infra: LocalInfrastructure, hood: Neighbourhood
) -> None:
    notify = ServiceCredentials.for_issuer(
        infra.keycloak.issuer, "shequ-notify", "local-dev-notify-secret"
    )
    purpose = f"notice {uuid.uuid4()}"
    found = stream(
        call,
        token=notify.token(),
        resident_ids=[hood.residents["观澜老钱"]],
        care_tags=[pb.CARE_TAG_ELDERLY],
        with_phones=True,
        purpose=purpose,
    )

    assert {name: p.phone for name, p in found.items()} == {"观澜老钱": hood.phones["观澜老钱"]}
    audit = [a for a in audit_of(core, list(hood.residents.values())) if a.reason == purpose]
    assert [(str(a.resident_id), a.actor_username) for a in audit] == [
        (hood.residents["观澜老钱"], "service-account-shequ-notify")
    ]


# --- tenants --------------------------------------------------------------------------------


def test_another_community_reaches_none_of_hushans_residents(
    call: Call, hood: Neighbourhood
) -> None:
    named = list(hood.residents.values())
    from_xiangyuan = stream(
        call,
        user="xiangyuan-staff",
        tenant=XIANGYUAN,
        resident_ids=named,
        complex_ids=[hood.tingtao],
    )
    into_hushan = refused(
        lambda: stream(call, user="xiangyuan-staff", tenant=HUSHAN, resident_ids=named)
    )

    assert from_xiangyuan == {}
    assert into_hushan.code() is grpc.StatusCode.PERMISSION_DENIED
