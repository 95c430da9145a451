"""CasesService: proto ⇄ domain. Each method checks access, opens one transaction, calls the
domain (``handling``, ``categories``, ``calendars``, ``statistics``) and converts the answer."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, tuple_
from sqlalchemy.orm import Session

from cases import calendars, categories, handling, records, statistics
from cases.handling import CHECK, STAFF_ROLES, Desk
from cases.models import CaseRow
from cases.sla import WorkingCalendar
from shequ.cases.v1 import cases_pb2 as pb
from shequ.cases.v1 import cases_pb2_grpc
from shequ_kit.access import caller_on_tenant
from shequ_kit.db import like_literal
from shequ_kit.paging import Page, page_of, page_response, sort_key
from shequ_kit.tenancy import TenantId
from shequ_kit.tokens import Principal

if TYPE_CHECKING:
    from cases.app import CasesCore

SERVICE_NAME = "shequ.cases.v1.CasesService"


def _staff() -> tuple[Principal, TenantId]:
    principal, tenant = caller_on_tenant()
    principal.require(tenant, *STAFF_ROLES)
    return principal, tenant


class CasesServicer(cases_pb2_grpc.CasesServiceServicer):
    def __init__(self, core: CasesCore) -> None:
        self.core = core

    @property
    def desk(self) -> Desk:
        return self.core.desk

    def _case(self, session: Session, principal: Principal, row: CaseRow) -> pb.Case:
        return self._cases(session, principal, [row])[0]

    def _cases(
        self, session: Session, principal: Principal, rows: Sequence[CaseRow]
    ) -> list[pb.Case]:
        """Cases as the caller sees them; each tenant's calendar is read once per answer."""
        now = datetime.now(UTC)
        calendars: dict[str, WorkingCalendar] = {}
        for tenant in {row.tenant_id for row in rows}:
            calendars[tenant] = self.desk.reference.calendar(session, TenantId(tenant))
        return [
            records.case_pb(
                row,
                allowed_actions=handling.allowed_actions(principal, row),
                now=now,
                calendar=calendars[row.tenant_id],
            )
            for row in rows
        ]

    # ---- catalogue and calendar ----

    def ListCategories(
        self, request: pb.ListCategoriesRequest, context: Any
    ) -> pb.ListCategoriesResponse:
        """事件类别（本社区、街道默认与平台默认）。The catalogue in force."""
        _, tenant = caller_on_tenant()
        with self.core.sessions() as session:
            found = self.desk.reference.catalogue(session, tenant)
        return pb.ListCategoriesResponse(
            categories=[c for c in found if c.enabled or request.include_disabled]
        )

    def GetCategory(self, request: pb.GetCategoryRequest, context: Any) -> pb.GetCategoryResponse:
        _, tenant = caller_on_tenant()
        with self.core.sessions() as session:
            for category in self.desk.reference.catalogue(session, tenant):
                if category.code == request.code.strip():
                    return pb.GetCategoryResponse(category=category)
        raise categories.not_a_category(request.code)

    def PutCategory(self, request: pb.PutCategoryRequest, context: Any) -> pb.PutCategoryResponse:
        """新增或修改本级类别（街道的类别即其社区的默认）。Add or edit an own class."""
        principal, tenant = _staff()
        with self.core.sessions.begin() as session:
            row = categories.put(
                session, tenant, request.category, request.expected_version, principal.subject
            )
            code = row.code
        self.desk.reference.invalidate()
        with self.core.sessions() as session:
            for category in self.desk.reference.catalogue(session, tenant):
                if category.code == code:
                    return pb.PutCategoryResponse(category=category)
        raise categories.not_a_category(code)

    def SeedCategories(
        self, request: pb.SeedCategoriesRequest, context: Any
    ) -> pb.SeedCategoriesResponse:
        principal, tenant = _staff()
        with self.core.sessions.begin() as session:
            added = categories.seed(session, tenant, principal.subject)
        return pb.SeedCategoriesResponse(added=added)

    def GetCalendar(self, request: pb.GetCalendarRequest, context: Any) -> pb.GetCalendarResponse:
        _, tenant = caller_on_tenant()
        with self.core.sessions() as session:
            return pb.GetCalendarResponse(calendar=self.desk.reference.calendar_pb(session, tenant))

    def PutCalendar(self, request: pb.PutCalendarRequest, context: Any) -> pb.PutCalendarResponse:
        """节假日与调休（本级补充）。The tenant's own holidays and 调休 days."""
        _, tenant = _staff()
        with self.core.sessions.begin() as session:
            calendars.put_calendar(session, tenant, request)
        self.desk.reference.invalidate()
        with self.core.sessions() as session:
            return pb.PutCalendarResponse(
                calendar=calendars.calendar_pb(self.core.sessions, session, tenant)
            )

    # ---- cases ----

    def ReportCase(self, request: pb.ReportCaseRequest, context: Any) -> pb.ReportCaseResponse:
        """上报：有楼幢的案件自动立案并派遣给负责的微网格长。Report a case (routed if located)."""
        principal, tenant = caller_on_tenant()
        with self.core.sessions.begin() as session:
            recorded = handling.report(
                self.desk, session, principal, tenant, request, now=datetime.now(UTC)
            )
            return pb.ReportCaseResponse(
                case=self._case(session, principal, recorded.row),
                timeline=[records.timeline_pb(e) for e in recorded.entries],
            )

    def GetCase(self, request: pb.GetCaseRequest, context: Any) -> pb.GetCaseResponse:
        principal, _ = caller_on_tenant()
        with self.core.sessions() as session:
            row = handling.load(session, principal, request.case_id, lock=False)
            return pb.GetCaseResponse(case=self._case(session, principal, row))

    def ListCases(self, request: pb.ListCasesRequest, context: Any) -> pb.ListCasesResponse:
        """案件列表：工作人员看全部，网格员看派给自己的，居民看自己上报的。"""
        principal, tenant = caller_on_tenant()
        page = page_of(request.page)
        with self.core.sessions() as session:
            found = session.scalars(_list_query(principal, tenant, request, page)).all()
            return pb.ListCasesResponse(
                cases=self._cases(session, principal, found[: page.size]),
                page=page_response(found, page, lambda r: [r.reported_at.isoformat(), str(r.id)]),
            )

    def TakeAction(self, request: pb.TakeActionRequest, context: Any) -> pb.TakeActionResponse:
        """办理：立案、派遣、处置、核查、结案、评价、延期、缓办、上报…… One lifecycle action."""
        principal, tenant = caller_on_tenant()
        with self.core.sessions.begin() as session:
            recorded = handling.act(
                self.desk, session, principal, tenant, request, now=datetime.now(UTC)
            )
            return pb.TakeActionResponse(
                case=self._case(session, principal, recorded.row),
                entry=records.timeline_pb(recorded.entries[-1]),
            )

    def ListTimeline(
        self, request: pb.ListTimelineRequest, context: Any
    ) -> pb.ListTimelineResponse:
        principal, _ = caller_on_tenant()
        with self.core.sessions() as session:
            row = handling.load(session, principal, request.case_id, lock=False)
            return pb.ListTimelineResponse(
                entries=[records.timeline_pb(e) for e in handling.timeline(session, row)]
            )

    def GetStatistics(
        self, request: pb.GetStatisticsRequest, context: Any
    ) -> pb.GetStatisticsResponse:
        """办件统计：结案率、按期结案率、返工率、延期率、满意率。Indicators over a period."""
        _, tenant = _staff()
        now = datetime.now(UTC)
        period = statistics.period_of(request, now)
        with self.core.sessions() as session:
            facts = statistics.load_facts(session, period, now)
            calendar = self.desk.reference.calendar(session, tenant)
        return statistics.statistics(facts, period, calendar, request.group_by)


