"""The grid records as REST shows them, and their conversion from and to the proto messages.

Same conventions as the census routes (gateway.census.models): requests convert with
``to_proto()``, responses with ``of(message)``; enums are lower-case words of the proto value
names (``MEMBER_ROLE_GRID_WORKER`` → ``"grid_worker"``); instants are ISO 8601 with offset
(UTC on the way out); a boundary is a GeoJSON geometry object, kept by the service as text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from gateway.census.models import Page, ProtoEnumWords
from gateway.inputs import MAX_VERSION
from shequ.census.v1 import census_pb2
from shequ.grid.v1 import grid_pb2 as pb
from shequ_kit.errors import FieldViolation, invalid_input

SHANGHAI = ZoneInfo("Asia/Shanghai")

MEMBER_ROLES = ProtoEnumWords(pb.MemberRole)
LAYOUT_MODES = ProtoEnumWords(pb.LayoutMode)
PROPOSAL_STATES = ProtoEnumWords(pb.ProposalState)
WORKLOAD_SCOPES = ProtoEnumWords(pb.WorkloadScope)
ESCALATION_LEVELS = ProtoEnumWords(pb.EscalationLevel)
CARE_TAGS = ProtoEnumWords(census_pb2.CareTag)

MemberRoleWord = Annotated[str, MEMBER_ROLES]
LayoutModeWord = Annotated[str, LAYOUT_MODES]
ProposalStateWord = Annotated[str, PROPOSAL_STATES]
WorkloadScopeWord = Annotated[str, WORKLOAD_SCOPES]
EscalationLevelWord = Annotated[str, ESCALATION_LEVELS]

BOUNDARY_TYPES = ("Polygon", "MultiPolygon")
MAX_BOUNDARY_CHARS = 200_000
MAX_BUILDINGS_PER_CALL = 500


def instant_or_none(stamp: Timestamp, present: bool) -> datetime | None:
    return stamp.ToDatetime(tzinfo=UTC) if present else None


def timestamp_of(moment: datetime) -> Timestamp:
    """A naive time is the residents' wall clock (Asia/Shanghai), as staff type it."""
    stamp = Timestamp()
    stamp.FromDatetime(moment if moment.tzinfo else moment.replace(tzinfo=SHANGHAI))
    return stamp


def boundary_of(text: str) -> dict[str, Any] | None:
    return json.loads(text) if text else None


def boundary_text(boundary: dict[str, Any] | None) -> str:
    return json.dumps(boundary, ensure_ascii=False) if boundary else ""


def care_tag_word(name: str) -> str:
    """The service keys care tags by proto name (``CARE_TAG_ELDERLY``); REST by the census's
    words (``elderly``), as in the census statistics."""
    if name in census_pb2.CareTag.keys():  # noqa: SIM118 - an enum wrapper, not a dict
        word = CARE_TAGS.word(census_pb2.CareTag.Value(name))
        if word is not None:
            return word
    return name.lower()


class Boundary(BaseModel):
    """GeoJSON 面（Polygon 或 MultiPolygon）。A GeoJSON Polygon or MultiPolygon geometry."""

    model_config = ConfigDict(extra="allow")

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any] = Field(min_length=1)


def checked_boundary(value: Boundary | None) -> dict[str, Any] | None:
    if value is None:
        return None
    geometry = value.model_dump()
    if len(json.dumps(geometry)) > MAX_BOUNDARY_CHARS:
        raise ValueError(f"at most {MAX_BOUNDARY_CHARS} characters of GeoJSON")
    return geometry


# ---- grids and micro-grids ----


class GridOut(BaseModel):
    id: str
    tenant_id: str
    number: int = Field(description="网格编号 1–999 Grid number", examples=[3])
    code: str = Field(
        description="网格代码：社区12位代码+3位网格号 Community code + grid number",
        examples=["330109001002003"],
    )
    name: str = Field(examples=["第三网格"])
    boundary: dict[str, Any] | None = Field(description="GeoJSON 边界 Boundary geometry")
    micro_grid_count: int
    building_count: int
    version: int

    @classmethod
    def of(cls, grid: pb.Grid) -> GridOut:
        return cls(
            id=grid.id,
            tenant_id=grid.tenant_id,
            number=grid.number,
            code=grid.code,
            name=grid.name,
            boundary=boundary_of(grid.boundary_geojson),
            micro_grid_count=grid.micro_grid_count,
            building_count=grid.building_count,
            version=grid.version,
        )


