"""CensusService: proto ⇄ domain. Each method checks access, opens one transaction, calls the
domain and converts the answer. RPCs not listed here are not built yet and answer UNIMPLEMENTED.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING, Any

from census import access
from census.audiences import (
    Audience,
    ResidentInPlace,
    households_per_building,
    residents_in_places,
    residents_with_phones,
)
from census.contacts import contact_phone_of
from census.enterprises import service as enterprises
from census.enterprises.models import Enterprise
from census.identity.codes import age_band, age_on
from census.identity.pii import mask_id_number, mask_phone
from census.imports.export import export_residents
from census.imports.reading import ImportFormatName
from census.imports.service import import_residents
from census.imports.template import CONTENT_TYPES, TEMPLATE_FILE_STEM, template_csv, template_xlsx
from census.models import Record
from census.organizations import service as organizations
from census.organizations.models import Organization
from census.people import lifecycle
from census.people import service as people
from census.people.ages import derived_care_tags
from census.people.models import Household, Resident
from census.places import service as places
from census.places.models import Building, Complex, Dwelling, Unit
from census.statistics import Statistics, statistics
from census.vocabulary import (
    AGE_BANDS,
    CARE_TAGS,
    ENTERPRISE_TYPES,
    ORGANIZATION_KINDS,
    RELATIONS,
    RESIDENCE_TYPES,
    SEXES,
    TENURES,
    EnterpriseType,
    OrganisationKind,
    word_of,
)
from shequ.census.v1 import census_pb2 as pb
from shequ.census.v1 import census_pb2_grpc
from shequ_kit.context import current_request_id
from shequ_kit.errors import FieldViolation, invalid_input
from shequ_kit.paging import page_of, page_response
from shequ_kit.tenancy import InvalidTenantIdError, TenantId, tenant_scope

if TYPE_CHECKING:
    from census.app import CensusCore

SERVICE_NAME = "shequ.census.v1.CensusService"
MAX_IMPORT_BYTES = 64 * 1024 * 1024  # ~300,000 rows of CSV; larger files are split by staff
FORMATS = {pb.IMPORT_FORMAT_XLSX: "xlsx", pb.IMPORT_FORMAT_CSV: "csv"}


def receive_file(
    messages: Iterator[pb.ImportResidentsRequest],
) -> tuple[pb.ImportHeader, bytes]:
    """The header (first message) and the file's bytes, refusing files over the cap."""
    header: pb.ImportHeader | None = None
    chunks: list[bytes] = []
    size = 0
    for message in messages:
        if header is None:
            header = message.header
        size += len(message.chunk)
        if size > MAX_IMPORT_BYTES:
            raise invalid_input(
                "census.import_too_large",
                "文件过大（上限 64 MB），请拆分后导入",
                "the file exceeds 64 MB; split it",
                FieldViolation("chunk", "at most 64 MB in all"),
            )
        chunks.append(message.chunk)
    if header is None or header.format not in FORMATS:
        raise invalid_input(
            "census.import_header",
            "请先说明文件名与格式（xlsx 或 csv）",
            "the first message must carry the header with format xlsx or csv",
            FieldViolation("header.format", "xlsx or csv"),
        )
    return header, b"".join(chunks)


def download_format(value: pb.ImportFormat.ValueType) -> ImportFormatName:
    """The format of a file to download: xlsx unless csv is asked for."""
    if value == pb.IMPORT_FORMAT_CSV:
        return "csv"
    if value in (pb.IMPORT_FORMAT_XLSX, pb.IMPORT_FORMAT_UNSPECIFIED):
        return "xlsx"
    raise invalid_input(
        "census.file_format",
        "文件格式只能是 xlsx 或 csv",
        "the format is xlsx or csv",
        FieldViolation("format", "xlsx or csv"),
    )


