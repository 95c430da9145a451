"""The census records as REST shows them, and their conversion from and to the proto messages.

Requests convert with ``to_proto()``, responses with ``of(message)``. Enums travel as lower-case
words derived from the proto value names (``RESIDENCE_TYPE_MIGRANT`` → ``"migrant"``), dates
as ``YYYY-MM-DD`` (Asia/Shanghai, as the census keeps them), absent values as null.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

from gateway.inputs import MAX_INT32, MAX_VERSION
from shequ.census.v1 import census_pb2 as pb

if TYPE_CHECKING:
    from google.protobuf.internal.enum_type_wrapper import _EnumTypeWrapper

V = TypeVar("V", bound=int)
T = TypeVar("T")


class ProtoEnumWords(Generic[V]):
    """The words of one proto enum: each value's name without the enum's prefix, lower-case
    (``RESIDENCE_TYPE_MIGRANT`` → ``"migrant"``, ``AGE_BAND_60_79`` → ``"60_79"``).

    ``UNSPECIFIED`` (0) has no word: a request leaves the field out, a response says null. As
    pydantic metadata (``Annotated[str, RESIDENCE_TYPES]``) the schema lists the words and
    validation refuses any other.
    """

    def __init__(self, enum: _EnumTypeWrapper[V]) -> None:
        prefix = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", enum.DESCRIPTOR.name).upper() + "_"
        numbers: dict[str, V] = {}
        unspecified: V | None = None
        for name, number in enum.items():
            if not name.startswith(prefix):
                raise ValueError(f"{name} does not start with its enum's prefix {prefix}")
            if number == 0:
                unspecified = number
            else:
                numbers[name.removeprefix(prefix).lower()] = number
        if unspecified is None:
            raise ValueError(f"{enum.DESCRIPTOR.name} has no value 0 (UNSPECIFIED)")
        self.name = enum.DESCRIPTOR.name
        self.unspecified: V = unspecified
        self._number_of = numbers
        self._word_of: dict[int, str] = {number: word for word, number in numbers.items()}

    def __repr__(self) -> str:
        return f"ProtoEnumWords({self.name})"

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self._number_of)

    def word(self, number: int) -> str | None:
        """None for UNSPECIFIED, and for a value newer than the contract this gateway knows."""
        return self._word_of.get(number)

    def number(self, word: str | None) -> V:
        """The proto value of a (validated) word; UNSPECIFIED for None."""
        return self.unspecified if word is None else self._number_of[word]

    def __get_pydantic_core_schema__(
        self, source_type: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.literal_schema(list(self.words))


RESIDENCE_TYPES = ProtoEnumWords(pb.ResidenceType)
TENURES = ProtoEnumWords(pb.Tenure)
SEXES = ProtoEnumWords(pb.Sex)
RELATIONS = ProtoEnumWords(pb.RelationToHead)
CARE_TAGS = ProtoEnumWords(pb.CareTag)
AGE_BANDS = ProtoEnumWords(pb.AgeBand)

ResidenceTypeWord = Annotated[str, RESIDENCE_TYPES]
TenureWord = Annotated[str, TENURES]
SexWord = Annotated[str, SEXES]
RelationWord = Annotated[str, RELATIONS]
CareTagWord = Annotated[str, CARE_TAGS]
AgeBandWord = Annotated[str, AGE_BANDS]


def date_or_none(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


def iso_or_empty(value: date | None) -> str:
    return value.isoformat() if value else ""


# ---- pages ----


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_page_token: str = Field(
        description="下一页的标记，原样放入 page_token；为空表示已是最后一页。"
        "Pass as page_token for the next page; empty on the last page."
    )


# ---- places ----


class VerificationOut(BaseModel):
    verified_on: date | None = Field(description="上次上门核实日期 Last confirmed door to door")
    verified_by: str | None = Field(description="核实人 Who confirmed it")

    @classmethod
    def of(cls, verification: pb.Verification) -> VerificationOut:
        return cls(
            verified_on=date_or_none(verification.verified_on),
            verified_by=verification.verified_by or None,
        )


class ComplexOut(BaseModel):
    id: str
    tenant_id: str = Field(examples=["xiaoshan.shushan.hushan"])
    name: str = Field(examples=["晴庐"])
    address: str = Field(examples=["市心北路"])
    delivered_year: int | None = Field(examples=[2017])
    verification: VerificationOut
    version: int

    @classmethod
    def of(cls, complex_: pb.Complex) -> ComplexOut:
        return cls(
            id=complex_.id,
            tenant_id=complex_.tenant_id,
            name=complex_.name,
            address=complex_.address,
            delivered_year=complex_.delivered_year or None,
            verification=VerificationOut.of(complex_.verification),
            version=complex_.version,
        )


class ComplexPage(Page[ComplexOut]):
    pass


class CreateComplex(BaseModel):
    name: str = Field(description="小区名称 Name", examples=["晴庐"])
    address: str = Field(default="", description="地址 Address", examples=["市心北路"])
    delivered_year: int | None = Field(
        default=None, ge=1900, le=2100, description="交付年份 Year delivered", examples=[2017]
    )

    def to_proto(self) -> pb.CreateComplexRequest:
        return pb.CreateComplexRequest(
            name=self.name, address=self.address, delivered_year=self.delivered_year or 0
        )


class BuildingOut(BaseModel):
    id: str
    tenant_id: str
    complex_id: str
    number: str = Field(description="楼幢号，按居民的说法 As residents say it", examples=["3幢"])
    floors: int | None = Field(examples=[18])
    verification: VerificationOut
    version: int

    @classmethod
    def of(cls, building: pb.Building) -> BuildingOut:
        return cls(
            id=building.id,
            tenant_id=building.tenant_id,
            complex_id=building.complex_id,
            number=building.number,
            floors=building.floors or None,
            verification=VerificationOut.of(building.verification),
            version=building.version,
        )


class BuildingPage(Page[BuildingOut]):
    pass


class BuildingDetailOut(BuildingOut):
    households: int = Field(description="户数 Households living in it")
    residents: int = Field(description="人数 Residents living in it")

    @classmethod
    def of_reply(cls, reply: pb.GetBuildingResponse) -> BuildingDetailOut:
        return cls(
            **BuildingOut.of(reply.building).model_dump(),
            households=reply.households,
            residents=reply.residents,
        )


class CreateBuilding(BaseModel):
    complex_id: str
    number: str = Field(description="楼幢号 Building number", examples=["3幢"])
    floors: int | None = Field(default=None, ge=1, le=300, description="层数 Floors")

    def to_proto(self) -> pb.CreateBuildingRequest:
        return pb.CreateBuildingRequest(
            complex_id=self.complex_id, number=self.number, floors=self.floors or 0
        )


class UnitOut(BaseModel):
    id: str
    tenant_id: str
    building_id: str
    number: str = Field(examples=["1单元"])

    @classmethod
    def of(cls, unit: pb.Unit) -> UnitOut:
        return cls(
            id=unit.id, tenant_id=unit.tenant_id, building_id=unit.building_id, number=unit.number
        )


class CreateUnit(BaseModel):
    building_id: str
    number: str = Field(description="单元号 Unit (stairwell) number", examples=["1单元"])

    def to_proto(self) -> pb.CreateUnitRequest:
        return pb.CreateUnitRequest(building_id=self.building_id, number=self.number)


class DwellingOut(BaseModel):
    id: str
    tenant_id: str
    unit_id: str
    building_id: str
    complex_id: str
    room: str = Field(examples=["502"])
    address: str = Field(description="完整门牌地址 Full address", examples=["晴庐3幢1单元502室"])

    @classmethod
    def of(cls, dwelling: pb.Dwelling) -> DwellingOut:
        return cls(
            id=dwelling.id,
            tenant_id=dwelling.tenant_id,
            unit_id=dwelling.unit_id,
            building_id=dwelling.building_id,
            complex_id=dwelling.complex_id,
            room=dwelling.room,
            address=dwelling.address,
        )


class DwellingPage(Page[DwellingOut]):
    pass


class CreateDwelling(BaseModel):
    unit_id: str
    room: str = Field(description="房号 Room", examples=["502"])

    def to_proto(self) -> pb.CreateDwellingRequest:
        return pb.CreateDwellingRequest(unit_id=self.unit_id, room=self.room)


# ---- households and residents ----


class HouseholdOut(BaseModel):
    id: str
    tenant_id: str
    dwelling_id: str
    head_resident_id: str | None = Field(description="户主 The head, once registered")
    tenure: TenureWord | None = Field(description="自有或租住 Owner or tenant")
    size: int = Field(description="人数 Residents in the household")
    verification: VerificationOut
    version: int

    @classmethod
    def of(cls, household: pb.Household) -> HouseholdOut:
        return cls(
            id=household.id,
            tenant_id=household.tenant_id,
            dwelling_id=household.dwelling_id,
            head_resident_id=household.head_resident_id or None,
            tenure=TENURES.word(household.tenure),
            size=household.size,
            verification=VerificationOut.of(household.verification),
            version=household.version,
        )


class HouseholdPage(Page[HouseholdOut]):
    pass


class CreateHousehold(BaseModel):
    dwelling_id: str
    tenure: TenureWord = Field(description="自有或租住 Owner or tenant", examples=["owner"])

    def to_proto(self) -> pb.CreateHouseholdRequest:
        return pb.CreateHouseholdRequest(
            dwelling_id=self.dwelling_id, tenure=TENURES.number(self.tenure)
        )


class ResidentOut(BaseModel):
    """身份证号、手机号默认脱敏；pii_masked 为 false 时是经审计的查看结果。
    ID number and phone are masked unless this is an audited reveal (pii_masked false)."""

    id: str
    tenant_id: str
    household_id: str
    dwelling_id: str
    name: str = Field(examples=["王秀英"])
    id_number: str = Field(examples=["330109**********39"])
    phone: str | None = Field(examples=["138****5678"])
    pii_masked: bool
    sex: SexWord | None
    birth_date: date | None
    age_band: AgeBandWord | None
    relation_to_head: RelationWord | None
    residence_type: ResidenceTypeWord | None
    tenure: TenureWord | None
    moved_in_on: date | None
    moved_out_on: date | None
    care_tags: list[CareTagWord]
    tags: list[str]
    verification: VerificationOut
    version: int
    updated_at: datetime | None

    @classmethod
    def of(cls, resident: pb.Resident) -> ResidentOut:
        return cls(
            id=resident.id,
            tenant_id=resident.tenant_id,
            household_id=resident.household_id,
            dwelling_id=resident.dwelling_id,
            name=resident.name,
            id_number=resident.id_number,
            phone=resident.phone or None,
            pii_masked=resident.pii_masked,
            sex=SEXES.word(resident.sex),
            birth_date=date_or_none(resident.birth_date),
            age_band=AGE_BANDS.word(resident.age_band),
            relation_to_head=RELATIONS.word(resident.relation_to_head),
            residence_type=RESIDENCE_TYPES.word(resident.residence_type),
            tenure=TENURES.word(resident.tenure),
            moved_in_on=date_or_none(resident.moved_in_on),
            moved_out_on=date_or_none(resident.moved_out_on),
            care_tags=[w for w in map(CARE_TAGS.word, resident.care_tags) if w is not None],
            tags=list(resident.tags),
            verification=VerificationOut.of(resident.verification),
            version=resident.version,
            updated_at=resident.updated_at.ToDatetime(tzinfo=UTC)
            if resident.HasField("updated_at")
            else None,
        )


class ResidentPage(Page[ResidentOut]):
    pass


class CreateResident(BaseModel):
    """性别、出生日期、年龄段及“一老一小”标签由身份证号推得。
    Sex, birth date, age band and the elderly/child tags are derived from the ID number."""

    household_id: str
    name: str = Field(description="姓名 Name", examples=["王秀英"])
    id_number: str = Field(description="居民身份证号 ID number", examples=["330109195003021248"])
    phone: str | None = Field(default=None, description="手机号 Mobile", examples=["13812345678"])
    relation_to_head: RelationWord = Field(description="与户主关系", examples=["self"])
    residence_type: ResidenceTypeWord = Field(description="户籍类型", examples=["registered"])
    tenure: TenureWord = Field(description="自有或租住 Owner or tenant", examples=["owner"])
    moved_in_on: date | None = Field(default=None, description="入住日期 Moved in on")
    care_tags: list[CareTagWord] = Field(
        default_factory=list, description="关爱标签 Care tags", examples=[["living_alone"]]
    )
    tags: list[str] = Field(default_factory=list, description="其他标签 Free tags")
    verified_on: date | None = Field(
        default=None, description="核实日期，默认今天 Verified on (default today)"
    )

    def to_proto(self) -> pb.CreateResidentRequest:
        return pb.CreateResidentRequest(
            resident=pb.ResidentInput(
                household_id=self.household_id,
                name=self.name,
                id_number=self.id_number,
                phone=self.phone or "",
                relation_to_head=RELATIONS.number(self.relation_to_head),
                residence_type=RESIDENCE_TYPES.number(self.residence_type),
                tenure=TENURES.number(self.tenure),
                moved_in_on=iso_or_empty(self.moved_in_on),
                care_tags=[CARE_TAGS.number(t) for t in self.care_tags],
                tags=self.tags,
                verified_on=iso_or_empty(self.verified_on),
            )
        )


class RevealReason(BaseModel):
    reason: str = Field(
        description="查看原因，记入审计 Why the unmasked data is needed (audited)",
        examples=["上门核实独居老人情况"],
    )


# ---- corrections, moves and removal ----


class UpdateResident(BaseModel):
    """只写要更正的字段：出现在请求体中的字段（包括 null）才会更改，其余保持不变。
    Send only the fields to correct: those present in the body (null included) change, the rest
    stay as they are. ``expected_version`` is the version you read; a stale one is a 409."""

    expected_version: int = Field(
        ge=1, le=MAX_VERSION, description="读取时的版本号 The version you read", examples=[1]
    )
    name: str | None = Field(default=None, description="姓名 Name")
    id_number: str | None = Field(default=None, description="居民身份证号 ID number")
    phone: str | None = Field(default=None, description="手机号，null 清空 Mobile; null clears")
    relation_to_head: RelationWord | None = Field(default=None, description="与户主关系")
    residence_type: ResidenceTypeWord | None = Field(default=None, description="户籍类型")
    tenure: TenureWord | None = Field(default=None, description="自有或租住 Owner or tenant")
    moved_in_on: date | None = Field(default=None, description="入住日期 Moved in on")
    care_tags: list[CareTagWord] | None = Field(
        default=None, description="关爱标签（整体替换） Care tags, replaced as a whole"
    )
    tags: list[str] | None = Field(
        default=None, description="其他标签（整体替换） Free tags, replaced as a whole"
    )
    verified_on: date | None = Field(
        default=None, description="核实日期，不填则为今天 Verified on (default today)"
    )

    @property
    def changed(self) -> list[str]:
        """The fields the caller sent, in declaration order: the update mask."""
        sent = self.model_fields_set - {"expected_version"}
        return [name for name in type(self).model_fields if name in sent]

    def to_proto(self, resident_id: str) -> pb.UpdateResidentRequest:
        # Fields not sent are None; the mask tells the census to leave them alone.
        resident = pb.ResidentInput(
            name=self.name or "",
            id_number=self.id_number or "",
            phone=self.phone or "",
            relation_to_head=RELATIONS.number(self.relation_to_head),
            residence_type=RESIDENCE_TYPES.number(self.residence_type),
            tenure=TENURES.number(self.tenure),
            moved_in_on=iso_or_empty(self.moved_in_on),
            care_tags=[CARE_TAGS.number(t) for t in self.care_tags or ()],
            tags=self.tags or [],
            verified_on=iso_or_empty(self.verified_on),
        )
        request = pb.UpdateResidentRequest(
            resident_id=resident_id, resident=resident, expected_version=self.expected_version
        )
        request.update_mask.paths.extend(self.changed)
        return request


class MoveResident(BaseModel):
    """本社区换户（to_household_id）、同街道跨社区迁移（另加 to_tenant_id），两者皆空为迁出。
    Into another household here (to_household_id), into one of another community of the same
    street (to_tenant_id as well), or away (neither)."""

    to_household_id: str | None = Field(default=None, description="迁入的户 Into this household")
    to_tenant_id: str | None = Field(
        default=None,
        description="迁入的社区（同街道） Into this community of the street",
        examples=["xiaoshan.shushan.xiangyuan"],
    )
    moved_on: date | None = Field(default=None, description="迁移日期，默认今天 Moved on")
    expected_version: int = Field(
        ge=1, le=MAX_VERSION, description="读取时的版本号 The version you read"
    )

    def to_proto(self, resident_id: str) -> pb.MoveResidentRequest:
        return pb.MoveResidentRequest(
            resident_id=resident_id,
            to_household_id=self.to_household_id or "",
            to_tenant_id=self.to_tenant_id or "",
            moved_on=iso_or_empty(self.moved_on),
            expected_version=self.expected_version,
        )


class RemoveResident(BaseModel):
    reason: str = Field(
        description="删除原因（记录有误等），保留在历史中 Why the record is removed (kept)",
        examples=["重复登记"],
    )
    expected_version: int = Field(
        ge=1, le=MAX_VERSION, description="读取时的版本号 The version you read"
    )

    def to_proto(self, resident_id: str) -> pb.RemoveResidentRequest:
        return pb.RemoveResidentRequest(
            resident_id=resident_id, reason=self.reason, expected_version=self.expected_version
        )


# ---- import ----


class RowErrorOut(BaseModel):
    row: int = Field(description="行号，按 Excel 的编号 Row, as Excel numbers it", examples=[7])
    column: str = Field(description="列名 Column header", examples=["身份证号"])
    message_zh: str
    message_en: str


class ImportReportOut(BaseModel):
    import_id: str
    rows_total: int = Field(description="数据行数 Data rows in the file")
    rows_imported: int = Field(description="已导入 Rows imported")
    already_imported: bool = Field(
        description="同一文件此前已导入，本次未重复写入 The same file was imported before"
    )
    rejected: list[RowErrorOut] = Field(description="有误的行 Rows refused, and why")

    @classmethod
    def of(cls, reply: pb.ImportResidentsResponse) -> ImportReportOut:
        return cls(
            import_id=reply.import_id,
            rows_total=reply.rows_total,
            rows_imported=reply.rows_imported,
            already_imported=reply.already_imported,
            rejected=[
                RowErrorOut(
                    row=e.row, column=e.column, message_zh=e.message_zh, message_en=e.message_en
                )
                for e in reply.rejected
            ],
        )


# ---- enterprises and organisations ----

ENTERPRISE_TYPES = ProtoEnumWords(pb.EnterpriseType)
ORGANIZATION_KINDS = ProtoEnumWords(pb.OrganizationKind)
EnterpriseTypeWord = Annotated[str, ENTERPRISE_TYPES]
OrganizationKindWord = Annotated[str, ORGANIZATION_KINDS]


class EnterpriseOut(BaseModel):
    """联系电话默认脱敏。The contact phone is masked."""

    id: str
    tenant_id: str
    name: str = Field(examples=["晴庐便利店"])
    credit_code: str = Field(description="统一社会信用代码 Unified social credit code")
    type: EnterpriseTypeWord | None
    address: str
    dwelling_id: str | None
    contact_name: str
    contact_phone: str | None = Field(examples=["138****5678"])
    employees: int
    verification: VerificationOut
    version: int

    @classmethod
    def of(cls, enterprise: pb.Enterprise) -> EnterpriseOut:
        return cls(
            id=enterprise.id,
            tenant_id=enterprise.tenant_id,
            name=enterprise.name,
            credit_code=enterprise.credit_code,
            type=ENTERPRISE_TYPES.word(enterprise.type),
            address=enterprise.address,
            dwelling_id=enterprise.dwelling_id or None,
            contact_name=enterprise.contact_name,
            contact_phone=enterprise.contact_phone or None,
            employees=enterprise.employees,
            verification=VerificationOut.of(enterprise.verification),
            version=enterprise.version,
        )


class EnterprisePage(Page[EnterpriseOut]):
    pass


class CreateEnterprise(BaseModel):
    name: str = Field(description="名称 Name", examples=["晴庐便利店"])
    credit_code: str = Field(
        description="统一社会信用代码（18位） Unified social credit code (18 characters)"
    )
    type: EnterpriseTypeWord = Field(description="类型 Type", examples=["individual_business"])
    address: str = Field(default="", description="地址，可由房屋推得 Address (or the dwelling's)")
    dwelling_id: str | None = Field(default=None, description="所在房屋 In this dwelling")
    contact_name: str = Field(default="", description="联系人 Contact")
    contact_phone: str | None = Field(default=None, description="联系电话 Contact phone")
    employees: int = Field(default=0, ge=0, le=MAX_INT32, description="从业人数 Employees")

    def to_proto(self) -> pb.CreateEnterpriseRequest:
        return pb.CreateEnterpriseRequest(
            name=self.name,
            credit_code=self.credit_code,
            type=ENTERPRISE_TYPES.number(self.type),
            address=self.address,
            dwelling_id=self.dwelling_id or "",
            contact_name=self.contact_name,
            contact_phone=self.contact_phone or "",
            employees=self.employees,
        )


# ---- corrections and removal of buildings, households and enterprises ----


class Correction(BaseModel):
    """只写要更正的字段：出现在请求体中的字段（包括 null）才会更改，其余保持不变；不能更正的
    字段（如楼幢所属的小区、户所在的房屋）会被拒绝。
    Send only the fields to correct: those present in the body (null included) change, the
    rest stay as they are; a field that cannot be corrected is refused (422 naming it).
    ``expected_version`` is the version you read; a stale one is a 409 whose params carry
    current_version."""

    model_config = ConfigDict(extra="forbid")

    expected_version: int = Field(
        ge=1, le=MAX_VERSION, description="读取时的版本号 The version you read", examples=[1]
    )
    verified_on: date | None = Field(
        default=None, description="核实日期，不填则为今天 Verified on (default today)"
    )

    @property
    def changed(self) -> list[str]:
        """The fields the caller sent, in declaration order: the update mask."""
        sent = self.model_fields_set - {"expected_version"}
        return [name for name in type(self).model_fields if name in sent]


class UpdateBuilding(Correction):
    number: str | None = Field(default=None, description="楼幢号 Building number")
    floors: int | None = Field(
        default=None, ge=1, le=300, description="层数，null 为未知 Floors; null: not known"
    )

    def to_proto(self, building_id: str) -> pb.UpdateBuildingRequest:
        request = pb.UpdateBuildingRequest(
            building_id=building_id,
            number=self.number or "",
            floors=self.floors or 0,
            verified_on=iso_or_empty(self.verified_on),
            expected_version=self.expected_version,
        )
        request.update_mask.paths.extend(self.changed)
        return request


class UpdateHousehold(Correction):
    tenure: TenureWord | None = Field(default=None, description="自有或租住 Owner or tenant")
    head_resident_id: str | None = Field(
        default=None, description="户主，须为本户现住居民 The head, a current member"
    )

    def to_proto(self, household_id: str) -> pb.UpdateHouseholdRequest:
        request = pb.UpdateHouseholdRequest(
            household_id=household_id,
            tenure=TENURES.number(self.tenure),
            head_resident_id=self.head_resident_id or "",
            verified_on=iso_or_empty(self.verified_on),
            expected_version=self.expected_version,
        )
        request.update_mask.paths.extend(self.changed)
        return request


class UpdateEnterprise(Correction):
    name: str | None = Field(default=None, description="名称 Name")
    credit_code: str | None = Field(default=None, description="统一社会信用代码 Credit code")
    type: EnterpriseTypeWord | None = Field(default=None, description="类型 Type")
    address: str | None = Field(
        default=None, description="地址，null 取所在房屋的地址 Address; null: the dwelling's"
    )
    dwelling_id: str | None = Field(
        default=None, description="所在房屋，null 为不在住宅内 In this dwelling; null: none"
    )
    contact_name: str | None = Field(default=None, description="联系人 Contact")
    contact_phone: str | None = Field(
        default=None, description="联系电话，null 清空 Contact phone; null clears"
    )
    employees: int | None = Field(
        default=None, ge=0, le=MAX_INT32, description="从业人数 Employees"
    )

    def to_proto(self, enterprise_id: str) -> pb.UpdateEnterpriseRequest:
        request = pb.UpdateEnterpriseRequest(
            enterprise_id=enterprise_id,
            name=self.name or "",
            credit_code=self.credit_code or "",
            type=ENTERPRISE_TYPES.number(self.type),
            address=self.address or "",
            dwelling_id=self.dwelling_id or "",
            contact_name=self.contact_name or "",
            contact_phone=self.contact_phone or "",
            employees=self.employees or 0,
            verified_on=iso_or_empty(self.verified_on),
            expected_version=self.expected_version,
        )
        request.update_mask.paths.extend(self.changed)
        return request


class Removal(BaseModel):
    """删除原因与读取时的版本号；记录保留在历史中，不再出现在列表和统计里。
    Why the record goes, and the version you read; the row is kept as history, out of lists
    and statistics."""

    reason: str = Field(
        description="删除原因（至少4个字），保留在历史中 Why (4 characters or more; kept)",
        examples=["登记有误，已核实"],
    )
    expected_version: int = Field(
        ge=1, le=MAX_VERSION, description="读取时的版本号 The version you read"
    )

    def building(self, building_id: str) -> pb.RemoveBuildingRequest:
        return pb.RemoveBuildingRequest(
            building_id=building_id, reason=self.reason, expected_version=self.expected_version
        )

    def household(self, household_id: str) -> pb.RemoveHouseholdRequest:
        return pb.RemoveHouseholdRequest(
            household_id=household_id, reason=self.reason, expected_version=self.expected_version
        )

    def enterprise(self, enterprise_id: str) -> pb.RemoveEnterpriseRequest:
        return pb.RemoveEnterpriseRequest(
            enterprise_id=enterprise_id,
            reason=self.reason,
            expected_version=self.expected_version,
        )


class OrganizationOut(BaseModel):
    id: str
    tenant_id: str
    kind: OrganizationKindWord | None
    name: str = Field(examples=["晴庐业主委员会"])
    complex_ids: list[str] = Field(description="服务的小区 Complexes it serves")
    contact_name: str
    contact_phone: str | None = Field(examples=["138****5678"])
    verification: VerificationOut
    version: int

    @classmethod
    def of(cls, organization: pb.Organization) -> OrganizationOut:
        return cls(
            id=organization.id,
            tenant_id=organization.tenant_id,
            kind=ORGANIZATION_KINDS.word(organization.kind),
            name=organization.name,
            complex_ids=list(organization.complex_ids),
            contact_name=organization.contact_name,
            contact_phone=organization.contact_phone or None,
            verification=VerificationOut.of(organization.verification),
            version=organization.version,
        )


class OrganizationPage(Page[OrganizationOut]):
    pass


class CreateOrganization(BaseModel):
    kind: OrganizationKindWord = Field(description="类别 Kind", examples=["owners_committee"])
    name: str = Field(description="名称 Name", examples=["晴庐业主委员会"])
    complex_ids: list[str] = Field(
        default_factory=list, description="服务的小区 Complexes it serves"
    )
    contact_name: str = Field(default="", description="联系人 Contact")
    contact_phone: str | None = Field(default=None, description="联系电话 Contact phone")

    def to_proto(self) -> pb.CreateOrganizationRequest:
        return pb.CreateOrganizationRequest(
            kind=ORGANIZATION_KINDS.number(self.kind),
            name=self.name,
            complex_ids=self.complex_ids,
            contact_name=self.contact_name,
            contact_phone=self.contact_phone or "",
        )


# ---- statistics ----


class StatisticsOut(BaseModel):
    """各项分布的键由人口服务给出，每个取值都列出（无人时为 0）。
    Breakdown keys are the census's; every key is listed, 0 where nobody counts."""

    scope_id: str = Field(description="统计范围：社区、小区或楼幢 Tenant, complex or building id")
    scope_name: str
    households: int
    residents: int = Field(description="现住人数 Current residents")
    by_residence_type: dict[str, int]
    by_tenure: dict[str, int]
    by_age_band: dict[str, int]
    by_care_tag: dict[str, int]
    enterprises: int

    @classmethod
    def of(cls, figures: pb.Statistics) -> StatisticsOut:
        return cls(
            scope_id=figures.scope_id,
            scope_name=figures.scope_name,
            households=figures.households,
            residents=figures.residents,
            by_residence_type=dict(figures.by_residence_type),
            by_tenure=dict(figures.by_tenure),
            by_age_band=dict(figures.by_age_band),
            by_care_tag=dict(figures.by_care_tag),
            enterprises=figures.enterprises,
        )


