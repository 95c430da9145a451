"""The import template and the resident export through the census's real gRPC server, with real
Keycloak tokens: masking, the audit of revealed exports, tenant isolation, a street's export
and the round trip export → import."""

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from census.app import CensusCore
from census.identity.codes import id_check_character
from census.imports.template import COLUMNS, DATA_SHEET_TITLE
from census.people.models import PiiReveal
from shequ.census.v1 import census_pb2 as pb
from shequ_kit.db import system_scope
from shequ_kit.grpc_client import error_detail

HUSHAN = "xiaoshan.shushan.hushan"
XIANGYUAN = "xiaoshan.shushan.xiangyuan"
SHUSHAN = "xiaoshan.shushan"
TEMPLATE_HEADER = [column.header_zh for column in COLUMNS]
REASON = "年度人口底数核对，报街道"
Call = Callable[..., Any]


def id_number(birth: str, sequence: str) -> str:
    first17 = f"330109{birth}{sequence}"
    return first17 + id_check_character(first17)


def refused(action: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as failure:
        action()
    return failure.value


@dataclass(frozen=True)
class Download:
    file_name: str
    content_type: str
    chunks: list[bytes]

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)

    def lines(self) -> list[list[str]]:
        """The CSV's records, without the masked note; ID numbers and phones without the tab
        that keeps them text in Excel."""
        records = list(csv.reader(io.StringIO(self.data.decode("utf-8-sig"))))
        if records and records[0][0].startswith("注意"):
            records = records[1:]
        return [[cell.removeprefix("\t") for cell in record] for record in records]

    def by_name(self) -> dict[str, dict[str, str]]:
        header, *rows = self.lines()
        return {row[0]: dict(zip(header, row, strict=True)) for row in rows}


def export(call: Call, user: str = "hushan-staff", tenant: str = HUSHAN, **fields: Any) -> Download:
    fields.setdefault("format", pb.IMPORT_FORMAT_CSV)
    first, *rest = call(
        "ExportResidents", pb.ExportResidentsRequest(**fields), user=user, tenant=tenant
    )
    assert first.file_name, "the first message names the file"
    assert first.content_type
    return Download(first.file_name, first.content_type, [first.chunk] + [m.chunk for m in rest])


@dataclass(frozen=True)
class Place:
    complex_id: str
    building_id: str
    households: dict[str, str]  # room → household id


def register_place(
    call: Call, complex_name: str, rooms: tuple[str, ...], *, user: str = "hushan-staff"
) -> Place:
    tenant = HUSHAN if user.startswith("hushan") else XIANGYUAN
    as_user = {"user": user, "tenant": tenant}
    complex_ = call(
        "CreateComplex", pb.CreateComplexRequest(name=complex_name, address="市心北路"), **as_user
    ).complex
    building = call(
        "CreateBuilding", pb.CreateBuildingRequest(complex_id=complex_.id, number="1幢"), **as_user
    ).building
    unit = call(
        "CreateUnit", pb.CreateUnitRequest(building_id=building.id, number="1单元"), **as_user
    ).unit
    households = {}
    for room in rooms:
        dwelling = call(
            "CreateDwelling", pb.CreateDwellingRequest(unit_id=unit.id, room=room), **as_user
        ).dwelling
        households[room] = call(
            "CreateHousehold",
            pb.CreateHouseholdRequest(dwelling_id=dwelling.id, tenure=pb.TENURE_OWNER),
            **as_user,
        ).household.id
    return Place(complex_.id, building.id, households)


def register(call: Call, household_id: str, user: str = "hushan-staff", **fields: Any) -> str:
    tenant = HUSHAN if user.startswith("hushan") else XIANGYUAN
    defaults = {
        "residence_type": pb.RESIDENCE_TYPE_REGISTERED,
        "tenure": pb.TENURE_OWNER,
        "verified_on": "2026-10-15",
    }
    resident = pb.ResidentInput(household_id=household_id, **{**defaults, **fields})
    created = call(
        "CreateResident", pb.CreateResidentRequest(resident=resident), user=user, tenant=tenant
    )
    return str(created.resident.id)


