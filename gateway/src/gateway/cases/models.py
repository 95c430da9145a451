"""Cases as REST shows them, and their conversion from and to the cases service's messages.

Same conventions as the census and grid routes: requests convert with ``to_proto()``, responses
with ``of(message)``; enums are lower-case words of the proto value names
(``CASE_STATE_DISPATCHED`` → ``"dispatched"``, ``CASE_SOURCE_HOTLINE_12345`` →
``"hotline_12345"``), the words the cases service's lifecycle uses; absent values are null.
Instants are ISO 8601 shown in Asia/Shanghai (``+08:00``), where deadlines and working hours
live; a time sent without an offset is Beijing time.

The gateway knows the cases service only through its contract, so the few tables a client
needs beside the proto (the lifecycle's action words, the Chinese state and action labels)
are kept here; a unit test holds them equal to the service's lifecycle.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Annotated, Final, Literal
from zoneinfo import ZoneInfo

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from gateway.census.models import Page, ProtoEnumWords
from gateway.inputs import MAX_VERSION
from shequ.cases.v1 import cases_pb2 as pb
from shequ_kit.errors import FieldViolation, invalid_input

SHANGHAI = ZoneInfo("Asia/Shanghai")

CASE_STATES = ProtoEnumWords(pb.CaseState)
CASE_SOURCES = ProtoEnumWords(pb.CaseSource)
LEVELS = ProtoEnumWords(pb.Level)
DEADLINE_UNITS = ProtoEnumWords(pb.DeadlineUnit)
RATINGS = ProtoEnumWords(pb.Rating)
GROUPINGS = ProtoEnumWords(pb.StatisticsGrouping)

CaseStateWord = Annotated[str, CASE_STATES]
CaseSourceWord = Annotated[str, CASE_SOURCES]
LevelWord = Annotated[str, LEVELS]
DeadlineUnitWord = Annotated[str, DEADLINE_UNITS]
RatingWord = Annotated[str, RATINGS]
GroupingWord = Annotated[str, GROUPINGS]

# The lifecycle's actions (TakeActionRequest.action), in the service's order.
ActionWord = Literal[
    "accept",
    "reject",
    "void",
    "dispatch",
    "reassign",
    "start",
    "suspend",
    "resume",
    "resolve",
    "verify",
    "send_back",
    "close",
    "rate",
    "reopen",
    "request_extension",
    "extend_deadline",
    "decline_extension",
    "escalate",
    "merge",
]
# People escalate on request only; "overdue" is the escalation scheduler's reason.
EscalationReasonWord = Literal["requested"]
MineWord = Literal["assigned", "reported"]

STATE_ZH: Final[Mapping[int, str]] = MappingProxyType(
    {
        pb.CASE_STATE_REPORTED: "已上报",
        pb.CASE_STATE_ACCEPTED: "已立案",
        pb.CASE_STATE_REJECTED: "不予立案",
        pb.CASE_STATE_VOIDED: "已作废",
        pb.CASE_STATE_DISPATCHED: "已派遣",
        pb.CASE_STATE_IN_PROGRESS: "处置中",
        pb.CASE_STATE_SUSPENDED: "缓办",
        pb.CASE_STATE_RESOLVED: "处置完成",
        pb.CASE_STATE_VERIFIED: "已核查",
        pb.CASE_STATE_CLOSED: "已结案",
        pb.CASE_STATE_RATED: "已评价",
        pb.CASE_STATE_MERGED: "已并案",
    }
)
# Timeline actions: the lifecycle's, and "report" (the first line of every case).
ACTION_ZH: Final[Mapping[str, str]] = MappingProxyType(
    {
        "report": "上报",
        "accept": "立案",
        "reject": "不予立案",
        "void": "作废",
        "dispatch": "派遣",
        "reassign": "改派",
        "start": "开始处置",
        "suspend": "缓办",
        "resume": "恢复办理",
        "resolve": "处置完成",
        "verify": "核查",
        "send_back": "退回重办",
        "close": "结案",
        "rate": "评价",
        "reopen": "重新办理",
        "request_extension": "申请延期",
        "extend_deadline": "批准延期",
        "decline_extension": "驳回延期",
        "escalate": "上报上级",
        "merge": "并案",
    }
)
LEVEL_ZH: Final[Mapping[int, str]] = MappingProxyType(
    {
        pb.LEVEL_MICRO_GRID: "微网格",
        pb.LEVEL_GRID: "网格",
        pb.LEVEL_COMMUNITY: "社区",
        pb.LEVEL_STREET: "街道",
    }
)

# The service's own limits, checked here too so a client learns them as 422s naming the body's
# fields before any call.
MAX_TITLE, MAX_DESCRIPTION, MAX_ADDRESS, MAX_NOTE = 100, 2000, 300, 2000
MAX_PHOTOS, MAX_PHOTO_REF = 9, 500
MAX_QUERY_TEXT = 100
CATEGORY_CODE = r"^[0-9]{4}$"  # 2-digit major + 2-digit minor, ASCII digits only
SECONDS_PER_HOUR = 3600

Text = Annotated[str, StringConstraints(strip_whitespace=True)]
PhotoRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


def shown(stamp: Timestamp, present: bool) -> datetime | None:
    """An instant as people in the community read it (Asia/Shanghai); None when unset."""
    return stamp.ToDatetime(tzinfo=UTC).astimezone(SHANGHAI) if present else None


def timestamp_of(moment: datetime) -> Timestamp:
    """A naive time is the residents' wall clock (Asia/Shanghai), as staff type it."""
    stamp = Timestamp()
    stamp.FromDatetime(moment if moment.tzinfo else moment.replace(tzinfo=SHANGHAI))
    return stamp