class GridPage(Page[GridOut]):
    pass


class MicroGridOut(BaseModel):
    id: str
    tenant_id: str
    grid_id: str
    number: int = Field(description="微网格编号 1–99 Micro-grid number", examples=[2])
    code: str = Field(description="网格代码+2位微网格号", examples=["33010900100200302"])
    name: str = Field(examples=["晴庐1–4幢"])
    boundary: dict[str, Any] | None
    building_count: int
    version: int

    @classmethod
    def of(cls, micro_grid: pb.MicroGrid) -> MicroGridOut:
        return cls(
            id=micro_grid.id,
            tenant_id=micro_grid.tenant_id,
            grid_id=micro_grid.grid_id,
            number=micro_grid.number,
            code=micro_grid.code,
            name=micro_grid.name,
            boundary=boundary_of(micro_grid.boundary_geojson),
            building_count=micro_grid.building_count,
            version=micro_grid.version,
        )


class MicroGridPage(Page[MicroGridOut]):
    pass


class GridDetailOut(GridOut):
    micro_grids: list[MicroGridOut]

    @classmethod
    def of_reply(cls, reply: pb.GetGridResponse) -> GridDetailOut:
        return cls(
            **GridOut.of(reply.grid).model_dump(),
            micro_grids=[MicroGridOut.of(m) for m in reply.micro_grids],
        )


class CreateGrid(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=50, description="名称 Name", examples=["第三网格"])
    number: int | None = Field(
        default=None, ge=1, le=999, description="网格编号，不填取下一个 Default: the next free"
    )
    boundary: Boundary | None = Field(default=None, description="GeoJSON 边界 Boundary")
    division_code: str | None = Field(
        default=None,
        pattern=r"^\d{12}$",
        description="社区12位统计区划代码（登记册中没有时） The community's 12-digit code",
    )

    def to_proto(self) -> pb.CreateGridRequest:
        return pb.CreateGridRequest(
            name=self.name,
            number=self.number or 0,
            boundary_geojson=boundary_text(checked_boundary(self.boundary)),
            division_code=self.division_code or "",
        )