def register_family(
    call: Call, complex_name: str, tag: str, sequence: int
) -> tuple[Place, dict[str, str]]:
    """Two households of four people with every kind of value the template holds; names end
    in ``tag`` and ID numbers use sequences from ``sequence`` on, so that each family is its
    own in the community."""
    place = register_place(call, complex_name, ("101", "102"))
    first, second = place.households["101"], place.households["102"]
    ids = {
        "周" + tag: register(
            call,
            first,
            name="周" + tag,
            id_number=id_number("19500302", f"{sequence:03d}"),
            phone="13812345678",
            relation_to_head=pb.RELATION_TO_HEAD_SELF,
            moved_in_on="2010-05-01",
            care_tags=[pb.CARE_TAG_LIVING_ALONE],
            tags=["楼道长", "志愿者"],
        ),
        "吴" + tag: register(
            call,
            first,
            name="吴" + tag,
            id_number=id_number("19520611", f"{sequence + 1:03d}"),
            relation_to_head=pb.RELATION_TO_HEAD_SPOUSE,
            residence_type=pb.RESIDENCE_TYPE_RESIDENT,
        ),
        "郑" + tag: register(
            call,
            second,
            name="郑" + tag,
            id_number=id_number("19900909", f"{sequence + 2:03d}"),
            phone="13900001111",
            relation_to_head=pb.RELATION_TO_HEAD_SELF,
            residence_type=pb.RESIDENCE_TYPE_MIGRANT,
            tenure=pb.TENURE_TENANT,
            care_tags=[pb.CARE_TAG_PARTY_MEMBER],
        ),
        "郑小" + tag: register(
            call,
            second,
            name="郑小" + tag,
            id_number=id_number("20150606", f"{sequence + 3:03d}"),
            relation_to_head=pb.RELATION_TO_HEAD_CHILD,
            residence_type=pb.RESIDENCE_TYPE_MIGRANT,
            tenure=pb.TENURE_TENANT,
        ),
    }
    return place, ids


@pytest.fixture(scope="module")
def family(call: Call) -> tuple[Place, dict[str, str]]:
    return register_family(call, "导出苑", "导出", 600)


def audit_rows(core: CensusCore, resident_ids: Iterator[str] | list[str]) -> list[PiiReveal]:
    wanted = [uuid.UUID(r) for r in resident_ids]
    with system_scope(), core.sessions() as session:
        return list(session.scalars(select(PiiReveal).where(PiiReveal.resident_id.in_(wanted))))


# --- the template --------------------------------------------------------------------------


def test_the_template_is_an_xlsx_unless_csv_is_asked_for(call: Call) -> None:
    xlsx = call("GetImportTemplate", pb.GetImportTemplateRequest())
    assert xlsx.file_name == "居民导入模板.xlsx"
    assert xlsx.content_type.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(xlsx.content))[DATA_SHEET_TITLE]
    assert [cell.value for cell in sheet[1]] == TEMPLATE_HEADER

    as_csv = call("GetImportTemplate", pb.GetImportTemplateRequest(format=pb.IMPORT_FORMAT_CSV))
    assert as_csv.file_name == "居民导入模板.csv"
    assert as_csv.content_type == "text/csv; charset=utf-8"
    assert as_csv.content.decode("utf-8-sig").strip() == ",".join(TEMPLATE_HEADER)


def test_the_template_is_for_census_readers_only(call: Call) -> None:
    failure = refused(
        lambda: call("GetImportTemplate", pb.GetImportTemplateRequest(), user="hushan-resident")
    )
    assert failure.code() is grpc.StatusCode.PERMISSION_DENIED


# --- masked and revealed exports ---------------------------------------------------------------


def test_a_masked_export_is_marked_so_and_writes_no_audit(
    call: Call, core: CensusCore, family: tuple[Place, dict[str, str]]
) -> None:
    place, ids = family
    download = export(call, complex_id=place.complex_id)
    assert download.file_name.startswith(f"居民信息_{HUSHAN}_")
    assert download.file_name.endswith("_已脱敏.csv")
    assert download.content_type == "text/csv; charset=utf-8"
    assert download.data.decode("utf-8-sig").startswith("注意：")
    rows = download.by_name()
    assert set(rows) == set(ids)
    head = rows["周导出"]
    assert head["身份证号"] == "330109**********" + id_number("19500302", "600")[-2:]
    assert head["手机号"] == "138****5678"
    assert (head["与户主关系"], head["户籍类型"], head["是否租住"]) == ("户主", "户籍", "自有")
    assert head["关爱标签"] == "一老、独居"
    assert rows["郑小导出"]["关爱标签"] == "一小"
    assert (rows["吴导出"]["户籍类型"], rows["郑导出"]["是否租住"]) == ("常住", "租住")
    assert audit_rows(core, list(ids.values())) == []


