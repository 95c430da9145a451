"""REST routes of notify (通知): /api/v1/tenants/{tenant}/notices (+ preview, cancel,
deliveries, resend), notification-templates, notification-settings, notification-robots,
notification-contacts, stats/notices, and the caller's own /api/v1/inbox. Each tenant route is
one call of the notify gRPC service, made as the caller in the path's tenant; the service
decides (and re-checks) who may do what: staff and admins compose and send, grid workers read,
anyone reads their own inbox.

The inbox is the caller's across tenants (a person may hold roles in several communities):
the gateway asks the service once at the topmost node of each of the token's grants (a street's
answer covers its communities) and merges the answers, newest first.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from itertools import islice
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from sqlalchemy import select

from gateway.access import EVERY_ROLE, READERS, STAFF, admits
from gateway.notify.models import (
    DELIVERY_STATES,
    MAX_CODE,
    MAX_INBOX_LIMIT,
    NOTICE_KINDS,
    TEMPLATE_CODE,
    CancelNotice,
    ContactOut,
    DeliveryOut,
    DeliveryPage,
    DeliveryStateWord,
    InboxMessageOut,
    InboxOut,
    MarkedOut,
    MarkRead,
    NewRobot,
    NoticeDraft,
    NoticeKindWord,
    NoticeOut,
    NoticePage,
    NoticeStateWord,
    NoticeStatisticsOut,
    PreviewOut,
    PutContact,
    PutSettings,
    PutTemplate,
    ResentOut,
    RobotList,
    RobotOut,
    SettingsOut,
    TemplateList,
    TemplateOut,
    UpdateRobot,
    list_notices_request,
)
from gateway.security import CurrentPrincipal, TenantPath
from gateway.service_calls import PageQuery, caller_options
from gateway.tenants.models import TenantNode
from shequ.common.v1 import paging_pb2
from shequ.notify.v1 import notify_pb2 as pb
from shequ.notify.v1 import notify_pb2_grpc
from shequ_kit.errors import FieldViolation, invalid_input
from shequ_kit.tenancy import TenantId
from shequ_kit.tokens import Principal

router = APIRouter(prefix="/api/v1/tenants/{tenant}", tags=["notices 通知"])
inbox_router = APIRouter(prefix="/api/v1/inbox", tags=["inbox 收件箱"])


@dataclass(frozen=True)
class NotifyCall:
    """The notify stub, and what each of its calls carries for this request (caller's token,
    tenant, request id; the deadline)."""

    stub: notify_pb2_grpc.NotifyServiceStub
    options: Mapping[str, Any]


def notify_as_caller(
    request: Request, principal: CurrentPrincipal, tenant: TenantPath
) -> NotifyCall:
    """The notify service, called as the verified caller in the path's tenant."""
    return NotifyCall(
        stub=request.app.state.core.notify, options=caller_options(request, principal, tenant)
    )


Notify = Annotated[NotifyCall, Depends(notify_as_caller)]
TemplateCode = Annotated[
    str,
    Path(
        pattern=TEMPLATE_CODE,
        max_length=MAX_CODE,
        description="模板代码 Template code",
        examples=["anti_fraud.alert"],
    ),
]
NoticeId = Annotated[uuid.UUID, Path(description="通知 The notice")]
RobotId = Annotated[uuid.UUID, Path(description="群机器人 The robot")]
ResidentId = Annotated[uuid.UUID, Path(description="居民 The resident")]


# ---- notices ----


@router.post(
    "/notices",
    operation_id="createNotice",
    openapi_extra=admits(*STAFF),
    response_model=NoticeOut,
    status_code=status.HTTP_201_CREATED,
)
def create_notice(
    notify: Notify,
    tenant: TenantPath,
    body: NoticeDraft,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="重试时带同一个键只创建一次，返回第一次的通知 "
            "The same key creates once; a retry returns the first notice",
        ),
    ] = None,
) -> NoticeOut:
    """创建通知（社区工作人员、街道与平台管理员）：立即（免打扰时段内非紧急的等到早上）或在
    send_at 发送。发送时才按普查与网格解析对象，每人一条投递，同一渠道不会重复。
    Create a notice (staff and admins): sent as soon as possible (a non-urgent one waits out
    quiet hours) or at ``send_at``. The audience is resolved through census and grid when it
    goes out, one delivery per person, never twice on a channel."""
    reply: pb.CreateNoticeResponse = notify.stub.CreateNotice(
        pb.CreateNoticeRequest(draft=body.to_proto(), idempotency_key=idempotency_key or ""),
        **notify.options,
    )
    response.headers["Location"] = f"/api/v1/tenants/{tenant}/notices/{reply.notice.notice_id}"
    return NoticeOut.of(reply.notice)