def in_order(earlier: datetime, later: datetime) -> bool:
    """``later`` is after ``earlier``, either of them possibly naive (Beijing time)."""
    return timestamp_of(later).ToDatetime() > timestamp_of(earlier).ToDatetime()


def rate_or_none(present: bool, value: float) -> float | None:
    return value if present else None


# ---- cases ----


class PlaceOut(BaseModel):
    complex_id: str | None
    building_id: str | None
    dwelling_id: str | None
    address: str | None = Field(examples=["晴庐 3幢 2单元楼道"])
    latitude: float | None
    longitude: float | None

    @classmethod
    def of(cls, place: pb.Place) -> PlaceOut:
        return cls(
            complex_id=place.complex_id or None,
            building_id=place.building_id or None,
            dwelling_id=place.dwelling_id or None,
            address=place.address or None,
            latitude=place.latitude if place.has_coordinates else None,
            longitude=place.longitude if place.has_coordinates else None,
        )


class CaseOut(BaseModel):
    """一个案件。allowed_actions 是调用者现在可以执行的操作（据此显示按钮）。
    A case; ``allowed_actions`` are the actions the caller may take now (which buttons to
    show)."""

    id: str
    tenant_id: str
    number: str = Field(description="案件编号 yyyymmdd-nnnn", examples=["20261123-0001"])
    category_code: str = Field(examples=["0103"])
    category_name: str = Field(examples=["楼道堆积物"])
    title: str = Field(examples=["3幢2单元楼道堆放纸箱"])
    description: str | None
    source: CaseSourceWord | None = Field(examples=["resident_app"])
    state: CaseStateWord | None = Field(examples=["dispatched"])
    state_label: str = Field(description="状态中文名 The state in Chinese", examples=["已派遣"])
    place: PlaceOut
    photos: list[str]
    reporter_subject: str | None = Field(description="上报账号 The reporting account")
    reporter_name: str | None
    reporter_phone: str | None = Field(description="脱敏 Masked", examples=["138****5678"])
    assignee: str | None = Field(
        description="承办人：账号、member:<成员id>，或 queue:community / queue:street",
        examples=["queue:community"],
    )
    assignee_member_id: str | None
    assignee_name: str | None = Field(examples=["陈建国"])
    grid_id: str | None
    micro_grid_id: str | None
    level: LevelWord | None = Field(
        description="责任层级 Responsible level", examples=["micro_grid"]
    )
    level_label: str | None = Field(examples=["微网格"])
    urgent: bool
    reported_at: datetime | None
    dispatched_at: datetime | None
    deadline: datetime | None = Field(description="处置时限 The SLA deadline in force")
    seconds_to_deadline: int = Field(
        description="距时限的工作秒数，超期为负 Working seconds left; negative when overdue"
    )
    overdue: bool
    pending_extension_until: datetime | None = Field(description="待审批的延期 Requested")
    suspended_since: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime | None
    reopened_count: int
    sent_back_count: int
    extensions: int
    rating: RatingWord | None
    merged_into: str | None
    allowed_actions: list[str] = Field(examples=[["start", "resolve", "suspend"]])
    version: int

    @classmethod
    def of(cls, case: pb.Case) -> CaseOut:
        return cls(
            id=case.id,
            tenant_id=case.tenant_id,
            number=case.number,
            category_code=case.category_code,
            category_name=case.category_name,
            title=case.title,
            description=case.description or None,
            source=CASE_SOURCES.word(case.source),
            state=CASE_STATES.word(case.state),
            state_label=STATE_ZH.get(case.state, ""),
            place=PlaceOut.of(case.place),
            photos=list(case.photos),
            reporter_subject=case.reporter_subject or None,
            reporter_name=case.reporter_name or None,
            reporter_phone=case.reporter_phone or None,
            assignee=case.assignee or None,
            assignee_member_id=case.assignee_member_id or None,
            assignee_name=case.assignee_name or None,
            grid_id=case.grid_id or None,
            micro_grid_id=case.micro_grid_id or None,
            level=LEVELS.word(case.level),
            level_label=LEVEL_ZH.get(case.level),
            urgent=case.urgent,
            reported_at=shown(case.reported_at, case.HasField("reported_at")),
            dispatched_at=shown(case.dispatched_at, case.HasField("dispatched_at")),
            deadline=shown(case.deadline, case.HasField("deadline")),
            seconds_to_deadline=case.seconds_to_deadline,
            overdue=case.overdue,
            pending_extension_until=shown(
                case.pending_extension_until, case.HasField("pending_extension_until")
            ),
            suspended_since=shown(case.suspended_since, case.HasField("suspended_since")),
            resolved_at=shown(case.resolved_at, case.HasField("resolved_at")),
            closed_at=shown(case.closed_at, case.HasField("closed_at")),
            updated_at=shown(case.updated_at, case.HasField("updated_at")),
            reopened_count=case.reopened_count,
            sent_back_count=case.sent_back_count,
            extensions=case.extensions,
            rating=RATINGS.word(case.rating),
            merged_into=case.merged_into or None,
            allowed_actions=list(case.allowed_actions),
            version=case.version,
        )