def test_importing_a_masked_export_refuses_every_row_by_its_masked_numbers(
    call: Call, family: tuple[Place, dict[str, str]]
) -> None:
    place, ids = family
    data = export(call, complex_id=place.complex_id).data
    report = call(
        "ImportResidents",
        iter(
            [
                pb.ImportResidentsRequest(
                    header=pb.ImportHeader(file_name="脱敏.csv", format=pb.IMPORT_FORMAT_CSV)
                ),
                pb.ImportResidentsRequest(chunk=data),
            ]
        ),
    )
    assert (report.rows_total, report.rows_imported) == (len(ids), 0)
    masked_ids = [e for e in report.rejected if e.column == "身份证号"]
    assert len(masked_ids) == len(ids)
    assert all("脱敏" in e.message_zh and "masked" in e.message_en for e in masked_ids)


def test_a_revealed_export_is_unmasked_and_audits_every_record(
    call: Call, core: CensusCore, family: tuple[Place, dict[str, str]]
) -> None:
    place, ids = family
    download = export(
        call, user="hushan-pii", complex_id=place.complex_id, reveal_reason=f"  {REASON} "
    )
    assert "已脱敏" not in download.file_name
    assert not download.data.decode("utf-8-sig").startswith("注意")
    rows = download.by_name()
    assert rows["周导出"]["身份证号"] == id_number("19500302", "600")
    assert rows["周导出"]["手机号"] == "13812345678"
    audit = audit_rows(core, list(ids.values()))
    assert sorted(str(a.resident_id) for a in audit) == sorted(ids.values())
    assert {(a.actor_username, a.reason, a.tenant_id) for a in audit} == {
        ("hushan-pii", REASON, HUSHAN)
    }
    assert len({a.request_id for a in audit}) == 1
    assert audit[0].request_id


def test_a_reason_without_the_pii_reader_role_is_refused_and_audits_nothing(
    call: Call, core: CensusCore, family: tuple[Place, dict[str, str]]
) -> None:
    place, ids = family
    before = len(audit_rows(core, list(ids.values())))
    denied = refused(lambda: export(call, complex_id=place.complex_id, reveal_reason=REASON))
    assert denied.code() is grpc.StatusCode.PERMISSION_DENIED
    detail = error_detail(denied)
    assert detail is not None
    assert detail.params["required_roles"] == "pii-reader"
    street = refused(
        lambda: export(call, user="shushan-admin", tenant=SHUSHAN, reveal_reason=REASON)
    )
    assert street.code() is grpc.StatusCode.PERMISSION_DENIED
    assert len(audit_rows(core, list(ids.values()))) == before


def test_a_reason_that_says_nothing_is_refused_naming_the_field(
    call: Call, family: tuple[Place, dict[str, str]]
) -> None:
    place, _ = family
    blank = refused(
        lambda: export(call, user="hushan-pii", complex_id=place.complex_id, reveal_reason="  看")
    )
    assert blank.code() is grpc.StatusCode.INVALID_ARGUMENT
    detail = error_detail(blank)
    assert detail is not None
    assert detail.code == "census.reveal_reason_required"
    assert [v.field for v in detail.field_violations] == ["reveal_reason"]


def test_the_export_takes_the_lists_filters(
    call: Call, family: tuple[Place, dict[str, str]]
) -> None:
    place, _ = family

    def names(**filters: Any) -> set[str]:
        return set(export(call, complex_id=place.complex_id, **filters).by_name())

    assert names(care_tag=pb.CARE_TAG_CHILD) == {"郑小导出"}
    assert names(residence_type=pb.RESIDENCE_TYPE_MIGRANT) == {"郑导出", "郑小导出"}
    assert names(age_band=pb.AGE_BAND_60_79) == {"周导出", "吴导出"}
    assert names(verified_before="2026-10-15") == set()
    assert names(building_id=place.building_id) == {"周导出", "吴导出", "郑导出", "郑小导出"}
    bad = refused(lambda: export(call, building_id="not-a-uuid"))
    assert bad.code() is grpc.StatusCode.INVALID_ARGUMENT


