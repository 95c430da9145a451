"""REST routes of the census: /api/v1/tenants/{tenant}/complexes, buildings, units, dwellings,
households, residents (with corrections, moves, removal and spreadsheet import), enterprises,
organizations and statistics. Each route is one call of the census gRPC service, made as the
caller in the path's tenant; the census decides (and re-checks) who may do what.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import PurePath
from typing import Annotated, Any, BinaryIO, Final

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile, status
from fastapi.responses import JSONResponse

from gateway.access import EVERY_ROLE, READERS, admits
from gateway.census.models import (
    AGE_BANDS,
    CARE_TAGS,
    ENTERPRISE_TYPES,
    ORGANIZATION_KINDS,
    RESIDENCE_TYPES,
    AgeBandWord,
    BuildingDetailOut,
    BuildingOut,
    BuildingPage,
    CareTagWord,
    CensusStatisticsOut,
    ComplexOut,
    ComplexPage,
    CreateBuilding,
    CreateComplex,
    CreateDwelling,
    CreateEnterprise,
    CreateHousehold,
    CreateOrganization,
    CreateResident,
    CreateUnit,
    DwellingOut,
    DwellingPage,
    EnterpriseOut,
    EnterprisePage,
    EnterpriseTypeWord,
    HouseholdOut,
    HouseholdPage,
    ImportReportOut,
    MoveResident,
    OrganizationKindWord,
    OrganizationOut,
    OrganizationPage,
    Removal,
    RemoveResident,
    ResidenceTypeWord,
    ResidentOut,
    ResidentPage,
    ResidentSearch,
    RevealReason,
    UnitOut,
    UpdateBuilding,
    UpdateEnterprise,
    UpdateHousehold,
    UpdateResident,
    iso_or_empty,
)
from gateway.limits import UploadRoute, size_words
from gateway.problem_responses import PROBLEM_RESPONSES
from gateway.problems import problem
from gateway.security import CurrentPrincipal, TenantPath
from gateway.service_calls import PageQuery, caller_options
from shequ.census.v1 import census_pb2 as pb
from shequ.census.v1 import census_pb2_grpc
from shequ_kit.errors import FieldViolation, invalid_input
from shequ_kit.tokens import Role

router = APIRouter(prefix="/api/v1/tenants/{tenant}", tags=["census 人口与房屋底数"])


@dataclass(frozen=True)
class CensusCall:
    """The census stub, and what each of its calls carries for this request: ``options`` are
    the keyword arguments of every call (caller's token, tenant, request id; the deadline)."""

    stub: census_pb2_grpc.CensusServiceStub
    options: Mapping[str, Any]


def census_as_caller(
    request: Request, principal: CurrentPrincipal, tenant: TenantPath
) -> CensusCall:
    """The census, called as the verified caller in the path's tenant (``caller_options``)."""
    return CensusCall(
        stub=request.app.state.core.census, options=caller_options(request, principal, tenant)
    )


Census = Annotated[CensusCall, Depends(census_as_caller)]


def residents_query(  # FastAPI passes each query parameter by name
    *,
    page: PageQuery,
    complex_id: Annotated[str | None, Query(description="小区 In this complex")] = None,
    building_id: Annotated[str | None, Query(description="楼幢 In this building")] = None,
    residence_type: Annotated[
        ResidenceTypeWord | None, Query(description="户籍类型 Residence type")
    ] = None,
    care_tag: Annotated[CareTagWord | None, Query(description="关爱标签 With this tag")] = None,
    age_band: Annotated[AgeBandWord | None, Query(description="年龄段 Age band")] = None,
    verified_before: Annotated[
        date | None, Query(description="核实日期早于此日（待走访） Last verified before")
    ] = None,
    name: Annotated[str | None, Query(max_length=50, description="姓名包含 Name contains")] = None,
    id_number: Annotated[
        str | None,
        Query(
            max_length=18,
            description="不受理：改用 POST …/residents/search。Refused, use the POST search",
        ),
    ] = None,
    include_moved_out: Annotated[bool, Query(description="含已迁出 Include moved out")] = False,
) -> pb.ListResidentsRequest:
    if id_number:
        # A URL lands in access logs and proxies; an ID number must not (PIPL).
        raise invalid_input(
            "request.id_number_in_url",
            "身份证号不能放在网址里，请用 POST /residents/search 按身份证号查询",
            "ID numbers do not go into URLs (they end up in logs); use POST /residents/search",
            FieldViolation("id_number", "use POST /residents/search"),
        )
    return pb.ListResidentsRequest(
        page=page,
        complex_id=complex_id or "",
        building_id=building_id or "",
        residence_type=RESIDENCE_TYPES.number(residence_type),
        care_tag=CARE_TAGS.number(care_tag),
        age_band=AGE_BANDS.number(age_band),
        verified_before=iso_or_empty(verified_before),
        name_contains=name or "",
        include_moved_out=include_moved_out,
    )


ResidentsQuery = Annotated[pb.ListResidentsRequest, Depends(residents_query)]
ComplexQuery = Annotated[str | None, Query(description="只看此小区 Of this complex only")]
BuildingQuery = Annotated[str | None, Query(description="只看此楼幢 Of this building only")]

# ---- places ----


@router.get(
    "/complexes",
    operation_id="listComplexes",
    openapi_extra=admits(*EVERY_ROLE),
    response_model=ComplexPage,
)
def list_complexes(census: Census, page: PageQuery) -> ComplexPage:
    """小区列表（街道可跨社区查看；本社区居民也可查看，用于上报地点）。Residential complexes;
    a street sees its communities'; the community's residents read them to name a place."""
    reply: pb.ListComplexesResponse = census.stub.ListComplexes(
        pb.ListComplexesRequest(page=page), **census.options
    )
    return ComplexPage(
        items=[ComplexOut.of(c) for c in reply.complexes],
        next_page_token=reply.page.next_page_token,
    )


@router.post(
    "/complexes",
    operation_id="createComplex",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=ComplexOut,
    status_code=status.HTTP_201_CREATED,
)
def create_complex(census: Census, body: CreateComplex) -> ComplexOut:
    """登记小区（社区工作人员）。Register a residential complex (community staff)."""
    reply: pb.CreateComplexResponse = census.stub.CreateComplex(body.to_proto(), **census.options)
    return ComplexOut.of(reply.complex)


@router.get(
    "/buildings",
    operation_id="listBuildings",
    openapi_extra=admits(*EVERY_ROLE),
    response_model=BuildingPage,
)
def list_buildings(
    census: Census, page: PageQuery, complex_id: ComplexQuery = None
) -> BuildingPage:
    """楼幢列表，可按小区筛选；本社区居民也可查看楼号（不含户、人）。Buildings, optionally of
    one complex; the community's residents read their numbers too (no households, no people)."""
    reply: pb.ListBuildingsResponse = census.stub.ListBuildings(
        pb.ListBuildingsRequest(complex_id=complex_id or "", page=page), **census.options
    )
    return BuildingPage(
        items=[BuildingOut.of(b) for b in reply.buildings],
        next_page_token=reply.page.next_page_token,
    )


@router.post(
    "/buildings",
    operation_id="createBuilding",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=BuildingOut,
    status_code=status.HTTP_201_CREATED,
)
def create_building(census: Census, body: CreateBuilding) -> BuildingOut:
    """登记楼幢。Register a building of a complex."""
    reply: pb.CreateBuildingResponse = census.stub.CreateBuilding(body.to_proto(), **census.options)
    return BuildingOut.of(reply.building)


@router.get(
    "/buildings/{building_id}",
    operation_id="getBuilding",
    openapi_extra=admits(*READERS),
    response_model=BuildingDetailOut,
)
def get_building(census: Census, building_id: str) -> BuildingDetailOut:
    """楼幢及其户数、人数。A building with its household and resident counts."""
    reply: pb.GetBuildingResponse = census.stub.GetBuilding(
        pb.GetBuildingRequest(building_id=building_id), **census.options
    )
    return BuildingDetailOut.of_reply(reply)


@router.patch(
    "/buildings/{building_id}",
    operation_id="updateBuilding",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=BuildingOut,
)
def update_building(census: Census, building_id: str, body: UpdateBuilding) -> BuildingOut:
    """更正楼幢：楼幢号、层数、核实日期，只改请求体中给出的字段；新楼幢号在小区内须未被占用，
    房屋地址随之更新。expected_version 过期时 409。
    Correct a building's number, floors or verification date (only the fields sent); a new
    number must be free in its complex, and its dwellings' addresses follow. A stale
    expected_version is a 409."""
    reply: pb.UpdateBuildingResponse = census.stub.UpdateBuilding(
        body.to_proto(building_id), **census.options
    )
    return BuildingOut.of(reply.building)


@router.delete(
    "/buildings/{building_id}",
    operation_id="removeBuilding",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
def remove_building(census: Census, building_id: str, body: Removal) -> None:
    """删除楼幢（须填写原因，历史保留）：楼内仍有户、现住居民或企业店铺时 409，并给出数量。
    Remove a building, with its reason, kept as history. While households, current residents
    or enterprises remain in it: 409, with their counts in params."""
    census.stub.RemoveBuilding(body.building(building_id), **census.options)


@router.post(
    "/units",
    operation_id="createUnit",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=UnitOut,
    status_code=status.HTTP_201_CREATED,
)
def create_unit(census: Census, body: CreateUnit) -> UnitOut:
    """登记单元。Register a unit (stairwell) of a building."""
    reply: pb.CreateUnitResponse = census.stub.CreateUnit(body.to_proto(), **census.options)
    return UnitOut.of(reply.unit)


@router.get(
    "/dwellings",
    operation_id="listDwellings",
    openapi_extra=admits(*READERS),
    response_model=DwellingPage,
)
def list_dwellings(
    census: Census, page: PageQuery, building_id: BuildingQuery = None
) -> DwellingPage:
    """房屋列表，可按楼幢筛选。Dwellings, optionally of one building."""
    reply: pb.ListDwellingsResponse = census.stub.ListDwellings(
        pb.ListDwellingsRequest(building_id=building_id or "", page=page), **census.options
    )
    return DwellingPage(
        items=[DwellingOut.of(d) for d in reply.dwellings],
        next_page_token=reply.page.next_page_token,
    )


@router.post(
    "/dwellings",
    operation_id="createDwelling",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=DwellingOut,
    status_code=status.HTTP_201_CREATED,
)
def create_dwelling(census: Census, body: CreateDwelling) -> DwellingOut:
    """登记房屋。Register a dwelling of a unit; its address is composed by the census."""
    reply: pb.CreateDwellingResponse = census.stub.CreateDwelling(body.to_proto(), **census.options)
    return DwellingOut.of(reply.dwelling)


# ---- households and residents ----


@router.get(
    "/households",
    operation_id="listHouseholds",
    openapi_extra=admits(*READERS),
    response_model=HouseholdPage,
)
def list_households(
    census: Census, page: PageQuery, building_id: BuildingQuery = None
) -> HouseholdPage:
    """户列表，可按楼幢筛选。Households, optionally of one building."""
    reply: pb.ListHouseholdsResponse = census.stub.ListHouseholds(
        pb.ListHouseholdsRequest(building_id=building_id or "", page=page), **census.options
    )
    return HouseholdPage(
        items=[HouseholdOut.of(h) for h in reply.households],
        next_page_token=reply.page.next_page_token,
    )


@router.post(
    "/households",
    operation_id="createHousehold",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=HouseholdOut,
    status_code=status.HTTP_201_CREATED,
)
def create_household(census: Census, body: CreateHousehold) -> HouseholdOut:
    """登记户。Register a household living in a dwelling."""
    reply: pb.CreateHouseholdResponse = census.stub.CreateHousehold(
        body.to_proto(), **census.options
    )
    return HouseholdOut.of(reply.household)


@router.patch(
    "/households/{household_id}",
    operation_id="updateHousehold",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=HouseholdOut,
)
def update_household(census: Census, household_id: str, body: UpdateHousehold) -> HouseholdOut:
    """更正户：自有或租住、户主（须为本户现住居民）、核实日期；expected_version 过期时 409。
    Correct a household's tenure, head (a current member) or verification date; a stale
    expected_version is a 409."""
    reply: pb.UpdateHouseholdResponse = census.stub.UpdateHousehold(
        body.to_proto(household_id), **census.options
    )
    return HouseholdOut.of(reply.household)


@router.delete(
    "/households/{household_id}",
    operation_id="removeHousehold",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
def remove_household(census: Census, household_id: str, body: Removal) -> None:
    """删除户（须填写原因，历史保留）：仍有现住居民时 409，先迁出或删除居民。
    Remove a household, with its reason, kept as history; while residents live in it: 409."""
    census.stub.RemoveHousehold(body.household(household_id), **census.options)


@router.get(
    "/residents",
    operation_id="listResidents",
    openapi_extra=admits(*READERS),
    response_model=ResidentPage,
)
def list_residents(census: Census, query: ResidentsQuery) -> ResidentPage:
    """居民查询：按小区、楼幢、户籍类型、关爱标签、年龄段、核实日期或姓名；敏感信息脱敏。
    Residents by place, residence type, care tag, age band, verification date or name;
    personal data masked. By ID number: POST /residents/search."""
    reply: pb.ListResidentsResponse = census.stub.ListResidents(query, **census.options)
    return ResidentPage(
        items=[ResidentOut.of(r) for r in reply.residents],
        next_page_token=reply.page.next_page_token,
    )


@router.post(
    "/residents/search",
    operation_id="searchResidents",
    openapi_extra=admits(*READERS),
    response_model=ResidentPage,
)
def search_residents(census: Census, body: ResidentSearch) -> ResidentPage:
    """按身份证号精确查找居民（号码放在请求体中，不进访问日志）。
    Find residents by exact ID number, sent in the body so it never reaches access logs."""
    reply: pb.ListResidentsResponse = census.stub.ListResidents(
        pb.ListResidentsRequest(id_number=body.id_number, include_moved_out=body.include_moved_out),
        **census.options,
    )
    return ResidentPage(
        items=[ResidentOut.of(r) for r in reply.residents],
        next_page_token=reply.page.next_page_token,
    )


@router.post(
    "/residents",
    operation_id="createResident",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=ResidentOut,
    status_code=status.HTTP_201_CREATED,
)
def create_resident(census: Census, body: CreateResident) -> ResidentOut:
    """登记居民；身份证号、手机号加密存储，应答中脱敏。
    Register a resident; ID number and phone are stored encrypted and answered masked."""
    reply: pb.CreateResidentResponse = census.stub.CreateResident(body.to_proto(), **census.options)
    return ResidentOut.of(reply.resident)


@router.get(
    "/residents/{resident_id}",
    operation_id="getResident",
    openapi_extra=admits(*READERS),
    response_model=ResidentOut,
)
def get_resident(census: Census, resident_id: str) -> ResidentOut:
    """一位居民（敏感信息脱敏）。One resident, personal data masked."""
    reply: pb.GetResidentResponse = census.stub.GetResident(
        pb.GetResidentRequest(resident_id=resident_id), **census.options
    )
    return ResidentOut.of(reply.resident)


@router.post(
    "/residents/{resident_id}/reveal",
    operation_id="revealResident",
    openapi_extra=admits(*READERS, also=Role.PII_READER),
    response_model=ResidentOut,
)
def reveal_resident(census: Census, resident_id: str, body: RevealReason) -> ResidentOut:
    """查看未脱敏的身份证号、手机号（须 pii-reader 角色并填写理由，记入审计）。
    The unmasked ID number and phone, for pii-reader holders with a reason; audited."""
    reply: pb.RevealResidentResponse = census.stub.RevealResident(
        pb.RevealResidentRequest(resident_id=resident_id, reason=body.reason), **census.options
    )
    return ResidentOut.of(reply.resident)


@router.patch(
    "/residents/{resident_id}",
    operation_id="updateResident",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=ResidentOut,
)
def update_resident(census: Census, resident_id: str, body: UpdateResident) -> ResidentOut:
    """更正居民信息：只改请求体中给出的字段；expected_version 过期时 409（params.current_version）。
    Correct a resident: only the fields in the body change; a stale expected_version is a 409
    whose params carry current_version."""
    reply: pb.UpdateResidentResponse = census.stub.UpdateResident(
        body.to_proto(resident_id), **census.options
    )
    return ResidentOut.of(reply.resident)


@router.post(
    "/residents/{resident_id}/move",
    operation_id="moveResident",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=ResidentOut,
)
def move_resident(census: Census, resident_id: str, body: MoveResident) -> ResidentOut:
    """迁移：本社区换户、同街道跨社区迁移（须两社区权限），或迁出。
    Move within the community, to another community of the street (a grant on both), or away."""
    reply: pb.MoveResidentResponse = census.stub.MoveResident(
        body.to_proto(resident_id), **census.options
    )
    return ResidentOut.of(reply.resident)


@router.post(
    "/residents/{resident_id}/remove",
    operation_id="removeResident",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
def remove_resident(census: Census, resident_id: str, body: RemoveResident) -> None:
    """删除错误记录（须填写原因，历史保留）。Remove a wrong record, with its reason; kept as
    history, gone from the default lists."""
    census.stub.RemoveResident(body.to_proto(resident_id), **census.options)


# ---- import ----

UPLOAD_CHUNK_BYTES: Final = 1024 * 1024
# A large file takes the census longer than one ordinary call's deadline.
IMPORT_TIMEOUT_S: Final = 300.0
IMPORT_FORMATS: Final[Mapping[str, pb.ImportFormat.ValueType]] = {
    ".xlsx": pb.IMPORT_FORMAT_XLSX,
    ".csv": pb.IMPORT_FORMAT_CSV,
}


def upload_too_large(request: Request, limit: int) -> JSONResponse:
    """The file itself over GATEWAY_MAX_UPLOAD_BYTES (a body over it and the multipart framing
    is refused by the gateway's body guard before the form is parsed)."""
    size = size_words(limit)
    return problem(
        request,
        status.HTTP_413_CONTENT_TOO_LARGE,
        code="census.import_too_large",
        detail=f"文件过大（上限 {size}），请拆分后导入",
        detail_en=f"the file exceeds {size}; split it",
        errors=[{"field": "body.file", "detail": f"at most {limit} bytes"}],
        params={"max_bytes": str(limit)},
    )


def import_messages(
    upload: BinaryIO, header: pb.ImportHeader
) -> Iterator[pb.ImportResidentsRequest]:
    """The header, then the file in 1 MiB chunks, read as gRPC sends them (one copy at most)."""
    yield pb.ImportResidentsRequest(header=header)
    upload.seek(0)
    while chunk := upload.read(UPLOAD_CHUNK_BYTES):
        yield pb.ImportResidentsRequest(chunk=chunk)


def import_residents(
    request: Request,
    census: Census,
    file: Annotated[UploadFile, File(description="居民信息表 .xlsx 或 .csv（默认上限 64 MB）")],
    strict: Annotated[
        bool, Form(description="严格模式：任一行有误则整个文件不导入 Any bad row refuses all")
    ] = False,
) -> ImportReportOut | JSONResponse:
    """导入居民（.xlsx 或 .csv，按模板），逐行报告错误；同一文件重复导入不会重复写入。
    Import residents from the template (.xlsx or .csv); every bad row is reported, and the
    same file twice writes nothing the second time."""
    file_name = file.filename or ""
    file_format = IMPORT_FORMATS.get(PurePath(file_name).suffix.lower())
    if file_format is None:
        return problem(
            request,
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            code="census.import_format",
            detail="请上传 .xlsx 或 .csv 格式的居民信息表",
            detail_en="upload the residents as an .xlsx or .csv file",
            errors=[{"field": "body.file", "detail": ".xlsx or .csv"}],
        )
    limit: int = request.app.state.core.settings.max_upload_bytes
    if file.size is not None and file.size > limit:
        return upload_too_large(request, limit)
    header = pb.ImportHeader(file_name=file_name, format=file_format, strict=strict)
    reply: pb.ImportResidentsResponse = census.stub.ImportResidents(
        import_messages(file.file, header), **{**census.options, "timeout": IMPORT_TIMEOUT_S}
    )
    return ImportReportOut.of(reply)


# Registered without the decorator: the route needs its own class, whose body may be a file.
router.add_api_route(
    "/imports",
    import_residents,
    methods=["POST"],
    operation_id="importResidents",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=ImportReportOut,
    responses={
        413: {
            **PROBLEM_RESPONSES[413],
            "description": "文件超过上限（默认 64 MB） File over the limit (64 MiB by default)",
        },
        415: {
            **PROBLEM_RESPONSES[415],
            "description": "不是 .xlsx 或 .csv 文件 Not an .xlsx or .csv file",
        },
    },
    route_class_override=UploadRoute,
)


# ---- enterprises and organisations ----


@router.get(
    "/enterprises",
    operation_id="listEnterprises",
    openapi_extra=admits(*READERS),
    response_model=EnterprisePage,
)
def list_enterprises(
    census: Census,
    page: PageQuery,
    complex_id: ComplexQuery = None,
    type: Annotated[EnterpriseTypeWord | None, Query(description="类型 Of this type")] = None,
) -> EnterprisePage:
    """企业店铺列表，可按小区、类型筛选；联系电话脱敏。
    Enterprises and shops, by complex and type; contact phones masked."""
    reply: pb.ListEnterprisesResponse = census.stub.ListEnterprises(
        pb.ListEnterprisesRequest(
            page=page, complex_id=complex_id or "", type=ENTERPRISE_TYPES.number(type)
        ),
        **census.options,
    )
    return EnterprisePage(
        items=[EnterpriseOut.of(e) for e in reply.enterprises],
        next_page_token=reply.page.next_page_token,
    )


@router.post(
    "/enterprises",
    operation_id="createEnterprise",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=EnterpriseOut,
    status_code=status.HTTP_201_CREATED,
)
def create_enterprise(census: Census, body: CreateEnterprise) -> EnterpriseOut:
    """登记企业店铺（校验统一社会信用代码）。Register an enterprise or shop; the credit code
    is checked."""
    reply: pb.CreateEnterpriseResponse = census.stub.CreateEnterprise(
        body.to_proto(), **census.options
    )
    return EnterpriseOut.of(reply.enterprise)


@router.get(
    "/enterprises/{enterprise_id}",
    operation_id="getEnterprise",
    openapi_extra=admits(*READERS),
    response_model=EnterpriseOut,
)
def get_enterprise(census: Census, enterprise_id: str) -> EnterpriseOut:
    """一家企业店铺（联系电话脱敏）。One enterprise or shop, its contact phone masked."""
    reply: pb.GetEnterpriseResponse = census.stub.GetEnterprise(
        pb.GetEnterpriseRequest(enterprise_id=enterprise_id), **census.options
    )
    return EnterpriseOut.of(reply.enterprise)


@router.patch(
    "/enterprises/{enterprise_id}",
    operation_id="updateEnterprise",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=EnterpriseOut,
)
def update_enterprise(census: Census, enterprise_id: str, body: UpdateEnterprise) -> EnterpriseOut:
    """更正企业店铺，只改请求体中给出的字段，校验规则同登记；expected_version 过期时 409。
    Correct an enterprise or shop (only the fields sent), checked as at registration; a stale
    expected_version is a 409."""
    reply: pb.UpdateEnterpriseResponse = census.stub.UpdateEnterprise(
        body.to_proto(enterprise_id), **census.options
    )
    return EnterpriseOut.of(reply.enterprise)


@router.delete(
    "/enterprises/{enterprise_id}",
    operation_id="removeEnterprise",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
def remove_enterprise(census: Census, enterprise_id: str, body: Removal) -> None:
    """删除企业店铺（歇业、迁走或登记有误；须填写原因，历史保留，信用代码可再次登记）。
    Remove an enterprise or shop (closed, moved away, registered by mistake), with its reason;
    kept as history, and its credit code may be registered again."""
    census.stub.RemoveEnterprise(body.enterprise(enterprise_id), **census.options)


@router.get(
    "/organizations",
    operation_id="listOrganizations",
    openapi_extra=admits(*READERS),
    response_model=OrganizationPage,
)
def list_organizations(
    census: Census,
    page: PageQuery,
    kind: Annotated[OrganizationKindWord | None, Query(description="类别 Of this kind")] = None,
) -> OrganizationPage:
    """业委会、物业公司、志愿者队伍、党支部列表。Owners' committees, property companies,
    volunteer teams and party branches."""
    reply: pb.ListOrganizationsResponse = census.stub.ListOrganizations(
        pb.ListOrganizationsRequest(page=page, kind=ORGANIZATION_KINDS.number(kind)),
        **census.options,
    )
    return OrganizationPage(
        items=[OrganizationOut.of(o) for o in reply.organizations],
        next_page_token=reply.page.next_page_token,
    )


@router.post(
    "/organizations",
    operation_id="createOrganization",
    openapi_extra=admits(Role.COMMUNITY_STAFF),
    response_model=OrganizationOut,
    status_code=status.HTTP_201_CREATED,
)
def create_organization(census: Census, body: CreateOrganization) -> OrganizationOut:
    """登记组织。Register an organisation."""
    reply: pb.CreateOrganizationResponse = census.stub.CreateOrganization(
        body.to_proto(), **census.options
    )
    return OrganizationOut.of(reply.organization)


# ---- statistics ----


@router.get(
    "/stats/census",
    operation_id="getCensusStatistics",
    openapi_extra=admits(*READERS),
    response_model=CensusStatisticsOut,
)
def get_census_statistics(
    census: Census,
    by_complex: Annotated[bool, Query(description="按小区分项 Per complex as well")] = False,
    by_building: Annotated[bool, Query(description="按楼幢分项 Per building as well")] = False,
) -> CensusStatisticsOut:
    """底数统计：户数、人数及户籍类型、自有租住、年龄段、关爱标签分布；街道另有各社区分项。
    Households, residents and their breakdowns; a street also gets one part per community."""
    reply: pb.GetStatisticsResponse = census.stub.GetStatistics(
        pb.GetStatisticsRequest(by_complex=by_complex, by_building=by_building),
        **census.options,
    )
    return CensusStatisticsOut.of(reply)
