"""After registration: corrections, moves inside a community, transfers within a street,
leaving — each through the real server, with history kept and facts published."""

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from sqlalchemy import select

from census.app import CensusCore
from census.audiences import Audience, residents_in_places
from census.identity.codes import id_check_character
from census.models import outbox
from census.people.models import Resident
from census.people.service import ResidentFilter, list_residents
from shequ.census.v1 import census_pb2 as pb
from shequ.census.v1 import events_pb2
from shequ_infra import LocalInfrastructure
from shequ_kit.db import system_scope
from shequ_kit.grpc_client import error_detail
from shequ_kit.paging import Page
from shequ_kit.tenancy import tenant_scope

HUSHAN = "xiaoshan.shushan.hushan"
XIANGYUAN = "xiaoshan.shushan.xiangyuan"
MOVER = "shushan-mover"
MOVER_PASSWORD = "Mover-2026-pass"
Call = Callable[..., Any]


def id_number(birth: str, sequence: str) -> str:
    first17 = f"330109{birth}{sequence}"
    return first17 + id_check_character(first17)


def refused(action: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as failure:
        action()
    return failure.value


def new_household(
    call: Call, *, complex_name: str, room: str, user: str, tenant: str
) -> pb.Household:
    def as_staff(method: str, request: Any) -> Any:
        return call(method, request, user=user, tenant=tenant)

    complexes = as_staff("ListComplexes", pb.ListComplexesRequest()).complexes
    complex_ = (
        next((c for c in complexes if c.name == complex_name), None)
        or as_staff("CreateComplex", pb.CreateComplexRequest(name=complex_name)).complex
    )
    buildings = as_staff("ListBuildings", pb.ListBuildingsRequest(complex_id=complex_.id)).buildings
    building = (
        buildings[0]
        if buildings
        else as_staff(
            "CreateBuilding", pb.CreateBuildingRequest(complex_id=complex_.id, number="1幢")
        ).building
    )
    unit = as_staff(
        "CreateUnit", pb.CreateUnitRequest(building_id=building.id, number=f"{room}单元")
    ).unit
    dwelling = as_staff(
        "CreateDwelling", pb.CreateDwellingRequest(unit_id=unit.id, room=room)
    ).dwelling
    household: pb.Household = as_staff(
        "CreateHousehold",
        pb.CreateHouseholdRequest(dwelling_id=dwelling.id, tenure=pb.TENURE_TENANT),
    ).household
    return household


def register(
    call: Call,
    household: pb.Household,
    name: str,
    birth: str,
    sequence: str,
    *,
    user: str = "hushan-staff",
    tenant: str = HUSHAN,
) -> pb.Resident:
    resident: pb.Resident = call(
        "CreateResident",
        pb.CreateResidentRequest(
            resident=pb.ResidentInput(
                household_id=household.id,
                name=name,
                id_number=id_number(birth, sequence),
                phone="13912345678",
                relation_to_head=pb.RELATION_TO_HEAD_SELF,
                residence_type=pb.RESIDENCE_TYPE_MIGRANT,
                tenure=pb.TENURE_TENANT,
                moved_in_on="2024-03-01",
            )
        ),
        user=user,
        tenant=tenant,
    ).resident
    return resident


def facts_of(core: CensusCore, aggregate_id: str) -> list[str]:
    with system_scope(), core.sessions() as session:
        return list(
            session.scalars(
                select(outbox.c.event_type)
                .where(outbox.c.aggregate_id == aggregate_id)
                .order_by(outbox.c.id)
            )
        )


def test_a_correction_changes_the_masked_fields_and_refuses_a_stale_version(
    call: Call, core: CensusCore
) -> None:
    home = new_household(
        call, complex_name="湖山花园", room="101", user="hushan-staff", tenant=HUSHAN
    )
    resident = register(call, home, "刘洋", "19850315", "151")
    assert resident.version == 1

    corrected = call(
        "UpdateResident",
        pb.UpdateResidentRequest(
            resident_id=resident.id,
            expected_version=1,
            resident=pb.ResidentInput(
                name="刘阳", phone="13700001111", care_tags=[pb.CARE_TAG_PARTY_MEMBER]
            ),
            update_mask=FieldMask(paths=["name", "phone", "care_tags"]),
        ),
    ).resident
    assert (corrected.name, corrected.phone, corrected.version) == ("刘阳", "137****1111", 2)
    assert list(corrected.care_tags) == [pb.CARE_TAG_PARTY_MEMBER]
    assert corrected.id_number == resident.id_number  # untouched fields stay

    stale = refused(
        lambda: call(
            "UpdateResident",
            pb.UpdateResidentRequest(
                resident_id=resident.id,
                expected_version=1,
                resident=pb.ResidentInput(name="刘杨"),
                update_mask=FieldMask(paths=["name"]),
            ),
        )
    )
    assert stale.code() is grpc.StatusCode.FAILED_PRECONDITION
    detail = error_detail(stale)
    assert detail is not None
    assert detail.params["current_version"] == "2"
    assert facts_of(core, resident.id) == [
        "shequ.census.v1.ResidentRegistered",
        "shequ.census.v1.ResidentUpdated",
    ]


def test_a_correction_cannot_move_a_resident_to_another_household(call: Call) -> None:
    home = new_household(
        call, complex_name="湖山花园", room="102", user="hushan-staff", tenant=HUSHAN
    )
    resident = register(call, home, "周敏", "19900420", "162")
    error = refused(
        lambda: call(
            "UpdateResident",
            pb.UpdateResidentRequest(
                resident_id=resident.id,
                resident=pb.ResidentInput(household_id=home.id),
                update_mask=FieldMask(paths=["household_id"]),
                expected_version=resident.version,
            ),
        )
    )
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    detail = error_detail(error)
    assert detail is not None
    assert detail.field_violations[0].field == "update_mask"


def test_moving_within_the_community_keeps_the_record(call: Call, core: CensusCore) -> None:
    first = new_household(
        call, complex_name="湖山花园", room="201", user="hushan-staff", tenant=HUSHAN
    )
    second = new_household(
        call, complex_name="湖山花园", room="202", user="hushan-staff", tenant=HUSHAN
    )
    resident = register(call, first, "吴刚", "19780910", "173")

    moved = call(
        "MoveResident",
        pb.MoveResidentRequest(
            resident_id=resident.id, to_household_id=second.id, expected_version=1
        ),
    ).resident

    assert moved.id == resident.id
    assert moved.household_id == second.id
    assert moved.relation_to_head == pb.RELATION_TO_HEAD_OTHER  # the new household has its own head
    assert facts_of(core, resident.id)[-1] == "shequ.census.v1.ResidentMoved"
    with system_scope(), core.sessions() as session:
        payload = session.scalars(
            select(outbox.c.payload)
            .where(outbox.c.aggregate_id == resident.id)
            .order_by(outbox.c.id.desc())
            .limit(1)
        ).one()
    fact = events_pb2.ResidentMoved.FromString(payload)
    # The same record moves: projections keep their row (no removal in the source).
    assert fact.from_resident_id == fact.resident.resident_id == resident.id
    assert (fact.from_household_id, fact.resident.household_id) == (first.id, second.id)


@pytest.fixture(scope="module")
def mover(infra: LocalInfrastructure) -> str:
    """A staff member of both Hushan and Xiangyuan (e.g. on secondment), made in Keycloak."""
    admin = {"Authorization": f"Bearer {infra.keycloak.master_admin_token()}"}
    base = f"{infra.keycloak.url}/admin/realms/shequ"
    created = httpx.post(
        f"{base}/users",
        headers=admin,
        timeout=30,
        json={
            "username": MOVER,
            "enabled": True,
            "firstName": "调",
            "lastName": "动",
            "credentials": [{"type": "password", "value": MOVER_PASSWORD, "temporary": False}],
        },
    )
    assert created.status_code in (201, 409)
    user_id = httpx.get(
        f"{base}/users", headers=admin, params={"username": MOVER, "exact": "true"}, timeout=30
    ).json()[0]["id"]
    for community in ("hushan", "xiangyuan"):
        group = httpx.get(
            f"{base}/group-by-path/xiaoshan/shushan/{community}/community-staff",
            headers=admin,
            timeout=30,
        ).json()
        httpx.put(
            f"{base}/users/{user_id}/groups/{group['id']}", headers=admin, timeout=30
        ).raise_for_status()
    return MOVER


def test_a_street_level_transfer_keeps_one_person_across_communities(
    call: Call, core: CensusCore, mover: str
) -> None:
    origin = new_household(
        call, complex_name="湖山花园", room="301", user="hushan-staff", tenant=HUSHAN
    )
    destination = new_household(
        call, complex_name="北辰奥园", room="1801", user="xiangyuan-staff", tenant=XIANGYUAN
    )
    resident = register(call, origin, "郑欣", "19920612", "184")

    hushan_only = refused(
        lambda: call(
            "MoveResident",
            pb.MoveResidentRequest(
                resident_id=resident.id,
                to_household_id=destination.id,
                to_tenant_id=XIANGYUAN,
                expected_version=resident.version,
            ),
        )
    )
    assert hushan_only.code() is grpc.StatusCode.PERMISSION_DENIED

    arrived = call(
        "MoveResident",
        pb.MoveResidentRequest(
            resident_id=resident.id,
            to_household_id=destination.id,
            to_tenant_id=XIANGYUAN,
            expected_version=1,
        ),
        user=mover,
        password=MOVER_PASSWORD,
    ).resident

    assert arrived.tenant_id == XIANGYUAN
    assert arrived.id != resident.id
    assert arrived.id_number == resident.id_number  # same person, masked alike
    seen_in_xiangyuan = call(
        "GetResident",
        pb.GetResidentRequest(resident_id=arrived.id),
        user="xiangyuan-staff",
        tenant=XIANGYUAN,
    ).resident
    assert seen_in_xiangyuan.name == "郑欣"
    left = call("GetResident", pb.GetResidentRequest(resident_id=resident.id)).resident
    assert left.moved_out_on == "2026-11-23"
    with system_scope(), core.sessions() as session:
        stays = session.scalars(
            select(Resident).where(Resident.id.in_([resident.id, arrived.id]))
        ).all()
        assert len({stay.person_id for stay in stays}) == 1
        number = core.protection.cipher.decrypt(
            next(s for s in stays if s.tenant_id == XIANGYUAN).id_number_cipher,
            tenant_id=XIANGYUAN,
            field="id_number",
        )
        assert number == id_number("19920612", "184")
        rows = session.execute(
            select(outbox.c.tenant_id, outbox.c.payload).where(outbox.c.aggregate_id == arrived.id)
        ).all()
    moved = events_pb2.ResidentMoved.FromString(rows[0].payload)
    assert (rows[0].tenant_id, moved.from_tenant.tenant_id) == (XIANGYUAN, HUSHAN)
    # The closed record in Hushan, so Hushan's projections drop it; the fact names no person.
    assert (moved.from_resident_id, moved.resident.resident_id) == (resident.id, arrived.id)
    assert "郑欣".encode() not in rows[0].payload


def test_a_transfer_leaves_the_street_only_by_moving_away(call: Call, mover: str) -> None:
    home = new_household(
        call, complex_name="湖山花园", room="401", user="hushan-staff", tenant=HUSHAN
    )
    resident = register(call, home, "孙丽", "19870101", "195")
    error = refused(
        lambda: call(
            "MoveResident",
            pb.MoveResidentRequest(
                resident_id=resident.id,
                to_household_id=home.id,
                to_tenant_id="xiaoshan.beigan.shibei",
                expected_version=resident.version,
            ),
            user=mover,
            password=MOVER_PASSWORD,
        )
    )
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    detail = error_detail(error)
    assert detail is not None
    assert detail.field_violations[0].field == "to_tenant_id"

    away = call(
        "MoveResident",
        pb.MoveResidentRequest(
            resident_id=resident.id, moved_on="2026-11-20", expected_version=resident.version
        ),
    ).resident
    assert away.moved_out_on == "2026-11-20"


def test_removing_a_record_needs_a_reason_and_keeps_its_history(call: Call) -> None:
    home = new_household(
        call, complex_name="湖山花园", room="501", user="hushan-staff", tenant=HUSHAN
    )
    resident = register(call, home, "钱多", "19950505", "206")

    no_reason = refused(
        lambda: call(
            "RemoveResident",
            pb.RemoveResidentRequest(resident_id=resident.id, expected_version=resident.version),
        )
    )
    assert no_reason.code() is grpc.StatusCode.INVALID_ARGUMENT
    call(
        "RemoveResident",
        pb.RemoveResidentRequest(
            resident_id=resident.id, reason="重复登记，已核实", expected_version=resident.version
        ),
    )

    current = call("ListResidents", pb.ListResidentsRequest(name_contains="钱多")).residents
    everyone = call(
        "ListResidents", pb.ListResidentsRequest(name_contains="钱多", include_moved_out=True)
    ).residents
    assert current == []
    assert [r.id for r in everyone] == [resident.id]
    again = refused(
        lambda: call(
            "RemoveResident",
            pb.RemoveResidentRequest(
                resident_id=resident.id, reason="再删一次", expected_version=resident.version + 1
            ),
        )
    )
    assert again.code() is grpc.StatusCode.FAILED_PRECONDITION


def test_a_resident_turning_sixty_is_elderly_without_any_write(
    call: Call, core: CensusCore
) -> None:
    household = new_household(
        call, complex_name="生日花园", room="606", user="hushan-staff", tenant=HUSHAN
    )
    resident = register(call, household, "寿星", "19661201", "517")  # 60 on 2026-12-01
    assert pb.CARE_TAG_ELDERLY not in resident.care_tags  # 59 on the registration day
    birthday = date(2026, 12, 1)

    with tenant_scope(HUSHAN), core.sessions() as session:
        stored = session.get(Resident, uuid.UUID(resident.id))
        assert stored is not None
        assert "elderly" not in stored.care_tags  # never rewritten
        elderly = list_residents(
            session,
            core.protection,
            ResidentFilter(care_tag="elderly", complex_id=str(stored.complex_id)),
            Page(size=10, after=None),
            birthday,
        )
        elders = Audience(complex_ids=[str(stored.complex_id)], care_tags=["elderly"])
        audience = list(residents_in_places(session, elders, birthday))
        day_before = list(residents_in_places(session, elders, date(2026, 11, 30)))

    assert [r.name for r in elderly] == ["寿星"]
    assert [(p.name, "elderly" in p.care_tags) for p in audience] == [("寿星", True)]
    assert day_before == []
