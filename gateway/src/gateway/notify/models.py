"""Notices, templates, channel settings and inbox messages as REST shows them, and their
conversion from and to the notify service's messages.

Same conventions as the census, grid and cases routes: requests convert with ``to_proto()``,
responses with ``of(message)``; enums are lower-case words of the proto value names
(``CHANNEL_SMS`` → ``"sms"``, ``NOTICE_KIND_ANTI_FRAUD`` → ``"anti_fraud"``) with a Chinese
label beside them; instants are ISO 8601 shown in Asia/Shanghai (``+08:00``), and a time sent
without an offset is Beijing time. Addresses (e-mail, phone, robot webhook) only ever come back
masked: the service masks them, and a robot's webhook URL is write-only.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from types import MappingProxyType
from typing import Annotated, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from gateway.cases.models import shown, timestamp_of
from gateway.census.models import (
    CARE_TAGS,
    RESIDENCE_TYPES,
    CareTagWord,
    Page,
    ProtoEnumWords,
    ResidenceTypeWord,
)
from gateway.inputs import MAX_VERSION
from shequ.notify.v1 import notify_pb2 as pb

CHANNELS = ProtoEnumWords(pb.Channel)
NOTICE_KINDS = ProtoEnumWords(pb.NoticeKind)
NOTICE_STATES = ProtoEnumWords(pb.NoticeState)
DELIVERY_STATES = ProtoEnumWords(pb.DeliveryState)

ChannelWord = Annotated[str, CHANNELS]
NoticeKindWord = Annotated[str, NOTICE_KINDS]
NoticeStateWord = Annotated[str, NOTICE_STATES]
DeliveryStateWord = Annotated[str, DELIVERY_STATES]
# The roles with a shared inbox in a tenant (every role but the pii-reader modifier).
InboxRoleWord = Literal[
    "platform-admin", "street-admin", "community-staff", "grid-worker", "resident"
]
# Case updates are the system's: people compose the other kinds.
ComposableKindWord = Literal["anti_fraud", "event", "meeting", "general"]

CHANNEL_ZH: Final[Mapping[int, str]] = MappingProxyType(
    {
        pb.CHANNEL_INBOX: "站内信",
        pb.CHANNEL_EMAIL: "电子邮件",
        pb.CHANNEL_WECOM: "企业微信群",
        pb.CHANNEL_SMS: "短信",
    }
)
KIND_ZH: Final[Mapping[int, str]] = MappingProxyType(
    {
        pb.NOTICE_KIND_ANTI_FRAUD: "反诈预警",
        pb.NOTICE_KIND_EVENT: "活动通知",
        pb.NOTICE_KIND_MEETING: "会议通知",
        pb.NOTICE_KIND_GENERAL: "一般通知",
        pb.NOTICE_KIND_CASE_UPDATE: "事件进展",
    }
)
NOTICE_STATE_ZH: Final[Mapping[int, str]] = MappingProxyType(
    {
        pb.NOTICE_STATE_SCHEDULED: "待发送",
        pb.NOTICE_STATE_SENDING: "发送中",
        pb.NOTICE_STATE_SENT: "已发送",
        pb.NOTICE_STATE_CANCELLED: "已取消",
    }
)
DELIVERY_STATE_ZH: Final[Mapping[int, str]] = MappingProxyType(
    {
        pb.DELIVERY_STATE_QUEUED: "排队中",
        pb.DELIVERY_STATE_SENT: "已发出",
        pb.DELIVERY_STATE_DELIVERED: "已送达",
        pb.DELIVERY_STATE_FAILED: "发送失败",
        pb.DELIVERY_STATE_UNREACHABLE: "无法送达",
    }
)
# Preview's by_channel names people no channel reaches "none".
UNREACHABLE_WORD = "none"

# The service's own limits, checked here too so a client learns them as 422s naming the body's
# fields before any call.
TEMPLATE_CODE = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"  # dotted: "anti_fraud.alert"
MAX_CODE = 80
VARIABLE_NAME = r"^[a-z][a-z0-9_]{0,39}$"
MAX_VARIABLES, MAX_VARIABLE_TEXT = 20, 2000
MAX_IDS, MAX_NAME, MAX_SUBJECT, MAX_BODY = 500, 100, 200, 4000
QUIET_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
EMAIL = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
WEBHOOK_URL = r"^https?://[^\s]+$"
MAX_URL = 2000
MAX_INBOX_LIMIT = 200

Text = Annotated[str, StringConstraints(strip_whitespace=True)]
VariableName = Annotated[str, StringConstraints(pattern=VARIABLE_NAME)]
VariableText = Annotated[str, StringConstraints(max_length=MAX_VARIABLE_TEXT)]
Subject = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_SUBJECT)
]


def channel_labels(numbers: Sequence[int]) -> list[str]:
    return [CHANNEL_ZH.get(n, "") for n in numbers]


# ---- audiences ----


class Audience(BaseModel):
    """通知对象：地点（网格、微网格、小区、楼幢）取并集，再按关怀标签、居住类型筛选；只选
    whole_community 即全体现住居民；账号、指定居民和角色收件箱另行加入。
    Who a notice is for. Places are united, then narrowed by care tags and residence types
    (any of them); ``whole_community`` alone is every current resident; accounts, named
    residents and role inboxes are added."""

    model_config = ConfigDict(extra="forbid")

    whole_community: bool = Field(default=False, description="全体居民 Every resident")
    grid_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_IDS)
    micro_grid_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_IDS)
    complex_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_IDS)
    building_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_IDS)
    care_tags: list[CareTagWord] = Field(
        default_factory=list, description="关怀标签 Care tags", examples=[["elderly"]]
    )
    residence_types: list[ResidenceTypeWord] = Field(
        default_factory=list, description="居住类型 Residence types"
    )
    account_subjects: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=MAX_IDS, description="平台账号 Accounts"
    )
    resident_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=MAX_IDS, description="指定居民 Named residents"
    )
    roles: list[InboxRoleWord] = Field(
        default_factory=list,
        description="本社区某角色的共享收件箱 A role's shared inbox here",
        examples=[["community-staff"]],
    )

    @model_validator(mode="after")
    def names_someone(self) -> Audience:
        if not (
            self.whole_community
            or self.grid_ids
            or self.micro_grid_ids
            or self.complex_ids
            or self.building_ids
            or self.account_subjects
            or self.resident_ids
            or self.roles
        ):
            raise ValueError(
                "name at least one of whole_community, places, accounts, residents or roles"
            )
        return self

    def to_proto(self) -> pb.Audience:
        return pb.Audience(
            whole_community=self.whole_community,
            grid_ids=[str(i) for i in self.grid_ids],
            micro_grid_ids=[str(i) for i in self.micro_grid_ids],
            complex_ids=[str(i) for i in self.complex_ids],
            building_ids=[str(i) for i in self.building_ids],
            care_tags=[CARE_TAGS.number(t) for t in self.care_tags],
            residence_types=[RESIDENCE_TYPES.number(t) for t in self.residence_types],
            account_subjects=self.account_subjects,
            resident_ids=[str(i) for i in self.resident_ids],
            roles=list(self.roles),
        )


class AudienceOut(BaseModel):
    """通知对象，如创建时所给。The audience as the notice was given it."""

    whole_community: bool
    grid_ids: list[str]
    micro_grid_ids: list[str]
    complex_ids: list[str]
    building_ids: list[str]
    care_tags: list[str] = Field(examples=[["elderly"]])
    residence_types: list[str]
    account_subjects: list[str]
    resident_ids: list[str]
    roles: list[str] = Field(examples=[["community-staff"]])

    @classmethod
    def of(cls, audience: pb.Audience) -> AudienceOut:
        return cls(
            whole_community=audience.whole_community,
            grid_ids=list(audience.grid_ids),
            micro_grid_ids=list(audience.micro_grid_ids),
            complex_ids=list(audience.complex_ids),
            building_ids=list(audience.building_ids),
            care_tags=[w for w in map(CARE_TAGS.word, audience.care_tags) if w],
            residence_types=[w for w in map(RESIDENCE_TYPES.word, audience.residence_types) if w],
            account_subjects=list(audience.account_subjects),
            resident_ids=list(audience.resident_ids),
            roles=list(audience.roles),
        )


# ---- notices ----


class NoticeDraft(BaseModel):
    """一条通知：模板与变量、对象、渠道（按优先顺序：每人用第一个有地址的渠道）、是否紧急
    （紧急通知在免打扰时段也发送）、定时。
    A notice: template and variables, audience, channels in order of preference (each person
    gets it on the first channel with an address), urgency (urgent ones go out in quiet hours)
    and an optional time."""

    model_config = ConfigDict(extra="forbid")

    kind: ComposableKindWord | None = Field(
        default=None,
        description="类型；不填为模板的类型 Default: the template's kind",
        examples=["anti_fraud"],
    )
    template_code: str = Field(
        pattern=TEMPLATE_CODE,
        max_length=MAX_CODE,
        description="模板代码 Template code",
        examples=["anti_fraud.alert"],
    )
    variables: dict[VariableName, VariableText] = Field(
        default_factory=dict,
        max_length=MAX_VARIABLES,
        description="模板变量，须与模板声明的一致 The template's variables",
        examples=[{"title": "警惕冒充客服退款诈骗", "content": "请勿向陌生人转账"}],
    )
    audience: Audience
    channels: list[ChannelWord] = Field(
        min_length=1,
        max_length=len(CHANNELS.words),
        description="渠道，按优先顺序 Channels in order of preference",
        examples=[["sms", "inbox"]],
    )
    urgent: bool = Field(default=False, description="紧急：免打扰时段照发 Sent in quiet hours")
    send_at: datetime | None = Field(
        default=None,
        description="定时发送；不填为尽快；无时区按北京时间 When to send (Beijing time if naive)",
    )

    @field_validator("channels")
    @classmethod
    def channels_once_each(cls, channels: list[str]) -> list[str]:
        if len(set(channels)) != len(channels):
            raise ValueError("each channel may be named once")
        return channels

    def to_proto(self) -> pb.NoticeDraft:
        draft = pb.NoticeDraft(
            kind=NOTICE_KINDS.number(self.kind),
            template_code=self.template_code,
            variables=self.variables,
            audience=self.audience.to_proto(),
            channels=[CHANNELS.number(c) for c in self.channels],
            urgent=self.urgent,
        )
        if self.send_at is not None:
            draft.send_at.CopyFrom(timestamp_of(self.send_at))
        return draft


class ChannelCountsOut(BaseModel):
    queued: int
    sent: int
    delivered: int
    failed: int
    read: int

    @classmethod
    def of(cls, counts: pb.ChannelCounts) -> ChannelCountsOut:
        return cls(
            queued=counts.queued,
            sent=counts.sent,
            delivered=counts.delivered,
            failed=counts.failed,
            read=counts.read,
        )


class DeliveryCountsOut(BaseModel):
    """各状态人数，及各渠道的同样数字。Recipients by state, and the same per channel."""

    recipients: int
    queued: int
    sent: int
    delivered: int
    failed: int
    unreachable: int
    read: int
    by_channel: dict[str, ChannelCountsOut] = Field(
        description="渠道 → 数字 Channel word → counts",
        examples=[{"sms": {"queued": 0, "sent": 2, "delivered": 40, "failed": 1, "read": 0}}],
    )

    @classmethod
    def of(cls, counts: pb.DeliveryCounts) -> DeliveryCountsOut:
        return cls(
            recipients=counts.recipients,
            queued=counts.queued,
            sent=counts.sent,
            delivered=counts.delivered,
            failed=counts.failed,
            unreachable=counts.unreachable,
            read=counts.read,
            by_channel={k: ChannelCountsOut.of(v) for k, v in sorted(counts.by_channel.items())},
        )


class NoticeOut(BaseModel):
    """一条通知及其送达情况。A notice and how far its deliveries got."""

    id: str
    kind: NoticeKindWord | None = Field(examples=["anti_fraud"])
    kind_label: str = Field(examples=["反诈预警"])
    template_code: str = Field(examples=["anti_fraud.alert"])
    variables: dict[str, str]
    audience: AudienceOut
    channels: list[ChannelWord] = Field(examples=[["sms", "inbox"]])
    channel_labels: list[str] = Field(examples=[["短信", "站内信"]])
    urgent: bool
    state: NoticeStateWord | None = Field(examples=["scheduled"])
    state_label: str = Field(examples=["待发送"])
    send_at: datetime | None
    held_until: datetime | None = Field(
        description="免打扰时段内暂缓到此时 Held for quiet hours until"
    )
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    sender: str = Field(description="发送账号，或 system:cases The sender's account")
    subject: str = Field(description="标题（已填入变量） Rendered subject")
    body: str = Field(description="正文样例 Rendered body, for a sample recipient")
    counts: DeliveryCountsOut
    version: int

    @classmethod
    def of(cls, notice: pb.Notice) -> NoticeOut:
        channels = list(notice.channels)
        return cls(
            id=notice.notice_id,
            kind=NOTICE_KINDS.word(notice.kind),
            kind_label=KIND_ZH.get(notice.kind, ""),
            template_code=notice.template_code,
            variables=dict(sorted(notice.variables.items())),
            audience=AudienceOut.of(notice.audience),
            channels=[w for w in map(CHANNELS.word, channels) if w],
            channel_labels=channel_labels(channels),
            urgent=notice.urgent,
            state=NOTICE_STATES.word(notice.state),
            state_label=NOTICE_STATE_ZH.get(notice.state, ""),
            send_at=shown(notice.send_at, notice.HasField("send_at")),
            held_until=shown(notice.held_until, notice.HasField("held_until")),
            created_at=shown(notice.created_at, notice.HasField("created_at")),
            started_at=shown(notice.started_at, notice.HasField("started_at")),
            finished_at=shown(notice.finished_at, notice.HasField("finished_at")),
            sender=notice.sender,
            subject=notice.subject,
            body=notice.body,
            counts=DeliveryCountsOut.of(notice.counts),
            version=notice.version,
        )


class NoticePage(Page[NoticeOut]):
    pass


class PreviewOut(BaseModel):
    """发送前预览：人数、各渠道人数（按降级后的实际渠道；none 为无法送达）和一份样例。
    Before sending: how many people, how many on each channel (after fallback; ``none``: no
    address on any), a rendered sample, and when it would go out."""

    recipients: int
    by_channel: dict[str, int] = Field(examples=[{"sms": 41, "inbox": 3, "none": 2}])
    subject: str
    body: str
    would_send_at: datetime | None = Field(
        description="考虑定时与免打扰时段后的发送时间 When it would go out"
    )

    @classmethod
    def of(cls, reply: pb.PreviewNoticeResponse) -> PreviewOut:
        return cls(
            recipients=reply.recipients,
            by_channel=dict(sorted(reply.by_channel.items())),
            subject=reply.subject,
            body=reply.body,
            would_send_at=shown(reply.would_send_at, reply.HasField("would_send_at")),
        )


class CancelNotice(BaseModel):
    """取消尚未开始发送的通知。Cancel a notice before sending began."""

    model_config = ConfigDict(extra="forbid")

    expected_version: int = Field(
        ge=1, le=MAX_VERSION, description="读取时的版本号 The version you read"
    )
    reason: Text = Field(default="", max_length=200, description="原因 Why", examples=["活动改期"])

    def to_proto(self, notice_id: str) -> pb.CancelNoticeRequest:
        return pb.CancelNoticeRequest(
            notice_id=notice_id, expected_version=self.expected_version, reason=self.reason
        )


class DeliveryOut(BaseModel):
    """一人一条：哪个渠道、（脱敏的）地址、状态、尝试次数、失败原因。
    One per person: channel, masked address, state, attempts, why it failed."""

    id: str
    notice_id: str
    recipient: str = Field(
        description="resident:<居民id>、account:<账号> 或 role:<角色>",
        examples=["resident:6b1a8c54-0000-4000-8000-000000000000"],
    )
    recipient_name: str = Field(examples=["王秀英"])
    channel: ChannelWord | None = Field(description="无可用渠道时为空 None when unreachable")
    channel_label: str | None
    address: str = Field(description="脱敏地址 Masked", examples=["138****5678"])
    state: DeliveryStateWord | None = Field(examples=["delivered"])
    state_label: str = Field(examples=["已送达"])
    attempts: int
    failure_reason: str | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None

    @classmethod
    def of(cls, delivery: pb.Delivery) -> DeliveryOut:
        return cls(
            id=delivery.delivery_id,
            notice_id=delivery.notice_id,
            recipient=delivery.recipient,
            recipient_name=delivery.recipient_name,
            channel=CHANNELS.word(delivery.channel),
            channel_label=CHANNEL_ZH.get(delivery.channel),
            address=delivery.address,
            state=DELIVERY_STATES.word(delivery.state),
            state_label=DELIVERY_STATE_ZH.get(delivery.state, ""),
            attempts=delivery.attempts,
            failure_reason=delivery.failure_reason or None,
            next_attempt_at=shown(delivery.next_attempt_at, delivery.HasField("next_attempt_at")),
            sent_at=shown(delivery.sent_at, delivery.HasField("sent_at")),
            delivered_at=shown(delivery.delivered_at, delivery.HasField("delivered_at")),
            read_at=shown(delivery.read_at, delivery.HasField("read_at")),
        )


class DeliveryPage(Page[DeliveryOut]):
    pass


class ResentOut(BaseModel):
    queued: int = Field(description="重新排队的失败投递数 Failed deliveries queued again")
    notice: NoticeOut

    @classmethod
    def of(cls, reply: pb.ResendFailedResponse) -> ResentOut:
        return cls(queued=reply.queued, notice=NoticeOut.of(reply.notice))


def list_notices_request(states: list[str] | None, kind: str | None) -> pb.ListNoticesRequest:
    return pb.ListNoticesRequest(
        states=[NOTICE_STATES.number(s) for s in states or ()], kind=NOTICE_KINDS.number(kind)
    )


# ---- templates ----


class TemplateOut(BaseModel):
    """通知模板（Jinja2）。defined_by：builtin 平台内置、street 街道默认，或本社区。
    A notice template (Jinja2); ``defined_by``: builtin, street (its communities' default) or
    tenant."""

    code: str = Field(examples=["anti_fraud.alert"])
    name: str = Field(examples=["反诈预警"])
    kind: NoticeKindWord | None = Field(examples=["anti_fraud"])
    kind_label: str = Field(examples=["反诈预警"])
    subject: str = Field(examples=["【反诈提醒】{{ title }}"])
    body: str
    variables: list[str] = Field(examples=[["title", "content"]])
    defined_by: str = Field(examples=["builtin"])
    version: int = Field(description="本级版本号，继承时为0 This tenant's version; 0 if inherited")

    @classmethod
    def of(cls, template: pb.Template) -> TemplateOut:
        return cls(
            code=template.code,
            name=template.name,
            kind=NOTICE_KINDS.word(template.kind),
            kind_label=KIND_ZH.get(template.kind, ""),
            subject=template.subject,
            body=template.body,
            variables=list(template.variables),
            defined_by=template.defined_by,
            version=template.version,
        )


class TemplateList(BaseModel):
    items: list[TemplateOut]


class PutTemplate(BaseModel):
    """新增或修改本级模板（expected_version：本级尚无时为0）；街道的模板是其社区的默认。
    Add or edit this tenant's own version (expected_version 0 when it has none); a street's
    template is its communities' default."""

    model_config = ConfigDict(extra="forbid")

    expected_version: int = Field(
        ge=0,
        le=MAX_VERSION,
        description="读取时的本级版本号；本级尚无时为0 The version you read; 0 at first",
    )
    name: Text = Field(min_length=1, max_length=MAX_NAME, examples=["反诈预警"])
    kind: NoticeKindWord = Field(examples=["anti_fraud"])
    subject: Subject = Field(
        description="标题（一行） One line", examples=["【反诈提醒】{{ title }}"]
    )
    body: Text = Field(min_length=1, max_length=MAX_BODY, description="正文 Body")
    variables: list[VariableName] = Field(
        default_factory=list,
        max_length=MAX_VARIABLES,
        description="正文与标题用到的变量（recipient_name 总可使用） The variables used",
        examples=[["title", "content"]],
    )

    @field_validator("subject")
    @classmethod
    def one_line(cls, subject: str) -> str:
        if "\n" in subject or "\r" in subject:
            raise ValueError("the subject is one line")
        return subject

    def to_proto(self, code: str) -> pb.PutTemplateRequest:
        return pb.PutTemplateRequest(
            template=pb.Template(
                code=code,
                name=self.name,
                kind=NOTICE_KINDS.number(self.kind),
                subject=self.subject,
                body=self.body,
                variables=self.variables,
            ),
            expected_version=self.expected_version,
        )


# ---- channel settings: quiet hours, robots, contacts ----


class SettingsOut(BaseModel):
    """免打扰时段（北京时间；开始晚于结束即跨午夜）。Quiet hours, Asia/Shanghai wall time."""

    quiet_start: str = Field(examples=["21:00"])
    quiet_end: str = Field(examples=["08:00"])
    version: int

    @classmethod
    def of(cls, settings: pb.Settings) -> SettingsOut:
        return cls(
            quiet_start=settings.quiet_start,
            quiet_end=settings.quiet_end,
            version=settings.version,
        )


class PutSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quiet_start: str = Field(pattern=QUIET_TIME, description="HH:MM", examples=["21:30"])
    quiet_end: str = Field(pattern=QUIET_TIME, description="HH:MM", examples=["07:30"])
    expected_version: int = Field(
        ge=0,
        le=MAX_VERSION,
        description="读取时的版本号；仍为默认时为0 The version you read; 0 at first",
    )

    def to_proto(self) -> pb.PutSettingsRequest:
        return pb.PutSettingsRequest(
            settings=pb.Settings(quiet_start=self.quiet_start, quiet_end=self.quiet_end),
            expected_version=self.expected_version,
        )


class RobotOut(BaseModel):
    """楼栋群或小区群的企业微信群机器人；webhook 地址只写不读，答复中已脱敏。
    A building's or complex's group robot; its webhook URL is write-only, answered masked."""

    id: str
    name: str = Field(examples=["晴庐3幢业主群"])
    building_id: str | None
    complex_id: str | None
    webhook_url: str = Field(description="脱敏 Masked")

    @classmethod
    def of(cls, robot: pb.Robot) -> RobotOut:
        return cls(
            id=robot.robot_id,
            name=robot.name,
            building_id=robot.building_id or None,
            complex_id=robot.complex_id or None,
            webhook_url=robot.webhook_url,
        )


class RobotList(BaseModel):
    items: list[RobotOut]


class RobotPlace(BaseModel):
    """群机器人：楼幢或小区二选一。A group robot: of a building or of a complex, not both."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=MAX_NAME, examples=["晴庐3幢业主群"])
    building_id: uuid.UUID | None = Field(default=None, description="楼栋群 A building's group")
    complex_id: uuid.UUID | None = Field(default=None, description="小区群 A complex's group")

    @model_validator(mode="after")
    def building_or_complex(self) -> RobotPlace:
        if (self.building_id is None) == (self.complex_id is None):
            raise ValueError("give exactly one of building_id and complex_id")
        return self

    def robot_request(self, robot_id: str, webhook_url: str) -> pb.PutRobotRequest:
        return pb.PutRobotRequest(
            robot=pb.Robot(
                robot_id=robot_id,
                name=self.name,
                building_id=str(self.building_id or ""),
                complex_id=str(self.complex_id or ""),
                webhook_url=webhook_url,
            )
        )


WEBHOOK_DESCRIPTION = "机器人的 webhook 地址（只写） The robot's webhook URL (write-only)"
WEBHOOK_EXAMPLE = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…"


class NewRobot(RobotPlace):
    """登记群机器人，须给出 webhook 地址。Register a group robot with its webhook URL."""

    webhook_url: str = Field(
        pattern=WEBHOOK_URL,
        max_length=MAX_URL,
        description=WEBHOOK_DESCRIPTION,
        examples=[WEBHOOK_EXAMPLE],
    )

    def to_proto(self) -> pb.PutRobotRequest:
        """No robot id: the service registers a new robot and picks its id."""
        return self.robot_request("", self.webhook_url)


class UpdateRobot(RobotPlace):
    """修改群机器人；不填（或原样送回脱敏的）webhook 地址即保留原地址。
    Change a group robot; leaving the webhook URL out (or sending the masked one back) keeps
    the stored one."""

    webhook_url: str | None = Field(
        default=None,
        pattern=WEBHOOK_URL,
        max_length=MAX_URL,
        description=WEBHOOK_DESCRIPTION,
        examples=[WEBHOOK_EXAMPLE],
    )

    def to_proto(self, robot_id: str) -> pb.PutRobotRequest:
        return self.robot_request(robot_id, self.webhook_url or "")


class ContactOut(BaseModel):
    """居民在普查电话之外的联系方式（工作人员维护）。How to reach a resident beyond the census
    phone (kept by staff)."""

    resident_id: str
    account_subject: str | None = Field(description="平台账号 The resident's account")
    email: str | None = Field(description="脱敏 Masked", examples=["w***@example.org"])
    opted_out: list[ChannelWord] = Field(description="不愿接收的渠道 Channels refused")
    version: int

    @classmethod
    def of(cls, contact: pb.Contact) -> ContactOut:
        return cls(
            resident_id=contact.resident_id,
            account_subject=contact.account_subject or None,
            email=contact.email or None,
            opted_out=[w for w in map(CHANNELS.word, contact.opted_out) if w],
            version=contact.version,
        )


class PutContact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_subject: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(
        default=None, pattern=EMAIL, max_length=254, examples=["wang@example.org"]
    )
    opted_out: list[ChannelWord] = Field(default_factory=list, examples=[["sms"]])
    expected_version: int = Field(
        ge=0,
        le=MAX_VERSION,
        description="读取时的版本号；尚无时为0 The version you read; 0 at first",
    )

    def to_proto(self, resident_id: str) -> pb.PutContactRequest:
        return pb.PutContactRequest(
            contact=pb.Contact(
                resident_id=resident_id,
                account_subject=self.account_subject or "",
                email=self.email or "",
                opted_out=sorted({CHANNELS.number(c) for c in self.opted_out}),
            ),
            expected_version=self.expected_version,
        )


# ---- statistics ----


class StatisticsRowOut(BaseModel):
    tenant_id: str
    day: date
    channel: ChannelWord | None
    channel_label: str | None
    sent: int
    delivered: int
    failed: int
    read: int

    @classmethod
    def of(cls, row: pb.StatisticsRow) -> StatisticsRowOut:
        return cls(
            tenant_id=row.tenant_id,
            day=date.fromisoformat(row.day),
            channel=CHANNELS.word(row.channel),
            channel_label=CHANNEL_ZH.get(row.channel),
            sent=row.sent,
            delivered=row.delivered,
            failed=row.failed,
            read=row.read,
        )


class NoticeStatisticsOut(BaseModel):
    """每天每渠道的发出、送达、失败、已读（街道按社区分行）。
    Sent, delivered, failed and read per day and channel (a street: per community)."""

    rows: list[StatisticsRowOut]
    totals: dict[str, ChannelCountsOut] = Field(description="各渠道合计 Totals per channel")
    notices: int = Field(description="期内通知数 Notices in the period")

    @classmethod
    def of(cls, reply: pb.GetStatisticsResponse) -> NoticeStatisticsOut:
        return cls(
            rows=[StatisticsRowOut.of(r) for r in reply.rows],
            totals={k: ChannelCountsOut.of(v) for k, v in sorted(reply.totals.items())},
            notices=reply.notices,
        )


# ---- inbox ----


class InboxMessageOut(BaseModel):
    id: str
    tenant_id: str = Field(description="来自哪个社区 The tenant it came from")
    notice_id: str
    kind: NoticeKindWord | None = Field(examples=["case_update"])
    kind_label: str = Field(examples=["事件进展"])
    subject: str
    body: str
    urgent: bool
    received_at: datetime | None
    read_at: datetime | None
    read: bool
    case_id: str | None = Field(description="事件进展：要打开的案件 The case to open")

    @classmethod
    def of(cls, message: pb.InboxMessage) -> InboxMessageOut:
        return cls(
            id=message.message_id,
            tenant_id=message.tenant_id,
            notice_id=message.notice_id,
            kind=NOTICE_KINDS.word(message.kind),
            kind_label=KIND_ZH.get(message.kind, ""),
            subject=message.subject,
            body=message.body,
            urgent=message.urgent,
            received_at=shown(message.received_at, message.HasField("received_at")),
            read_at=shown(message.read_at, message.HasField("read_at")),
            read=message.HasField("read_at"),
            case_id=message.case_id or None,
        )


class InboxOut(BaseModel):
    items: list[InboxMessageOut] = Field(description="新的在前 Newest first")
    unread: int = Field(description="未读总数 Unread, over all the caller's tenants")


class MarkRead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_IDS)


class MarkedOut(BaseModel):
    marked: int = Field(description="本次标为已读的条数 Newly marked read")
    unread: int = Field(description="剩余未读 Unread left")
