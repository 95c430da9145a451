"""Writing the resident export (.csv and .xlsx) in the import template's shape, and reading it
back with the importer's own reader: no database."""

import base64
import csv
import io
import itertools
from collections.abc import Iterator, Sequence
from datetime import date
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook

from census.identity.codes import id_check_character
from census.identity.pii import KeyRing, LookupHasher, PiiCipher
from census.imports.export import chunked, export_row_of
from census.imports.reading import ParsedRow, RowProblem, RowResult, read_rows
from census.imports.template import COLUMNS, DATA_SHEET_TITLE, DERIVED_CARE_TAG_LABELS
from census.imports.writing import (
    CARE_TAG_LABELS,
    COMMUNITY_HEADER,
    MASKED_NOTE,
    ExportRow,
    csv_pieces,
    export_file_name,
    write_xlsx,
)
from census.people.service import Protection
from census.vocabulary import CareTag, Relation, ResidenceType, Tenure

TODAY = date(2026, 11, 23)
HUSHAN = "xiaoshan.shushan.hushan"
TEMPLATE_HEADER = [column.header_zh for column in COLUMNS]


def an_id_number(birth: str, sequence: str = "123") -> str:
    first17 = f"330109{birth}{sequence}"
    return first17 + id_check_character(first17)


def a_row(**overrides: object) -> ExportRow:
    values: dict[str, object] = dict(
        name="王秀英",
        id_number=an_id_number("19500302", "124"),
        phone="13812345678",
        relation_to_head=Relation.SELF,
        residence_type=ResidenceType.REGISTERED,
        tenure=Tenure.OWNER,
        complex_name="晴庐",
        building_number="3幢",
        unit_number="1单元",
        room="502",
        moved_in_on=date(2016, 5, 1),
        care_tags=frozenset({CareTag.ELDERLY, CareTag.LIVING_ALONE}),
        tags=("楼道长", "志愿者"),
        verified_on=date(2026, 11, 1),
        community=HUSHAN,
    )
    values.update(overrides)
    return ExportRow(**values)  # type: ignore[arg-type]


def the_spouse() -> ExportRow:
    return a_row(
        name="李建国",
        id_number=an_id_number("19880808", "211"),
        phone="",
        relation_to_head=Relation.SPOUSE,
        residence_type=ResidenceType.MIGRANT,
        tenure=Tenure.TENANT,
        moved_in_on=None,
        care_tags=frozenset({CareTag.PARTY_MEMBER}),
        tags=(),
    )


def csv_export(
    rows: Sequence[ExportRow], *, masked: bool = False, with_community: bool = False
) -> bytes:
    return b"".join(csv_pieces(rows, masked=masked, with_community=with_community))


def xlsx_export(
    rows: Sequence[ExportRow], *, masked: bool = False, with_community: bool = False
) -> bytes:
    buffer = io.BytesIO()
    write_xlsx(rows, buffer, masked=masked, with_community=with_community)
    return buffer.getvalue()


def export_of(file_format: str, rows: Sequence[ExportRow], **options: bool) -> bytes:
    return (csv_export if file_format == "csv" else xlsx_export)(rows, **options)


def read_back(data: bytes, file_format: str) -> list[RowResult]:
    return list(read_rows(data, format="csv" if file_format == "csv" else "xlsx", today=TODAY))