class CasePage(Page[CaseOut]):
    pass


class TimelineEntryOut(BaseModel):
    """时间线中的一步：谁、以何身份、做了什么、状态从何到何。
    One step of the timeline: who, in which capacity, did what, from which state to which."""

    id: str
    case_id: str
    at: datetime | None
    actor: str = Field(description="账号，或 system:router 等 An account or system:…")
    actor_name: str = Field(examples=["系统自动派遣"])
    capacity: str = Field(
        description="身份 reporter, assignee, community-staff, street-admin, system …",
        examples=["assignee"],
    )
    action: str = Field(examples=["resolve"])
    action_label: str = Field(examples=["处置完成"])
    from_state: CaseStateWord | None = Field(description="上报一步为空 None for the report")
    to_state: CaseStateWord | None
    to_state_label: str
    note: str | None = Field(examples=["已联系物业清理"])
    data: dict[str, str] = Field(examples=[{"assignee_id": "…", "level": "micro_grid"}])

    @classmethod
    def of(cls, entry: pb.TimelineEntry) -> TimelineEntryOut:
        return cls(
            id=entry.id,
            case_id=entry.case_id,
            at=shown(entry.at, entry.HasField("at")),
            actor=entry.actor,
            actor_name=entry.actor_name,
            capacity=entry.capacity,
            action=entry.action,
            action_label=ACTION_ZH.get(entry.action, entry.action),
            from_state=CASE_STATES.word(entry.from_state),
            to_state=CASE_STATES.word(entry.to_state),
            to_state_label=STATE_ZH.get(entry.to_state, ""),
            note=entry.note or None,
            data=dict(entry.data),
        )


