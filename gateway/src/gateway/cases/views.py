"""REST routes of cases (事件办理): /api/v1/tenants/{tenant}/cases (+ /{id}/actions,
/{id}/timeline), case-categories, case-calendar and stats/cases. Each route is one call of the
cases gRPC service, made as the caller in the path's tenant; the service decides (and
re-checks) who may do what: anyone with a role reports, staff see every case of the community,
a grid worker the cases assigned to them, a resident their own; each lifecycle action is
allowed to the capacities its transition lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status

from gateway.access import EVERY_ROLE, STAFF, admits
from gateway.cases.models import (
    CATEGORY_CODE,
    MAX_QUERY_TEXT,
    ActionTakenOut,
    CalendarOut,
    CaseOut,
    CasePage,
    CaseSourceWord,
    CaseStateWord,
    CaseStatisticsOut,
    CategoryList,
    CategoryOut,
    GroupingWord,
    LevelWord,
    MineWord,
    PutCalendar,
    PutCategory,
    ReportCase,
    SeededOut,
    TakeAction,
    TimelineEntryOut,
    TimelineOut,
    list_cases_request,
    statistics_request,
)
from gateway.security import CurrentPrincipal, TenantPath
from gateway.service_calls import PageQuery, caller_options
from shequ.cases.v1 import cases_pb2 as pb
from shequ.cases.v1 import cases_pb2_grpc

router = APIRouter(prefix="/api/v1/tenants/{tenant}", tags=["cases 事件办理"])


@dataclass(frozen=True)
class CasesCall:
    """The cases stub, and what each of its calls carries for this request (caller's token,
    tenant, request id; the deadline)."""

    stub: cases_pb2_grpc.CasesServiceStub
    options: Mapping[str, Any]


def cases_as_caller(request: Request, principal: CurrentPrincipal, tenant: TenantPath) -> CasesCall:
    """The cases service, called as the verified caller in the path's tenant."""
    return CasesCall(
        stub=request.app.state.core.cases, options=caller_options(request, principal, tenant)
    )


Cases = Annotated[CasesCall, Depends(cases_as_caller)]
CategoryCode = Annotated[
    str, Path(pattern=CATEGORY_CODE, description="类别代码（4位） Category code", examples=["0103"])
]


# ---- cases ----


@router.post(
    "/cases",
    operation_id="reportCase",
    openapi_extra=admits(*EVERY_ROLE),
    response_model=CaseOut,
    status_code=status.HTTP_201_CREATED,
)
def report_case(
    cases: Cases,
    tenant: TenantPath,
    body: ReportCase,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="重试时带同一个键只上报一次，返回第一次的案件 "
            "The same key reports once; a retry returns the first case",
        ),
    ] = None,
) -> CaseOut:
    """上报事件（居民、网格员、社区工作人员）。有楼幢的案件自动立案，并派给负责该楼幢的
    微网格长；楼幢未被覆盖时进入社区受理队列；没有地点的等待社区立案。
    Report a case (residents, grid workers, staff). One at a building is accepted and
    dispatched at once to the micro-grid leader covering it, or to the community queue when no
    micro-grid covers it; one without a place waits for staff to accept it."""
    reply: pb.ReportCaseResponse = cases.stub.ReportCase(
        body.to_proto(idempotency_key), **cases.options
    )
    response.headers["Location"] = f"/api/v1/tenants/{tenant}/cases/{reply.case.id}"
    return CaseOut.of(reply.case)