@router.post(
    "/notices/preview",
    operation_id="previewNotice",
    openapi_extra=admits(*STAFF),
    response_model=PreviewOut,
)
def preview_notice(notify: Notify, body: NoticeDraft) -> PreviewOut:
    """发送前预览：收件人数、各渠道人数和一份填好的样例；不发送任何内容。
    Preview: how many people, on which channels, and a rendered sample; nothing is sent."""
    reply: pb.PreviewNoticeResponse = notify.stub.PreviewNotice(
        pb.PreviewNoticeRequest(draft=body.to_proto()), **notify.options
    )
    return PreviewOut.of(reply)


@router.get(
    "/notices",
    operation_id="listNotices",
    openapi_extra=admits(*READERS),
    response_model=NoticePage,
)
def list_notices(
    notify: Notify,
    page: PageQuery,
    state: Annotated[
        list[NoticeStateWord] | None, Query(description="状态，可重复 States (repeatable)")
    ] = None,
    kind: Annotated[NoticeKindWord | None, Query(description="类型 Kind")] = None,
) -> NoticePage:
    """本社区的通知，新的在前（工作人员、管理员、网格员可读）。
    The tenant's notices, newest first (staff, admins and grid workers read them)."""
    request = list_notices_request(state, kind)
    request.page.CopyFrom(page)
    reply: pb.ListNoticesResponse = notify.stub.ListNotices(request, **notify.options)
    return NoticePage(
        items=[NoticeOut.of(n) for n in reply.notices], next_page_token=reply.page.next_page_token
    )


@router.get(
    "/notices/{notice_id}",
    operation_id="getNotice",
    openapi_extra=admits(*READERS),
    response_model=NoticeOut,
)
def get_notice(notify: Notify, notice_id: NoticeId) -> NoticeOut:
    """一条通知及其送达统计：各状态人数，各渠道的发出、送达、失败、已读。
    A notice with its delivery counts: by state, and sent/delivered/failed/read per channel."""
    reply: pb.GetNoticeResponse = notify.stub.GetNotice(
        pb.GetNoticeRequest(notice_id=str(notice_id)), **notify.options
    )
    return NoticeOut.of(reply.notice)


@router.post(
    "/notices/{notice_id}/cancel",
    operation_id="cancelNotice",
    openapi_extra=admits(*STAFF),
    response_model=NoticeOut,
)
def cancel_notice(notify: Notify, notice_id: NoticeId, body: CancelNotice) -> NoticeOut:
    """取消尚未开始发送的通知；已开始的 409，版本过期 409。
    Cancel a notice that has not started going out; one already sending is a 409, as is a
    stale version."""
    reply: pb.CancelNoticeResponse = notify.stub.CancelNotice(
        body.to_proto(str(notice_id)), **notify.options
    )
    return NoticeOut.of(reply.notice)


@router.get(
    "/notices/{notice_id}/deliveries",
    operation_id="listNoticeDeliveries",
    openapi_extra=admits(*STAFF),
    response_model=DeliveryPage,
)
def list_notice_deliveries(
    notify: Notify,
    notice_id: NoticeId,
    page: PageQuery,
    state: Annotated[
        list[DeliveryStateWord] | None, Query(description="状态，可重复 States (repeatable)")
    ] = None,
) -> DeliveryPage:
    """每人一条投递：渠道、脱敏地址、状态、尝试次数、失败原因。
    One delivery per person: channel, masked address, state, attempts, failure reason."""
    request = pb.ListDeliveriesRequest(
        notice_id=str(notice_id), states=[DELIVERY_STATES.number(s) for s in state or ()]
    )
    request.page.CopyFrom(page)
    reply: pb.ListDeliveriesResponse = notify.stub.ListDeliveries(request, **notify.options)
    return DeliveryPage(
        items=[DeliveryOut.of(d) for d in reply.deliveries],
        next_page_token=reply.page.next_page_token,
    )


