"""NotifyService: proto ⇄ domain. Each method checks who may call it on the tenant, opens one
transaction, calls the domain (``templates``, ``notices``, ``inbox``, ``preferences``,
``statistics``) and converts the answer.

Who may: staff and admins of the tenant write (notices, templates, settings, robots, contacts)
and read deliveries, contacts and statistics; grid workers also read notices, templates and
settings; anyone with a role on the tenant reads their own inbox.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from notify import inbox, notices, preferences, statistics, templates
from notify.vocabulary import KINDS, word_of
from shequ.notify.v1 import notify_pb2 as pb
from shequ.notify.v1 import notify_pb2_grpc
from shequ_kit.access import caller_on_tenant
from shequ_kit.paging import page_of, page_response
from shequ_kit.tenancy import TenantId
from shequ_kit.tokens import Principal, Role

if TYPE_CHECKING:
    from notify.app import NotifyCore

SERVICE_NAME = "shequ.notify.v1.NotifyService"
STAFF_ROLES: Final = (Role.COMMUNITY_STAFF, Role.STREET_ADMIN, Role.PLATFORM_ADMIN)
READER_ROLES: Final = (*STAFF_ROLES, Role.GRID_WORKER)


def _with_role(*roles: Role) -> tuple[Principal, TenantId]:
    principal, tenant = caller_on_tenant()
    principal.require(tenant, *roles)
    return principal, tenant


def _staff() -> tuple[Principal, TenantId]:
    return _with_role(*STAFF_ROLES)


def _reader() -> tuple[Principal, TenantId]:
    return _with_role(*READER_ROLES)


class NotifyServicer(notify_pb2_grpc.NotifyServiceServicer):
    def __init__(self, core: NotifyCore) -> None:
        self.core = core

    # ---- templates ----

    def ListTemplates(
        self, request: pb.ListTemplatesRequest, context: Any
    ) -> pb.ListTemplatesResponse:
        """通知模板（本级、街道默认与内置）。The templates in force."""
        _, tenant = _reader()
        with self.core.sessions() as session:
            found = templates.templates_in_force(self.core.sessions, session, tenant)
        return pb.ListTemplatesResponse(
            templates=[
                templates.template_pb(t)
                for t in templates.of_kind(found, word_of(KINDS, request.kind))
            ]
        )

    def GetTemplate(self, request: pb.GetTemplateRequest, context: Any) -> pb.GetTemplateResponse:
        _, tenant = _reader()
        with self.core.sessions() as session:
            found = templates.find(self.core.sessions, session, tenant, request.code)
        return pb.GetTemplateResponse(template=templates.template_pb(found))

    def PutTemplate(self, request: pb.PutTemplateRequest, context: Any) -> pb.PutTemplateResponse:
        """新增或修改本级模板（街道的模板即其社区的默认）。The tenant's own version."""
        principal, tenant = _staff()
        with self.core.sessions.begin() as session:
            found = templates.put(
                self.core.sessions,
                session,
                tenant,
                request.template,
                expected_version=request.expected_version,
                by=principal.subject,
            )
        return pb.PutTemplateResponse(template=templates.template_pb(found))

    # ---- notices ----

    def PreviewNotice(
        self, request: pb.PreviewNoticeRequest, context: Any
    ) -> pb.PreviewNoticeResponse:
        """预览：各渠道人数与示例内容，不发送。Recipients per channel and a sample."""
        _, tenant = _staff()
        now = datetime.now(UTC)
        with self.core.sessions() as session:
            draft = notices.check_draft(self.core, session, tenant, request.draft, now)
            return notices.preview(self.core, session, tenant, draft, now)

    def CreateNotice(
        self, request: pb.CreateNoticeRequest, context: Any
    ) -> pb.CreateNoticeResponse:
        """发通知：立即（免打扰时段除外）或定时发送。Create a notice."""
        principal, tenant = _staff()
        now = datetime.now(UTC)
        with self.core.sessions.begin() as session:
            draft = notices.check_draft(self.core, session, tenant, request.draft, now)
            row = notices.create(
                self.core,
                session,
                tenant,
                draft,
                sender=principal.subject,
                idempotency_key=request.idempotency_key,
            )
            counted = notices.counts(session, [row.id])
            return pb.CreateNoticeResponse(notice=notices.notice_pb(row, counted[row.id]))

    def GetNotice(self, request: pb.GetNoticeRequest, context: Any) -> pb.GetNoticeResponse:
        """通知及其送达统计。A notice with its delivery counts."""
        _reader()
        with self.core.sessions() as session:
            row = notices.load(session, request.notice_id)
            counted = notices.counts(session, [row.id])
            return pb.GetNoticeResponse(notice=notices.notice_pb(row, counted[row.id]))

    def ListNotices(self, request: pb.ListNoticesRequest, context: Any) -> pb.ListNoticesResponse:
        _reader()
        page = page_of(request.page)
        with self.core.sessions() as session:
            found = session.scalars(notices.list_query(request.states, request.kind, page)).all()
            shown = found[: page.size]
            counted = notices.counts(session, [row.id for row in shown])
            return pb.ListNoticesResponse(
                notices=[notices.notice_pb(row, counted[row.id]) for row in shown],
                page=page_response(found, page, notices.notice_sort_key),
            )

    def CancelNotice(
        self, request: pb.CancelNoticeRequest, context: Any
    ) -> pb.CancelNoticeResponse:
        """取消尚未开始发送的通知。Cancel before sending began."""
        principal, _ = _staff()
        with self.core.sessions.begin() as session:
            row = notices.cancel(
                self.core,
                session,
                request.notice_id,
                expected_version=request.expected_version,
                reason=request.reason,
                by=principal.subject,
                now=datetime.now(UTC),
            )
            counted = notices.counts(session, [row.id])
            return pb.CancelNoticeResponse(notice=notices.notice_pb(row, counted[row.id]))

    def ListDeliveries(
        self, request: pb.ListDeliveriesRequest, context: Any
    ) -> pb.ListDeliveriesResponse:
        """逐人送达记录（地址已脱敏）。Per-recipient deliveries, addresses masked."""
        _staff()
        page = page_of(request.page)
        with self.core.sessions() as session:
            row = notices.load(session, request.notice_id)
            found = session.scalars(notices.deliveries_query(row.id, request.states, page)).all()
            return pb.ListDeliveriesResponse(
                deliveries=[notices.delivery_pb(d) for d in found[: page.size]],
                page=page_response(found, page, notices.delivery_sort_key),
            )

    def ResendFailed(
        self, request: pb.ResendFailedRequest, context: Any
    ) -> pb.ResendFailedResponse:
        """重发失败的送达。Queue the failed deliveries again."""
        _staff()
        with self.core.sessions.begin() as session:
            queued, row = notices.resend_failed(session, request.notice_id, datetime.now(UTC))
            counted = notices.counts(session, [row.id])
            return pb.ResendFailedResponse(
                queued=queued, notice=notices.notice_pb(row, counted[row.id])
            )

    # ---- inbox ----

    def ListInbox(self, request: pb.ListInboxRequest, context: Any) -> pb.ListInboxResponse:
        """我的站内信（本人及所任角色的共享收件箱）。The caller's messages here."""
        principal, tenant = caller_on_tenant()
        page = page_of(request.page)
        with self.core.sessions() as session:
            found = session.execute(
                inbox.list_query(principal, tenant, unread_only=request.unread_only, page=page)
            ).all()
            return pb.ListInboxResponse(
                messages=[inbox.message_pb(m, read_at) for m, read_at in found[: page.size]],
                unread=inbox.unread(session, principal, tenant),
                page=page_response(found, page, inbox.sort_key_of),
            )

    def MarkRead(self, request: pb.MarkReadRequest, context: Any) -> pb.MarkReadResponse:
        principal, tenant = caller_on_tenant()
        with self.core.sessions.begin() as session:
            marked = inbox.mark_read(
                session, principal, tenant, request.message_ids, now=datetime.now(UTC)
            )
            return pb.MarkReadResponse(
                marked=marked, unread=inbox.unread(session, principal, tenant)
            )

    # ---- settings, robots, contacts ----

    def GetSettings(self, request: pb.GetSettingsRequest, context: Any) -> pb.GetSettingsResponse:
        """免打扰时段（本级、街道或默认）。Quiet hours in force."""
        _, tenant = _reader()
        with self.core.sessions() as session:
            found = preferences.quiet_hours(self.core.sessions, session, tenant, self.core.settings)
        return pb.GetSettingsResponse(settings=preferences.settings_pb(found))

    def PutSettings(self, request: pb.PutSettingsRequest, context: Any) -> pb.PutSettingsResponse:
        _, tenant = _staff()
        with self.core.sessions.begin() as session:
            found = preferences.put_quiet_hours(
                session, tenant, request.settings, request.expected_version
            )
        return pb.PutSettingsResponse(settings=preferences.settings_pb(found))

    def ListRobots(self, request: pb.ListRobotsRequest, context: Any) -> pb.ListRobotsResponse:
        """群机器人（Webhook 地址脱敏）。The tenant's group robots, URLs masked."""
        _reader()
        with self.core.sessions() as session:
            return pb.ListRobotsResponse(
                robots=[preferences.robot_pb(r) for r in preferences.robots(session)]
            )

    def PutRobot(self, request: pb.PutRobotRequest, context: Any) -> pb.PutRobotResponse:
        _, tenant = _staff()
        with self.core.sessions.begin() as session:
            row = preferences.put_robot(session, tenant, request.robot)
            return pb.PutRobotResponse(robot=preferences.robot_pb(row))

    def RemoveRobot(self, request: pb.RemoveRobotRequest, context: Any) -> pb.RemoveRobotResponse:
        _staff()
        with self.core.sessions.begin() as session:
            preferences.remove_robot(session, request.robot_id)
        return pb.RemoveRobotResponse()

    def GetContact(self, request: pb.GetContactRequest, context: Any) -> pb.GetContactResponse:
        """居民的联系方式（邮箱脱敏）。How a resident is reached, e-mail masked."""
        _staff()
        with self.core.sessions() as session:
            resident, row = preferences.contact(session, request.resident_id)
            return pb.GetContactResponse(contact=preferences.contact_pb(row, resident))

    def PutContact(self, request: pb.PutContactRequest, context: Any) -> pb.PutContactResponse:
        _, tenant = _staff()
        with self.core.sessions.begin() as session:
            row = preferences.put_contact(
                session, tenant, request.contact, request.expected_version
            )
            return pb.PutContactResponse(contact=preferences.contact_pb(row, row.resident_id))

    # ---- statistics ----

    def GetStatistics(
        self, request: pb.GetStatisticsRequest, context: Any
    ) -> pb.GetStatisticsResponse:
        """送达统计：按日、渠道（街道按社区）。Sent, delivered, failed, read per day and channel."""
        _staff()
        period = statistics.period_of(request, datetime.now(UTC))
        with self.core.sessions() as session:
            return statistics.statistics(session, period)