class TimelineOut(BaseModel):
    items: list[TimelineEntryOut] = Field(description="按时间先后 In order")


class ActionTakenOut(BaseModel):
    case: CaseOut
    entry: TimelineEntryOut = Field(description="这一步 The step just taken")

    @classmethod
    def of(cls, reply: pb.TakeActionResponse) -> ActionTakenOut:
        return cls(case=CaseOut.of(reply.case), entry=TimelineEntryOut.of(reply.entry))


class PlaceIn(BaseModel):
    """普查中的小区、楼幢、房屋（有楼幢时自动派给负责的微网格长），和/或地址、经纬度。
    Census complex, building, dwelling (with a building the case is dispatched at once to the
    micro-grid leader covering it), and/or an address and coordinates."""

    model_config = ConfigDict(extra="forbid")

    complex_id: uuid.UUID | None = Field(default=None, description="小区 Complex")
    building_id: uuid.UUID | None = Field(default=None, description="楼幢 Building")
    dwelling_id: uuid.UUID | None = Field(default=None, description="房屋 Dwelling")
    address: Text | None = Field(
        default=None, max_length=MAX_ADDRESS, description="地址 Address", examples=["晴庐3幢"]
    )
    latitude: float | None = Field(default=None, ge=-90, le=90, description="纬度 WGS 84")
    longitude: float | None = Field(default=None, ge=-180, le=180, description="经度 WGS 84")

    @model_validator(mode="after")
    def coordinates_come_in_pairs(self) -> PlaceIn:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give latitude and longitude together")
        return self

    def to_proto(self) -> pb.Place:
        return pb.Place(
            complex_id=str(self.complex_id or ""),
            building_id=str(self.building_id or ""),
            dwelling_id=str(self.dwelling_id or ""),
            address=self.address or "",
            has_coordinates=self.latitude is not None,
            latitude=self.latitude or 0.0,
            longitude=self.longitude or 0.0,
        )


class ReportCase(BaseModel):
    """上报事件。有楼幢的案件自动立案并派遣；没有地点的由社区受理。
    Report a case. One with a building is accepted and dispatched at once; one without a place
    waits for the community to accept it."""

    model_config = ConfigDict(extra="forbid")

    category_code: str = Field(
        pattern=CATEGORY_CODE, description="事件类别（4位）Category code", examples=["0103"]
    )
    title: Text = Field(
        min_length=1, max_length=MAX_TITLE, description="标题 Title", examples=["楼道堆放纸箱"]
    )
    description: Text | None = Field(
        default=None, max_length=MAX_DESCRIPTION, description="描述 Description"
    )
    source: CaseSourceWord | None = Field(
        default=None,
        description="来源；居民默认 resident_app，工作人员默认 staff，网格员默认 visit "
        "Default by role",
    )
    place: PlaceIn | None = Field(default=None, description="地点 Where")
    photos: list[PhotoRef] = Field(
        default_factory=list, max_length=MAX_PHOTOS, description="照片引用 Photo refs"
    )
    reporter_name: Text | None = Field(
        default=None, max_length=50, description="代居民登记时：姓名 When recording for someone"
    )
    reporter_phone: str | None = Field(
        default=None,
        pattern=r"^\+?[0-9][0-9 -]{3,19}$",
        description="代居民登记时：电话（保存时脱敏） Stored masked",
        examples=["13812345678"],
    )

    def to_proto(self, idempotency_key: str | None) -> pb.ReportCaseRequest:
        return pb.ReportCaseRequest(
            category_code=self.category_code,
            title=self.title,
            description=self.description or "",
            source=CASE_SOURCES.number(self.source),
            place=self.place.to_proto() if self.place else pb.Place(),
            photos=self.photos,
            reporter_name=self.reporter_name or "",
            reporter_phone=self.reporter_phone or "",
            idempotency_key=idempotency_key or "",
        )


