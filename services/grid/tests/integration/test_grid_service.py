"""The grid service end to end below the gateway: real tokens, real PostgreSQL, census events
through the real Kafka broker."""

import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from kafka import KafkaConsumer
from sqlalchemy import text

from grid.app import GridCore
from shequ.census.v1 import census_pb2 as cpb
from shequ.census.v1 import events_pb2 as cev
from shequ.common.v1 import paging_pb2, tenant_pb2
from shequ.grid.v1 import grid_pb2 as pb
from shequ_infra import LocalInfrastructure
from shequ_infra.forged_tokens import claims_of, unsigned, with_tampered_claims
from shequ_infra.grpc_calls import Call
from shequ_kit.grpc_client import error_detail

from .conftest import HUSHAN, XIANGYUAN, Publish

SHIBEI = "xiaoshan.beigan.shibei"
BEIGAN_ELSEWHERE = "xiaoshan.beigan.elsewhere"


def ref(tenant: str) -> tenant_pb2.TenantRef:
    return tenant_pb2.TenantRef(tenant_id=tenant)


def eventually(check: Callable[[], Any], timeout_s: float, step_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s")
        time.sleep(step_s)


def refused(error: pytest.ExceptionInfo[grpc.RpcError]) -> tuple[grpc.StatusCode, Any]:
    return error.value.code(), error_detail(error.value)


def new_buildings(publish: Publish, tenant: str, count: int) -> list[str]:
    complex_id = str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for n, building_id in enumerate(ids, start=1):
        publish(
            cev.BuildingCreated(
                tenant=ref(tenant),
                building=cev.BuildingFacts(
                    building_id=building_id, complex_id=complex_id, number=f"{n}幢", floors=6
                ),
            ),
            tenant=tenant,
            aggregate_id=building_id,
        )
    return ids


def wait_known(call: Call, building_ids: list[str], tenant: str = HUSHAN, user: str = "") -> None:
    """Until the projection knows the buildings (the first event also waits for the group)."""
    wanted = set(building_ids)

    def known() -> bool:
        seen: set[str] = set()
        token = ""
        while True:
            response = call(
                "ListUncoveredBuildings",
                pb.ListUncoveredBuildingsRequest(
                    page=paging_pb2.PageRequest(page_size=500, page_token=token)
                ),
                tenant=tenant,
                **({"user": user} if user else {}),
            )
            seen |= {b.building_id for b in response.buildings}
            token = response.page.next_page_token
            if not token:
                return wanted <= seen

    eventually(known, 60, 0.2)


def household(publish: Publish, building_id: str, tenant: str = HUSHAN) -> tuple[str, str]:
    household_id, dwelling_id = str(uuid.uuid4()), str(uuid.uuid4())
    publish(
        cev.HouseholdCreated(
            tenant=ref(tenant),
            household=cev.HouseholdFacts(
                household_id=household_id,
                dwelling_id=dwelling_id,
                building_id=building_id,
                tenure=cpb.TENURE_OWNER,
                size=1,
            ),
        ),
        tenant=tenant,
        aggregate_id=household_id,
    )
    return household_id, dwelling_id


def layout(call: Call, buildings: list[str]) -> tuple[pb.Grid, pb.MicroGrid, pb.MicroGrid]:
    grid = call("CreateGrid", pb.CreateGridRequest(name="湖山测试网格")).grid
    first = call(
        "CreateMicroGrid", pb.CreateMicroGridRequest(grid_id=grid.id, name="一号微网格")
    ).micro_grid
    second = call(
        "CreateMicroGrid", pb.CreateMicroGridRequest(grid_id=grid.id, name="二号微网格")
    ).micro_grid
    call(
        "AssignBuildings",
        pb.AssignBuildingsRequest(micro_grid_id=first.id, building_ids=buildings[:2]),
    )
    return grid, first, second


def micro_workload(call: Call, micro_grid_id: str) -> pb.Workload:
    parts = call("GetWorkload", pb.GetWorkloadRequest()).parts
    found: pb.Workload = next(p for p in parts if p.scope_id == micro_grid_id)
    return found


def test_grids_coverage_members_and_who_covers(
    call: Call, publish: Publish, infra: LocalInfrastructure
) -> None:
    buildings = new_buildings(publish, HUSHAN, 3)
    wait_known(call, buildings)
    grid, first, second = layout(call, buildings)
    assert len(grid.code) == 15
    assert grid.code.startswith("99")  # placeholder community code
    assert first.code == f"{grid.code}{first.number:02d}"
    assert second.number == first.number + 1

    # A building is covered once: taking it needs move=true, and the refusal names it.
    with pytest.raises(grpc.RpcError) as taken:
        call(
            "AssignBuildings",
            pb.AssignBuildingsRequest(micro_grid_id=second.id, building_ids=[buildings[0]]),
        )
    code, detail = refused(taken)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert detail.code == "grid.building_already_covered"
    assert "1幢" in detail.message_zh
    assert "一号微网格" in detail.message_zh
    assert detail.field_violations[0].field == "building_ids[0]"
    call(
        "AssignBuildings",
        pb.AssignBuildingsRequest(micro_grid_id=second.id, building_ids=[buildings[0]], move=True),
    )
    covered = call("ListCoverage", pb.ListCoverageRequest(micro_grid_id=second.id)).coverage
    assert [c.building_id for c in covered] == [buildings[0]]
    assert covered[0].building_number == "1幢"

    # A building of another community is unknown here.
    foreign = new_buildings(publish, XIANGYUAN, 1)
    wait_known(call, foreign, tenant=XIANGYUAN, user="xiangyuan-staff")
    with pytest.raises(grpc.RpcError) as elsewhere:
        call(
            "AssignBuildings",
            pb.AssignBuildingsRequest(micro_grid_id=first.id, building_ids=foreign),
        )
    assert refused(elsewhere)[0] == grpc.StatusCode.NOT_FOUND

    # Members, and the escalation chain in order.
    leader = call(
        "AddMember",
        pb.AddMemberRequest(
            member=pb.MemberInput(
                grid_id=grid.id,
                role=pb.MEMBER_ROLE_GRID_LEADER,
                name="王网格长",
                phone="13812345678",
            )
        ),
    ).member
    worker = call(
        "AddMember",
        pb.AddMemberRequest(
            member=pb.MemberInput(grid_id=grid.id, role=pb.MEMBER_ROLE_GRID_WORKER, name="李网格员")
        ),
    ).member
    micro_leader = call(
        "AddMember",
        pb.AddMemberRequest(
            member=pb.MemberInput(
                grid_id=grid.id,
                micro_grid_id=second.id,
                role=pb.MEMBER_ROLE_MICRO_GRID_LEADER,
                name="张微网格长",
            )
        ),
    ).member
    assert leader.phone == "138****5678"
    covers = call("WhoCovers", pb.WhoCoversRequest(building_id=buildings[0]))
    assert covers.micro_grid.id == second.id
    assert covers.grid.id == grid.id
    assert [(r.level, r.member.id) for r in covers.escalation] == [
        (pb.ESCALATION_LEVEL_MICRO_GRID_LEADER, micro_leader.id),
        (pb.ESCALATION_LEVEL_GRID_WORKER, worker.id),
        (pb.ESCALATION_LEVEL_GRID_LEADER, leader.id),
        (pb.ESCALATION_LEVEL_COMMUNITY, ""),
    ]
    assert covers.escalation[-1].tenant_id == HUSHAN
    # The other micro-grid's buildings skip the micro-grid leader of another micro-grid.
    other = call("WhoCovers", pb.WhoCoversRequest(building_id=buildings[1]))
    assert other.escalation[0].level == pb.ESCALATION_LEVEL_GRID_WORKER
    uncovered = call("WhoCovers", pb.WhoCoversRequest(building_id=buildings[2]))
    assert not uncovered.HasField("micro_grid")
    assert [r.level for r in uncovered.escalation] == [pb.ESCALATION_LEVEL_COMMUNITY]

    # Optimistic concurrency, and a grid with micro-grids cannot be removed.
    renamed = call(
        "UpdateGrid",
        pb.UpdateGridRequest(
            grid_id=grid.id,
            name="湖山一网格",
            update_mask=FieldMask(paths=["name"]),
            expected_version=grid.version,
        ),
    ).grid
    assert renamed.name == "湖山一网格"
    assert renamed.version == grid.version + 1
    with pytest.raises(grpc.RpcError) as stale:
        call(
            "UpdateGrid",
            pb.UpdateGridRequest(
                grid_id=grid.id,
                name="旧版本",
                update_mask=FieldMask(paths=["name"]),
                expected_version=grid.version,
            ),
        )
    assert refused(stale)[1].code == "grid.stale_version"
    with pytest.raises(grpc.RpcError) as not_empty:
        call("RemoveGrid", pb.RemoveGridRequest(grid_id=grid.id, expected_version=renamed.version))
    assert refused(not_empty)[1].code == "grid.grid_not_empty"
    call("RemoveMember", pb.RemoveMemberRequest(member_id=worker.id, expected_version=1))
    after = call("WhoCovers", pb.WhoCoversRequest(building_id=buildings[1]))
    assert [r.level for r in after.escalation] == [
        pb.ESCALATION_LEVEL_GRID_LEADER,
        pb.ESCALATION_LEVEL_COMMUNITY,
    ]

    # Another replica's write (here: straight into the database) reaches the cached answer.
    with psycopg.connect(infra.postgres.superuser_dsn("grid"), autocommit=True) as other:
        other.execute("UPDATE member SET name = '赵网格长' WHERE id = %s", (leader.id,))
    deadline = time.monotonic() + 2
    while (
        call("WhoCovers", pb.WhoCoversRequest(building_id=buildings[1])).escalation[0].member.name
        != "赵网格长"
    ):
        assert time.monotonic() < deadline, "the cached answer outlived another replica's write"
        time.sleep(0.02)


def test_foreign_tenant_and_bad_tokens_are_refused(
    call: Call, publish: Publish, infra: LocalInfrastructure
) -> None:
    buildings = new_buildings(publish, HUSHAN, 1)
    wait_known(call, buildings)
    grid = call("CreateGrid", pb.CreateGridRequest(name="隔离测试网格")).grid
    # Xiangyuan's staff asking in their own community do not find Hushan's grid or building.
    for method, request in (
        ("GetGrid", pb.GetGridRequest(grid_id=grid.id)),
        ("WhoCovers", pb.WhoCoversRequest(building_id=buildings[0])),
    ):
        with pytest.raises(grpc.RpcError) as hidden:
            call(method, request, user="xiangyuan-staff", tenant=XIANGYUAN)
        assert refused(hidden)[0] == grpc.StatusCode.NOT_FOUND
    # …and naming Hushan as their tenant is refused outright.
    with pytest.raises(grpc.RpcError) as denied:
        call("ListGrids", pb.ListGridsRequest(), user="xiangyuan-staff", tenant=HUSHAN)
    assert refused(denied)[0] == grpc.StatusCode.PERMISSION_DENIED
    # A grid worker reads but does not draw grids.
    with pytest.raises(grpc.RpcError) as worker:
        call("CreateGrid", pb.CreateGridRequest(name="越权网格"), user="hushan-grid")
    assert refused(worker)[0] == grpc.StatusCode.PERMISSION_DENIED
    real = infra.keycloak.password_grant("hushan-staff", "shequ-demo")["access_token"]
    for forged in (
        unsigned(real),
        with_tampered_claims(real, exp=int(time.time()) - 3600),
        with_tampered_claims(real, groups=["/platform-admin"]),
    ):
        with pytest.raises(grpc.RpcError) as refused_token:
            call("ListGrids", pb.ListGridsRequest(), token=forged)
        assert refused(refused_token)[0] == grpc.StatusCode.UNAUTHENTICATED


def test_census_change_reaches_workload_within_two_seconds_once(
    call: Call, publish: Publish
) -> None:
    buildings = new_buildings(publish, HUSHAN, 2)
    wait_known(call, buildings)
    _, first, _ = layout(call, buildings)
    before = micro_workload(call, first.id)
    assert before.buildings == 2
    assert before.households == 0

    started = time.monotonic()
    household_id, _ = household(publish, buildings[1])
    resident = cev.ResidentRegistered(
        tenant=ref(HUSHAN),
        resident=cev.ResidentFacts(
            resident_id=str(uuid.uuid4()),
            household_id=household_id,
            building_id=buildings[1],
            care_tags=[cpb.CARE_TAG_ELDERLY, cpb.CARE_TAG_LIVING_ALONE],
        ),
    )
    event_id = publish(resident, aggregate_id=resident.resident.resident_id)
    figures = eventually(
        lambda: (w := micro_workload(call, first.id)).residents == 1 and w.households == 1 and w,
        2.0,
    )
    assert time.monotonic() - started < 2.0
    assert figures.care_tagged_residents == 1
    assert dict(figures.by_care_tag) == {"CARE_TAG_ELDERLY": 1, "CARE_TAG_LIVING_ALONE": 1}

    # Redelivered (same event id) and re-sent (new id, same facts): nothing counts twice.
    publish(resident, aggregate_id=resident.resident.resident_id, event_id=event_id)
    publish(resident, aggregate_id=resident.resident.resident_id)
    marker = new_buildings(publish, HUSHAN, 1)  # after the duplicates on the same partition key
    wait_known(call, marker)
    time.sleep(0.5)
    again = micro_workload(call, first.id)
    assert (again.residents, again.households, again.care_tagged_residents) == (1, 1, 1)

    # The resident loses a tag and then moves away: the counts follow.
    resident.resident.ClearField("care_tags")
    publish(
        cev.ResidentUpdated(tenant=ref(HUSHAN), resident=resident.resident),
        aggregate_id=resident.resident.resident_id,
    )
    eventually(lambda: micro_workload(call, first.id).care_tagged_residents == 0, 2.0)
    publish(
        cev.ResidentRemoved(
            tenant=ref(HUSHAN),
            resident_id=resident.resident.resident_id,
            household_id=household_id,
            building_id=buildings[1],
            moved_away=True,
        ),
        aggregate_id=resident.resident.resident_id,
    )
    eventually(lambda: micro_workload(call, first.id).residents == 0, 2.0)


def test_event_whose_payload_names_another_tenant_is_not_applied(
    call: Call, publish: Publish, core: GridCore
) -> None:
    smuggled = str(uuid.uuid4())
    publish(
        cev.BuildingCreated(
            tenant=ref(XIANGYUAN),
            building=cev.BuildingFacts(building_id=smuggled, complex_id=str(uuid.uuid4())),
        ),
        tenant=XIANGYUAN,
        header_tenant=HUSHAN,
        aggregate_id=smuggled,
    )
    marker = new_buildings(publish, HUSHAN, 1)
    wait_known(call, marker)
    with core.engine.connect() as connection:
        connection.execute(text("SELECT set_config('shequ.system', 'on', false)"))
        found = connection.execute(
            text("SELECT count(*) FROM census_building WHERE building_id = :b"), {"b": smuggled}
        ).scalar()
    assert found == 0


def community_total(call: Call, tenant: str) -> pb.Workload:
    user = "hushan-staff" if tenant == HUSHAN else "xiangyuan-staff"
    total: pb.Workload = call(
        "GetWorkload", pb.GetWorkloadRequest(), user=user, tenant=tenant
    ).total
    return total


def registered(publish: Publish, tenant: str, building_id: str, household_id: str) -> str:
    resident_id = str(uuid.uuid4())
    publish(
        cev.ResidentRegistered(
            tenant=ref(tenant),
            resident=cev.ResidentFacts(
                resident_id=resident_id,
                household_id=household_id,
                building_id=building_id,
                care_tags=[cpb.CARE_TAG_ELDERLY],
            ),
        ),
        tenant=tenant,
        aggregate_id=resident_id,
    )
    return resident_id


def projected_resident(core: GridCore, resident_id: str) -> str | None:
    with core.engine.connect() as connection:
        connection.execute(text("SELECT set_config('shequ.system', 'on', false)"))
        tenant: str | None = connection.execute(
            text("SELECT tenant_id FROM census_resident WHERE resident_id = :r"),
            {"r": resident_id},
        ).scalar()
    return tenant


def test_a_street_transfer_moves_the_workload_between_both_communities(
    call: Call, publish: Publish, core: GridCore
) -> None:
    [origin] = new_buildings(publish, HUSHAN, 1)
    [destination] = new_buildings(publish, XIANGYUAN, 1)
    wait_known(call, [origin])
    wait_known(call, [destination], tenant=XIANGYUAN, user="xiangyuan-staff")
    old_home, _ = household(publish, origin)
    new_home, _ = household(publish, destination, tenant=XIANGYUAN)
    left = registered(publish, HUSHAN, origin, old_home)
    eventually(lambda: projected_resident(core, left) == HUSHAN, 10)
    hushan, xiangyuan = community_total(call, HUSHAN), community_total(call, XIANGYUAN)

    # Census closes the Hushan record and opens one with a new id in Xiangyuan, in one fact.
    arrived = str(uuid.uuid4())
    started = time.monotonic()
    publish(
        cev.ResidentMoved(
            tenant=ref(XIANGYUAN),
            resident=cev.ResidentFacts(
                resident_id=arrived,
                household_id=new_home,
                building_id=destination,
                care_tags=[cpb.CARE_TAG_ELDERLY],
            ),
            from_tenant=ref(HUSHAN),
            from_household_id=old_home,
            from_building_id=origin,
            from_resident_id=left,
        ),
        tenant=XIANGYUAN,
        aggregate_id=arrived,
    )
    eventually(lambda: community_total(call, XIANGYUAN).residents == xiangyuan.residents + 1, 2.0)
    after = community_total(call, HUSHAN)
    assert time.monotonic() - started < 2.0
    assert (after.residents, after.care_tagged_residents) == (
        hushan.residents - 1,
        hushan.care_tagged_residents - 1,
    )
    assert after.households == hushan.households  # the household stays, one person fewer
    assert projected_resident(core, left) is None
    assert projected_resident(core, arrived) == XIANGYUAN


def test_a_move_naming_a_community_of_another_street_removes_nothing(
    call: Call, publish: Publish, core: GridCore, infra: LocalInfrastructure
) -> None:
    # A community of Beigan street (not Shibei, whose buildings other tests count); Hushan lies
    # in Shushan street, so Hushan's facts cannot speak for it.
    [elsewhere] = new_buildings(publish, BEIGAN_ELSEWHERE, 1)
    far_home, _ = household(publish, elsewhere, tenant=BEIGAN_ELSEWHERE)
    victim = registered(publish, BEIGAN_ELSEWHERE, elsewhere, far_home)
    eventually(lambda: projected_resident(core, victim) == BEIGAN_ELSEWHERE, 10)
    [here] = new_buildings(publish, HUSHAN, 1)
    wait_known(call, [here])
    home, _ = household(publish, here)
    arrived = str(uuid.uuid4())
    event_id = publish(
        cev.ResidentMoved(
            tenant=ref(HUSHAN),
            resident=cev.ResidentFacts(resident_id=arrived, household_id=home, building_id=here),
            from_tenant=ref(BEIGAN_ELSEWHERE),
            from_resident_id=victim,
        ),
        aggregate_id=arrived,
    )
    # Refused as a whole, after the consumer's retries: it lands on the dead-letter topic...
    dead = KafkaConsumer(
        "shequ.census.v1.dlq",
        bootstrap_servers=infra.kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"dlq-{uuid.uuid4().hex}",
        consumer_timeout_ms=30_000,
    )
    reason = ""
    for record in dead:
        headers = {k: v.decode() for k, v in record.headers or []}
        if headers.get("ce_id") == str(event_id):
            reason = headers.get("x-error", "")
            break
    dead.close()
    assert "ForeignSourceError" in reason
    # ...and neither the removal nor the arrival happened.
    assert projected_resident(core, victim) == BEIGAN_ELSEWHERE
    assert projected_resident(core, arrived) is None


def test_visits_stay_in_their_community_and_grid_workers_see_their_own_grids(
    call: Call, publish: Publish, infra: LocalInfrastructure
) -> None:
    buildings = new_buildings(publish, HUSHAN, 2)
    household_id, dwelling_id = household(publish, buildings[0])
    other_household, _ = household(publish, buildings[1])
    foreign_buildings = new_buildings(publish, XIANGYUAN, 1)
    _, foreign_dwelling = household(publish, foreign_buildings[0], XIANGYUAN)
    wait_known(call, buildings)
    wait_known(call, foreign_buildings, tenant=XIANGYUAN, user="xiangyuan-staff")
    time.sleep(1.0)  # the households follow their buildings on the same partition

    own = call("CreateGrid", pb.CreateGridRequest(name="网格员自己的网格")).grid
    elsewhere = call("CreateGrid", pb.CreateGridRequest(name="别人的网格")).grid
    for grid, building in ((own, buildings[0]), (elsewhere, buildings[1])):
        micro = call(
            "CreateMicroGrid", pb.CreateMicroGridRequest(grid_id=grid.id, name="走访微网格")
        ).micro_grid
        call(
            "AssignBuildings",
            pb.AssignBuildingsRequest(micro_grid_id=micro.id, building_ids=[building]),
        )
    subject = claims_of(infra.keycloak.password_grant("hushan-grid", "shequ-demo")["access_token"])[
        "sub"
    ]
    call(
        "AddMember",
        pb.AddMemberRequest(
            member=pb.MemberInput(
                grid_id=own.id,
                role=pb.MEMBER_ROLE_GRID_WORKER,
                name="湖山网格员",
                account_subject=subject,
                account_username="hushan-grid",
            )
        ),
    )
    mine = call(
        "RecordVisit",
        pb.RecordVisitRequest(
            visit=pb.VisitInput(household_id=household_id, findings="独居老人，身体尚好")
        ),
        user="hushan-grid",
    ).visit
    assert mine.grid_id == own.id
    assert mine.dwelling_id == dwelling_id
    assert mine.building_id == buildings[0]
    assert mine.visitor_name == "湖山网格员"
    theirs = call(
        "RecordVisit",
        pb.RecordVisitRequest(
            visit=pb.VisitInput(household_id=other_household, findings="楼道堆放杂物")
        ),
    ).visit
    assert theirs.grid_id == elsewhere.id

    # A dwelling of another community is refused, naming the field.
    with pytest.raises(grpc.RpcError) as foreign:
        call(
            "RecordVisit",
            pb.RecordVisitRequest(visit=pb.VisitInput(dwelling_id=foreign_dwelling, findings="x")),
            user="hushan-grid",
        )
    code, detail = refused(foreign)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert detail.field_violations[0].field == "visit.dwelling_id"

    seen_by_worker = {
        v.id for v in call("ListVisits", pb.ListVisitsRequest(), user="hushan-grid").visits
    }
    seen_by_staff = {v.id for v in call("ListVisits", pb.ListVisitsRequest()).visits}
    assert mine.id in seen_by_worker
    assert theirs.id not in seen_by_worker
    assert {mine.id, theirs.id} <= seen_by_staff
    workload = call("GetWorkload", pb.GetWorkloadRequest()).parts
    assert next(p for p in workload if p.scope_id == own.id).visits_last_30_days == 1


def test_proposal_is_applied_in_one_step_with_events_and_a_stale_one_is_refused(
    call: Call, publish: Publish, core: GridCore
) -> None:
    buildings = new_buildings(publish, SHIBEI, 8)
    for building in buildings:
        household(publish, building, SHIBEI)
    wait_known(call, buildings, tenant=SHIBEI, user="shibei-staff")

    def as_staff(method: str, request: Any) -> Any:
        return call(method, request, user="shibei-staff", tenant=SHIBEI)

    proposal = as_staff(
        "ProposeLayout",
        pb.ProposeLayoutRequest(grids=2, micro_grids=4, mode=pb.LAYOUT_MODE_FRESH),
    ).proposal
    assert proposal.state == pb.PROPOSAL_STATE_OPEN
    assert len(proposal.proposed_grids) == 2
    assert len(proposal.proposed_micro_grids) == 4
    assert sum(len(m.building_ids) for m in proposal.proposed_micro_grids) == len(buildings)
    assert proposal.diff.placed_buildings == len(buildings)
    assert proposal.micro_grid_balance.max_over_mean >= 1.0

    # A second proposal, then a layout change: the second is stale.
    stale = as_staff(
        "ProposeLayout",
        pb.ProposeLayoutRequest(grids=1, micro_grids=2, mode=pb.LAYOUT_MODE_FRESH),
    ).proposal
    applied = as_staff("ApplyProposal", pb.ApplyProposalRequest(proposal_id=proposal.id))
    assert applied.proposal.state == pb.PROPOSAL_STATE_APPLIED
    assert [g.number for g in applied.grids] == [1, 2]
    assert sum(m.building_count for m in applied.micro_grids) == len(buildings)
    assert (
        as_staff("GetProposal", pb.GetProposalRequest(proposal_id=stale.id)).proposal.state
        == pb.PROPOSAL_STATE_STALE
    )
    with pytest.raises(grpc.RpcError) as refused_stale:
        as_staff("ApplyProposal", pb.ApplyProposalRequest(proposal_id=stale.id))
    code, detail = refused(refused_stale)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert detail.code == "grid.proposal_stale"
    assert not as_staff("ListUncoveredBuildings", pb.ListUncoveredBuildingsRequest()).buildings

    with core.engine.connect() as connection:
        connection.execute(text("SELECT set_config('shequ.system', 'on', false)"))
        types: dict[str, int] = dict(
            connection.execute(
                text(
                    "SELECT event_type, count(*) FROM outbox WHERE tenant_id = :t"
                    " GROUP BY event_type"
                ),
                {"t": SHIBEI},
            ).all()
        )
    assert types["shequ.grid.v1.LayoutApplied"] == 1
    assert types["shequ.grid.v1.GridCreated"] == 2
    assert types["shequ.grid.v1.MicroGridCreated"] == 4
    assert types["shequ.grid.v1.CoverageChanged"] == len(buildings)

    # The street sees the community in its workload.
    street = call(
        "GetWorkload", pb.GetWorkloadRequest(), user="beigan-admin", tenant="xiaoshan.beigan"
    )
    part = next(p for p in street.parts if p.scope_id == SHIBEI)
    assert part.scope == pb.WORKLOAD_SCOPE_COMMUNITY
    assert part.households >= len(buildings)


def test_who_covers_a_dwelling_or_a_complex(call: Call, publish: Publish) -> None:
    """Cases are located by building, dwelling or complex; grid answers for each."""
    buildings = new_buildings(publish, HUSHAN, 3)
    dwelling, household = str(uuid.uuid4()), str(uuid.uuid4())
    publish(
        cev.HouseholdCreated(
            tenant=tenant_pb2.TenantRef(tenant_id=HUSHAN),
            household=cev.HouseholdFacts(
                household_id=household, dwelling_id=dwelling, building_id=buildings[2]
            ),
        ),
        aggregate_id=household,
    )
    wait_known(call, buildings)
    _, first, second = layout(call, buildings)  # buildings 0 and 1 in the first micro-grid
    call(
        "AssignBuildings",
        pb.AssignBuildingsRequest(micro_grid_id=second.id, building_ids=[buildings[2]]),
    )
    complex_id = (
        call("ListCoverage", pb.ListCoverageRequest(micro_grid_id=first.id)).coverage[0].complex_id
    )

    by_dwelling = call("WhoCovers", pb.WhoCoversRequest(dwelling_id=dwelling))
    assert (by_dwelling.building_id, by_dwelling.micro_grid.id) == (buildings[2], second.id)
    by_complex = call("WhoCovers", pb.WhoCoversRequest(complex_id=complex_id))
    assert by_complex.micro_grid.id == first.id  # it covers two of the complex's three
    assert by_complex.building_id in buildings[:2]
    for request in (
        pb.WhoCoversRequest(dwelling_id=str(uuid.uuid4())),
        pb.WhoCoversRequest(complex_id=str(uuid.uuid4())),
    ):
        with pytest.raises(grpc.RpcError) as unknown:
            call("WhoCovers", request)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
