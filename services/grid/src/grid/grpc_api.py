"""GridService: proto ⇄ domain. Each method checks access, opens one transaction, calls the
domain and converts the answer."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import String, cast, func, select

from grid import access, layout, members, plans, visits
from grid.census_sync import rebuild_tenant
from grid.common import parse_uuid
from grid.models import (
    CensusBuilding,
    CensusDwelling,
    Community,
    Coverage,
    Grid,
    Member,
    MicroGrid,
    Visit,
)
from grid.workload import Figures, coverage_map, per_building
from shequ.grid.v1 import grid_pb2 as pb
from shequ.grid.v1 import grid_pb2_grpc
from shequ_kit.errors import not_found
from shequ_kit.paging import page_of, page_response
from shequ_kit.tenancy import TenantId

if TYPE_CHECKING:
    from grid.app import GridCore

SERVICE_NAME = "shequ.grid.v1.GridService"
ESCALATION = (
    (pb.ESCALATION_LEVEL_MICRO_GRID_LEADER, "micro_grid_leader"),
    (pb.ESCALATION_LEVEL_GRID_WORKER, "grid_worker"),
    (pb.ESCALATION_LEVEL_GRID_LEADER, "grid_leader"),
)


def _time(value: Timestamp, present: bool) -> datetime | None:
    return value.ToDatetime(tzinfo=UTC) if present else None


def _stamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def grid_to_proto(g: Grid, code: str, micro: int = 0, buildings: int = 0) -> pb.Grid:
    return pb.Grid(
        id=str(g.id),
        tenant_id=g.tenant_id,
        number=g.number,
        code=layout.grid_code(code, g),
        name=g.name,
        boundary_geojson=g.boundary_geojson or "",
        micro_grid_count=micro,
        building_count=buildings,
        version=g.version,
    )


def micro_to_proto(m: MicroGrid, g: Grid, code: str, buildings: int = 0) -> pb.MicroGrid:
    return pb.MicroGrid(
        id=str(m.id),
        tenant_id=m.tenant_id,
        grid_id=str(m.grid_id),
        number=m.number,
        code=layout.micro_grid_code(code, g, m),
        name=m.name,
        boundary_geojson=m.boundary_geojson or "",
        building_count=buildings,
        version=m.version,
    )


def member_to_proto(m: Member) -> pb.Member:
    return pb.Member(
        id=str(m.id),
        tenant_id=m.tenant_id,
        grid_id=str(m.grid_id),
        micro_grid_id=str(m.micro_grid_id or ""),
        building_id=str(m.building_id or ""),
        role=members.ROLES[m.role],
        name=m.name,
        phone=m.phone_masked,
        account_subject=m.account_subject or "",
        account_username=m.account_username or "",
        version=m.version,
    )


def visit_to_proto(v: Visit) -> pb.Visit:
    return pb.Visit(
        id=str(v.id),
        tenant_id=v.tenant_id,
        member_id=str(v.member_id or ""),
        visitor_subject=v.visitor_subject,
        visitor_name=v.visitor_name,
        visited_at=_stamp(v.visited_at),
        building_id=str(v.building_id),
        dwelling_id=str(v.dwelling_id or ""),
        household_id=str(v.household_id or ""),
        micro_grid_id=str(v.micro_grid_id or ""),
        grid_id=str(v.grid_id or ""),
        findings=v.findings,
        follow_up=v.follow_up,
        case_id=v.case_id or "",
        recorded_at=_stamp(v.recorded_at),
    )


def workload_to_proto(
    scope: pb.WorkloadScope.ValueType,
    scope_id: str,
    figures: Figures,
    *,
    name: str = "",
    code: str = "",
    parent_id: str = "",
) -> pb.Workload:
    return pb.Workload(
        scope=scope,
        scope_id=scope_id,
        scope_name=name,
        code=code,
        parent_id=parent_id,
        buildings=figures.buildings,
        households=figures.households,
        residents=figures.residents,
        care_tagged_residents=figures.care_tagged_residents,
        by_care_tag=figures.by_care_tag,
        enterprises=figures.enterprises,
        open_cases=figures.open_cases,
        visits_last_30_days=figures.visits_last_30_days,
        weighted=round(figures.weighted, 2),
    )


def who_covers_query(building_id: uuid.UUID) -> Any:
    """Coverage → micro-grid → grid (+ the community's code), with one row per escalation
    member of the grid (or one row without a member)."""
    return (
        select(
            Coverage.tenant_id,
            MicroGrid.id.label("micro_grid_id"),
            MicroGrid.number.label("micro_number"),
            MicroGrid.name.label("micro_name"),
            MicroGrid.version.label("micro_version"),
            Grid.id.label("grid_id"),
            Grid.number.label("grid_number"),
            Grid.name.label("grid_name"),
            Grid.version.label("grid_version"),
            Community.division_code,
            Member.id.label("member_id"),
            Member.micro_grid_id.label("member_micro_grid_id"),
            Member.building_id.label("member_building_id"),
            Member.role,
            Member.name.label("member_name"),
            Member.phone_masked,
            Member.account_subject,
            Member.account_username,
            Member.version.label("member_version"),
        )
        .join(MicroGrid, MicroGrid.id == Coverage.micro_grid_id)
        .join(Grid, Grid.id == MicroGrid.grid_id)
        .outerjoin(Community, Community.tenant_id == Coverage.tenant_id)
        .outerjoin(
            Member,
            (Member.grid_id == Grid.id) & Member.role.in_([word for _, word in ESCALATION]),
        )
        .where(Coverage.building_id == building_id)
        .order_by(Member.created_at, Member.id)
    )


class GridServicer(grid_pb2_grpc.GridServiceServicer):
    def __init__(self, core: GridCore) -> None:
        self.core = core

    def _code(self, session: Any, tenant: TenantId) -> str:
        return layout.community_code(session, tenant)

    # ---- grids ----

    def CreateGrid(self, request: pb.CreateGridRequest, context: Any) -> pb.CreateGridResponse:
        """建网格。Create a grid of the community."""
        _, tenant = access.for_writing()
        with self.core.sessions.begin() as session:
            grid, code = layout.create_grid(
                session,
                tenant,
                name=request.name,
                number=request.number,
                boundary_geojson=request.boundary_geojson,
                division_code=request.division_code,
            )
            return pb.CreateGridResponse(grid=grid_to_proto(grid, code))

    def ListGrids(self, request: pb.ListGridsRequest, context: Any) -> pb.ListGridsResponse:
        """网格列表（街道可跨社区）。Grids, across communities for a street."""
        access.for_reading()
        page = page_of(request.page)
        with self.core.sessions() as session:
            found = layout.list_grids(session, page)
            tally = layout.counts(session)
            codes = {c.tenant_id: c.division_code for c in session.scalars(select(Community))}
            return pb.ListGridsResponse(
                grids=[
                    grid_to_proto(
                        g,
                        codes.get(g.tenant_id) or layout.placeholder_code(TenantId(g.tenant_id)),
                        tally.micro_grids.get(g.id, 0),
                        tally.buildings_of_grid.get(g.id, 0),
                    )
                    for g in found[: page.size]
                ],
                page=page_response(found, page, lambda g: [g.tenant_id, g.number]),
            )

    def GetGrid(self, request: pb.GetGridRequest, context: Any) -> pb.GetGridResponse:
        """网格及其微网格。A grid with its micro-grids."""
        access.for_reading()
        with self.core.sessions() as session:
            grid = layout.get_grid(session, request.grid_id)
            code = self._code(session, TenantId(grid.tenant_id))
            tally = layout.counts(session)
            micros = session.scalars(
                select(MicroGrid).where(MicroGrid.grid_id == grid.id).order_by(MicroGrid.number)
            ).all()
            return pb.GetGridResponse(
                grid=grid_to_proto(
                    grid, code, len(micros), tally.buildings_of_grid.get(grid.id, 0)
                ),
                micro_grids=[
                    micro_to_proto(m, grid, code, tally.buildings_of_micro_grid.get(m.id, 0))
                    for m in micros
                ],
            )

    def UpdateGrid(self, request: pb.UpdateGridRequest, context: Any) -> pb.UpdateGridResponse:
        """修改网格（按字段掩码，校验版本）。Rename, renumber or redraw a grid."""
        _, tenant = access.for_writing()
        with self.core.sessions.begin() as session:
            grid, code = layout.update_grid(
                session,
                tenant,
                grid_id=request.grid_id,
                name=request.name,
                number=request.number,
                boundary_geojson=request.boundary_geojson,
                paths=list(request.update_mask.paths),
                expected_version=request.expected_version,
            )
            return pb.UpdateGridResponse(grid=grid_to_proto(grid, code))

    def RemoveGrid(self, request: pb.RemoveGridRequest, context: Any) -> pb.RemoveGridResponse:
        """删除空网格。Remove a grid without micro-grids."""
        _, tenant = access.for_writing()
        with self.core.sessions.begin() as session:
            layout.remove_grid(
                session, tenant, grid_id=request.grid_id, expected_version=request.expected_version
            )
        return pb.RemoveGridResponse()

    # ---- micro-grids ----

    def CreateMicroGrid(
        self, request: pb.CreateMicroGridRequest, context: Any
    ) -> pb.CreateMicroGridResponse:
        """建微网格。Create a micro-grid in a grid."""
        _, tenant = access.for_writing()
        with self.core.sessions.begin() as session:
            micro, grid, code = layout.create_micro_grid(
                session,
                tenant,
                grid_id=request.grid_id,
                name=request.name,
                number=request.number,
                boundary_geojson=request.boundary_geojson,
            )
            return pb.CreateMicroGridResponse(micro_grid=micro_to_proto(micro, grid, code))

    def ListMicroGrids(
        self, request: pb.ListMicroGridsRequest, context: Any
    ) -> pb.ListMicroGridsResponse:
        """微网格列表。Micro-grids of a grid or of the community."""
        access.for_reading()
        page = page_of(request.page)
        with self.core.sessions() as session:
            found = layout.list_micro_grids(session, request.grid_id, page)
            tally = layout.counts(session)
            codes = {c.tenant_id: c.division_code for c in session.scalars(select(Community))}
            return pb.ListMicroGridsResponse(
                micro_grids=[
                    micro_to_proto(
                        m,
                        g,
                        codes.get(m.tenant_id) or layout.placeholder_code(TenantId(m.tenant_id)),
                        tally.buildings_of_micro_grid.get(m.id, 0),
                    )
                    for m, g in found[: page.size]
                ],
                page=page_response(found, page, lambda mg: [mg[1].number, mg[0].number]),
            )

    def UpdateMicroGrid(
        self, request: pb.UpdateMicroGridRequest, context: Any
    ) -> pb.UpdateMicroGridResponse:
        """修改微网格（按字段掩码，校验版本）。Rename, renumber, redraw or move a micro-grid."""
        _, tenant = access.for_writing()
        with self.core.sessions.begin() as session:
            micro, grid, code = layout.update_micro_grid(
                session,
                tenant,
                micro_grid_id=request.micro_grid_id,
                name=request.name,
                number=request.number,
                boundary_geojson=request.boundary_geojson,
                grid_id=request.grid_id,
                paths=list(request.update_mask.paths),
                expected_version=request.expected_version,
            )
            return pb.UpdateMicroGridResponse(micro_grid=micro_to_proto(micro, grid, code))

    def RemoveMicroGrid(
        self, request: pb.RemoveMicroGridRequest, context: Any
    ) -> pb.RemoveMicroGridResponse:
        """删除不再覆盖楼幢的微网格。Remove a micro-grid covering no building."""
        _, tenant = access.for_writing()
        with self.core.sessions.begin() as session:
            layout.remove_micro_grid(
                session,
                tenant,
                micro_grid_id=request.micro_grid_id,
                expected_version=request.expected_version,
            )
        return pb.RemoveMicroGridResponse()

    # ---- coverage ----

    def AssignBuildings(
        self, request: pb.AssignBuildingsRequest, context: Any
    ) -> pb.AssignBuildingsResponse:
        """楼幢划入微网格（一幢楼只属一个微网格）。Cover buildings by a micro-grid."""
        _, tenant = access.for_writing()
        with self.core.sessions.begin() as session:
            assigned = layout.assign_buildings(
                session,
                tenant,
                micro_grid_id=request.micro_grid_id,
                building_ids=list(request.building_ids),
                move=request.move,
            )
            return pb.AssignBuildingsResponse(
                coverage=[
                    pb.Coverage(
                        building_id=str(c.building_id),
                        micro_grid_id=str(m.id),
                        grid_id=str(m.grid_id),
                        complex_id=str(b.complex_id) if b else "",
                        building_number=b.number if b else "",
                    )
                    for c, m, b in assigned
                ]
            )

    def UnassignBuildings(
        self, request: pb.UnassignBuildingsRequest, context: Any
    ) -> pb.UnassignBuildingsResponse:
        """楼幢移出微网格。Leave buildings uncovered."""
        _, tenant = access.for_writing()
        with self.core.sessions.begin() as session:
            count = layout.unassign_buildings(
                session, tenant, building_ids=list(request.building_ids)
            )
        return pb.UnassignBuildingsResponse(unassigned=count)

    def ListCoverage(
        self, request: pb.ListCoverageRequest, context: Any
    ) -> pb.ListCoverageResponse:
        """覆盖关系。Which micro-grid covers which building."""
        access.for_reading()
        page = page_of(request.page)
        with self.core.sessions() as session:
            found = layout.list_coverage(
                session, grid_id=request.grid_id, micro_grid_id=request.micro_grid_id, page=page
            )
            return pb.ListCoverageResponse(
                coverage=[
                    pb.Coverage(
                        building_id=str(c.building_id),
                        micro_grid_id=str(m.id),
                        grid_id=str(m.grid_id),
                        complex_id=str(b.complex_id) if b else "",
                        building_number=b.number if b else "",
                    )
                    for c, m, b in found[: page.size]
                ],
                page=page_response(found, page, lambda cmb: [str(cmb[0].building_id)]),
            )

    def ListUncoveredBuildings(
        self, request: pb.ListUncoveredBuildingsRequest, context: Any
    ) -> pb.ListUncoveredBuildingsResponse:
        """未划入任何微网格的楼幢。Buildings no micro-grid covers."""
        access.for_reading()
        page = page_of(request.page)
        with self.core.sessions() as session:
            found = layout.list_uncovered(session, page)
            shown = found[: page.size]
            figures = per_building(session)
            return pb.ListUncoveredBuildingsResponse(
                buildings=[
                    pb.UncoveredBuilding(
                        building_id=str(b.building_id),
                        complex_id=str(b.complex_id),
                        building_number=b.number,
                        households=figures.get((b.tenant_id, b.building_id), Figures()).households,
                        residents=figures.get((b.tenant_id, b.building_id), Figures()).residents,
                    )
                    for b in shown
                ],
                page=page_response(
                    found, page, lambda b: [str(b.complex_id), b.number, str(b.building_id)]
                ),
            )

    # ---- members ----

    def AddMember(self, request: pb.AddMemberRequest, context: Any) -> pb.AddMemberResponse:
        """添加网格成员。Add a member to a grid."""
        _, tenant = access.for_writing()
        with self.core.sessions.begin() as session:
            member = members.add_member(session, tenant, request.member)
            return pb.AddMemberResponse(member=member_to_proto(member))

    def ListMembers(self, request: pb.ListMembersRequest, context: Any) -> pb.ListMembersResponse:
        """网格成员。Members, by grid, micro-grid, role or account."""
        access.for_reading()
        page = page_of(request.page)
        with self.core.sessions() as session:
            found = members.list_members(
                session,
                grid_id=request.grid_id,
                micro_grid_id=request.micro_grid_id,
                role=request.role,
                account_subject=request.account_subject,
                page=page,
            )
            return pb.ListMembersResponse(
                members=[member_to_proto(m) for m in found[: page.size]],
                page=page_response(found, page, lambda m: [str(m.id)]),
            )

    def RemoveMember(
        self, request: pb.RemoveMemberRequest, context: Any
    ) -> pb.RemoveMemberResponse:
        """移除网格成员。Remove a member."""
        _, tenant = access.for_writing()
        with self.core.sessions.begin() as session:
            members.remove_member(
                session,
                tenant,
                member_id=request.member_id,
                expected_version=request.expected_version,
            )
        return pb.RemoveMemberResponse()

    # ---- coverage query ----

    def _building_of(self, request: pb.WhoCoversRequest, tenant: TenantId) -> uuid.UUID:
        """The building a request names directly, through a dwelling, or for a complex the one
        of its buildings in the micro-grid covering most of them."""
        if request.building_id or not (request.dwelling_id or request.complex_id):
            return parse_uuid(request.building_id, "building_id")
        found: object
        with self.core.sessions() as session:
            if request.dwelling_id:
                dwelling = parse_uuid(request.dwelling_id, "dwelling_id")
                found = session.scalar(
                    select(CensusDwelling.building_id).where(CensusDwelling.dwelling_id == dwelling)
                )
                what = f"dwelling {dwelling}"
            else:
                complex_id = parse_uuid(request.complex_id, "complex_id")
                found = session.scalar(
                    select(func.min(cast(Coverage.building_id, String)))
                    .join(CensusBuilding, CensusBuilding.building_id == Coverage.building_id)
                    .where(CensusBuilding.complex_id == complex_id)
                    .group_by(Coverage.micro_grid_id)
                    .order_by(func.count().desc(), Coverage.micro_grid_id)
                    .limit(1)
                )
                if found is None:  # no building of it covered: any of its buildings
                    found = session.scalar(
                        select(CensusBuilding.building_id)
                        .where(CensusBuilding.complex_id == complex_id)
                        .limit(1)
                    )
                what = f"complex {complex_id}"
        if found is None:
            raise not_found("grid.place_not_found", "本社区没有该地点", f"no {what} in {tenant}")
        return uuid.UUID(str(found))

    def WhoCovers(self, request: pb.WhoCoversRequest, context: Any) -> pb.WhoCoversResponse:
        """谁负责这幢楼：微网格长 → 网格员 → 网格长 → 社区。Who covers a building.

        Other services call this per case: one SQL round trip (coverage, micro-grid, grid,
        community code and the escalation members together), no ORM objects.
        """
        _, tenant = access.for_reading()
        building_id = self._building_of(request, tenant)
        # Keyed by the caller's tenant too: a street's answer is not a community's.
        key = (tenant.value, building_id)
        cache = self.core.coverage_cache
        if (cached := cache.get(key)) is not None:
            return pb.WhoCoversResponse.FromString(cached)
        generation = cache.generation()
        with self.core.sessions() as session:
            rows = session.execute(who_covers_query(building_id)).all()
            response = pb.WhoCoversResponse(building_id=str(building_id))
            if not rows:
                known = session.scalar(
                    select(CensusBuilding.tenant_id).where(
                        CensusBuilding.building_id == building_id
                    )
                )
                if known is None:
                    raise not_found(
                        "grid.building_not_found",
                        "本社区没有该楼幢",
                        f"no building {building_id} in {tenant}",
                    )
                community = known
            else:
                first = rows[0]
                community = first.tenant_id
                code = first.division_code or layout.placeholder_code(TenantId(community))
                grid_code = f"{code}{first.grid_number:03d}"
                response.grid.CopyFrom(
                    pb.Grid(
                        id=str(first.grid_id),
                        tenant_id=community,
                        number=first.grid_number,
                        code=grid_code,
                        name=first.grid_name,
                        version=first.grid_version,
                    )
                )
                response.micro_grid.CopyFrom(
                    pb.MicroGrid(
                        id=str(first.micro_grid_id),
                        tenant_id=community,
                        grid_id=str(first.grid_id),
                        number=first.micro_number,
                        code=f"{grid_code}{first.micro_number:02d}",
                        name=first.micro_name,
                        version=first.micro_version,
                    )
                )
                staff = [r for r in rows if r.member_id is not None]
                for level, word in ESCALATION:
                    for r in staff:
                        if r.role != word:
                            continue
                        if word == "micro_grid_leader" and r.member_micro_grid_id != (
                            first.micro_grid_id
                        ):
                            continue
                        response.escalation.append(
                            pb.Responsible(
                                level=level,
                                member=pb.Member(
                                    id=str(r.member_id),
                                    tenant_id=community,
                                    grid_id=str(first.grid_id),
                                    micro_grid_id=str(r.member_micro_grid_id or ""),
                                    building_id=str(r.member_building_id or ""),
                                    role=members.ROLES[r.role],
                                    name=r.member_name,
                                    phone=r.phone_masked,
                                    account_subject=r.account_subject or "",
                                    account_username=r.account_username or "",
                                    version=r.member_version,
                                ),
                                tenant_id=community,
                            )
                        )
            response.escalation.append(
                pb.Responsible(level=pb.ESCALATION_LEVEL_COMMUNITY, tenant_id=community)
            )
            if rows:  # a covered building's answer depends only on the notifying tables
                cache.put(key, response.SerializeToString(), generation)
            return response

    # ---- visits ----

    def RecordVisit(self, request: pb.RecordVisitRequest, context: Any) -> pb.RecordVisitResponse:
        """记录走访。Record a visit to a household, dwelling or building."""
        principal, tenant = access.for_visiting()
        given = request.visit
        with self.core.sessions.begin() as session:
            visit = visits.record_visit(
                session,
                tenant,
                principal,
                member_id=given.member_id,
                visited_at=_time(given.visited_at, given.HasField("visited_at")),
                building_id=given.building_id,
                dwelling_id=given.dwelling_id,
                household_id=given.household_id,
                findings=given.findings,
                follow_up=given.follow_up,
                case_id=given.case_id,
            )
            return pb.RecordVisitResponse(visit=visit_to_proto(visit))

    def ListVisits(self, request: pb.ListVisitsRequest, context: Any) -> pb.ListVisitsResponse:
        """走访记录（网格员只看自己网格的）。Visits; a grid worker sees their own grids'."""
        principal, tenant = access.for_reading()
        page = page_of(request.page)
        with self.core.sessions() as session:
            only: set[uuid.UUID] | None = None
            if not access.sees_every_grid(principal, tenant):
                only = members.grids_of_account(session, principal.subject)
            found = visits.list_visits(
                session,
                only_grids=only,
                grid_id=request.grid_id,
                micro_grid_id=request.micro_grid_id,
                building_id=request.building_id,
                household_id=request.household_id,
                member_id=request.member_id,
                since=_time(request.since, request.HasField("since")),
                until=_time(request.until, request.HasField("until")),
                page=page,
            )
            return pb.ListVisitsResponse(
                visits=[visit_to_proto(v) for v in found[: page.size]],
                page=page_response(found, page, lambda v: [v.visited_at.isoformat(), str(v.id)]),
            )

    # ---- workload ----

    def GetWorkload(self, request: pb.GetWorkloadRequest, context: Any) -> pb.GetWorkloadResponse:
        """工作量：社区按网格、微网格；街道按社区。Workload per grid or per community."""
        _, tenant = access.for_reading()
        with self.core.sessions() as session:
            figures = per_building(session)
            total = Figures()
            for f in figures.values():
                total.add(f)
            if not tenant.is_community:
                per_community: dict[str, Figures] = {}
                for (community, _), f in figures.items():
                    per_community.setdefault(community, Figures()).add(f)
                return pb.GetWorkloadResponse(
                    total=workload_to_proto(
                        pb.WORKLOAD_SCOPE_STREET, tenant.value, total, name=tenant.value
                    ),
                    parts=[
                        workload_to_proto(pb.WORKLOAD_SCOPE_COMMUNITY, c, f, name=c)
                        for c, f in sorted(per_community.items())
                    ],
                )
            return self._community_workload(session, tenant, figures, total)

    def _community_workload(
        self,
        session: Any,
        tenant: TenantId,
        figures: dict[tuple[str, uuid.UUID], Figures],
        total: Figures,
    ) -> pb.GetWorkloadResponse:
        code = self._code(session, tenant)
        covered = coverage_map(session)
        grids = {g.id: g for g in session.scalars(select(Grid).order_by(Grid.number))}
        micros = session.scalars(select(MicroGrid).order_by(MicroGrid.number)).all()
        per_micro: dict[uuid.UUID, Figures] = {m.id: Figures() for m in micros}
        per_grid: dict[uuid.UUID, Figures] = {g: Figures() for g in grids}
        uncovered = Figures()
        grid_of_micro = {m.id: m.grid_id for m in micros}
        for key, f in figures.items():
            micro_id = covered.get(key)
            if micro_id is None or micro_id not in per_micro:
                uncovered.add(f)
                continue
            per_micro[micro_id].add(f)
            per_grid[grid_of_micro[micro_id]].add(f)
        parts: list[pb.Workload] = []
        for grid_id, grid in grids.items():
            parts.append(
                workload_to_proto(
                    pb.WORKLOAD_SCOPE_GRID,
                    str(grid_id),
                    per_grid[grid_id],
                    name=grid.name,
                    code=layout.grid_code(code, grid),
                )
            )
        ordered: Sequence[MicroGrid] = sorted(
            micros, key=lambda m: (grids[m.grid_id].number, m.number)
        )
        for micro in ordered:
            parts.append(
                workload_to_proto(
                    pb.WORKLOAD_SCOPE_MICRO_GRID,
                    str(micro.id),
                    per_micro[micro.id],
                    name=micro.name,
                    code=layout.micro_grid_code(code, grids[micro.grid_id], micro),
                    parent_id=str(micro.grid_id),
                )
            )
        parts.append(
            workload_to_proto(
                pb.WORKLOAD_SCOPE_UNCOVERED, tenant.value, uncovered, name="未划入网格的楼幢"
            )
        )
        return pb.GetWorkloadResponse(
            total=workload_to_proto(
                pb.WORKLOAD_SCOPE_COMMUNITY, tenant.value, total, name=tenant.value, code=code
            ),
            parts=parts,
        )

    # ---- proposals ----

    def ProposeLayout(
        self, request: pb.ProposeLayoutRequest, context: Any
    ) -> pb.ProposeLayoutResponse:
        """生成网格划分方案。Plan a balanced layout for staff to review."""
        principal, tenant = access.for_writing()
        with self.core.sessions.begin() as session:
            row = plans.propose(
                session,
                tenant,
                grids=request.grids,
                micro_grids=request.micro_grids,
                mode=request.mode,
                stability=request.stability,
                created_by=principal.username,
            )
            return pb.ProposeLayoutResponse(proposal=plans.as_proto(row))

    def GetProposal(self, request: pb.GetProposalRequest, context: Any) -> pb.GetProposalResponse:
        """查看方案及其与现行布局的差异。A proposal with its diff and balance."""
        access.for_reading()
        with self.core.sessions() as session:
            row = plans.get_proposal(session, request.proposal_id)
            proposal = plans.as_proto(row)
            version = session.scalar(
                select(Community.layout_version).where(Community.tenant_id == row.tenant_id)
            )
            if row.state == "open" and version != row.base_layout_version:
                proposal.state = pb.PROPOSAL_STATE_STALE
            return pb.GetProposalResponse(proposal=proposal)

    def ApplyProposal(
        self, request: pb.ApplyProposalRequest, context: Any
    ) -> pb.ApplyProposalResponse:
        """一步应用方案。Apply a proposal in one transaction."""
        _, tenant = access.for_writing()
        with self.core.sessions.begin() as session:
            applied = plans.apply(session, tenant, request.proposal_id)
            tally = layout.counts(session)
            grids = {g.id: g for g in applied.grids}
            code = applied.community_code
            return pb.ApplyProposalResponse(
                proposal=plans.as_proto(applied.proposal),
                grids=[
                    grid_to_proto(
                        g,
                        code,
                        tally.micro_grids.get(g.id, 0),
                        tally.buildings_of_grid.get(g.id, 0),
                    )
                    for g in applied.grids
                ],
                micro_grids=[
                    micro_to_proto(
                        m, grids[m.grid_id], code, tally.buildings_of_micro_grid.get(m.id, 0)
                    )
                    for m in sorted(
                        applied.micro_grids, key=lambda m: (grids[m.grid_id].number, m.number)
                    )
                ],
            )

    # ---- operator ----

    def RebuildProjection(
        self, request: pb.RebuildProjectionRequest, context: Any
    ) -> pb.RebuildProjectionResponse:
        """从普查服务重建本社区的投影。Rebuild the community's census projection."""
        _, tenant = access.for_operating()
        with self.core.sessions.begin() as session:
            rebuilt = rebuild_tenant(session, self.core.census(), tenant)
        return pb.RebuildProjectionResponse(
            buildings=rebuilt.buildings,
            households=rebuilt.households,
            residents=rebuilt.residents,
            enterprises=rebuilt.enterprises,
        )