@router.post(
    "/notices/{notice_id}/resend",
    operation_id="resendFailedDeliveries",
    openapi_extra=admits(*STAFF),
    response_model=ResentOut,
)
def resend_failed_deliveries(notify: Notify, notice_id: NoticeId) -> ResentOut:
    """把失败的投递重新排队（重新计数尝试次数）。Queue the failed deliveries again."""
    reply: pb.ResendFailedResponse = notify.stub.ResendFailed(
        pb.ResendFailedRequest(notice_id=str(notice_id)), **notify.options
    )
    return ResentOut.of(reply)


# ---- templates ----


@router.get(
    "/notification-templates",
    operation_id="listNotificationTemplates",
    openapi_extra=admits(*READERS),
    response_model=TemplateList,
)
def list_notification_templates(
    notify: Notify,
    kind: Annotated[NoticeKindWord | None, Query(description="类型 Kind")] = None,
) -> TemplateList:
    """本社区生效的模板：本级的、街道默认的、平台内置的。
    The templates in force: this tenant's own, its street's defaults, the built-in ones."""
    reply: pb.ListTemplatesResponse = notify.stub.ListTemplates(
        pb.ListTemplatesRequest(kind=NOTICE_KINDS.number(kind)), **notify.options
    )
    return TemplateList(items=[TemplateOut.of(t) for t in reply.templates])


@router.get(
    "/notification-templates/{code}",
    operation_id="getNotificationTemplate",
    openapi_extra=admits(*READERS),
    response_model=TemplateOut,
)
def get_notification_template(notify: Notify, code: TemplateCode) -> TemplateOut:
    """一个模板及其来源（builtin、street 或本社区）。One template and where it comes from."""
    reply: pb.GetTemplateResponse = notify.stub.GetTemplate(
        pb.GetTemplateRequest(code=code), **notify.options
    )
    return TemplateOut.of(reply.template)


@router.put(
    "/notification-templates/{code}",
    operation_id="putNotificationTemplate",
    openapi_extra=admits(*STAFF),
    response_model=TemplateOut,
)
def put_notification_template(notify: Notify, code: TemplateCode, body: PutTemplate) -> TemplateOut:
    """新增或修改本级模板（工作人员、管理员）；语法错误或变量不符为 422，版本过期 409。
    Add or edit this tenant's own template (staff, admins); a syntax error or undeclared
    variable is a 422 naming the field, a stale version a 409."""
    reply: pb.PutTemplateResponse = notify.stub.PutTemplate(body.to_proto(code), **notify.options)
    return TemplateOut.of(reply.template)


# ---- settings, robots, contacts ----


@router.get(
    "/notification-settings",
    operation_id="getNotificationSettings",
    openapi_extra=admits(*READERS),
    response_model=SettingsOut,
)
def get_notification_settings(notify: Notify) -> SettingsOut:
    """免打扰时段（默认 21:00–08:00 北京时间）。Quiet hours (default 21:00–08:00 Beijing time)."""
    reply: pb.GetSettingsResponse = notify.stub.GetSettings(
        pb.GetSettingsRequest(), **notify.options
    )
    return SettingsOut.of(reply.settings)


@router.put(
    "/notification-settings",
    operation_id="putNotificationSettings",
    openapi_extra=admits(*STAFF),
    response_model=SettingsOut,
)
def put_notification_settings(notify: Notify, body: PutSettings) -> SettingsOut:
    """修改免打扰时段（工作人员、管理员）；版本过期 409。
    Change the quiet hours (staff, admins); a stale version is a 409."""
    reply: pb.PutSettingsResponse = notify.stub.PutSettings(body.to_proto(), **notify.options)
    return SettingsOut.of(reply.settings)


@router.get(
    "/notification-robots",
    operation_id="listNotificationRobots",
    openapi_extra=admits(*READERS),
    response_model=RobotList,
)
def list_notification_robots(notify: Notify) -> RobotList:
    """楼栋群、小区群的机器人（webhook 地址已脱敏）。The group robots, webhook URLs masked."""
    reply: pb.ListRobotsResponse = notify.stub.ListRobots(pb.ListRobotsRequest(), **notify.options)
    return RobotList(items=[RobotOut.of(r) for r in reply.robots])