@router.get(
    "/cases", operation_id="listCases", openapi_extra=admits(*EVERY_ROLE), response_model=CasePage
)
def list_cases(  # FastAPI passes each query filter by name
    *,
    cases: Cases,
    page: PageQuery,
    state: Annotated[
        list[CaseStateWord] | None, Query(description="状态，可重复 States (repeatable)")
    ] = None,
    category: Annotated[
        str | None, Query(pattern=CATEGORY_CODE, description="类别代码 Category code")
    ] = None,
    grid_id: Annotated[str | None, Query(description="网格 Of this grid")] = None,
    micro_grid_id: Annotated[str | None, Query(description="微网格 Of this micro-grid")] = None,
    building_id: Annotated[str | None, Query(description="楼幢 At this building")] = None,
    source: Annotated[CaseSourceWord | None, Query(description="来源 Source")] = None,
    level: Annotated[LevelWord | None, Query(description="责任层级 Level")] = None,
    mine: Annotated[
        MineWord | None,
        Query(description="assigned 派给我的；reported 我上报的 Assigned to / reported by me"),
    ] = None,
    overdue: Annotated[bool | None, Query(description="只看已超期 Overdue only")] = None,
    since: Annotated[datetime | None, Query(description="此时及以后上报 Reported on/after")] = None,
    until: Annotated[datetime | None, Query(description="此时以前上报 Reported before")] = None,
    q: Annotated[
        str | None,
        Query(max_length=MAX_QUERY_TEXT, description="标题、描述或编号包含 Text to find"),
    ] = None,
) -> CasePage:
    """案件列表，新的在前。工作人员看本社区全部案件，网格员看派给自己的，居民看自己上报的。
    Cases, newest first. Staff see all of the community's, a grid worker those assigned to
    them, a resident their own reports."""
    request = list_cases_request(
        states=state,
        category=category,
        grid_id=grid_id,
        micro_grid_id=micro_grid_id,
        building_id=building_id,
        source=source,
        level=level,
        mine=mine,
        overdue=overdue,
        since=since,
        until=until,
        q=q,
    )
    request.page.CopyFrom(page)
    reply: pb.ListCasesResponse = cases.stub.ListCases(request, **cases.options)
    return CasePage(
        items=[CaseOut.of(c) for c in reply.cases], next_page_token=reply.page.next_page_token
    )


@router.get(
    "/cases/{case_id}",
    operation_id="getCase",
    openapi_extra=admits(*EVERY_ROLE),
    response_model=CaseOut,
)
def get_case(cases: Cases, case_id: str) -> CaseOut:
    """一个案件，附调用者现在可执行的操作。看不到的案件为 404。
    A case, with the actions the caller may take now; one the caller may not see is a 404."""
    reply: pb.GetCaseResponse = cases.stub.GetCase(
        pb.GetCaseRequest(case_id=case_id), **cases.options
    )
    return CaseOut.of(reply.case)


@router.post(
    "/cases/{case_id}/actions",
    operation_id="takeCaseAction",
    openapi_extra=admits(*EVERY_ROLE),
    response_model=ActionTakenOut,
)
def take_case_action(cases: Cases, case_id: str, body: TakeAction) -> ActionTakenOut:
    """办理一步：立案、派遣、开始处置、处置完成、核查、结案、评价、退回、延期、缓办、上报、
    并案……当前状态不允许的操作 409（列出现在可以的操作）；身份不符 403；版本过期 409。
    One lifecycle action. One the state does not allow is a 409 naming the state and the
    actions allowed now; the wrong person a 403; a stale expected_version a 409."""
    reply: pb.TakeActionResponse = cases.stub.TakeAction(body.to_proto(case_id), **cases.options)
    return ActionTakenOut.of(reply)


@router.get(
    "/cases/{case_id}/timeline",
    operation_id="listCaseTimeline",
    openapi_extra=admits(*EVERY_ROLE),
    response_model=TimelineOut,
)
def list_case_timeline(cases: Cases, case_id: str) -> TimelineOut:
    """案件的每一步，按时间先后：谁、以何身份、做了什么、状态从何到何、说明。
    Every step of a case in order: who, in which capacity, what, from which state to which,
    and the note."""
    reply: pb.ListTimelineResponse = cases.stub.ListTimeline(
        pb.ListTimelineRequest(case_id=case_id), **cases.options
    )
    return TimelineOut(items=[TimelineEntryOut.of(e) for e in reply.entries])


# ---- categories ----


@router.get(
    "/case-categories",
    operation_id="listCaseCategories",
    openapi_extra=admits(*EVERY_ROLE),
    response_model=CategoryList,
)
def list_case_categories(
    cases: Cases,
    include_disabled: Annotated[bool, Query(description="包括已停用的 With disabled ones")] = False,
) -> CategoryList:
    """本社区生效的事件类别：本级的、街道默认的、平台默认的（GB/T 30428.2 事件类及社区事务）。
    The categories in force: this tenant's own, its street's defaults and the platform's
    (GB/T 30428.2 event classes and community matters)."""
    reply: pb.ListCategoriesResponse = cases.stub.ListCategories(
        pb.ListCategoriesRequest(include_disabled=include_disabled), **cases.options
    )
    return CategoryList(items=[CategoryOut.of(c) for c in reply.categories])