# --- tenants -----------------------------------------------------------------------------------


def test_another_community_exports_none_of_hushans_residents(
    call: Call, family: tuple[Place, dict[str, str]]
) -> None:
    place, ids = family
    own = export(call, user="xiangyuan-staff", tenant=XIANGYUAN)
    assert not set(own.by_name()) & set(ids)
    assert HUSHAN not in own.data.decode("utf-8-sig")
    by_hushans_complex = export(
        call, user="xiangyuan-staff", tenant=XIANGYUAN, complex_id=place.complex_id
    )
    assert by_hushans_complex.lines() == [TEMPLATE_HEADER]
    into_hushan = refused(lambda: export(call, user="xiangyuan-staff", tenant=HUSHAN))
    assert into_hushan.code() is grpc.StatusCode.PERMISSION_DENIED


def test_a_street_exports_across_its_communities_naming_each_rows_community(
    call: Call, family: tuple[Place, dict[str, str]]
) -> None:
    _, ids = family
    elsewhere = register_place(call, "街道导出苑", ("201",), user="xiangyuan-staff")
    register(
        call,
        elsewhere.households["201"],
        user="xiangyuan-staff",
        name="冯湘源",
        id_number=id_number("19800404", "433"),
        relation_to_head=pb.RELATION_TO_HEAD_SELF,
    )
    download = export(call, user="shushan-admin", tenant=SHUSHAN)
    assert download.file_name.startswith(f"居民信息_{SHUSHAN}_")
    header = download.lines()[0]
    assert header == [*TEMPLATE_HEADER, "社区"]
    rows = download.by_name()
    assert rows["冯湘源"]["社区"] == XIANGYUAN
    assert {rows[name]["社区"] for name in ids} == {HUSHAN}
    assert all(len(chunk) <= 64 * 1024 for chunk in download.chunks)
    community = export(call, complex_id=elsewhere.complex_id)
    assert "社区" not in community.lines()[0]


# --- the round trip ----------------------------------------------------------------------------


def xlsx_values(data: bytes) -> list[list[object]]:
    sheet = load_workbook(io.BytesIO(data), read_only=True)[DATA_SHEET_TITLE]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_a_revealed_export_imports_again_unchanged_after_its_records_were_removed(
    call: Call,
) -> None:
    """Export (revealed) → remove every record → import that very file → export again: the
    same file. Honest about what a round trip can keep: new record ids, the same content."""
    place, ids = register_family(call, "往返苑", "往返", 700)
    revealed = {"user": "hushan-pii", "complex_id": place.complex_id, "reveal_reason": REASON}
    before_csv = export(call, **revealed)
    before_xlsx = export(call, format=pb.IMPORT_FORMAT_XLSX, **revealed)
    assert len(before_csv.by_name()) == 4

    for resident_id in ids.values():
        current = call("GetResident", pb.GetResidentRequest(resident_id=resident_id)).resident
        call(
            "RemoveResident",
            pb.RemoveResidentRequest(
                resident_id=resident_id,
                reason="导出后重新导入测试",
                expected_version=current.version,
            ),
        )
    assert export(call, complex_id=place.complex_id).by_name() == {}

    report = call(
        "ImportResidents",
        iter(
            [
                pb.ImportResidentsRequest(
                    header=pb.ImportHeader(
                        file_name=before_csv.file_name, format=pb.IMPORT_FORMAT_CSV, strict=True
                    )
                ),
                pb.ImportResidentsRequest(chunk=before_csv.data),
            ]
        ),
    )
    assert (report.rows_imported, list(report.rejected)) == (4, [])

    after_csv = export(call, **revealed)
    assert after_csv.data == before_csv.data
    after_xlsx = export(call, format=pb.IMPORT_FORMAT_XLSX, **revealed)
    assert xlsx_values(after_xlsx.data) == xlsx_values(before_xlsx.data)
    assert set(after_csv.by_name()) == set(ids)
    assert not set(ids.values()) & {
        r.id
        for r in call(
            "ListResidents", pb.ListResidentsRequest(complex_id=place.complex_id)
        ).residents
    }
