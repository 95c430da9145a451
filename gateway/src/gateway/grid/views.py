"""REST routes of the grid: /api/v1/tenants/{tenant}/grids, micro-grids, grids/{id}/members,
grids/{id}/buildings (coverage), coverage/uncovered, buildings/{id}/coverage, visits, grid-plans
and stats/grids. Each route is one call of the grid gRPC service (two where the path names a
grid the service's call does not take), made as the caller in the path's tenant; the grid
service decides (and re-checks) who may do what: staff write, grid workers read and record
visits, a street reads across its communities.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from gateway.access import READERS, admits
from gateway.grid.models import (
    MEMBER_ROLES,
    AddMember,
    AppliedPlanOut,
    AssignBuildings,
    AssignedOut,
    CoverageOut,
    CoveragePage,
    CreateGrid,
    CreateMicroGrid,
    GridDetailOut,
    GridOut,
    GridPage,
    GridPlanOut,
    GridRemoval,
    GridWorkloadOut,
    MemberOut,
    MemberPage,
    MemberRemoval,
    MemberRoleWord,
    MicroGridOut,
    MicroGridPage,
    ProposeLayout,
    RecordVisit,
    UncoveredBuildingOut,
    UncoveredBuildingPage,
    UpdateGrid,
    UpdateMicroGrid,
    VisitOut,
    VisitPage,
    WhoCoversOut,
    timestamp_of,
)
from gateway.security import CurrentPrincipal, TenantPath
from gateway.service_calls import PageQuery, caller_options
from shequ.common.v1 import paging_pb2
from shequ.grid.v1 import grid_pb2 as pb
from shequ.grid.v1 import grid_pb2_grpc
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, invalid_input
from shequ_kit.paging import MAX_PAGE_SIZE
from shequ_kit.tokens import Role

router = APIRouter(prefix="/api/v1/tenants/{tenant}", tags=["grid 网格化治理"])


@dataclass(frozen=True)
class GridCall:
    """The grid stub, and what each of its calls carries for this request (caller's token,
    tenant, request id; the deadline)."""

    stub: grid_pb2_grpc.GridServiceStub
    options: Mapping[str, Any]


def grid_as_caller(request: Request, principal: CurrentPrincipal, tenant: TenantPath) -> GridCall:
    """The grid service, called as the verified caller in the path's tenant."""
    return GridCall(
        stub=request.app.state.core.grid, options=caller_options(request, principal, tenant)
    )


Grid = Annotated[GridCall, Depends(grid_as_caller)]
GridQuery = Annotated[str | None, Query(description="只看此网格 Of this grid only")]
MicroGridQuery = Annotated[str | None, Query(description="只看此微网格 Of this micro-grid only")]


# ---- grids ----


@router.get(
    "/grids", operation_id="listGrids", openapi_extra=admits(*READERS), response_model=GridPage
)
def list_grids(grid: Grid, page: PageQuery) -> GridPage:
    """网格列表，按编号排列。Grids of the community, by number."""
    reply: pb.ListGridsResponse = grid.stub.ListGrids(
        pb.ListGridsRequest(page=page), **grid.options
    )
    return GridPage(
        items=[GridOut.of(g) for g in reply.grids], next_page_token=reply.page.next_page_token
    )


@router.post(
    "/grids",
    operation_id="createGrid",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=GridOut,
    status_code=status.HTTP_201_CREATED,
)
def create_grid(grid: Grid, body: CreateGrid) -> GridOut:
    """新建网格（社区工作人员）；网格代码 = 社区12位代码 + 3位网格号。
    Create a grid (community staff); its code is the community's 12-digit code + grid number."""
    reply: pb.CreateGridResponse = grid.stub.CreateGrid(body.to_proto(), **grid.options)
    return GridOut.of(reply.grid)


@router.get(
    "/grids/{grid_id}",
    operation_id="getGrid",
    openapi_extra=admits(*READERS),
    response_model=GridDetailOut,
)
def get_grid(grid: Grid, grid_id: str) -> GridDetailOut:
    """一个网格及其微网格。A grid with its micro-grids."""
    reply: pb.GetGridResponse = grid.stub.GetGrid(
        pb.GetGridRequest(grid_id=grid_id), **grid.options
    )
    return GridDetailOut.of_reply(reply)