@router.post(
    "/notification-robots",
    operation_id="createNotificationRobot",
    openapi_extra=admits(*STAFF),
    response_model=RobotOut,
    status_code=status.HTTP_201_CREATED,
)
def create_notification_robot(notify: Notify, body: NewRobot) -> RobotOut:
    """登记一个楼栋群或小区群的机器人（工作人员、管理员）；每个楼幢、小区至多一个，重复 409。
    Register a building's or complex's group robot (staff, admins); one per building or
    complex, a second is a 409."""
    reply: pb.PutRobotResponse = notify.stub.PutRobot(body.to_proto(), **notify.options)
    return RobotOut.of(reply.robot)


@router.put(
    "/notification-robots/{robot_id}",
    operation_id="putNotificationRobot",
    openapi_extra=admits(*STAFF),
    response_model=RobotOut,
)
def put_notification_robot(notify: Notify, robot_id: RobotId, body: UpdateRobot) -> RobotOut:
    """修改一个群机器人（工作人员、管理员）。Change a group robot (staff, admins)."""
    reply: pb.PutRobotResponse = notify.stub.PutRobot(
        body.to_proto(str(robot_id)), **notify.options
    )
    return RobotOut.of(reply.robot)


@router.delete(
    "/notification-robots/{robot_id}",
    operation_id="removeNotificationRobot",
    openapi_extra=admits(*STAFF),
    status_code=status.HTTP_204_NO_CONTENT,
)
def remove_notification_robot(notify: Notify, robot_id: RobotId) -> Response:
    """移除一个群机器人（工作人员、管理员）。Remove a group robot (staff, admins)."""
    notify.stub.RemoveRobot(pb.RemoveRobotRequest(robot_id=str(robot_id)), **notify.options)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/notification-contacts/{resident_id}",
    operation_id="getNotificationContact",
    openapi_extra=admits(*STAFF),
    response_model=ContactOut,
)
def get_notification_contact(notify: Notify, resident_id: ResidentId) -> ContactOut:
    """居民的平台账号、电子邮件（脱敏）和不愿接收的渠道（工作人员）。
    A resident's account, masked e-mail and refused channels (staff)."""
    reply: pb.GetContactResponse = notify.stub.GetContact(
        pb.GetContactRequest(resident_id=str(resident_id)), **notify.options
    )
    return ContactOut.of(reply.contact)


@router.put(
    "/notification-contacts/{resident_id}",
    operation_id="putNotificationContact",
    openapi_extra=admits(*STAFF),
    response_model=ContactOut,
)
def put_notification_contact(
    notify: Notify, resident_id: ResidentId, body: PutContact
) -> ContactOut:
    """登记居民的账号、电子邮件和不愿接收的渠道（工作人员）；版本过期 409。
    Record a resident's account, e-mail and refused channels (staff); a stale version is a
    409."""
    reply: pb.PutContactResponse = notify.stub.PutContact(
        body.to_proto(str(resident_id)), **notify.options
    )
    return ContactOut.of(reply.contact)


# ---- statistics ----


@router.get(
    "/stats/notices",
    operation_id="getNoticeStatistics",
    openapi_extra=admits(*STAFF),
    response_model=NoticeStatisticsOut,
)
def get_notice_statistics(
    notify: Notify,
    from_date: Annotated[
        date | None, Query(description="开始日期（含，北京时间）；默认近30天 First day")
    ] = None,
    to_date: Annotated[date | None, Query(description="结束日期（含） Last day")] = None,
) -> NoticeStatisticsOut:
    """每天每渠道的发出、送达、失败、已读（工作人员、管理员；街道按社区）。
    Sent, delivered, failed and read per day and channel (staff, admins; a street per
    community)."""
    if from_date is not None and to_date is not None and to_date < from_date:
        raise invalid_input(
            "notify.period_invalid",
            "结束日期不能早于开始日期",
            "to_date must not be before from_date",
            FieldViolation("query.to_date", "on or after from_date"),
        )
    reply: pb.GetStatisticsResponse = notify.stub.GetStatistics(
        pb.GetStatisticsRequest(
            from_date=from_date.isoformat() if from_date else "",
            to_date=to_date.isoformat() if to_date else "",
        ),
        **notify.options,
    )
    return NoticeStatisticsOut.of(reply)