class TakeAction(BaseModel):
    """办理一步。各操作需要的字段：dispatch/reassign 需 assignee_member_id 或 assignee；
    request_extension/extend_deadline 需 until；rate 需 rating（不满意须写 note）；escalate 需
    reason=requested 和 note；merge 需 into_case_id；reject、suspend、send_back、reopen 等需 note。
    One lifecycle action. dispatch/reassign take an assignee; request_extension and
    extend_deadline ``until``; rate a ``rating`` (a note when unsatisfied); escalate
    ``reason=requested`` and a note; merge ``into_case_id``."""

    model_config = ConfigDict(extra="forbid")

    action: ActionWord = Field(description="操作 The action", examples=["resolve"])
    expected_version: int = Field(
        ge=1, le=MAX_VERSION, description="读取时的版本号 The version you read"
    )
    note: Text = Field(
        default="", max_length=MAX_NOTE, description="说明 Note", examples=["已联系物业清理"]
    )
    assignee_member_id: uuid.UUID | None = Field(default=None, description="网格成员 Member")
    assignee: str | None = Field(
        default=None, min_length=1, max_length=200, description="账号 An account subject"
    )
    until: datetime | None = Field(
        default=None, description="延期至；无时区按北京时间 New deadline (Beijing time if naive)"
    )
    rating: RatingWord | None = Field(default=None, description="评价 Rating")
    reason: EscalationReasonWord | None = Field(default=None, description="上报原因 Why escalate")
    photos: list[PhotoRef] = Field(
        default_factory=list, max_length=MAX_PHOTOS, description="处置照片 Photos of the result"
    )
    into_case_id: uuid.UUID | None = Field(default=None, description="并入的案件 Merge into")

    def to_proto(self, case_id: str) -> pb.TakeActionRequest:
        request = pb.TakeActionRequest(
            case_id=case_id,
            action=self.action,
            expected_version=self.expected_version,
            note=self.note,
            assignee_member_id=str(self.assignee_member_id or ""),
            assignee=self.assignee or "",
            rating=RATINGS.number(self.rating),
            reason=self.reason or "",
            photos=self.photos,
            into_case_id=str(self.into_case_id or ""),
        )
        if self.until is not None:
            request.until.CopyFrom(timestamp_of(self.until))
        return request


def list_cases_request(
    *,
    states: list[str] | None,
    category: str | None,
    grid_id: str | None,
    micro_grid_id: str | None,
    building_id: str | None,
    source: str | None,
    level: str | None,
    mine: str | None,
    overdue: bool | None,
    since: datetime | None,
    until: datetime | None,
    q: str | None,
) -> pb.ListCasesRequest:
    """The list's query parameters (words validated by FastAPI) as the service's request."""
    if since is not None and until is not None and not in_order(since, until):
        raise invalid_input(
            "cases.period_invalid",
            "结束时间应晚于开始时间",
            "until must be after since",
            FieldViolation("query.until", "after since"),
        )
    request = pb.ListCasesRequest(
        states=[CASE_STATES.number(s) for s in states or ()],
        category_code=category or "",
        grid_id=grid_id or "",
        micro_grid_id=micro_grid_id or "",
        building_id=building_id or "",
        source=CASE_SOURCES.number(source),
        level=LEVELS.number(level),
        assigned_to_me=mine == "assigned",
        reported_by_me=mine == "reported",
        overdue_only=bool(overdue),
        query=(q or "").strip(),
    )
    if since is not None:
        request.since.CopyFrom(timestamp_of(since))
    if until is not None:
        request.until.CopyFrom(timestamp_of(until))
    return request


