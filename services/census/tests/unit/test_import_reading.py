"""Reading resident import files: real .xlsx workbooks (made with openpyxl) and CSVs in memory."""

import io
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

import pytest
from openpyxl import Workbook, load_workbook

from census import vocabulary
from census.identity.codes import Sex, id_check_character
from census.imports.reading import (
    ImportFileError,
    ParsedRow,
    RowProblem,
    RowResult,
    file_fingerprint,
    read_rows,
)
from census.imports.template import (
    COLUMNS,
    DATA_SHEET_TITLE,
    IMPORTABLE_CARE_TAG_LABELS,
    NOTES_SHEET_TITLE,
    REQUIRED_COLUMNS,
    TemplateColumn,
    template_csv,
    template_xlsx,
)
from census.vocabulary import CareTag, Relation, ResidenceType, Tenure

TODAY = date(2025, 6, 1)
HEADERS_ZH = {column.header_zh for column in COLUMNS}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN_NAMES = ("伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳")

Row = Mapping[str, object]  # Chinese header → cell value


# --- Builders ------------------------------------------------------------------------------------


def an_id_number(birth: date, sequence: int = 123, address: str = "330109") -> str:
    first17 = f"{address}{birth:%Y%m%d}{sequence % 1000:03d}"
    return first17 + id_check_character(first17)


def a_resident(index: int = 0, **cells: object) -> dict[str, object]:
    """A valid row; ``cells`` (keyed by Chinese header) replace what the row would hold."""
    birth = date(1940, 1, 1) + timedelta(days=index * 23)  # unique for 1,000 rows
    row: dict[str, object] = {
        "姓名": SURNAMES[index % len(SURNAMES)] + GIVEN_NAMES[index % len(GIVEN_NAMES)],
        "身份证号": an_id_number(birth, index),
        "手机号": f"138{index:08d}",
        "与户主关系": ("户主", "配偶", "子女", "父母", "其他")[index % 5],
        "户籍类型": ("户籍", "常住", "流动")[index % 3],
        "是否租住": ("自有", "租住")[index % 2],
        "小区": "晴庐",
        "楼幢": f"{index % 12 + 1}幢",
        "单元": "1",
        "房号": str(101 + index % 30),
        "入住日期": date(2016, 5, 1),
        "关爱标签": "党员" if index % 7 == 0 else None,
        "其他标签": None,
        "核实日期": date(2025, 3, 15),
    }
    row.update(cells)
    return row


def header_of(column: TemplateColumn, *, english: bool) -> str:
    return column.name_en if english else column.header_zh