@router.patch(
    "/grids/{grid_id}",
    operation_id="updateGrid",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=GridOut,
)
def update_grid(grid: Grid, grid_id: str, body: UpdateGrid) -> GridOut:
    """更改网格名称、编号或边界，只改请求体中给出的字段；expected_version 过期时 409。
    Change a grid's name, number or boundary (only the fields sent); a stale expected_version
    is a 409."""
    reply: pb.UpdateGridResponse = grid.stub.UpdateGrid(body.to_proto(grid_id), **grid.options)
    return GridOut.of(reply.grid)


@router.delete(
    "/grids/{grid_id}",
    operation_id="removeGrid",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
def remove_grid(grid: Grid, grid_id: str, body: GridRemoval) -> None:
    """删除网格（须填写原因）：仍有微网格时 409。Remove a grid, with its reason; while it
    still has micro-grids: 409."""
    grid.stub.RemoveGrid(body.grid(grid_id), **grid.options)


# ---- micro-grids ----


@router.get(
    "/micro-grids",
    operation_id="listMicroGrids",
    openapi_extra=admits(*READERS),
    response_model=MicroGridPage,
)
def list_micro_grids(grid: Grid, page: PageQuery, grid_id: GridQuery = None) -> MicroGridPage:
    """微网格列表，可按网格筛选。Micro-grids, optionally of one grid."""
    reply: pb.ListMicroGridsResponse = grid.stub.ListMicroGrids(
        pb.ListMicroGridsRequest(grid_id=grid_id or "", page=page), **grid.options
    )
    return MicroGridPage(
        items=[MicroGridOut.of(m) for m in reply.micro_grids],
        next_page_token=reply.page.next_page_token,
    )


@router.post(
    "/micro-grids",
    operation_id="createMicroGrid",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=MicroGridOut,
    status_code=status.HTTP_201_CREATED,
)
def create_micro_grid(grid: Grid, body: CreateMicroGrid) -> MicroGridOut:
    """在网格中新建微网格。Create a micro-grid in a grid."""
    reply: pb.CreateMicroGridResponse = grid.stub.CreateMicroGrid(body.to_proto(), **grid.options)
    return MicroGridOut.of(reply.micro_grid)


@router.patch(
    "/micro-grids/{micro_grid_id}",
    operation_id="updateMicroGrid",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=MicroGridOut,
)
def update_micro_grid(grid: Grid, micro_grid_id: str, body: UpdateMicroGrid) -> MicroGridOut:
    """更改微网格名称、编号、边界，或连同所辖楼幢移到另一网格；expected_version 过期时 409。
    Change a micro-grid's name, number or boundary, or move it with its buildings to another
    grid; a stale expected_version is a 409."""
    reply: pb.UpdateMicroGridResponse = grid.stub.UpdateMicroGrid(
        body.to_proto(micro_grid_id), **grid.options
    )
    return MicroGridOut.of(reply.micro_grid)


@router.delete(
    "/micro-grids/{micro_grid_id}",
    operation_id="removeMicroGrid",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
def remove_micro_grid(grid: Grid, micro_grid_id: str, body: GridRemoval) -> None:
    """删除微网格（须填写原因）：仍覆盖楼幢时 409。Remove a micro-grid, with its reason;
    while it covers buildings: 409."""
    grid.stub.RemoveMicroGrid(body.micro_grid(micro_grid_id), **grid.options)


# ---- coverage ----


@router.get(
    "/grids/{grid_id}/buildings",
    operation_id="listGridBuildings",
    openapi_extra=admits(*READERS),
    response_model=CoveragePage,
)
def list_grid_buildings(
    grid: Grid, grid_id: str, page: PageQuery, micro_grid_id: MicroGridQuery = None
) -> CoveragePage:
    """网格覆盖的楼幢，可按微网格筛选。The buildings a grid covers, optionally of one
    micro-grid."""
    reply: pb.ListCoverageResponse = grid.stub.ListCoverage(
        pb.ListCoverageRequest(grid_id=grid_id, micro_grid_id=micro_grid_id or "", page=page),
        **grid.options,
    )
    return CoveragePage(
        items=[CoverageOut.of(c) for c in reply.coverage],
        next_page_token=reply.page.next_page_token,
    )


@router.post(
    "/grids/{grid_id}/buildings",
    operation_id="assignGridBuildings",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=AssignedOut,
)
def assign_grid_buildings(grid: Grid, grid_id: str, body: AssignBuildings) -> AssignedOut:
    """把楼幢划入本网格的一个微网格。一幢楼只属于一个微网格：已属其他微网格的楼幢 409，
    并指出是哪一幢，除非 move 为 true。
    Put buildings into a micro-grid of this grid. A building is in one micro-grid at most: one
    another micro-grid covers is a 409 naming it, unless ``move`` is true."""
    micro_grids = grid.stub.GetGrid(pb.GetGridRequest(grid_id=grid_id), **grid.options).micro_grids
    if body.micro_grid_id not in {m.id for m in micro_grids}:
        raise invalid_input(
            "grid.micro_grid_of_another_grid",
            "该微网格不属于此网格",
            f"micro-grid {body.micro_grid_id} is not a micro-grid of grid {grid_id}",
            FieldViolation("body.micro_grid_id", "a micro-grid of this grid"),
        )
    reply: pb.AssignBuildingsResponse = grid.stub.AssignBuildings(body.to_proto(), **grid.options)
    return AssignedOut(coverage=[CoverageOut.of(c) for c in reply.coverage])


@router.delete(
    "/grids/{grid_id}/buildings/{building_id}",
    operation_id="unassignGridBuilding",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
def unassign_grid_building(grid: Grid, grid_id: str, building_id: str) -> None:
    """把楼幢移出本网格（此后列为未覆盖）；不在本网格时 404。
    Take a building out of this grid (it is then uncovered); 404 when this grid does not
    cover it."""
    covering: pb.WhoCoversResponse = grid.stub.WhoCovers(
        pb.WhoCoversRequest(building_id=building_id), **grid.options
    )
    if covering.grid.id != grid_id:
        raise DomainError(
            "grid.building_not_in_grid",
            "该楼幢不在此网格内",
            f"grid {grid_id} does not cover building {building_id}",
            ErrorKind.NOT_FOUND,
            params={"building_id": building_id, "grid_id": grid_id},
        )
    grid.stub.UnassignBuildings(
        pb.UnassignBuildingsRequest(building_ids=[building_id]), **grid.options
    )


@router.get(
    "/coverage/uncovered",
    operation_id="listUncoveredBuildings",
    openapi_extra=admits(*READERS),
    response_model=UncoveredBuildingPage,
)
def list_uncovered_buildings(grid: Grid, page: PageQuery) -> UncoveredBuildingPage:
    """尚未划入任何微网格的楼幢（附户数、人数）。Buildings no micro-grid covers yet, with
    their households and residents."""
    reply: pb.ListUncoveredBuildingsResponse = grid.stub.ListUncoveredBuildings(
        pb.ListUncoveredBuildingsRequest(page=page), **grid.options
    )
    return UncoveredBuildingPage(
        items=[UncoveredBuildingOut.of(b) for b in reply.buildings],
        next_page_token=reply.page.next_page_token,
    )


@router.get(
    "/buildings/{building_id}/coverage",
    operation_id="getBuildingCoverage",
    openapi_extra=admits(*READERS),
    response_model=WhoCoversOut,
)
def get_building_coverage(grid: Grid, building_id: str) -> WhoCoversOut:
    """谁负责这幢楼：微网格、网格，以及逐级上报顺序（微网格长 → 网格员 → 网格长 → 社区）。
    Who covers a building: its micro-grid and grid, and whom to escalate to in order
    (micro-grid leader → grid worker → grid leader → community)."""
    reply: pb.WhoCoversResponse = grid.stub.WhoCovers(
        pb.WhoCoversRequest(building_id=building_id), **grid.options
    )
    return WhoCoversOut.of(reply)


# ---- members ----


@router.get(
    "/grids/{grid_id}/members",
    operation_id="listGridMembers",
    openapi_extra=admits(*READERS),
    response_model=MemberPage,
)
def list_grid_members(
    grid: Grid,
    grid_id: str,
    page: PageQuery,
    micro_grid_id: MicroGridQuery = None,
    role: Annotated[MemberRoleWord | None, Query(description="角色 With this role")] = None,
) -> MemberPage:
    """网格成员：网格长、网格员、微网格长、楼道长、志愿者、党员；手机号脱敏。
    A grid's members (grid leader, grid worker, micro-grid leader, building leader, volunteer,
    party member), optionally of one micro-grid or role; phones masked."""
    reply: pb.ListMembersResponse = grid.stub.ListMembers(
        pb.ListMembersRequest(
            grid_id=grid_id,
            micro_grid_id=micro_grid_id or "",
            role=MEMBER_ROLES.number(role),
            page=page,
        ),
        **grid.options,
    )
    return MemberPage(
        items=[MemberOut.of(m) for m in reply.members], next_page_token=reply.page.next_page_token
    )


@router.post(
    "/grids/{grid_id}/members",
    operation_id="addGridMember",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=MemberOut,
    status_code=status.HTTP_201_CREATED,
)
def add_grid_member(grid: Grid, grid_id: str, body: AddMember) -> MemberOut:
    """加入网格成员，可关联其平台账号（网格员据此只看本网格的走访）。
    Add a member to a grid, linked to their platform account where they have one (a grid
    worker then sees the visits of their own grids)."""
    reply: pb.AddMemberResponse = grid.stub.AddMember(body.to_proto(grid_id), **grid.options)
    return MemberOut.of(reply.member)


def is_member_of(grid: GridCall, grid_id: str, member_id: str) -> bool:
    """RemoveMember takes only the member's id: the path's grid is checked here, over the
    grid's members (a grid has tens, one page)."""
    token = ""
    while True:
        reply: pb.ListMembersResponse = grid.stub.ListMembers(
            pb.ListMembersRequest(
                grid_id=grid_id,
                page=paging_pb2.PageRequest(page_size=MAX_PAGE_SIZE, page_token=token),
            ),
            **grid.options,
        )
        if any(m.id == member_id for m in reply.members):
            return True
        token = reply.page.next_page_token
        if not token:
            return False


@router.delete(
    "/grids/{grid_id}/members/{member_id}",
    operation_id="removeGridMember",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
def remove_grid_member(grid: Grid, grid_id: str, member_id: str, body: MemberRemoval) -> None:
    """移出网格成员；expected_version 过期时 409。Remove a member from a grid; a stale
    expected_version is a 409."""
    if not is_member_of(grid, grid_id, member_id):
        raise DomainError(
            "grid.member_not_found",
            "此网格中没有该成员",
            f"grid {grid_id} has no member {member_id}",
            ErrorKind.NOT_FOUND,
            params={"member_id": member_id, "grid_id": grid_id},
        )
    grid.stub.RemoveMember(
        pb.RemoveMemberRequest(member_id=member_id, expected_version=body.expected_version),
        **grid.options,
    )


# ---- visits ----


@router.get(
    "/visits", operation_id="listVisits", openapi_extra=admits(*READERS), response_model=VisitPage
)
def list_visits(  # FastAPI passes each query parameter by name
    *,
    grid: Grid,
    page: PageQuery,
    grid_id: GridQuery = None,
    micro_grid_id: MicroGridQuery = None,
    building_id: Annotated[str | None, Query(description="楼幢 Of this building")] = None,
    household_id: Annotated[str | None, Query(description="户 Of this household")] = None,
    member_id: Annotated[str | None, Query(description="走访人 By this member")] = None,
    since: Annotated[datetime | None, Query(description="此时及以后 On or after")] = None,
    until: Annotated[datetime | None, Query(description="此时以前 Before")] = None,
) -> VisitPage:
    """走访记录，新的在前，可按网格、微网格、楼幢、户、走访人、时间筛选；网格员只看到本人所在
    网格的记录。Visit records, newest first, by grid, micro-grid, building, household, member
    or time; a grid worker sees those of their own grids only."""
    request = pb.ListVisitsRequest(
        grid_id=grid_id or "",
        micro_grid_id=micro_grid_id or "",
        building_id=building_id or "",
        household_id=household_id or "",
        member_id=member_id or "",
        page=page,
    )
    if since is not None:
        request.since.CopyFrom(timestamp_of(since))
    if until is not None:
        request.until.CopyFrom(timestamp_of(until))
    reply: pb.ListVisitsResponse = grid.stub.ListVisits(request, **grid.options)
    return VisitPage(
        items=[VisitOut.of(v) for v in reply.visits], next_page_token=reply.page.next_page_token
    )


@router.post(
    "/visits",
    operation_id="recordVisit",
    openapi_extra=admits(Role.COMMUNITY_STAFF, Role.GRID_WORKER),
    response_model=VisitOut,
    status_code=status.HTTP_201_CREATED,
)
def record_visit(grid: Grid, body: RecordVisit) -> VisitOut:
    """登记走访（网格员、社区工作人员）：楼幢、房屋或户须属于本社区。
    Record a visit (grid workers, community staff); its building, dwelling or household must be
    of this community."""
    reply: pb.RecordVisitResponse = grid.stub.RecordVisit(body.to_proto(), **grid.options)
    return VisitOut.of(reply.visit)


# ---- layout proposals ----


@router.post(
    "/grid-plans",
    operation_id="proposeGridPlan",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=GridPlanOut,
    status_code=status.HTTP_201_CREATED,
)
def propose_grid_plan(grid: Grid, body: ProposeLayout) -> GridPlanOut:
    """按工作量生成均衡、连片的网格划分方案（不改变现行划分），附与现行划分的差异。
    Propose a balanced, contiguous layout by workload, with its diff against the layout in
    force; nothing changes until it is applied."""
    reply: pb.ProposeLayoutResponse = grid.stub.ProposeLayout(body.to_proto(), **grid.options)
    return GridPlanOut.of(reply.proposal)


@router.get(
    "/grid-plans/{plan_id}",
    operation_id="getGridPlan",
    openapi_extra=admits(*READERS),
    response_model=GridPlanOut,
)
def get_grid_plan(grid: Grid, plan_id: str) -> GridPlanOut:
    """查看方案：均衡度、连片情况、与现行划分的差异。A proposal: balance, contiguity and
    diff."""
    reply: pb.GetProposalResponse = grid.stub.GetProposal(
        pb.GetProposalRequest(proposal_id=plan_id), **grid.options
    )
    return GridPlanOut.of(reply.proposal)


@router.post(
    "/grid-plans/{plan_id}/apply",
    operation_id="applyGridPlan",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=AppliedPlanOut,
)
def apply_grid_plan(grid: Grid, plan_id: str) -> AppliedPlanOut:
    """一步应用方案；方案生成后划分已变（方案过期）时 409，请重新生成。
    Apply a proposal in one step; if the layout changed after it was made (stale), 409:
    propose again."""
    reply: pb.ApplyProposalResponse = grid.stub.ApplyProposal(
        pb.ApplyProposalRequest(proposal_id=plan_id), **grid.options
    )
    return AppliedPlanOut.of(reply)


# ---- workload ----


@router.get(
    "/stats/grids",
    operation_id="getGridWorkload",
    openapi_extra=admits(*READERS),
    response_model=GridWorkloadOut,
)
def get_grid_workload(grid: Grid) -> GridWorkloadOut:
    """网格工作量：户数、人数、关爱对象、企业、未结事件、近30天走访；社区按网格、微网格分项，
    街道按社区分项。Workload: households, residents, care-tagged residents, enterprises, open
    cases, visits in the last 30 days; per grid and micro-grid for a community, per community
    for a street."""
    reply: pb.GetWorkloadResponse = grid.stub.GetWorkload(pb.GetWorkloadRequest(), **grid.options)
    return GridWorkloadOut.of(reply)