# ---- categories ----


class CategoryOut(BaseModel):
    """事件类别（小类）：立案标准、结案标准、处置时限、责任层级。
    A minor class: acceptance and closing standards, handling deadline, responsible level."""

    code: str = Field(description="2位大类+2位小类 Major + minor", examples=["0103"])
    major_code: str = Field(examples=["01"])
    major_name: str = Field(examples=["市容环境"])
    name: str = Field(examples=["楼道堆积物"])
    acceptance_standard: str = Field(description="立案标准 What makes a report a case of it")
    closing_standard: str = Field(description="结案标准 What must be true to close it")
    deadline_amount: int = Field(examples=[3])
    deadline_unit: DeadlineUnitWord | None = Field(
        description="working_hours 工作小时 / working_days 工作日（不含周末与节假日）",
        examples=["working_days"],
    )
    responsible_level: LevelWord | None = Field(examples=["micro_grid"])
    urgent: bool
    enabled: bool
    defined_by: str = Field(
        description="default（平台默认）、上级（街道默认）或本社区 Where the definition comes from",
        examples=["default"],
    )
    version: int = Field(
        description="本级版本号，继承时为0 This tenant's own version; 0 if inherited"
    )

    @classmethod
    def of(cls, category: pb.Category) -> CategoryOut:
        return cls(
            code=category.code,
            major_code=category.major_code,
            major_name=category.major_name,
            name=category.name,
            acceptance_standard=category.acceptance_standard,
            closing_standard=category.closing_standard,
            deadline_amount=category.deadline_amount,
            deadline_unit=DEADLINE_UNITS.word(category.deadline_unit),
            responsible_level=LEVELS.word(category.responsible_level),
            urgent=category.urgent,
            enabled=category.enabled,
            defined_by=category.defined_by,
            version=category.version,
        )


class CategoryList(BaseModel):
    items: list[CategoryOut] = Field(description="按代码排列 By code")


class PutCategory(BaseModel):
    """新增（expected_version 为 0）或修改本级类别；街道的类别即其社区的默认。
    Add (expected_version 0) or edit this tenant's own class; a street's class is the default
    of its communities."""

    model_config = ConfigDict(extra="forbid")

    expected_version: int = Field(
        ge=0, le=MAX_VERSION, description="读取时的版本号；新增为0 The version you read; 0 to add"
    )
    major_name: Text | None = Field(
        default=None, max_length=20, description="新大类须填名称 Required for a new major class"
    )
    name: Text = Field(
        min_length=1, max_length=40, description="名称 Name", examples=["楼道堆积物"]
    )
    acceptance_standard: Text = Field(min_length=1, max_length=500, description="立案标准")
    closing_standard: Text = Field(min_length=1, max_length=500, description="结案标准")
    deadline_amount: int = Field(ge=1, le=999, description="处置时限 Deadline", examples=[3])
    deadline_unit: DeadlineUnitWord = Field(description="时限单位 Unit", examples=["working_days"])
    responsible_level: LevelWord = Field(description="责任层级 Level", examples=["micro_grid"])
    urgent: bool = Field(default=False, description="紧急：立即派遣并提醒 Urgent")
    enabled: bool = Field(default=True, description="停用后不能再上报此类 Off: no new reports")

    def to_proto(self, code: str) -> pb.PutCategoryRequest:
        return pb.PutCategoryRequest(
            category=pb.Category(
                code=code,
                major_code=code[:2],
                major_name=self.major_name or "",
                name=self.name,
                acceptance_standard=self.acceptance_standard,
                closing_standard=self.closing_standard,
                deadline_amount=self.deadline_amount,
                deadline_unit=DEADLINE_UNITS.number(self.deadline_unit),
                responsible_level=LEVELS.number(self.responsible_level),
                urgent=self.urgent,
                enabled=self.enabled,
            ),
            expected_version=self.expected_version,
        )