@router.get(
    "/case-categories/{code}",
    operation_id="getCaseCategory",
    openapi_extra=admits(*EVERY_ROLE),
    response_model=CategoryOut,
)
def get_case_category(cases: Cases, code: CategoryCode) -> CategoryOut:
    """一个类别：立案标准、结案标准、处置时限、责任层级及其来源。
    One category: standards, deadline, responsible level and where its definition comes
    from."""
    reply: pb.GetCategoryResponse = cases.stub.GetCategory(
        pb.GetCategoryRequest(code=code), **cases.options
    )
    return CategoryOut.of(reply.category)


@router.put(
    "/case-categories/{code}",
    operation_id="putCaseCategory",
    openapi_extra=admits(*STAFF),
    response_model=CategoryOut,
)
def put_case_category(cases: Cases, code: CategoryCode, body: PutCategory) -> CategoryOut:
    """新增（expected_version 为 0）或修改本级类别（社区工作人员、街道管理员）；街道的类别是
    其各社区的默认。版本过期 409。
    Add (expected_version 0) or edit this tenant's own category (staff, street admins); a
    street's category is its communities' default. A stale version is a 409."""
    reply: pb.PutCategoryResponse = cases.stub.PutCategory(body.to_proto(code), **cases.options)
    return CategoryOut.of(reply.category)


@router.post(
    "/case-categories/seed",
    operation_id="seedCaseCategories",
    openapi_extra=admits(*STAFF),
    response_model=SeededOut,
)
def seed_case_categories(cases: Cases) -> SeededOut:
    """为本级写入平台默认类别（可重复执行；社区启用时已自动执行）。
    Write the platform's default catalogue for this tenant (idempotent; onboarding does it)."""
    reply: pb.SeedCategoriesResponse = cases.stub.SeedCategories(
        pb.SeedCategoriesRequest(), **cases.options
    )
    return SeededOut(added=reply.added)


# ---- calendar ----


@router.get(
    "/case-calendar",
    operation_id="getCaseCalendar",
    openapi_extra=admits(*EVERY_ROLE),
    response_model=CalendarOut,
)
def get_case_calendar(cases: Cases) -> CalendarOut:
    """处置时限所用的工作日历：法定节假日与调休，加街道和本级补充的日子。
    The calendar deadlines are counted in: official holidays and 调休 plus the street's and
    this tenant's own days."""
    reply: pb.GetCalendarResponse = cases.stub.GetCalendar(pb.GetCalendarRequest(), **cases.options)
    return CalendarOut.of(reply.calendar)


@router.put(
    "/case-calendar",
    operation_id="putCaseCalendar",
    openapi_extra=admits(*STAFF),
    response_model=CalendarOut,
)
def put_case_calendar(cases: Cases, body: PutCalendar) -> CalendarOut:
    """替换本级补充的节假日与调休上班日（工作人员）；版本过期 409。
    Replace this tenant's own holidays and working days (staff); a stale version is a 409."""
    reply: pb.PutCalendarResponse = cases.stub.PutCalendar(body.to_proto(), **cases.options)
    return CalendarOut.of(reply.calendar)


# ---- statistics ----


@router.get(
    "/stats/cases",
    operation_id="getCaseStatistics",
    openapi_extra=admits(*STAFF),
    response_model=CaseStatisticsOut,
)
def get_case_statistics(
    cases: Cases,
    start: Annotated[
        datetime | None, Query(description="开始（含），无时区按北京时间；默认本月 Start")
    ] = None,
    end: Annotated[datetime | None, Query(description="结束（不含） End, exclusive")] = None,
    group_by: Annotated[
        GroupingWord | None,
        Query(description="community（街道按社区）、grid、category、month；不填为合计"),
    ] = None,
) -> CaseStatisticsOut:
    """办件指标（工作人员、街道）：上报数、各状态、结案率、按期结案率、返工率、延期率、
    满意率、平均处置时长；街道汇总其各社区。
    Indicators (staff, street admins): reported, by state, closure, on-time closure, rework,
    extension and satisfaction rates, mean handling time; a street over its communities."""
    reply: pb.GetStatisticsResponse = cases.stub.GetStatistics(
        statistics_request(start, end, group_by), **cases.options
    )
    return CaseStatisticsOut.of(reply)