def _list_query(
    principal: Principal, tenant: TenantId, request: pb.ListCasesRequest, page: Page
) -> Any:
    query = select(CaseRow).order_by(CaseRow.reported_at.desc(), CaseRow.id.desc())
    if (visible := handling.visible_to(principal, tenant)) is not None:
        query = query.where(visible)
    query = query.where(*_filters(principal, request))
    if (after := sort_key(page, datetime.fromisoformat, uuid.UUID)) is not None:
        query = query.where(tuple_(CaseRow.reported_at, CaseRow.id) < after)
    return query.limit(page.size + 1)


def _filters(principal: Principal, request: pb.ListCasesRequest) -> list[Any]:
    """The request's filters as SQL criteria (every one validated, naming its field)."""
    found: list[Any] = []
    if request.states:
        found.append(CaseRow.state.in_([records.state_word(s).value for s in request.states]))
    if request.category_code:
        found.append(CaseRow.category_code == request.category_code.strip())
    for column, value, field in (
        (CaseRow.grid_id, request.grid_id, "grid_id"),
        (CaseRow.micro_grid_id, request.micro_grid_id, "micro_grid_id"),
        (CaseRow.building_id, request.building_id, "building_id"),
    ):
        if value:
            found.append(column == CHECK.uuid(value, field))
    if (source := records.source_word(request.source)) is not None:
        found.append(CaseRow.source == source.value)
    if (level := records.level_word(request.level)) is not None:
        found.append(CaseRow.level == level.value)
    if request.assigned_to_me:
        found.append(CaseRow.assignee == principal.subject)
    if request.reported_by_me:
        found.append(CaseRow.reporter_subject == principal.subject)
    if request.overdue_only:
        found.append(CaseRow.state.in_(records.LATE_STATES))
        found.append(CaseRow.deadline < datetime.now(UTC))
    if request.HasField("since"):
        found.append(CaseRow.reported_at >= request.since.ToDatetime(tzinfo=UTC))
    if request.HasField("until"):
        found.append(CaseRow.reported_at < request.until.ToDatetime(tzinfo=UTC))
    if text := request.query.strip()[:100]:
        pattern = f"%{like_literal(text)}%"
        found.append(
            or_(
                CaseRow.title.ilike(pattern),
                CaseRow.description.ilike(pattern),
                CaseRow.number.ilike(pattern),
            )
        )
    return found