class SeededOut(BaseModel):
    added: int = Field(description="新增的默认类别数；已有则为0 Classes added; 0 when all there")


# ---- calendar ----


class CalendarOut(BaseModel):
    """计算工作时间所用的日历：国家法定节假日与调休，加上街道和本社区补充的日子。
    The working-time calendar: official holidays and 调休 days plus the street's and this
    tenant's own."""

    holidays: list[date] = Field(description="本级补充的节假日 This tenant's own holidays")
    adjusted_working_days: list[date] = Field(description="本级补充的调休上班日")
    effective_holidays: list[date] = Field(description="生效的全部节假日 In force (read-only)")
    effective_adjusted_working_days: list[date]
    version: int

    @classmethod
    def of(cls, calendar: pb.Calendar) -> CalendarOut:
        return cls(
            holidays=[date.fromisoformat(d) for d in calendar.holidays],
            adjusted_working_days=[date.fromisoformat(d) for d in calendar.adjusted_working_days],
            effective_holidays=[date.fromisoformat(d) for d in calendar.effective_holidays],
            effective_adjusted_working_days=[
                date.fromisoformat(d) for d in calendar.effective_adjusted_working_days
            ],
            version=calendar.version,
        )


class PutCalendar(BaseModel):
    """替换本级补充的节假日与调休上班日。Replace this tenant's own holidays and working days."""

    model_config = ConfigDict(extra="forbid")

    holidays: list[date] = Field(default_factory=list, max_length=366, examples=[["2026-10-09"]])
    adjusted_working_days: list[date] = Field(default_factory=list, max_length=366)
    expected_version: int = Field(
        ge=0,
        le=MAX_VERSION,
        description="读取时的版本号；本级尚无日历时为0 The version you read; 0 at first",
    )

    @model_validator(mode="after")
    def a_day_is_one_or_the_other(self) -> PutCalendar:
        both = sorted(set(self.holidays) & set(self.adjusted_working_days))
        if both:
            raise ValueError(f"{both[0].isoformat()} is listed as a holiday and a working day")
        return self

    def to_proto(self) -> pb.PutCalendarRequest:
        return pb.PutCalendarRequest(
            holidays=sorted({d.isoformat() for d in self.holidays}),
            adjusted_working_days=sorted({d.isoformat() for d in self.adjusted_working_days}),
            expected_version=self.expected_version,
        )


# ---- statistics ----


