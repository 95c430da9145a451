"""The grid's entries in the audit log: a grid plan applied (with how many buildings moved) and
members appointed and removed, each in the transaction that does it; refused actions write
nothing."""

from typing import Any

import grpc
import pytest

from grid.app import GridCore
from shequ.grid.v1 import grid_pb2 as pb
from shequ_infra.grpc_calls import Call
from shequ_kit.audit import AuditEntry, AuditQuery, list_entries
from shequ_kit.paging import Page
from shequ_kit.tenancy import TenantId

from .conftest import XIANGYUAN, Publish
from .test_grid_service import household, new_buildings, wait_known


def logged(core: GridCore, action: str) -> list[AuditEntry]:
    found = list_entries(
        core.engine,
        AuditQuery(page=Page(500, None), tenant=TenantId(XIANGYUAN), action_prefix=action),
    )
    return list(found.entries)


def as_staff(call: Call, method: str, request: Any) -> Any:
    return call(method, request, user="xiangyuan-staff", tenant=XIANGYUAN)


@pytest.fixture(scope="module")
def applied(call: Call, publish: Publish) -> pb.ApplyProposalResponse:
    buildings = new_buildings(publish, XIANGYUAN, 6)
    for building in buildings:
        household(publish, building, XIANGYUAN)
    wait_known(call, buildings, tenant=XIANGYUAN, user="xiangyuan-staff")
    proposal = as_staff(
        call,
        "ProposeLayout",
        pb.ProposeLayoutRequest(grids=2, micro_grids=3, mode=pb.LAYOUT_MODE_FRESH),
    ).proposal
    reply: pb.ApplyProposalResponse = as_staff(
        call, "ApplyProposal", pb.ApplyProposalRequest(proposal_id=proposal.id)
    )
    return reply


def test_an_applied_plan_is_one_entry_counting_the_moves(
    core: GridCore, applied: pb.ApplyProposalResponse
) -> None:
    [entry] = [e for e in logged(core, "grid_plan.") if e.target_id == applied.proposal.id]
    assert (entry.action, entry.target_kind) == ("grid_plan.applied", "grid_plan")
    assert (entry.actor_name, entry.tenant) == ("xiangyuan-staff", TenantId(XIANGYUAN))
    assert entry.detail["grids"] == len(applied.grids) == 2
    assert entry.detail["micro_grids"] == len(applied.micro_grids) == 3
    assert entry.detail["moves"] == applied.proposal.diff.changed_assignments
    assert "网格方案" in entry.summary
    assert entry.request_id


def test_applying_the_same_plan_again_is_refused_and_writes_nothing(
    call: Call, core: GridCore, applied: pb.ApplyProposalResponse
) -> None:
    before = len(logged(core, "grid_plan.applied"))
    with pytest.raises(grpc.RpcError) as refused:
        as_staff(call, "ApplyProposal", pb.ApplyProposalRequest(proposal_id=applied.proposal.id))
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert len(logged(core, "grid_plan.applied")) == before


def test_appointing_and_removing_a_member_are_entries_and_a_refused_one_is_none(
    call: Call, core: GridCore, applied: pb.ApplyProposalResponse
) -> None:
    grid = applied.grids[0]
    member = as_staff(
        call,
        "AddMember",
        pb.AddMemberRequest(
            member=pb.MemberInput(
                grid_id=grid.id,
                role=pb.MEMBER_ROLE_GRID_LEADER,
                name="许网格",
                phone="13912345678",
            )
        ),
    ).member
    appointed = [e for e in logged(core, "grid_member.") if e.target_id == member.id]
    assert [(e.action, e.detail["role"], e.detail["grid_id"]) for e in appointed] == [
        ("grid_member.added", "grid_leader", grid.id)
    ]
    assert "网格长" in appointed[0].summary
    # The member's name and phone stay out of the log.
    assert "许网格" not in appointed[0].summary
    assert "13912345678" not in str(appointed[0].detail)

    added_before = len(logged(core, "grid_member.added"))
    with pytest.raises(grpc.RpcError) as refused:
        as_staff(
            call,
            "AddMember",
            pb.AddMemberRequest(
                member=pb.MemberInput(grid_id=grid.id, role=pb.MEMBER_ROLE_MICRO_GRID_LEADER)
            ),
        )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert len(logged(core, "grid_member.added")) == added_before

    as_staff(
        call,
        "RemoveMember",
        pb.RemoveMemberRequest(member_id=member.id, expected_version=member.version),
    )
    removed = [e for e in logged(core, "grid_member.removed") if e.target_id == member.id]
    assert [(e.actor_name, e.detail["role"]) for e in removed] == [
        ("xiangyuan-staff", "grid_leader")
    ]