# ---- the caller's inbox, over every tenant they hold a grant on ----


def inbox_tenants(principal: Principal, registry_roots: Iterable[TenantId] = ()) -> list[TenantId]:
    """The tenants whose inboxes are the caller's: the topmost node of each of their grants (a
    street's call covers its communities), and the registry's roots for a platform
    administrator, whose grant is on no one tenant."""
    roots = set(principal.granted_roots())
    if principal.is_platform_admin:
        roots.update(registry_roots)
    covering = {t for t in roots if not any(o.is_ancestor_of(t) for o in roots)}
    return sorted(covering, key=lambda t: t.value)


def callers_inbox_tenants(request: Request, principal: Principal) -> list[TenantId]:
    """The caller's inbox tenants; the registry is read only for a platform administrator."""
    if not principal.is_platform_admin:
        return inbox_tenants(principal)
    with request.app.state.core.sessions() as session:
        top = session.scalars(
            select(TenantNode.tenant_id).where(TenantNode.parent_id.is_(None))
        ).all()
    return inbox_tenants(principal, (TenantId(t) for t in top))


def newest_first(replies: list[pb.ListInboxResponse], limit: int) -> Iterator[pb.InboxMessage]:
    """The tenants' answers (each newest first) merged, newest first, at most ``limit``."""

    def newest(message: pb.InboxMessage) -> tuple[int, int]:
        return (-message.received_at.seconds, -message.received_at.nanos)

    return islice(heapq.merge(*(reply.messages for reply in replies), key=newest), limit)


@inbox_router.get(
    "", operation_id="listInbox", openapi_extra=admits(*EVERY_ROLE), response_model=InboxOut
)
def list_inbox(
    request: Request,
    principal: CurrentPrincipal,
    unread_only: Annotated[bool, Query(description="只看未读 Unread only")] = False,
    limit: Annotated[
        int, Query(ge=1, le=MAX_INBOX_LIMIT, description="最多条数 At most (default 50)")
    ] = 50,
) -> InboxOut:
    """我的站内信：发给本人账号的，以及本人所任角色的共享收件箱（各社区合并），新的在前。
    My messages: those to my account and to the shared inboxes of the roles I hold, over every
    community I have a role in, newest first."""
    stub: notify_pb2_grpc.NotifyServiceStub = request.app.state.core.notify
    page = paging_pb2.PageRequest(page_size=limit)
    calls = [
        stub.ListInbox.future(
            pb.ListInboxRequest(unread_only=unread_only, page=page),
            **caller_options(request, principal, tenant),
        )
        for tenant in callers_inbox_tenants(request, principal)
    ]
    replies: list[pb.ListInboxResponse] = [call.result() for call in calls]
    return InboxOut(
        items=[InboxMessageOut.of(m) for m in newest_first(replies, limit)],
        unread=sum(reply.unread for reply in replies),
    )


@inbox_router.post(
    "/read",
    operation_id="markInboxRead",
    openapi_extra=admits(*EVERY_ROLE),
    response_model=MarkedOut,
)
def mark_inbox_read(request: Request, principal: CurrentPrincipal, body: MarkRead) -> MarkedOut:
    """把消息标为已读（本人的或本人角色收件箱中的；别人的消息不受影响）。
    Mark messages read (my own, or in my roles' inboxes; anyone else's are left alone)."""
    stub: notify_pb2_grpc.NotifyServiceStub = request.app.state.core.notify
    ids = sorted({str(i) for i in body.message_ids})
    calls = [
        stub.MarkRead.future(
            pb.MarkReadRequest(message_ids=ids), **caller_options(request, principal, tenant)
        )
        for tenant in callers_inbox_tenants(request, principal)
    ]
    replies: list[pb.MarkReadResponse] = [call.result() for call in calls]
    return MarkedOut(
        marked=sum(reply.marked for reply in replies),
        unread=sum(reply.unread for reply in replies),
    )