class IndicatorsOut(BaseModel):
    """一组的指标。比率在分母为0时为 null。Indicators of one group; a rate is null when its
    denominator is zero."""

    key: str | None = Field(description="社区id、网格id、类别代码或 yyyy-mm；合计为空")
    label: str | None = Field(examples=["市北社区"])
    reported: int = Field(description="期内上报 Reported in the period")
    by_state: dict[str, int] = Field(
        description="期内上报的案件按当前状态 By current state", examples=[{"rated": 1}]
    )
    due: int = Field(description="时限在期内的 Due in the period")
    closed: int
    closed_on_time: int
    reopened: int
    extended: int
    ratings: int
    satisfied_ratings: int
    basically_satisfied_ratings: int
    unsatisfied_ratings: int
    closure_rate: float | None = Field(description="结案率 = closed / due")
    on_time_closure_rate: float | None = Field(description="按期结案率 = closed on time / due")
    rework_rate: float | None = Field(description="返工率 = reopened / closed")
    extension_rate: float | None = Field(description="延期率 = extended / due")
    satisfaction_rate: float | None = Field(description="满意率 = satisfied / ratings")
    mean_handling_seconds: int = Field(description="派遣到结案的平均工作秒数（不含缓办）")
    mean_handling_hours: float | None = Field(
        description="同上，以工作小时计；无结案时为 null Mean working hours; null without closes"
    )
    open: int = Field(description="当前未办结 Open now")
    overdue: int = Field(description="当前已超期 Open past their deadline now")

    @classmethod
    def of(cls, figures: pb.Indicators) -> IndicatorsOut:
        by_state: dict[str, int] = {}
        for count in figures.by_state:
            word = CASE_STATES.word(count.state)
            if word is not None:
                by_state[word] = by_state.get(word, 0) + count.count
        seconds = figures.mean_handling_seconds
        return cls(
            key=figures.key or None,
            label=figures.label or None,
            reported=figures.reported,
            by_state=by_state,
            due=figures.due,
            closed=figures.closed,
            closed_on_time=figures.closed_on_time,
            reopened=figures.reopened,
            extended=figures.extended,
            ratings=figures.ratings,
            satisfied_ratings=figures.satisfied_ratings,
            basically_satisfied_ratings=figures.basically_satisfied_ratings,
            unsatisfied_ratings=figures.unsatisfied_ratings,
            closure_rate=rate_or_none(figures.has_closure_rate, figures.closure_rate),
            on_time_closure_rate=rate_or_none(
                figures.has_on_time_closure_rate, figures.on_time_closure_rate
            ),
            rework_rate=rate_or_none(figures.has_rework_rate, figures.rework_rate),
            extension_rate=rate_or_none(figures.has_extension_rate, figures.extension_rate),
            satisfaction_rate=rate_or_none(
                figures.has_satisfaction_rate, figures.satisfaction_rate
            ),
            mean_handling_seconds=seconds,
            mean_handling_hours=round(seconds / SECONDS_PER_HOUR, 2) if seconds else None,
            open=figures.open,
            overdue=figures.overdue,
        )


class CaseStatisticsOut(BaseModel):
    start: datetime | None = Field(description="统计期开始（含） Period start, inclusive")
    end: datetime | None = Field(description="统计期结束（不含） Period end, exclusive")
    total: IndicatorsOut
    groups: list[IndicatorsOut] = Field(
        description="按 group_by 分组：社区、网格、类别或月份 One per community, grid, category or "
        "month"
    )

    @classmethod
    def of(cls, reply: pb.GetStatisticsResponse) -> CaseStatisticsOut:
        return cls(
            start=shown(reply.start, reply.HasField("start")),
            end=shown(reply.end, reply.HasField("end")),
            total=IndicatorsOut.of(reply.total),
            groups=[IndicatorsOut.of(g) for g in reply.groups],
        )


def statistics_request(
    start: datetime | None, end: datetime | None, group_by: str | None
) -> pb.GetStatisticsRequest:
    """Both ends or neither (the current Asia/Shanghai month); the end after the start."""
    if (start is None) != (end is None):
        missing = "query.end" if end is None else "query.start"
        raise invalid_input(
            "cases.period_invalid",
            "请同时给出统计期的开始和结束，或都不给（本月）",
            "give both start and end, or neither for the current month",
            FieldViolation(missing, "required with the other"),
        )
    request = pb.GetStatisticsRequest(group_by=GROUPINGS.number(group_by))
    if start is not None and end is not None:
        if not in_order(start, end):
            raise invalid_input(
                "cases.period_invalid",
                "统计期的结束应晚于开始",
                "end must be after start",
                FieldViolation("query.end", "after start"),
            )
        request.start.CopyFrom(timestamp_of(start))
        request.end.CopyFrom(timestamp_of(end))
    return request