def xlsx_file(
    rows: Sequence[Row],
    columns: Sequence[TemplateColumn] = COLUMNS,
    *,
    english: bool = False,
    above_header: Sequence[Sequence[object]] = (),
) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for line in above_header:
        sheet.append(list(line))
    sheet.append([header_of(column, english=english) for column in columns])
    for row in rows:
        sheet.append([row.get(column.header_zh) for column in columns])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_file(
    rows: Sequence[Row],
    columns: Sequence[TemplateColumn] = COLUMNS,
    *,
    english: bool = False,
    encoding: str = "utf-8-sig",
) -> bytes:
    def cell(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, date):
            return value.isoformat()
        return str(value)

    lines = [",".join(header_of(column, english=english) for column in columns)]
    lines += [",".join(cell(row.get(column.header_zh)) for column in columns) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def read(data: bytes, file_format: str = "xlsx", **options: int) -> list[RowResult]:
    assert file_format in ("xlsx", "csv")
    return list(
        read_rows(data, format="xlsx" if file_format == "xlsx" else "csv", today=TODAY, **options)
    )


def parsed(results: Sequence[RowResult]) -> list[ParsedRow]:
    return [result for result in results if isinstance(result, ParsedRow)]


def problems(results: Sequence[RowResult]) -> list[RowProblem]:
    return [problem for result in results if isinstance(result, list) for problem in result]


def the_only_row(data: bytes, file_format: str = "xlsx") -> RowResult:
    results = read(data, file_format)
    assert len(results) == 1
    return results[0]


def problems_of_one_row(row: Row, file_format: str = "xlsx") -> list[RowProblem]:
    make = xlsx_file if file_format == "xlsx" else csv_file
    result = the_only_row(make([row]), file_format)
    assert isinstance(result, list), f"expected problems, got {result!r}"
    assert all(problem.row == 2 for problem in result)
    return result


def columns_of(found: Sequence[RowProblem]) -> list[str]:
    return [problem.column for problem in found]


def refused_file(data: bytes, file_format: str = "xlsx", **options: int) -> ImportFileError:
    with pytest.raises(ImportFileError) as caught:
        read(data, file_format, **options)
    error = caught.value
    assert error.message_zh
    assert error.message_en
    assert error.code.startswith("census.import_")
    return error


# --- The template --------------------------------------------------------------------------------


def test_downloaded_xlsx_template_reads_as_no_rows_and_no_problems() -> None:
    assert read(template_xlsx()) == []


def test_downloaded_csv_template_reads_as_no_rows_and_no_problems() -> None:
    data = template_csv()
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to show Chinese
    assert data.decode("utf-8-sig").strip() == ",".join(c.header_zh for c in COLUMNS)
    assert read(data, "csv") == []


def test_xlsx_template_has_header_dropdowns_text_columns_and_an_explanation_sheet() -> None:
    workbook = load_workbook(io.BytesIO(template_xlsx()))
    assert workbook.sheetnames == [DATA_SHEET_TITLE, NOTES_SHEET_TITLE]
    sheet = workbook[DATA_SHEET_TITLE]
    assert [cell.value for cell in sheet[1]] == [column.header_zh for column in COLUMNS]
    dropdowns = {v.formula1 for v in sheet.data_validations.dataValidation if v.type == "list"}
    assert dropdowns == {'"户主,配偶,子女,父母,其他"', '"户籍,常住,流动"', '"自有,租住"'}
    assert sheet.column_dimensions["B"].number_format == "@"  # 身份证号 stays text in Excel
    explanation = {
        str(cell.value) for row in workbook[NOTES_SHEET_TITLE].iter_rows() for cell in row
    }
    for column in COLUMNS:
        assert {column.header_zh, column.name_en} <= explanation
    assert "独居、残疾、党员、退役军人、重点人群" in explanation


def test_the_examples_on_the_explanation_sheet_make_a_valid_row() -> None:
    example = {column.header_zh: column.example for column in COLUMNS}
    assert isinstance(the_only_row(xlsx_file([example])), ParsedRow)


def test_every_header_and_alias_names_exactly_one_column() -> None:
    names = [
        name.lower()
        for column in COLUMNS
        for name in (column.header_zh, column.name_en, *column.aliases)
    ]
    assert len(names) == len(set(names))


# --- A thousand rows with 37 bad ones ------------------------------------------------------------


def wrong_checksum(index: int, row: dict[str, object]) -> None:
    number = str(row["身份证号"])
    row["身份证号"] = number[:17] + ("0" if number[17] != "0" else "1")


def impossible_birth_date(index: int, row: dict[str, object]) -> None:
    first17 = f"33010919900230{index:03d}"  # 30 February
    row["身份证号"] = first17 + id_check_character(first17)


def bad_phone(index: int, row: dict[str, object]) -> None:
    row["手机号"] = "1381234567"  # ten digits


def landline(index: int, row: dict[str, object]) -> None:
    row["手机号"] = "0571-82345678"


def unknown_residence_type(index: int, row: dict[str, object]) -> None:
    row["户籍类型"] = "外来"


def missing_name(index: int, row: dict[str, object]) -> None:
    row["姓名"] = None


def duplicate_of_previous_row(index: int, row: dict[str, object]) -> None:
    row["身份证号"] = a_resident(index - 1)["身份证号"]


def bad_date(index: int, row: dict[str, object]) -> None:
    row["核实日期"] = "2023-13-01"


def future_move_in(index: int, row: dict[str, object]) -> None:
    row["入住日期"] = TODAY + timedelta(days=1)


def unknown_relation(index: int, row: dict[str, object]) -> None:
    row["与户主关系"] = "表哥"


def unknown_care_tag(index: int, row: dict[str, object]) -> None:
    row["关爱标签"] = "党员、低保"


def missing_room(index: int, row: dict[str, object]) -> None:
    row["房号"] = "  "


def id_number_typed_as_a_number(index: int, row: dict[str, object]) -> None:
    row["身份证号"] = float(str(row["身份证号"])[:17])  # what Excel keeps of a typed number


DEFECTS = (
    (wrong_checksum, "身份证号"),
    (impossible_birth_date, "身份证号"),
    (bad_phone, "手机号"),
    (landline, "手机号"),
    (unknown_residence_type, "户籍类型"),
    (missing_name, "姓名"),
    (duplicate_of_previous_row, "身份证号"),
    (bad_date, "核实日期"),
    (future_move_in, "入住日期"),
    (unknown_relation, "与户主关系"),
    (unknown_care_tag, "关爱标签"),
    (missing_room, "房号"),
    (id_number_typed_as_a_number, "身份证号"),
)


@pytest.mark.parametrize("file_format", ["xlsx", "csv"])
def test_thousand_rows_with_37_bad_ones_report_exactly_those_rows(file_format: str) -> None:
    rows = [a_resident(index) for index in range(1_000)]
    bad_indices = [5 + 27 * k for k in range(37)]  # never adjacent: a duplicate's original is good
    expected_column: dict[int, str] = {}
    for k, index in enumerate(bad_indices):
        spoil, column = DEFECTS[k % len(DEFECTS)]
        spoil(index, rows[index])
        expected_column[index + 2] = column  # row 1 is the header

    make = xlsx_file if file_format == "xlsx" else csv_file
    results = read(make(rows), file_format)

    assert len(results) == 1_000
    assert len(parsed(results)) == 963
    rejected = {result[0].row: result for result in results if isinstance(result, list)}
    assert sorted(rejected) == sorted(expected_column)
    for row_number, found in rejected.items():
        assert columns_of(found) == [expected_column[row_number]]
    assert [row.row for row in parsed(results)] == [
        index + 2 for index in range(1_000) if index + 2 not in expected_column
    ]


# --- Rows: what is accepted and how it is normalised ----------------------------------------------


def test_a_valid_row_comes_back_normalised() -> None:
    assert id_check_character("11010519491231002") == "X"
    row = a_resident(
        姓名=" 欧阳 娜娜 ",
        身份证号="110105 19491231 002x",
        手机号="+86 138-1234-5678",
        与户主关系="户主",
        户籍类型="流动",
        是否租住="是",
        楼幢="３幢",  # full-width digit from a Chinese input method
        房号=502,
        入住日期="2023年5月1日",
        关爱标签="党员、退役军人;独居，一老",
        其他标签="楼道长、志愿者、楼道长",
    )

    result = the_only_row(xlsx_file([row]))

    assert result == ParsedRow(
        row=2,
        name="欧阳 娜娜",
        id_number="11010519491231002X",
        birth_date=date(1949, 12, 31),
        sex=Sex.FEMALE,
        phone="13812345678",
        relation_to_head=Relation.SELF,
        residence_type=ResidenceType.MIGRANT,
        tenure=Tenure.TENANT,
        complex_name="晴庐",
        building_number="3幢",
        unit_number="1",
        room="502",
        moved_in_on=date(2023, 5, 1),
        care_tags=frozenset({CareTag.PARTY_MEMBER, CareTag.VETERAN, CareTag.LIVING_ALONE}),
        tags=("楼道长", "志愿者"),
        verified_on=date(2025, 3, 15),
    )


@pytest.mark.parametrize(
    ("written", "tenure"),
    [
        ("自有", Tenure.OWNER),
        ("租住", Tenure.TENANT),
        ("是", Tenure.TENANT),
        ("否", Tenure.OWNER),
        ("tenant", Tenure.TENANT),
    ],
)
def test_tenure_accepts_yes_and_no_to_the_question_renting(written: str, tenure: Tenure) -> None:
    result = the_only_row(xlsx_file([a_resident(是否租住=written)]))
    assert isinstance(result, ParsedRow)
    assert result.tenure is tenure


@pytest.mark.parametrize(
    "written",
    [
        "2023-05-01",
        "2023/5/1",
        "2023年5月1日",
        "2023.05.01",
        "20230501",
        "2023-05-01 00:00:00",
        datetime(2023, 5, 1),
        date(2023, 5, 1),
        45047,
        20230501,
    ],
)
def test_dates_are_accepted_as_excel_dates_and_as_people_write_them(written: object) -> None:
    result = the_only_row(xlsx_file([a_resident(入住日期=written)]))
    assert isinstance(result, ParsedRow)
    assert result.moved_in_on == date(2023, 5, 1)


@pytest.mark.parametrize("written", ["2023-02-30", "明年五月", "2023", "1899-12-31", "5/1/2023"])
def test_dates_that_are_no_dates_are_row_problems(written: str) -> None:
    found = problems_of_one_row(a_resident(入住日期=written))
    assert columns_of(found) == ["入住日期"]


def test_placeholders_in_optional_cells_mean_empty() -> None:
    result = the_only_row(xlsx_file([a_resident(手机号="无", 入住日期="/", 关爱标签="-")]))
    assert isinstance(result, ParsedRow)
    assert result.phone is None
    assert result.moved_in_on is None
    assert result.care_tags == frozenset()


def test_every_problem_of_a_row_is_reported_not_just_the_first() -> None:
    row = a_resident(姓名=None, 手机号="12345", 户籍类型="外来", 核实日期="去年")
    wrong_checksum(0, row)

    found = problems_of_one_row(row)

    assert columns_of(found) == ["姓名", "身份证号", "手机号", "户籍类型", "核实日期"]
    assert all(problem.message_zh and problem.message_en for problem in found)


def test_move_in_before_birth_is_a_problem() -> None:
    born = date(2010, 6, 1)
    found = problems_of_one_row(a_resident(身份证号=an_id_number(born), 入住日期=date(2009, 1, 1)))
    assert columns_of(found) == ["入住日期"]


def test_repeated_id_numbers_name_the_row_where_the_number_first_appeared() -> None:
    number = an_id_number(date(1980, 3, 3))
    rows = [a_resident(0, 身份证号=number), a_resident(1), a_resident(2, 身份证号=number)]
    rows.append(a_resident(3, 身份证号=number.lower()))

    results = read(xlsx_file(rows))

    assert [row.row for row in parsed(results)] == [2, 3]
    repeated = problems(results)
    assert [(problem.row, problem.column) for problem in repeated] == [
        (4, "身份证号"),
        (5, "身份证号"),
    ]
    assert all("第2行" in p.message_zh and "row 2" in p.message_en for p in repeated)


def test_id_number_that_excel_turned_into_a_number_asks_for_a_text_column() -> None:
    found = problems_of_one_row(a_resident(身份证号=3.30109199001011e17))
    assert columns_of(found) == ["身份证号"]
    assert "文本格式" in found[0].message_zh


def test_room_that_excel_turned_into_a_date_asks_for_a_text_column() -> None:
    found = problems_of_one_row(a_resident(房号=datetime(2025, 1, 2)))  # typed "1-2"
    assert columns_of(found) == ["房号"]
    assert "文本格式" in found[0].message_zh


def test_hostile_overlong_cells_are_row_problems() -> None:
    found = problems_of_one_row(a_resident(姓名="张" * 30_000, 其他标签="标签" * 5_000))
    assert columns_of(found) == ["姓名", "其他标签"]


def test_blank_rows_are_skipped_and_rows_keep_the_numbers_excel_shows() -> None:
    sequence = TemplateColumn(
        "序号",
        "seq",
        required=False,
        description_zh="",
        description_en="",
        example="",
        max_length=5,
    )  # a column the template does not know
    columns = (*COLUMNS, sequence)
    rows: list[Row] = [
        a_resident(0),
        {},
        {"姓名": "   ", "备注": "x"},
        {"序号": 4},  # a pre-numbered but unused line of the sheet
        a_resident(1, 手机号="999"),
    ]

    results = read(xlsx_file(rows, columns))

    assert [row.row for row in parsed(results)] == [2]
    assert [(p.row, p.column) for p in problems(results)] == [(6, "手机号")]


def test_title_rows_above_the_header_keep_excel_row_numbers() -> None:
    data = xlsx_file([a_resident(手机号="999")], above_header=[["市北社区居民信息表"], []])
    assert [(p.row, p.column) for p in problems(read(data))] == [(4, "手机号")]


# --- Headers -------------------------------------------------------------------------------------


def test_columns_in_another_order_with_english_headers_are_read() -> None:
    columns = list(reversed(COLUMNS))
    rows = [a_resident(0), a_resident(1, 户籍类型="外来")]

    for data, file_format in (
        (xlsx_file(rows, columns, english=True), "xlsx"),
        (csv_file(rows, columns, english=True), "csv"),
        (csv_file(rows, columns), "csv"),
    ):
        results = read(data, file_format)
        assert [row.row for row in parsed(results)] == [2]
        assert [(p.row, p.column) for p in problems(results)] == [(3, "户籍类型")]


def test_decorated_and_alternative_headers_are_recognised() -> None:
    workbook = Workbook()
    sheet = workbook.active
    headers = {column.header_zh: column.header_zh for column in COLUMNS}
    headers |= {
        "姓名": "*姓名",
        "身份证号": "公民身份号码（必填）",
        "手机号": "Phone",
        "楼幢": "楼栋",
    }
    sheet.append(list(headers.values()))
    sheet.append([a_resident(0)[header] for header in headers])
    buffer = io.BytesIO()
    workbook.save(buffer)

    assert isinstance(the_only_row(buffer.getvalue()), ParsedRow)


def test_only_the_required_columns_are_enough() -> None:
    result = the_only_row(xlsx_file([a_resident()], REQUIRED_COLUMNS))
    assert isinstance(result, ParsedRow)
    assert result.phone is None


@pytest.mark.parametrize("file_format", ["xlsx", "csv"])
def test_missing_required_columns_refuse_the_file_before_any_row(file_format: str) -> None:
    columns = [c for c in COLUMNS if c.header_zh not in ("身份证号", "户籍类型")]
    make = xlsx_file if file_format == "xlsx" else csv_file
    data = make([a_resident(index) for index in range(3)], columns)

    with pytest.raises(ImportFileError) as caught:
        read_rows(data, format="xlsx" if file_format == "xlsx" else "csv", today=TODAY)

    error = caught.value
    assert error.code == "census.import_missing_columns"
    assert "身份证号" in error.message_zh
    assert "户籍类型" in error.message_zh
    assert "id_number" in error.message_en
    assert [v.field for v in error.field_violations] == ["身份证号", "户籍类型"]


def test_a_column_named_twice_refuses_the_file() -> None:
    columns = [*COLUMNS, COLUMNS[0]]
    error = refused_file(xlsx_file([a_resident()], columns))
    assert error.code == "census.import_duplicate_column"
    assert "姓名" in error.message_zh


def test_a_sheet_without_a_recognisable_header_refuses_the_file() -> None:
    workbook = Workbook()
    for line in range(12):
        workbook.active.append([f"说明第{line}行", "随便写点什么"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert refused_file(buffer.getvalue()).code == "census.import_no_header"


# --- Encodings and damaged files -----------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk", "gb18030", "utf-16"])
def test_csv_is_read_in_the_encodings_chinese_excel_writes(encoding: str) -> None:
    rows = [a_resident(0, 其他标签="楼道长"), a_resident(1, 户籍类型="外来")]

    results = read(csv_file(rows, encoding=encoding), "csv")

    assert [(row.row, row.name, row.tags) for row in parsed(results)] == [(2, "王伟", ("楼道长",))]
    assert [(p.row, p.column) for p in problems(results)] == [(3, "户籍类型")]


def test_a_quoted_csv_cell_spanning_lines_is_one_row() -> None:
    header, first, second = csv_file([a_resident(0), a_resident(1)]).decode().splitlines()
    data = "\n".join([header, first.replace(",晴庐,", ',"晴\n庐",'), second])

    results = read(data.encode(), "csv")

    assert [row.row for row in parsed(results)] == [2, 3]
    assert parsed(results)[0].complex_name == "晴 庐"


@pytest.mark.parametrize(
    "data",
    [
        bytes(range(256)) * 8,
        b"",
        "姓名,身份证号\n张三,1\n".encode(),
        template_xlsx()[:4000],  # cut off in the middle of the zip
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504,  # an old .xls / encrypted workbook
    ],
    ids=["garbage", "empty", "csv-text", "truncated", "ole2"],
)
def test_anything_but_a_readable_xlsx_refuses_the_file_cleanly(data: bytes) -> None:
    assert refused_file(data).code == "census.import_unreadable_file"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\xff\xfe\xfd" * 9, "census.import_encoding"),  # UTF-16 BOM, odd length
        (b"\x80\xff\x80abc,def\n", "census.import_encoding"),
        (template_xlsx(), "census.import_format_mismatch"),
        (b"", "census.import_empty_file"),
        (("姓名," + "x" * 70_000 + "\n").encode(), "census.import_unreadable_file"),
        (('姓名,"' + ("x" * 60_000 + "\n") * 3).encode(), "census.import_unreadable_file"),
    ],
    ids=["bad-utf16", "undecodable", "xlsx-as-csv", "empty", "long-line", "huge-quoted-field"],
)
def test_an_unreadable_csv_refuses_the_file_cleanly(data: bytes, code: str) -> None:
    assert refused_file(data, "csv").code == code


def test_more_rows_than_the_cap_refuse_the_file() -> None:
    data = csv_file([a_resident(index) for index in range(6)])
    assert refused_file(data, "csv", max_rows=5).code == "census.import_too_many_rows"
    assert len(read(data, "csv", max_rows=6)) == 6


def test_every_problem_names_a_chinese_column_of_the_template() -> None:
    rows = [a_resident(index) for index in range(len(DEFECTS) + 1)]
    for index, (spoil, _) in enumerate(DEFECTS, start=1):  # row 0 is the duplicate's original
        spoil(index, rows[index])
    rows.append({header: "？？" for header in HEADERS_ZH})

    found = problems(read(xlsx_file(rows)))

    assert len(found) > len(DEFECTS)
    assert {problem.column for problem in found} <= HEADERS_ZH


# --- Small things the service relies on ---------------------------------------------------------


def test_parsed_values_are_the_words_the_census_stores() -> None:
    assert {value.value for value in Relation} == set(vocabulary.RELATIONS)
    assert {value.value for value in ResidenceType} == set(vocabulary.RESIDENCE_TYPES)
    assert {value.value for value in Tenure} == set(vocabulary.TENURES)
    assert {value.value for value in CareTag} == set(vocabulary.CARE_TAGS)
    assert {tag.value for tag in IMPORTABLE_CARE_TAG_LABELS} == vocabulary.SETTABLE_CARE_TAGS


def test_file_fingerprint_is_the_sha256_of_the_bytes() -> None:
    data = template_xlsx()
    assert file_fingerprint(data) == file_fingerprint(bytes(data))
    assert file_fingerprint(data) != file_fingerprint(data + b"\0")
    assert file_fingerprint(b"") == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_a_parsed_row_does_not_show_personal_data_in_its_repr() -> None:
    result = the_only_row(xlsx_file([a_resident(0)]))
    assert isinstance(result, ParsedRow)
    assert result.id_number not in repr(result)
    assert str(result.phone) not in repr(result)
    assert result.name not in repr(result)


def test_a_file_object_is_read_like_bytes() -> None:
    stream = io.BytesIO(xlsx_file([a_resident(0), a_resident(1)]))
    stream.seek(10)  # read from its start whatever the position
    results = list(read_rows(stream, format="xlsx", today=TODAY))
    assert [row.row for row in parsed(results)] == [2, 3]