class CensusStatisticsOut(BaseModel):
    total: StatisticsOut
    parts: list[StatisticsOut] = Field(
        description="街道：各社区；社区：按需分小区、楼幢 Per community for a street; per "
        "complex or building for a community, when asked"
    )

    @classmethod
    def of(cls, reply: pb.GetStatisticsResponse) -> CensusStatisticsOut:
        return cls(
            total=StatisticsOut.of(reply.total), parts=[StatisticsOut.of(p) for p in reply.parts]
        )


class ResidentSearch(BaseModel):
    id_number: str = Field(
        min_length=15, max_length=18, description="身份证号（精确） Exact ID number"
    )
    include_moved_out: bool = Field(default=False, description="含已迁出 Include moved out")


# ---- spreadsheets: the import template and the export ----

SPREADSHEET_FORMATS: dict[str, pb.ImportFormat.ValueType] = {
    "xlsx": pb.IMPORT_FORMAT_XLSX,
    "csv": pb.IMPORT_FORMAT_CSV,
}
SpreadsheetFormat = Literal["xlsx", "csv"]


class ResidentExportFilters(BaseModel):
    """与居民列表相同的筛选条件（不含姓名、身份证号）。The list's filters, without name or ID."""

    format: SpreadsheetFormat = Field(default="xlsx", description="文件格式 File format")
    complex_id: str | None = Field(default=None, description="小区 In this complex")
    building_id: str | None = Field(default=None, description="楼幢 In this building")
    residence_type: ResidenceTypeWord | None = Field(default=None, description="户籍类型")
    care_tag: CareTagWord | None = Field(default=None, description="关爱标签 With this tag")
    age_band: AgeBandWord | None = Field(default=None, description="年龄段 Age band")
    verified_before: date | None = Field(
        default=None, description="核实日期早于此日（待走访） Last verified before"
    )

    def to_proto(self, reveal_reason: str = "") -> pb.ExportResidentsRequest:
        return pb.ExportResidentsRequest(
            format=SPREADSHEET_FORMATS[self.format],
            complex_id=self.complex_id or "",
            building_id=self.building_id or "",
            residence_type=RESIDENCE_TYPES.number(self.residence_type),
            care_tag=CARE_TAGS.number(self.care_tag),
            age_band=AGE_BANDS.number(self.age_band),
            verified_before=iso_or_empty(self.verified_before),
            reveal_reason=reveal_reason,
        )


class RevealedResidentExport(ResidentExportFilters):
    """不脱敏导出：理由放在请求体中（网址会进入访问日志），每条记录都记入审计。
    An unmasked export: the reason travels in the body (URLs end up in logs); every exported
    record is audited."""

    reveal_reason: str = Field(
        min_length=1,
        max_length=500,
        description="导出原因，逐条记入审计 Why the unmasked data is needed (audited)",
        examples=["年度人口底数核对，报街道"],
    )