def csv_lines(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


# --- shape and words -------------------------------------------------------------------------


def test_the_csv_starts_with_a_bom_and_the_templates_header_in_its_order() -> None:
    data = csv_export([a_row()])
    assert data.startswith(b"\xef\xbb\xbf")
    assert csv_lines(data)[0] == TEMPLATE_HEADER


def test_values_are_the_chinese_words_the_template_accepts() -> None:
    head, spouse = csv_lines(csv_export([a_row(), the_spouse()]))[1:]
    cell = dict(zip(TEMPLATE_HEADER, head, strict=True))
    assert (cell["与户主关系"], cell["户籍类型"], cell["是否租住"]) == ("户主", "户籍", "自有")
    assert (cell["小区"], cell["楼幢"], cell["单元"], cell["房号"]) == (
        "晴庐",
        "3幢",
        "1单元",
        "502",
    )
    assert cell["关爱标签"] == "一老、独居"
    assert cell["其他标签"] == "楼道长、志愿者"
    assert (cell["入住日期"], cell["核实日期"]) == ("2016-05-01", "2026-11-01")
    # Excel keeps a tab-led number as text; the reader drops the tab.
    assert cell["身份证号"] == "\t" + an_id_number("19500302", "124")
    other = dict(zip(TEMPLATE_HEADER, spouse, strict=True))
    assert (other["与户主关系"], other["户籍类型"], other["是否租住"]) == ("配偶", "流动", "租住")
    assert (other["手机号"], other["入住日期"], other["其他标签"]) == ("", "", "")


def test_every_care_tag_has_a_label_and_the_derived_ones_are_what_the_reader_skips() -> None:
    assert set(CARE_TAG_LABELS) == set(CareTag)
    assert {CARE_TAG_LABELS[CareTag.ELDERLY], CARE_TAG_LABELS[CareTag.CHILD]} == set(
        DERIVED_CARE_TAG_LABELS
    )


def test_the_file_name_says_whose_when_and_whether_masked() -> None:
    assert export_file_name(HUSHAN, TODAY, "csv", masked=True) == (
        "居民信息_xiaoshan.shushan.hushan_20261123_已脱敏.csv"
    )
    assert export_file_name(HUSHAN, TODAY, "xlsx", masked=False) == (
        "居民信息_xiaoshan.shushan.hushan_20261123.xlsx"
    )


# --- the round trip ----------------------------------------------------------------------------


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_an_unmasked_export_reads_back_as_the_same_residents(file_format: str) -> None:
    rows = [a_row(), the_spouse()]
    results = read_back(export_of(file_format, rows), file_format)
    assert all(isinstance(result, ParsedRow) for result in results), results
    parsed = [result for result in results if isinstance(result, ParsedRow)]
    assert [
        (
            p.name,
            p.id_number,
            p.phone,
            p.relation_to_head,
            p.residence_type,
            p.tenure,
            p.complex_name,
            p.building_number,
            p.unit_number,
            p.room,
            p.moved_in_on,
            p.care_tags,
            p.tags,
            p.verified_on,
        )
        for p in parsed
    ] == [
        (
            r.name,
            r.id_number,
            r.phone or None,
            r.relation_to_head,
            r.residence_type,
            r.tenure,
            r.complex_name,
            r.building_number,
            r.unit_number,
            r.room,
            r.moved_in_on,
            r.care_tags - {CareTag.ELDERLY, CareTag.CHILD},  # derived again on import
            r.tags,
            r.verified_on,
        )
        for r in rows
    ]


def test_the_xlsx_keeps_id_numbers_and_rooms_as_text_cells_and_dates_as_dates() -> None:
    sheet = load_workbook(io.BytesIO(xlsx_export([a_row(room="0502")])))[DATA_SHEET_TITLE]
    assert [cell.value for cell in sheet[1]] == TEMPLATE_HEADER
    cells = dict(zip(TEMPLATE_HEADER, sheet[2], strict=True))
    for header in ("身份证号", "手机号", "房号"):
        assert cells[header].data_type == "s"
        assert cells[header].number_format == "@"
    assert cells["房号"].value == "0502"
    assert cells["身份证号"].value == an_id_number("19500302", "124")
    assert cells["核实日期"].is_date


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_a_value_a_spreadsheet_would_run_as_a_formula_stays_text_and_reads_back(
    file_format: str,
) -> None:
    hostile = "=2+5*cmd"  # a tag of what staff may type: no separators, under 20 characters
    data = export_of(file_format, [a_row(tags=(hostile,), room="-101")])
    if file_format == "csv":
        written = dict(zip(TEMPLATE_HEADER, csv_lines(data)[1], strict=True))
        assert written["其他标签"] == "'" + hostile
        assert written["房号"] == "'-101"
    else:
        sheet = load_workbook(io.BytesIO(data)).active
        cells = dict(zip(TEMPLATE_HEADER, sheet[2], strict=True))
        assert (cells["其他标签"].data_type, cells["其他标签"].value) == ("s", hostile)
    (result,) = read_back(data, file_format)
    assert isinstance(result, ParsedRow), result
    assert (result.tags, result.room) == ((hostile,), "-101")


# --- masked exports -------------------------------------------------------------------------


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_a_masked_export_says_so_above_the_header_and_cannot_be_imported(file_format: str) -> None:
    masked = a_row(id_number="330109**********24", phone="138****5678")
    data = export_of(file_format, [masked], masked=True)
    if file_format == "csv":
        note, header = csv_lines(data)[:2]
    else:
        sheet = load_workbook(io.BytesIO(data)).active
        note, header = [[c.value for c in sheet[n] if c.value] for n in (1, 2)]
    assert note[0] == MASKED_NOTE
    assert header == TEMPLATE_HEADER

    (result,) = read_back(data, file_format)
    assert isinstance(result, list), "a masked row must not import"
    by_column = {problem.column: problem for problem in result}
    assert set(by_column) == {"身份证号", "手机号"}
    assert all(problem.row == 3 for problem in result)  # as Excel numbers it, under the note
    assert "脱敏" in by_column["身份证号"].message_zh
    assert "masked" in by_column["身份证号"].message_en


def test_a_masked_id_number_typed_into_a_template_is_a_clear_row_error() -> None:
    header = ",".join(TEMPLATE_HEADER)
    row = "张三,330109**********39,,户主,户籍,自有,晴庐,3幢,1单元,502,,,,2026-11-01"
    (result,) = read_back(f"{header}\r\n{row}\r\n".encode(), "csv")
    assert result == [
        RowProblem(
            2,
            "身份证号",
            "身份证号已脱敏（含*号），不能导入；请填写完整号码，或使用有权限人员导出的未脱敏文件",
            "the ID number is masked (it contains *) and cannot be imported; write the full "
            "number or use an unmasked export made by a pii-reader",
        )
    ]


def masked_protection() -> Protection:
    key = base64.b64encode(bytes([7]) * 32).decode()
    return Protection(
        cipher=PiiCipher(KeyRing.from_setting(f"k1:{key}")),
        hasher=LookupHasher(bytes([9]) * 32),
    )


def a_found_row(protection: Protection, *, phone: str | None) -> SimpleNamespace:
    """A row of the export query, with the personal data encrypted as the census stores it."""
    cipher = protection.cipher
    return SimpleNamespace(
        tenant_id=HUSHAN,
        name="王秀英",
        id_number_cipher=cipher.encrypt(
            an_id_number("19500302", "124"), tenant_id=HUSHAN, field="id_number"
        ),
        phone_cipher=cipher.encrypt(phone, tenant_id=HUSHAN, field="phone") if phone else None,
        relation_to_head="self",
        residence_type="registered",
        tenure="owner",
        moved_in_on=None,
        care_tags=["elderly"],
        birth_date=date(1950, 3, 2),
        tags=[],
        verified_on=TODAY,
        complex_name="晴庐",
        building_number="3幢",
        unit_number="1单元",
        room="502",
    )


def test_personal_data_is_masked_as_in_responses_unless_revealed() -> None:
    protection = masked_protection()
    found = a_found_row(protection, phone="13812345678")
    masked = export_row_of(protection, found, reveal=False, today=TODAY)  # type: ignore[arg-type]
    number = an_id_number("19500302", "124")
    assert (masked.id_number, masked.phone) == ("330109**********" + number[-2:], "138****5678")
    revealed = export_row_of(protection, found, reveal=True, today=TODAY)  # type: ignore[arg-type]
    assert (revealed.id_number, revealed.phone) == (number, "13812345678")
    without = a_found_row(protection, phone=None)
    no_phone = export_row_of(protection, without, reveal=False, today=TODAY)  # type: ignore[arg-type]
    assert no_phone.phone == ""


# --- a street's export ---------------------------------------------------------------------------


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_a_streets_export_ends_with_the_community_which_the_importer_ignores(
    file_format: str,
) -> None:
    rows = [
        a_row(),
        a_row(
            community="xiaoshan.shushan.xiangyuan",
            name="陈静",
            id_number=an_id_number("19900909", "322"),
            room="101",
        ),
    ]
    data = export_of(file_format, rows, with_community=True)
    if file_format == "csv":
        lines = csv_lines(data)
        assert lines[0] == [*TEMPLATE_HEADER, COMMUNITY_HEADER]
        assert [line[-1] for line in lines[1:]] == [HUSHAN, "xiaoshan.shushan.xiangyuan"]
    results = read_back(data, file_format)
    assert [r.name for r in results if isinstance(r, ParsedRow)] == ["王秀英", "陈静"]


def test_a_communitys_export_has_no_community_column() -> None:
    assert COMMUNITY_HEADER not in csv_lines(csv_export([a_row()]))[0]


# --- streaming ------------------------------------------------------------------------------


def test_the_csv_comes_out_while_the_rows_are_still_being_read() -> None:
    def endless() -> Iterator[ExportRow]:
        for index in itertools.count():
            yield a_row(name=f"居民{'甲乙丙丁'[index % 4]}")

    first = next(csv_pieces(endless(), masked=False, with_community=False))
    assert 32 * 1024 <= len(first) < 128 * 1024


def test_chunks_are_cut_to_size_without_losing_a_byte() -> None:
    pieces = [b"a" * 100_000, b"b" * 10, b"c" * 70_000]
    chunks = list(chunked(pieces, 64 * 1024))
    assert b"".join(chunks) == b"".join(pieces)
    assert [len(c) for c in chunks[:-1]] == [64 * 1024] * (len(chunks) - 1)
    assert 0 < len(chunks[-1]) <= 64 * 1024