class CreateMicroGrid(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grid_id: str = Field(min_length=1, description="所属网格 Its grid")
    name: str = Field(min_length=1, max_length=50, description="名称 Name")
    number: int | None = Field(
        default=None, ge=1, le=99, description="微网格编号，不填取下一个 Default: the next free"
    )
    boundary: Boundary | None = Field(default=None, description="GeoJSON 边界 Boundary")

    def to_proto(self) -> pb.CreateMicroGridRequest:
        return pb.CreateMicroGridRequest(
            grid_id=self.grid_id,
            name=self.name,
            number=self.number or 0,
            boundary_geojson=boundary_text(checked_boundary(self.boundary)),
        )


class GridCorrection(BaseModel):
    """只写要更改的字段（包括 null：清除边界）；expected_version 过期时 409。
    Send only the fields to change (null clears the boundary); a stale expected_version is a
    409."""

    model_config = ConfigDict(extra="forbid")

    expected_version: int = Field(
        ge=1, le=MAX_VERSION, description="读取时的版本号 The version you read"
    )
    name: str | None = Field(default=None, min_length=1, max_length=50, description="名称 Name")
    boundary: Boundary | None = Field(default=None, description="GeoJSON 边界；null 清除")

    # REST field → the proto's field-mask path.
    MASK_PATHS: ClassVar[dict[str, str]] = {"boundary": "boundary_geojson"}

    @property
    def changed(self) -> list[str]:
        sent = self.model_fields_set - {"expected_version"}
        return [self.MASK_PATHS.get(n, n) for n in type(self).model_fields if n in sent]

    @field_validator("name")
    @classmethod
    def name_is_not_cleared(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("a name cannot be cleared")
        return value


class UpdateGrid(GridCorrection):
    number: int | None = Field(default=None, ge=1, le=999, description="网格编号 Grid number")

    def to_proto(self, grid_id: str) -> pb.UpdateGridRequest:
        request = pb.UpdateGridRequest(
            grid_id=grid_id,
            name=self.name or "",
            number=self.number or 0,
            boundary_geojson=boundary_text(checked_boundary(self.boundary)),
            expected_version=self.expected_version,
        )
        request.update_mask.paths.extend(self.changed)
        return request


class UpdateMicroGrid(GridCorrection):
    number: int | None = Field(default=None, ge=1, le=99, description="微网格编号")
    grid_id: str | None = Field(
        default=None, min_length=1, description="移到另一网格（连同所辖楼幢） Move to this grid"
    )

    def to_proto(self, micro_grid_id: str) -> pb.UpdateMicroGridRequest:
        request = pb.UpdateMicroGridRequest(
            micro_grid_id=micro_grid_id,
            name=self.name or "",
            number=self.number or 0,
            boundary_geojson=boundary_text(checked_boundary(self.boundary)),
            grid_id=self.grid_id or "",
            expected_version=self.expected_version,
        )
        request.update_mask.paths.extend(self.changed)
        return request


class GridRemoval(BaseModel):
    """删除原因与读取时的版本号。Why it goes, and the version you read."""

    reason: str = Field(
        min_length=4,
        max_length=500,
        description="删除原因（至少4个字） Why (4 characters or more)",
        examples=["网格调整，已并入第二网格"],
    )
    expected_version: int = Field(
        ge=1, le=MAX_VERSION, description="读取时的版本号 The version you read"
    )

    def grid(self, grid_id: str) -> pb.RemoveGridRequest:
        return pb.RemoveGridRequest(
            grid_id=grid_id, reason=self.reason, expected_version=self.expected_version
        )

    def micro_grid(self, micro_grid_id: str) -> pb.RemoveMicroGridRequest:
        return pb.RemoveMicroGridRequest(
            micro_grid_id=micro_grid_id, reason=self.reason, expected_version=self.expected_version
        )


# ---- coverage ----


class CoverageOut(BaseModel):
    building_id: str
    micro_grid_id: str
    grid_id: str
    complex_id: str | None
    building_number: str | None = Field(examples=["3幢"])

    @classmethod
    def of(cls, coverage: pb.Coverage) -> CoverageOut:
        return cls(
            building_id=coverage.building_id,
            micro_grid_id=coverage.micro_grid_id,
            grid_id=coverage.grid_id,
            complex_id=coverage.complex_id or None,
            building_number=coverage.building_number or None,
        )


class CoveragePage(Page[CoverageOut]):
    pass


class UncoveredBuildingOut(BaseModel):
    building_id: str
    complex_id: str | None
    building_number: str | None
    households: int
    residents: int

    @classmethod
    def of(cls, building: pb.UncoveredBuilding) -> UncoveredBuildingOut:
        return cls(
            building_id=building.building_id,
            complex_id=building.complex_id or None,
            building_number=building.building_number or None,
            households=building.households,
            residents=building.residents,
        )


class UncoveredBuildingPage(Page[UncoveredBuildingOut]):
    pass


class AssignBuildings(BaseModel):
    """每幢楼只能属于一个微网格：已属其他微网格的楼幢被拒绝（409），除非 move 为 true。
    A building is in one micro-grid at most: one another micro-grid covers is refused (409)
    unless ``move`` is true."""

    model_config = ConfigDict(extra="forbid")

    micro_grid_id: str = Field(min_length=1, description="本网格的微网格 A micro-grid of this grid")
    building_ids: list[str] = Field(
        min_length=1, max_length=MAX_BUILDINGS_PER_CALL, description="楼幢 Buildings"
    )
    move: bool = Field(default=False, description="从其他微网格移入 Take them from another")

    @field_validator("building_ids")
    @classmethod
    def no_repeats(cls, ids: list[str]) -> list[str]:
        if len(set(ids)) != len(ids):
            raise ValueError("a building is listed twice")
        return ids

    def to_proto(self) -> pb.AssignBuildingsRequest:
        return pb.AssignBuildingsRequest(
            micro_grid_id=self.micro_grid_id, building_ids=self.building_ids, move=self.move
        )


class AssignedOut(BaseModel):
    coverage: list[CoverageOut]


# ---- members ----


class MemberOut(BaseModel):
    """手机号始终脱敏。The phone is always masked."""

    id: str
    tenant_id: str
    grid_id: str
    micro_grid_id: str | None
    building_id: str | None
    role: MemberRoleWord | None
    name: str = Field(examples=["陈建国"])
    phone: str | None = Field(examples=["138****5678"])
    account_subject: str | None = Field(description="平台账号 The member's account, if any")
    account_username: str | None = Field(examples=["hushan-grid"])
    version: int

    @classmethod
    def of(cls, member: pb.Member) -> MemberOut:
        return cls(
            id=member.id,
            tenant_id=member.tenant_id,
            grid_id=member.grid_id,
            micro_grid_id=member.micro_grid_id or None,
            building_id=member.building_id or None,
            role=MEMBER_ROLES.word(member.role),
            name=member.name,
            phone=member.phone or None,
            account_subject=member.account_subject or None,
            account_username=member.account_username or None,
            version=member.version,
        )


class MemberPage(Page[MemberOut]):
    pass


class AddMember(BaseModel):
    """微网格长须指定微网格，楼道长须指定楼幢。A micro-grid leader needs a micro-grid, a
    building leader a building."""

    model_config = ConfigDict(extra="forbid")

    role: MemberRoleWord = Field(description="角色 Role", examples=["grid_worker"])
    name: str = Field(min_length=1, max_length=50, description="姓名 Name", examples=["陈建国"])
    phone: str | None = Field(
        default=None, pattern=r"^1\d{10}$", description="手机号 Mobile", examples=["13812345678"]
    )
    # Checked even when left out: the roles that lead one place need it.
    micro_grid_id: str | None = Field(
        default=None, validate_default=True, description="所在微网格 In this micro-grid"
    )
    building_id: str | None = Field(
        default=None, validate_default=True, description="负责楼幢 Building (leader)"
    )
    account_subject: str | None = Field(
        default=None, max_length=64, description="平台账号 Their account's subject"
    )
    account_username: str | None = Field(default=None, max_length=100)

    @field_validator("micro_grid_id")
    @classmethod
    def micro_grid_leader_has_one(cls, value: str | None, info: ValidationInfo) -> str | None:
        role = info.data.get("role")
        if role == "micro_grid_leader" and not value:
            raise ValueError("a micro-grid leader needs the micro-grid they lead")
        return value

    @field_validator("building_id")
    @classmethod
    def building_leader_has_one(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("role") == "building_leader" and not value:
            raise ValueError("a building leader needs the building they lead")
        return value

    def to_proto(self, grid_id: str) -> pb.AddMemberRequest:
        return pb.AddMemberRequest(
            member=pb.MemberInput(
                grid_id=grid_id,
                micro_grid_id=self.micro_grid_id or "",
                building_id=self.building_id or "",
                role=MEMBER_ROLES.number(self.role),
                name=self.name,
                phone=self.phone or "",
                account_subject=self.account_subject or "",
                account_username=self.account_username or "",
            )
        )


class MemberRemoval(BaseModel):
    expected_version: int = Field(
        ge=1, le=MAX_VERSION, description="读取时的版本号 The version you read"
    )


class ResponsibleOut(BaseModel):
    level: EscalationLevelWord | None = Field(examples=["micro_grid_leader"])
    member: MemberOut | None = Field(description="社区一级为空 None at the community step")
    tenant_id: str

    @classmethod
    def of(cls, step: pb.Responsible) -> ResponsibleOut:
        return cls(
            level=ESCALATION_LEVELS.word(step.level),
            member=MemberOut.of(step.member) if step.HasField("member") else None,
            tenant_id=step.tenant_id,
        )


class WhoCoversOut(BaseModel):
    building_id: str
    micro_grid: MicroGridOut | None = Field(description="未被覆盖时为空 None when uncovered")
    grid: GridOut | None
    escalation: list[ResponsibleOut] = Field(
        description="逐级上报顺序：微网格长 → 网格员 → 网格长 → 社区 "
        "Micro-grid leader → grid worker → grid leader → community"
    )

    @classmethod
    def of(cls, reply: pb.WhoCoversResponse) -> WhoCoversOut:
        return cls(
            building_id=reply.building_id,
            micro_grid=MicroGridOut.of(reply.micro_grid) if reply.HasField("micro_grid") else None,
            grid=GridOut.of(reply.grid) if reply.HasField("grid") else None,
            escalation=[ResponsibleOut.of(s) for s in reply.escalation],
        )


# ---- visits ----


class VisitOut(BaseModel):
    id: str
    tenant_id: str
    member_id: str | None
    visitor_subject: str | None
    visitor_name: str
    visited_at: datetime | None
    building_id: str | None
    dwelling_id: str | None
    household_id: str | None
    micro_grid_id: str | None
    grid_id: str | None
    findings: str = Field(examples=["独居老人身体状况良好，楼道有堆积物"])
    follow_up: str | None = Field(examples=["联系物业清理楼道"])
    case_id: str | None
    recorded_at: datetime | None

    @classmethod
    def of(cls, visit: pb.Visit) -> VisitOut:
        return cls(
            id=visit.id,
            tenant_id=visit.tenant_id,
            member_id=visit.member_id or None,
            visitor_subject=visit.visitor_subject or None,
            visitor_name=visit.visitor_name,
            visited_at=instant_or_none(visit.visited_at, visit.HasField("visited_at")),
            building_id=visit.building_id or None,
            dwelling_id=visit.dwelling_id or None,
            household_id=visit.household_id or None,
            micro_grid_id=visit.micro_grid_id or None,
            grid_id=visit.grid_id or None,
            findings=visit.findings,
            follow_up=visit.follow_up or None,
            case_id=visit.case_id or None,
            recorded_at=instant_or_none(visit.recorded_at, visit.HasField("recorded_at")),
        )


class VisitPage(Page[VisitOut]):
    pass


class RecordVisit(BaseModel):
    """楼幢、房屋、户至少填一项，且须属于本社区。At least one of building, dwelling and
    household, known to this community."""

    model_config = ConfigDict(extra="forbid")

    member_id: str | None = Field(
        default=None, description="走访人（网格成员）；不填为本人 The visitor; default: you"
    )
    visited_at: datetime | None = Field(
        default=None, description="走访时间，不填为现在；无时区按北京时间 Default: now"
    )
    building_id: str | None = Field(default=None, description="楼幢 Building")
    dwelling_id: str | None = Field(default=None, description="房屋 Dwelling")
    household_id: str | None = Field(default=None, description="户 Household")
    findings: str = Field(
        min_length=1,
        max_length=2000,
        description="走访情况 What was found",
        examples=["独居老人身体状况良好，楼道有堆积物"],
    )
    follow_up: str | None = Field(default=None, max_length=2000, description="后续跟进 Follow-up")
    case_id: str | None = Field(default=None, description="由此立案的事件 The case it opened")

    def to_proto(self) -> pb.RecordVisitRequest:
        if not (self.building_id or self.dwelling_id or self.household_id):
            raise invalid_input(
                "grid.visit_without_place",
                "请填写走访的楼幢、房屋或户",
                "say which building, dwelling or household was visited",
                FieldViolation(
                    "body.household_id", "one of building_id, dwelling_id, household_id"
                ),
            )
        visit = pb.VisitInput(
            member_id=self.member_id or "",
            building_id=self.building_id or "",
            dwelling_id=self.dwelling_id or "",
            household_id=self.household_id or "",
            findings=self.findings,
            follow_up=self.follow_up or "",
            case_id=self.case_id or "",
        )
        if self.visited_at is not None:
            visit.visited_at.CopyFrom(timestamp_of(self.visited_at))
        return pb.RecordVisitRequest(visit=visit)


# ---- workload ----


class WorkloadOut(BaseModel):
    scope: WorkloadScopeWord | None = Field(examples=["micro_grid"])
    scope_id: str = Field(description="社区、网格或微网格的 id Tenant, grid or micro-grid id")
    scope_name: str
    code: str | None
    parent_id: str | None = Field(description="微网格所属网格 A micro-grid's grid")
    buildings: int
    households: int
    residents: int
    care_tagged_residents: int = Field(description="有关爱标签的居民 With any care tag")
    by_care_tag: dict[str, int] = Field(examples=[{"elderly": 120, "living_alone": 8}])
    enterprises: int
    open_cases: int
    visits_last_30_days: int
    weighted: float = Field(description="综合工作量（户次） The planner's single figure")

    @classmethod
    def of(cls, figures: pb.Workload) -> WorkloadOut:
        return cls(
            scope=WORKLOAD_SCOPES.word(figures.scope),
            scope_id=figures.scope_id,
            scope_name=figures.scope_name,
            code=figures.code or None,
            parent_id=figures.parent_id or None,
            buildings=figures.buildings,
            households=figures.households,
            residents=figures.residents,
            care_tagged_residents=figures.care_tagged_residents,
            by_care_tag={care_tag_word(k): v for k, v in figures.by_care_tag.items()},
            enterprises=figures.enterprises,
            open_cases=figures.open_cases,
            visits_last_30_days=figures.visits_last_30_days,
            weighted=figures.weighted,
        )


class GridWorkloadOut(BaseModel):
    total: WorkloadOut
    parts: list[WorkloadOut] = Field(
        description="社区：各网格、各微网格及未覆盖楼幢；街道：各社区 Community: each grid, "
        "micro-grid and the uncovered buildings; street: each community"
    )

    @classmethod
    def of(cls, reply: pb.GetWorkloadResponse) -> GridWorkloadOut:
        return cls(
            total=WorkloadOut.of(reply.total), parts=[WorkloadOut.of(p) for p in reply.parts]
        )


# ---- layout proposals (grid-plans) ----


class ProposeLayout(BaseModel):
    """按目标网格数、微网格数生成均衡方案（如市北：13个网格、45个微网格）。
    A balanced layout for the target counts (Shibei: 13 grids, 45 micro-grids)."""

    model_config = ConfigDict(extra="forbid")

    grids: int = Field(ge=1, le=999, description="网格数 Grids", examples=[13])
    micro_grids: int = Field(ge=1, le=5000, description="微网格数 Micro-grids", examples=[45])
    mode: LayoutModeWord = Field(
        default="fresh", description="fresh 重新划分；rebalance 在现有基础上少量调整"
    )
    stability: float | None = Field(
        default=None, ge=0, le=1, description="仅 rebalance：越大调整越少（默认0.3）"
    )

    @field_validator("micro_grids")
    @classmethod
    def at_least_one_per_grid(cls, value: int, info: ValidationInfo) -> int:
        grids = info.data.get("grids")
        if grids is not None and value < grids:
            raise ValueError("every grid needs at least one micro-grid")
        return value

    def to_proto(self) -> pb.ProposeLayoutRequest:
        return pb.ProposeLayoutRequest(
            grids=self.grids,
            micro_grids=self.micro_grids,
            mode=LAYOUT_MODES.number(self.mode),
            stability=self.stability or 0.0,
        )


class BalanceOut(BaseModel):
    count: int
    mean: float
    minimum: float
    maximum: float
    max_over_mean: float = Field(description="最大/平均 Max over mean", examples=[1.08])
    coefficient_of_variation: float

    @classmethod
    def of(cls, balance: pb.Balance) -> BalanceOut:
        return cls(
            count=balance.count,
            mean=balance.mean,
            minimum=balance.minimum,
            maximum=balance.maximum,
            max_over_mean=balance.max_over_mean,
            coefficient_of_variation=balance.coefficient_of_variation,
        )

    @classmethod
    def of_present(cls, balance: pb.Balance, present: bool) -> BalanceOut | None:
        return cls.of(balance) if present else None


class ProposedGridOut(BaseModel):
    key: str = Field(description="延续的现有网格 id，或 new-<编号> Current id, or new-<n>")
    continues_current: bool
    number: int
    code: str
    micro_grid_keys: list[str]
    workload: float
    contiguous: bool


class ProposedMicroGridOut(BaseModel):
    key: str
    continues_current: bool
    grid_key: str
    number: int
    code: str
    building_ids: list[str]
    workload: float
    pieces: int = Field(description="连通块数，1 为连片 Connected pieces; 1 is contiguous")


class BuildingMoveOut(BaseModel):
    building_id: str
    from_micro_grid: str | None = Field(description="原先未覆盖时为空 None: was uncovered")
    to_micro_grid: str


class MicroGridMoveOut(BaseModel):
    micro_grid_key: str
    from_grid: str
    to_grid: str


class LayoutDiffOut(BaseModel):
    building_moves: list[BuildingMoveOut]
    micro_grid_moves: list[MicroGridMoveOut]
    micro_grids_created: list[str]
    micro_grids_removed: list[str]
    grids_created: list[str]
    grids_removed: list[str]
    changed_buildings: int
    placed_buildings: int
    changed_assignments: int

    @classmethod
    def of(cls, diff: pb.LayoutDiff) -> LayoutDiffOut:
        return cls(
            building_moves=[
                BuildingMoveOut(
                    building_id=m.building_id,
                    from_micro_grid=m.from_micro_grid or None,
                    to_micro_grid=m.to_micro_grid,
                )
                for m in diff.building_moves
            ],
            micro_grid_moves=[
                MicroGridMoveOut(
                    micro_grid_key=m.micro_grid_key, from_grid=m.from_grid, to_grid=m.to_grid
                )
                for m in diff.micro_grid_moves
            ],
            micro_grids_created=list(diff.micro_grids_created),
            micro_grids_removed=list(diff.micro_grids_removed),
            grids_created=list(diff.grids_created),
            grids_removed=list(diff.grids_removed),
            changed_buildings=diff.changed_buildings,
            placed_buildings=diff.placed_buildings,
            changed_assignments=diff.changed_assignments,
        )


class GridPlanOut(BaseModel):
    """网格划分方案：均衡度、连片情况及与现行划分的差异，审核后一步应用。
    A layout proposal: its balance, contiguity and diff against the layout in force; applied in
    one step after review."""

    id: str
    tenant_id: str
    mode: LayoutModeWord | None
    grids: int
    micro_grids: int
    stability: float
    state: ProposalStateWord | None = Field(
        description="open 待应用；applied 已应用；stale 划分已变，不能再应用"
    )
    proposed_grids: list[ProposedGridOut]
    proposed_micro_grids: list[ProposedMicroGridOut]
    micro_grid_balance: BalanceOut | None
    grid_balance: BalanceOut | None
    current_micro_grid_balance: BalanceOut | None = Field(
        description="现行划分按今日工作量 The layout in force under today's workloads"
    )
    current_grid_balance: BalanceOut | None
    diff: LayoutDiffOut | None
    separate_areas: int = Field(description="互不相邻的片区数 Separate areas of buildings")
    non_contiguous_micro_grids: list[str]
    non_contiguous_grids: list[str]
    created_by: str
    created_at: datetime | None
    applied_at: datetime | None

    @classmethod
    def of(cls, proposal: pb.Proposal) -> GridPlanOut:
        return cls(
            id=proposal.id,
            tenant_id=proposal.tenant_id,
            mode=LAYOUT_MODES.word(proposal.mode),
            grids=proposal.grids,
            micro_grids=proposal.micro_grids,
            stability=proposal.stability,
            state=PROPOSAL_STATES.word(proposal.state),
            proposed_grids=[
                ProposedGridOut(
                    key=g.key,
                    continues_current=g.continues_current,
                    number=g.number,
                    code=g.code,
                    micro_grid_keys=list(g.micro_grid_keys),
                    workload=g.workload,
                    contiguous=g.contiguous,
                )
                for g in proposal.proposed_grids
            ],
            proposed_micro_grids=[
                ProposedMicroGridOut(
                    key=m.key,
                    continues_current=m.continues_current,
                    grid_key=m.grid_key,
                    number=m.number,
                    code=m.code,
                    building_ids=list(m.building_ids),
                    workload=m.workload,
                    pieces=m.pieces,
                )
                for m in proposal.proposed_micro_grids
            ],
            micro_grid_balance=BalanceOut.of_present(
                proposal.micro_grid_balance, proposal.HasField("micro_grid_balance")
            ),
            grid_balance=BalanceOut.of_present(
                proposal.grid_balance, proposal.HasField("grid_balance")
            ),
            current_micro_grid_balance=BalanceOut.of_present(
                proposal.current_micro_grid_balance, proposal.HasField("current_micro_grid_balance")
            ),
            current_grid_balance=BalanceOut.of_present(
                proposal.current_grid_balance, proposal.HasField("current_grid_balance")
            ),
            diff=LayoutDiffOut.of(proposal.diff) if proposal.HasField("diff") else None,
            separate_areas=proposal.separate_areas,
            non_contiguous_micro_grids=list(proposal.non_contiguous_micro_grids),
            non_contiguous_grids=list(proposal.non_contiguous_grids),
            created_by=proposal.created_by,
            created_at=instant_or_none(proposal.created_at, proposal.HasField("created_at")),
            applied_at=instant_or_none(proposal.applied_at, proposal.HasField("applied_at")),
        )


class AppliedPlanOut(BaseModel):
    plan: GridPlanOut
    grids: list[GridOut]
    micro_grids: list[MicroGridOut]

    @classmethod
    def of(cls, reply: pb.ApplyProposalResponse) -> AppliedPlanOut:
        return cls(
            plan=GridPlanOut.of(reply.proposal),
            grids=[GridOut.of(g) for g in reply.grids],
            micro_grids=[MicroGridOut.of(m) for m in reply.micro_grids],
        )