def parse_date(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise invalid_input(
            "census.date_invalid",
            "日期格式应为 YYYY-MM-DD",
            f"{field} is not a YYYY-MM-DD date",
            FieldViolation(field, "YYYY-MM-DD"),
        ) from error


def _verification(record: Record) -> pb.Verification:
    return pb.Verification(
        verified_on=record.verified_on.isoformat() if record.verified_on else "",
        verified_by=record.verified_by or "",
    )


def statistics_to_proto(figures: Statistics) -> pb.Statistics:
    return pb.Statistics(
        scope_id=figures.scope_id,
        scope_name=figures.scope_name,
        households=figures.households,
        residents=figures.residents,
        by_residence_type=figures.by_residence_type,
        by_tenure=figures.by_tenure,
        by_age_band=figures.by_age_band,
        by_care_tag=figures.by_care_tag,
        enterprises=figures.enterprises,
    )


def complex_to_proto(c: Complex, *, verification: bool = True) -> pb.Complex:
    """``verification=False`` for public readers: who verified a place is the census's own."""
    return pb.Complex(
        id=str(c.id),
        tenant_id=c.tenant_id,
        name=c.name,
        address=c.address,
        delivered_year=c.delivered_year or 0,
        verification=_verification(c) if verification else None,
        version=c.version,
    )


def building_to_proto(b: Building, *, verification: bool = True) -> pb.Building:
    """``verification=False`` for public readers, as for complexes."""
    return pb.Building(
        id=str(b.id),
        tenant_id=b.tenant_id,
        complex_id=str(b.complex_id),
        number=b.number,
        floors=b.floors or 0,
        verification=_verification(b) if verification else None,
        version=b.version,
    )


def unit_to_proto(u: Unit) -> pb.Unit:
    return pb.Unit(
        id=str(u.id), tenant_id=u.tenant_id, building_id=str(u.building_id), number=u.number
    )


def dwelling_to_proto(d: Dwelling) -> pb.Dwelling:
    return pb.Dwelling(
        id=str(d.id),
        tenant_id=d.tenant_id,
        unit_id=str(d.unit_id),
        building_id=str(d.building_id),
        complex_id=str(d.complex_id),
        room=d.room,
        address=d.address,
    )


def household_to_proto(h: Household, size: int) -> pb.Household:
    return pb.Household(
        id=str(h.id),
        tenant_id=h.tenant_id,
        dwelling_id=str(h.dwelling_id),
        head_resident_id=str(h.head_resident_id or ""),
        tenure=TENURES[h.tenure],
        size=size,
        verification=_verification(h),
        version=h.version,
    )


def audience_member_to_proto(
    person: ResidentInPlace, phone: str
) -> pb.StreamResidentsInPlacesResponse:
    return pb.StreamResidentsInPlacesResponse(
        resident_id=str(person.resident_id),
        name=person.name,
        complex_id=str(person.complex_id),
        building_id=str(person.building_id),
        household_id=str(person.household_id),
        care_tags=[CARE_TAGS[t] for t in person.care_tags],
        phone=phone,
        has_phone=person.has_phone,
    )


def _enterprise_draft(
    request: pb.CreateEnterpriseRequest | pb.UpdateEnterpriseRequest,
) -> enterprises.EnterpriseDraft:
    """What a registration or a correction says about an enterprise (the same fields)."""
    return enterprises.EnterpriseDraft(
        name=request.name,
        credit_code=request.credit_code,
        type=word_of(ENTERPRISE_TYPES, request.type),
        address=request.address,
        dwelling_id=request.dwelling_id,
        contact_name=request.contact_name,
        contact_phone=request.contact_phone,
        employees=request.employees,
    )


class CensusServicer(census_pb2_grpc.CensusServiceServicer):
    def __init__(self, core: CensusCore) -> None:
        self.core = core
        self.topic = core.settings.events_topic

    def resident_to_proto(self, r: Resident, *, reveal: bool = False) -> pb.Resident:
        """Personal data is decrypted only to be masked, unless this is an audited reveal."""
        cipher = self.core.protection.cipher
        id_number = cipher.decrypt(r.id_number_cipher, tenant_id=r.tenant_id, field="id_number")
        phone = (
            cipher.decrypt(r.phone_cipher, tenant_id=r.tenant_id, field="phone")
            if r.phone_cipher
            else ""
        )
        if not reveal:
            id_number, phone = mask_id_number(id_number), mask_phone(phone) if phone else ""
        return pb.Resident(
            id=str(r.id),
            tenant_id=r.tenant_id,
            household_id=str(r.household_id),
            dwelling_id=str(r.dwelling_id),
            name=r.name,
            id_number=id_number,
            phone=phone,
            pii_masked=not reveal,
            sex=SEXES[r.sex],
            birth_date=r.birth_date.isoformat(),
            age_band=AGE_BANDS[age_band(age_on(r.birth_date, self.core.today())).key],
            relation_to_head=RELATIONS[r.relation_to_head],
            residence_type=RESIDENCE_TYPES[r.residence_type],
            tenure=TENURES[r.tenure],
            moved_in_on=r.moved_in_on.isoformat() if r.moved_in_on else "",
            moved_out_on=r.moved_out_on.isoformat() if r.moved_out_on else "",
            care_tags=[
                CARE_TAGS[t]
                for t in derived_care_tags(r.birth_date, self.core.today(), r.care_tags)
            ],
            tags=list(r.tags),
            verification=_verification(r),
            version=r.version,
        )

    # ---- places ----

    def CreateComplex(
        self, request: pb.CreateComplexRequest, context: Any
    ) -> pb.CreateComplexResponse:
        """登记小区。Register a residential complex."""
        access.for_writing()
        with self.core.sessions.begin() as session:
            created = places.create_complex(
                session,
                name=request.name,
                address=request.address,
                delivered_year=request.delivered_year,
            )
            return pb.CreateComplexResponse(complex=complex_to_proto(created))

    def ListComplexes(
        self, request: pb.ListComplexesRequest, context: Any
    ) -> pb.ListComplexesResponse:
        """小区列表（街道可跨社区；居民也可查看名称）。Complexes, across communities for a
        street; residents read them too (names only) to say where a problem is."""
        full = access.for_reading_places()
        page = page_of(request.page)
        with self.core.sessions() as session:
            found = places.list_complexes(session, page)
            return pb.ListComplexesResponse(
                complexes=[complex_to_proto(c, verification=full) for c in found[: page.size]],
                page=page_response(found, page, lambda c: [c.name, str(c.id)]),
            )

    def CreateBuilding(
        self, request: pb.CreateBuildingRequest, context: Any
    ) -> pb.CreateBuildingResponse:
        """登记楼幢。Register a building of a complex."""
        _, tenant = access.for_writing()
        with self.core.sessions.begin() as session:
            created = places.create_building(
                session,
                tenant,
                self.topic,
                complex_id=request.complex_id,
                number=request.number,
                floors=request.floors,
                today=self.core.today(),
            )
            return pb.CreateBuildingResponse(building=building_to_proto(created))

    def GetBuilding(self, request: pb.GetBuildingRequest, context: Any) -> pb.GetBuildingResponse:
        """楼幢及其户数、人数。A building with its household and resident counts."""
        access.for_reading()
        with self.core.sessions() as session:
            building = places.get_building(session, request.building_id)
            households, residents = people.counts_in_building(session, building.id)
            return pb.GetBuildingResponse(
                building=building_to_proto(building), households=households, residents=residents
            )

    def ListBuildings(
        self, request: pb.ListBuildingsRequest, context: Any
    ) -> pb.ListBuildingsResponse:
        """楼幢列表（居民也可查看楼号）。Buildings, optionally of one complex; residents read
        them too (numbers only)."""
        full = access.for_reading_places()
        page = page_of(request.page)
        with self.core.sessions() as session:
            found = places.list_buildings(session, request.complex_id, page)
            return pb.ListBuildingsResponse(
                buildings=[building_to_proto(b, verification=full) for b in found[: page.size]],
                page=page_response(found, page, lambda b: [str(b.complex_id), b.number, str(b.id)]),
            )

    def UpdateBuilding(
        self, request: pb.UpdateBuildingRequest, context: Any
    ) -> pb.UpdateBuildingResponse:
        """更正楼幢（按字段掩码，校验版本）。Correct the number, floors or verification date."""
        principal, tenant = access.for_writing()
        changes = places.BuildingChanges(
            number=request.number,
            floors=request.floors,
            verified_on=parse_date(request.verified_on, "verified_on"),
        )
        with self.core.sessions.begin() as session:
            updated = places.update_building(
                session,
                tenant,
                self.topic,
                building_id=request.building_id,
                changes=changes,
                paths=list(request.update_mask.paths),
                expected_version=request.expected_version,
                verifier=principal.username,
                today=self.core.today(),
            )
            return pb.UpdateBuildingResponse(building=building_to_proto(updated))

    def RemoveBuilding(
        self, request: pb.RemoveBuildingRequest, context: Any
    ) -> pb.RemoveBuildingResponse:
        """删除无人居住的楼幢（须理由，保留历史）。Remove a building nobody lives in."""
        principal, tenant = access.for_writing()
        with self.core.sessions.begin() as session:
            places.remove_building(
                session,
                tenant,
                self.topic,
                building_id=request.building_id,
                reason=request.reason,
                expected_version=request.expected_version,
                remover=principal.username,
                today=self.core.today(),
            )
        return pb.RemoveBuildingResponse()

    def CreateUnit(self, request: pb.CreateUnitRequest, context: Any) -> pb.CreateUnitResponse:
        """登记单元。Register a unit (stairwell) of a building."""
        access.for_writing()
        with self.core.sessions.begin() as session:
            created = places.create_unit(
                session, building_id=request.building_id, number=request.number
            )
            return pb.CreateUnitResponse(unit=unit_to_proto(created))

    def CreateDwelling(
        self, request: pb.CreateDwellingRequest, context: Any
    ) -> pb.CreateDwellingResponse:
        """登记房屋。Register a dwelling of a unit."""
        access.for_writing()
        with self.core.sessions.begin() as session:
            created = places.create_dwelling(session, unit_id=request.unit_id, room=request.room)
            return pb.CreateDwellingResponse(dwelling=dwelling_to_proto(created))

    def ListDwellings(
        self, request: pb.ListDwellingsRequest, context: Any
    ) -> pb.ListDwellingsResponse:
        """楼幢内的房屋。Dwellings of a building."""
        access.for_reading()
        page = page_of(request.page)
        with self.core.sessions() as session:
            found = places.list_dwellings(session, request.building_id, page)
            return pb.ListDwellingsResponse(
                dwellings=[dwelling_to_proto(d) for d in found[: page.size]],
                page=page_response(found, page, lambda d: [str(d.unit_id), d.room, str(d.id)]),
            )

    # ---- households and residents ----

    def CreateHousehold(
        self, request: pb.CreateHouseholdRequest, context: Any
    ) -> pb.CreateHouseholdResponse:
        """登记户。Register a household living in a dwelling."""
        _, tenant = access.for_writing()
        with self.core.sessions.begin() as session:
            created = people.create_household(
                session,
                tenant,
                self.topic,
                dwelling_id=request.dwelling_id,
                tenure=word_of(TENURES, request.tenure),
                today=self.core.today(),
            )
            return pb.CreateHouseholdResponse(household=household_to_proto(created, 0))

    def ListHouseholds(
        self, request: pb.ListHouseholdsRequest, context: Any
    ) -> pb.ListHouseholdsResponse:
        """户列表。Households, optionally of one building."""
        access.for_reading()
        page = page_of(request.page)
        with self.core.sessions() as session:
            found = people.list_households(session, request.building_id, page)
            sizes = people.household_sizes(session, [h.id for h in found[: page.size]])
            return pb.ListHouseholdsResponse(
                households=[household_to_proto(h, sizes.get(h.id, 0)) for h in found[: page.size]],
                page=page_response(found, page, lambda h: [str(h.id)]),
            )

    def UpdateHousehold(
        self, request: pb.UpdateHouseholdRequest, context: Any
    ) -> pb.UpdateHouseholdResponse:
        """更正户：自有或租住、户主、核实日期（按字段掩码，校验版本）。Correct a household."""
        principal, tenant = access.for_writing()
        changes = people.HouseholdChanges(
            tenure=word_of(TENURES, request.tenure),
            head_resident_id=request.head_resident_id,
            verified_on=parse_date(request.verified_on, "verified_on"),
        )
        with self.core.sessions.begin() as session:
            updated, size = people.update_household(
                session,
                tenant,
                self.topic,
                household_id=request.household_id,
                changes=changes,
                paths=list(request.update_mask.paths),
                expected_version=request.expected_version,
                verifier=principal.username,
                today=self.core.today(),
            )
            return pb.UpdateHouseholdResponse(household=household_to_proto(updated, size))

    def RemoveHousehold(
        self, request: pb.RemoveHouseholdRequest, context: Any
    ) -> pb.RemoveHouseholdResponse:
        """删除已无现住居民的户（须理由，保留历史）。Remove a household nobody lives in."""
        principal, tenant = access.for_writing()
        with self.core.sessions.begin() as session:
            people.remove_household(
                session,
                tenant,
                self.topic,
                household_id=request.household_id,
                reason=request.reason,
                expected_version=request.expected_version,
                remover=principal.username,
                today=self.core.today(),
            )
        return pb.RemoveHouseholdResponse()

    def CreateResident(
        self, request: pb.CreateResidentRequest, context: Any
    ) -> pb.CreateResidentResponse:
        """登记居民；身份证号加密存储，应答中脱敏。Register a resident (PII encrypted, masked)."""
        principal, tenant = access.for_writing()
        draft = self._draft(request.resident)
        with self.core.sessions.begin() as session:
            created = people.create_resident(
                session,
                self.core.protection,
                tenant,
                self.topic,
                draft,
                verifier=principal.username,
                today=self.core.today(),
            )
            return pb.CreateResidentResponse(resident=self.resident_to_proto(created))

    def GetResident(self, request: pb.GetResidentRequest, context: Any) -> pb.GetResidentResponse:
        """一位居民（敏感信息脱敏）。One resident, personal data masked."""
        access.for_reading()
        with self.core.sessions() as session:
            found = people.get_resident(session, request.resident_id)
            return pb.GetResidentResponse(resident=self.resident_to_proto(found))

    def ListResidents(
        self, request: pb.ListResidentsRequest, context: Any
    ) -> pb.ListResidentsResponse:
        """居民查询：按小区、楼幢、户籍类型、标签、年龄段、核实日期、姓名或身份证号。"""
        access.for_reading()
        page = page_of(request.page)
        criteria = people.ResidentFilter(
            complex_id=request.complex_id,
            building_id=request.building_id,
            residence_type=word_of(RESIDENCE_TYPES, request.residence_type),
            care_tag=word_of(CARE_TAGS, request.care_tag),
            age_band=word_of(AGE_BANDS, request.age_band),
            verified_before=parse_date(request.verified_before, "verified_before"),
            name_contains=request.name_contains.strip()[:50],
            id_number=request.id_number,
            include_moved_out=request.include_moved_out,
        )
        with self.core.sessions() as session:
            found = people.list_residents(
                session, self.core.protection, criteria, page, self.core.today()
            )
            return pb.ListResidentsResponse(
                residents=[self.resident_to_proto(r) for r in found[: page.size]],
                page=page_response(found, page, lambda r: [r.name, str(r.id)]),
            )

    def RevealResident(
        self, request: pb.RevealResidentRequest, context: Any
    ) -> pb.RevealResidentResponse:
        """查看未脱敏信息（须 pii-reader 与理由，记入审计）。Unmasked, audited, with a reason."""
        access.for_reading()
        with self.core.sessions.begin() as session:
            found = people.get_resident(session, request.resident_id)
            principal = access.for_pii(TenantId(found.tenant_id))
            people.record_reveal(session, principal, found, request.reason, current_request_id())
            return pb.RevealResidentResponse(resident=self.resident_to_proto(found, reveal=True))

    def UpdateResident(
        self, request: pb.UpdateResidentRequest, context: Any
    ) -> pb.UpdateResidentResponse:
        """更正居民信息（按字段掩码，校验版本）。Correct the fields named in update_mask."""
        principal, tenant = access.for_writing()
        with self.core.sessions.begin() as session:
            updated = lifecycle.update_resident(
                session,
                self.core.protection,
                tenant,
                self.topic,
                resident_id=request.resident_id,
                changes=self._draft(request.resident),
                paths=list(request.update_mask.paths),
                expected_version=request.expected_version,
                verifier=principal.username,
                today=self.core.today(),
            )
            return pb.UpdateResidentResponse(resident=self.resident_to_proto(updated))

    def MoveResident(
        self, request: pb.MoveResidentRequest, context: Any
    ) -> pb.MoveResidentResponse:
        """迁移：本社区换户、同街道跨社区迁移，或迁出。Move within, across the street, or away."""
        principal, tenant = access.for_writing()
        moved_on = parse_date(request.moved_on, "moved_on")
        today, version = self.core.today(), request.expected_version
        target = self._transfer_target(tenant, request.to_tenant_id)
        if target is not None:
            principal.require(target, *access.WRITERS)
            street = tenant.parent
            assert street is not None  # a community always has a street
            with tenant_scope(street), self.core.sessions.begin() as session:
                moved = lifecycle.transfer_within_street(
                    session,
                    self.core.protection,
                    self.topic,
                    source=tenant,
                    target=target,
                    resident_id=request.resident_id,
                    to_household_id=request.to_household_id,
                    moved_on=moved_on,
                    expected_version=version,
                    verifier=principal.username,
                    today=today,
                )
                return pb.MoveResidentResponse(resident=self.resident_to_proto(moved))
        with self.core.sessions.begin() as session:
            if request.to_household_id:
                moved = lifecycle.move_within_community(
                    session,
                    tenant,
                    self.topic,
                    request.resident_id,
                    request.to_household_id,
                    moved_on=moved_on,
                    expected_version=version,
                    today=today,
                )
            else:
                moved = lifecycle.close_stay(
                    session,
                    tenant,
                    self.topic,
                    request.resident_id,
                    reason="迁出",
                    moved_away=True,
                    moved_on=moved_on,
                    expected_version=version,
                    today=today,
                )
            return pb.MoveResidentResponse(resident=self.resident_to_proto(moved))

    def RemoveResident(
        self, request: pb.RemoveResidentRequest, context: Any
    ) -> pb.RemoveResidentResponse:
        """删除错误记录（须理由，保留历史）。Close a wrong record, with its reason kept."""
        _, tenant = access.for_writing()
        with self.core.sessions.begin() as session:
            lifecycle.close_stay(
                session,
                tenant,
                self.topic,
                request.resident_id,
                reason=request.reason,
                moved_away=False,
                moved_on=None,
                expected_version=request.expected_version,
                today=self.core.today(),
            )
        return pb.RemoveResidentResponse()

    def ImportResidents(
        self, request_iterator: Iterator[pb.ImportResidentsRequest], context: Any
    ) -> pb.ImportResidentsResponse:
        """导入居民（xlsx/csv 分块上传），逐行报告错误。Import residents, row-level report."""
        principal, tenant = access.for_writing()
        header, data = receive_file(request_iterator)
        with self.core.sessions.begin() as session:
            outcome = import_residents(
                session,
                self.core.protection,
                tenant,
                self.topic,
                data,
                file_name=header.file_name,
                file_format=FORMATS[header.format],
                strict=header.strict,
                actor=principal.username,
                today=self.core.today(),
            )
        return pb.ImportResidentsResponse(
            import_id=str(outcome.import_id),
            rows_total=outcome.rows_total,
            rows_imported=outcome.rows_imported,
            already_imported=outcome.already_imported,
            rejected=[
                pb.RowError(
                    row=p.row, column=p.column, message_zh=p.message_zh, message_en=p.message_en
                )
                for p in outcome.rejected
            ],
        )

    def GetImportTemplate(
        self, request: pb.GetImportTemplateRequest, context: Any
    ) -> pb.GetImportTemplateResponse:
        """居民导入模板（中文表头，默认 xlsx）。The empty import template, xlsx unless csv."""
        access.for_reading()
        file_format = download_format(request.format)
        return pb.GetImportTemplateResponse(
            file_name=f"{TEMPLATE_FILE_STEM}.{file_format}",
            content_type=CONTENT_TYPES[file_format],
            content=template_xlsx() if file_format == "xlsx" else template_csv(),
        )

    def ExportResidents(
        self, request: pb.ExportResidentsRequest, context: Any
    ) -> Iterator[pb.ExportResidentsResponse]:
        """居民导出（导入模板格式，分块）；默认脱敏，pii-reader 填写理由则不脱敏并逐条审计。
        Residents in the template's shape, streamed; masked unless revealed (audited per row)."""
        _, tenant = access.for_reading()
        reveal = None
        if request.reveal_reason:
            reveal = people.Reveal(
                principal=access.for_pii(tenant),
                reason=people.reveal_reason(request.reveal_reason, field="reveal_reason"),
                request_id=current_request_id(),
            )
        criteria = people.ResidentFilter(
            complex_id=request.complex_id,
            building_id=request.building_id,
            residence_type=word_of(RESIDENCE_TYPES, request.residence_type),
            care_tag=word_of(CARE_TAGS, request.care_tag),
            age_band=word_of(AGE_BANDS, request.age_band),
            verified_before=parse_date(request.verified_before, "verified_before"),
        )
        export = export_residents(
            self.core.sessions,
            self.core.protection,
            criteria,
            tenant=tenant,
            file_format=download_format(request.format),
            reveal=reveal,
            today=self.core.today(),
        )
        # The name first, so a caller can answer its own client before the rows are read.
        yield pb.ExportResidentsResponse(
            file_name=export.file_name, content_type=export.content_type
        )
        for chunk in export.chunks:
            yield pb.ExportResidentsResponse(chunk=chunk)

    # ---- enterprises and organisations ----

    def enterprise_to_proto(self, e: Enterprise) -> pb.Enterprise:
        phone = contact_phone_of(self.core.protection, e)
        return pb.Enterprise(
            id=str(e.id),
            tenant_id=e.tenant_id,
            name=e.name,
            credit_code=e.credit_code,
            type=ENTERPRISE_TYPES[EnterpriseType(e.type)],
            address=e.address,
            dwelling_id=str(e.dwelling_id or ""),
            contact_name=e.contact_name,
            contact_phone=mask_phone(phone) if phone else "",
            employees=e.employees,
            verification=_verification(e),
            version=e.version,
        )

    def organization_to_proto(self, o: Organization) -> pb.Organization:
        phone = contact_phone_of(self.core.protection, o)
        return pb.Organization(
            id=str(o.id),
            tenant_id=o.tenant_id,
            kind=ORGANIZATION_KINDS[OrganisationKind(o.kind)],
            name=o.name,
            complex_ids=[str(c) for c in o.complex_ids],
            contact_name=o.contact_name,
            contact_phone=mask_phone(phone) if phone else "",
            verification=_verification(o),
            version=o.version,
        )

    def CreateEnterprise(
        self, request: pb.CreateEnterpriseRequest, context: Any
    ) -> pb.CreateEnterpriseResponse:
        """登记企业店铺（统一社会信用代码校验）。Register an enterprise or shop."""
        principal, tenant = access.for_writing()
        draft = _enterprise_draft(request)
        with self.core.sessions.begin() as session:
            created = enterprises.create_enterprise(
                session,
                self.core.protection,
                tenant,
                self.topic,
                draft,
                verifier=principal.username,
                today=self.core.today(),
            )
            return pb.CreateEnterpriseResponse(enterprise=self.enterprise_to_proto(created))

    def GetEnterprise(
        self, request: pb.GetEnterpriseRequest, context: Any
    ) -> pb.GetEnterpriseResponse:
        """一家企业店铺（联系电话脱敏）。One enterprise or shop, its contact phone masked."""
        access.for_reading()
        with self.core.sessions() as session:
            found = enterprises.get_enterprise(session, request.enterprise_id)
            return pb.GetEnterpriseResponse(enterprise=self.enterprise_to_proto(found))

    def UpdateEnterprise(
        self, request: pb.UpdateEnterpriseRequest, context: Any
    ) -> pb.UpdateEnterpriseResponse:
        """更正企业店铺（按字段掩码，校验版本，规则同登记）。Correct an enterprise or shop."""
        principal, tenant = access.for_writing()
        changes = _enterprise_draft(request)
        with self.core.sessions.begin() as session:
            updated = enterprises.update_enterprise(
                session,
                self.core.protection,
                tenant,
                self.topic,
                enterprise_id=request.enterprise_id,
                changes=changes,
                verified_on=parse_date(request.verified_on, "verified_on"),
                paths=list(request.update_mask.paths),
                expected_version=request.expected_version,
                verifier=principal.username,
                today=self.core.today(),
            )
            return pb.UpdateEnterpriseResponse(enterprise=self.enterprise_to_proto(updated))

    def RemoveEnterprise(
        self, request: pb.RemoveEnterpriseRequest, context: Any
    ) -> pb.RemoveEnterpriseResponse:
        """删除企业店铺（歇业、迁走或登记有误；须理由，保留历史）。Remove an enterprise."""
        principal, tenant = access.for_writing()
        with self.core.sessions.begin() as session:
            enterprises.remove_enterprise(
                session,
                tenant,
                self.topic,
                enterprise_id=request.enterprise_id,
                reason=request.reason,
                expected_version=request.expected_version,
                remover=principal.username,
                today=self.core.today(),
            )
        return pb.RemoveEnterpriseResponse()

    def ListEnterprises(
        self, request: pb.ListEnterprisesRequest, context: Any
    ) -> pb.ListEnterprisesResponse:
        """企业店铺列表。Enterprises and shops, by complex and type."""
        access.for_reading()
        page = page_of(request.page)
        with self.core.sessions() as session:
            found = enterprises.list_enterprises(
                session,
                page,
                complex_id=request.complex_id,
                enterprise_type=word_of(ENTERPRISE_TYPES, request.type),
            )
            return pb.ListEnterprisesResponse(
                enterprises=[self.enterprise_to_proto(e) for e in found[: page.size]],
                page=page_response(found, page, lambda e: [e.name, str(e.id)]),
            )

    def CreateOrganization(
        self, request: pb.CreateOrganizationRequest, context: Any
    ) -> pb.CreateOrganizationResponse:
        """登记业委会、物业、志愿者队伍、党支部。Register an organisation."""
        principal, tenant = access.for_writing()
        draft = organizations.OrganizationDraft(
            kind=word_of(ORGANIZATION_KINDS, request.kind),
            name=request.name,
            complex_ids=tuple(request.complex_ids),
            contact_name=request.contact_name,
            contact_phone=request.contact_phone,
        )
        with self.core.sessions.begin() as session:
            created = organizations.create_organization(
                session,
                self.core.protection,
                tenant,
                draft,
                verifier=principal.username,
                today=self.core.today(),
            )
            return pb.CreateOrganizationResponse(organization=self.organization_to_proto(created))

    def ListOrganizations(
        self, request: pb.ListOrganizationsRequest, context: Any
    ) -> pb.ListOrganizationsResponse:
        """组织列表。Organisations, by kind."""
        access.for_reading()
        page = page_of(request.page)
        with self.core.sessions() as session:
            found = organizations.list_organizations(
                session, page, kind=word_of(ORGANIZATION_KINDS, request.kind)
            )
            return pb.ListOrganizationsResponse(
                organizations=[self.organization_to_proto(o) for o in found[: page.size]],
                page=page_response(found, page, lambda o: [o.name, str(o.id)]),
            )

    # ---- statistics and the questions other services ask ----

    def GetStatistics(
        self, request: pb.GetStatisticsRequest, context: Any
    ) -> pb.GetStatisticsResponse:
        """底数统计；街道得到汇总及各社区分项。Statistics; a street gets totals and communities."""
        _, tenant = access.for_reading()
        # A transaction: rows counted on another day are recounted and kept for the next call.
        with self.core.sessions.begin() as session:
            total, parts = statistics(
                session,
                today=self.core.today(),
                by_complex=request.by_complex,
                by_building=request.by_building,
                street_parts=not tenant.is_community,
            )
        return pb.GetStatisticsResponse(
            total=statistics_to_proto(total), parts=[statistics_to_proto(p) for p in parts]
        )

    def StreamResidentsInPlaces(
        self, request: pb.StreamResidentsInPlacesRequest, context: Any
    ) -> Iterator[pb.StreamResidentsInPlacesResponse]:
        """通知受众：指定小区/楼幢/居民、标签的居民（无身份证号）；pii-reader 说明用途可取手机号，
        逐人审计。Audience members, streamed; phones only for a pii-reader with a purpose."""
        _, tenant = access.for_reading()
        reveal = None
        if request.with_phones:
            reveal = people.Reveal(
                principal=access.for_pii(tenant),
                reason=people.reveal_reason(request.purpose, field="purpose"),
                request_id=current_request_id(),
            )
        audience = Audience(
            complex_ids=list(request.complex_ids),
            building_ids=list(request.building_ids),
            resident_ids=list(request.resident_ids),
            care_tags=[word_of(CARE_TAGS, t) for t in request.care_tags],
            residence_types=[word_of(RESIDENCE_TYPES, t) for t in request.residence_types],
        )
        today = self.core.today()
        if reveal is None:
            with self.core.sessions() as session:
                for person in residents_in_places(session, audience, today):
                    yield audience_member_to_proto(person, "")
        else:
            for found, phone in residents_with_phones(
                self.core.sessions, self.core.protection, audience, reveal, today
            ):
                yield audience_member_to_proto(found, phone)

    def CountHouseholdsPerBuilding(
        self, request: pb.CountHouseholdsPerBuildingRequest, context: Any
    ) -> pb.CountHouseholdsPerBuildingResponse:
        """各楼幢户数、人数（网格工作量）。Households and residents per building."""
        access.for_reading()
        with self.core.sessions() as session:
            counts = households_per_building(session, list(request.building_ids))
        return pb.CountHouseholdsPerBuildingResponse(
            households={str(k): v for k, v in counts.households.items()},
            residents={str(k): v for k, v in counts.residents.items()},
        )

    @staticmethod
    def _transfer_target(tenant: TenantId, to_tenant_id: str) -> TenantId | None:
        """The other community of a street-level transfer, or None for a move within."""
        if not to_tenant_id or to_tenant_id == tenant.value:
            return None
        try:
            target = TenantId.parse(to_tenant_id)
        except InvalidTenantIdError as error:
            raise invalid_input(
                "census.to_tenant_invalid",
                "目标社区编号不正确",
                str(error),
                FieldViolation("to_tenant_id", str(error)),
            ) from error
        if not target.is_community or target.parent != tenant.parent:
            raise invalid_input(
                "census.transfer_outside_street",
                "只能在同一街道的社区之间迁移",
                "a transfer goes to another community of the same street",
                FieldViolation("to_tenant_id", f"a community of {tenant.parent}"),
            )
        return target

    def _draft(self, given: pb.ResidentInput) -> people.ResidentDraft:
        unknown_tags = [t for t in given.care_tags if not word_of(CARE_TAGS, t)]
        if unknown_tags:
            raise invalid_input(
                "census.care_tags_invalid",
                "关爱标签取值不正确",
                "unknown care tag",
                FieldViolation("resident.care_tags", "unknown"),
            )
        return people.ResidentDraft(
            household_id=given.household_id,
            name=given.name,
            id_number=given.id_number,
            phone=given.phone,
            relation_to_head=word_of(RELATIONS, given.relation_to_head),
            residence_type=word_of(RESIDENCE_TYPES, given.residence_type),
            tenure=word_of(TENURES, given.tenure),
            moved_in_on=parse_date(given.moved_in_on, "resident.moved_in_on"),
            care_tags=frozenset(word_of(CARE_TAGS, t) for t in given.care_tags),
            tags=tuple(given.tags),
            verified_on=parse_date(given.verified_on, "resident.verified_on"),
        )
