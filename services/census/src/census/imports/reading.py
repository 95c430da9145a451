"""Reading a resident import file (.xlsx or .csv) into validated rows and a row-level report.

No database and no gRPC here: the service hands in the uploaded bytes and stores what comes
out. :func:`read_rows` streams, one result per non-blank data row, each either a
:class:`ParsedRow` of normalised values or the list of every :class:`RowProblem` in that row.
Row numbers are the ones Excel shows: with the header in row 1, the first resident is row 2.

A file that can't be imported at all raises :class:`ImportFileError`: when :func:`read_rows` is
called (unreadable file, no header, a required column missing), or while iterating (damage
further into the file, too many rows). The caller then refuses the whole file.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import BinaryIO, Final, Literal, TypeAlias, TypeVar
from xml.etree.ElementTree import ParseError

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from census.identity.codes import ResidentId, Sex, parse_id_number, parse_mobile
from census.identity.pii import MASK_CHARACTER
from census.imports.template import (
    BLANK_PLACEHOLDERS,
    BUILDING,
    CARE_TAG_VALUES,
    CARE_TAGS,
    COLUMNS,
    COMPLEX,
    DATE_COLUMNS,
    DERIVED_CARE_TAG_LABELS,
    FORMULA_TRIGGERS,
    ID_NUMBER,
    IMPORTABLE_CARE_TAG_LABELS,
    MAX_ROWS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MOVED_IN_ON,
    NAME,
    PHONE,
    RELATION,
    RELATION_LABELS,
    RELATION_VALUES,
    REQUIRED_COLUMNS,
    RESIDENCE_TYPE,
    RESIDENCE_TYPE_LABELS,
    RESIDENCE_TYPE_VALUES,
    ROOM,
    TAGS,
    TENURE,
    TENURE_LABELS,
    TENURE_VALUES,
    TEXT_MARK,
    UNIT,
    VERIFIED_ON,
    TemplateColumn,
)
from census.vocabulary import CareTag, Relation, ResidenceType, Tenure
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation

ImportFormatName: TypeAlias = Literal["xlsx", "csv"]

# Excel's last row. A sheet or CSV longer than that was not made by a person in Excel, and the
# bound also stops a file of endless blank rows (MAX_ROWS counts only rows with content).
LAST_SHEET_ROW: Final = 1_048_576
# The header may sit under a title row ("市北社区居民信息表"), as in many community spreadsheets.
HEADER_SEARCH_ROWS: Final = 10
# No template cell needs more than a few dozen characters; Excel allows 32,767. A longer cell is
# refused before any normalisation work is spent on it.
MAX_CELL_CHARS: Final = 1_000
# A CSV line longer than this is hostile or not a CSV: 14 columns fit in a few hundred.
MAX_CSV_LINE_CHARS: Final = 64 * 1024
# An .xlsx is a zip of XML. A 300,000-row file of the template expands to under 200 MiB; the cap
# stops a zip bomb before openpyxl inflates it (zipfile yields no more than a member's declared
# size, so the declared sizes can be trusted as a bound).
MAX_XLSX_EXPANDED_BYTES: Final = 512 * 1024 * 1024


# --- What comes out ----------------------------------------------------------------------------


class ImportFileError(DomainError):
    """The file as a whole can't be imported: unreadable, no usable header, or too large.

    An invalid-input :class:`DomainError`, so the service's one error table maps it like any
    other; ``code`` is ``census.import_*``.
    """


@dataclass(frozen=True)
class RowProblem:
    """One problem in one cell, for the import report (the proto's ``RowError``)."""

    row: int  # as Excel shows it
    column: str  # the template's Chinese header, whatever the file's header said
    message_zh: str
    message_en: str


@dataclass(frozen=True)
class ParsedRow:
    """A row whose every cell is valid, normalised for storage.

    Derived facts (birth date, sex, age band, elderly and child tags) come from ``id_number``.
    """

    row: int
    # Personal data stays out of repr so that a logged row leaks nothing.
    name: str = field(repr=False)
    id_number: str = field(repr=False)  # 18 characters, upper-case X
    birth_date: date  # from the ID number
    sex: Sex  # from the ID number
    phone: str | None = field(repr=False)  # 11 digits
    relation_to_head: Relation
    residence_type: ResidenceType
    tenure: Tenure
    complex_name: str
    building_number: str
    unit_number: str
    room: str
    moved_in_on: date | None
    care_tags: frozenset[CareTag]  # never ELDERLY or CHILD: those are derived
    tags: tuple[str, ...]
    verified_on: date


RowResult: TypeAlias = ParsedRow | list[RowProblem]


def file_fingerprint(data: bytes) -> str:
    """The SHA-256 of the file's bytes (hex): the same upload twice is imported once."""
    return hashlib.sha256(data).hexdigest()


def read_rows(
    data: bytes | BinaryIO,
    *,
    format: ImportFormatName,  # shadows the builtin: it is the name the proto uses
    today: date,
    max_rows: int = MAX_ROWS,
) -> Iterator[RowResult]:
    """Validate an import file row by row; blank rows are skipped.

    The header is found and checked now (:class:`ImportFileError` if the file can't be opened or
    lacks a required column); rows are read as the iterator is consumed. A stream is read from
    its start. CSV may be UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030/GBK as
    Chinese Excel writes it. ``today`` bounds birth, move-in and verification dates.
    """
    if format not in ("xlsx", "csv"):
        raise ValueError(f"unknown import format {format!r}")
    source = _seekable(data)
    rows = _xlsx_rows(source) if format == "xlsx" else _csv_rows(source)
    try:
        header = _read_header(rows)
    except BaseException:
        rows.close()
        raise
    return _row_results(rows, header, today=today, max_rows=max_rows)


def _row_results(
    rows: _Rows, header: _Header, *, today: date, max_rows: int
) -> Iterator[RowResult]:
    first_row_of_id: dict[str, int] = {}
    data_rows = 0
    try:
        for number, cells in rows:
            values = header.values_in(cells)
            if values is None:
                continue
            data_rows += 1
            if data_rows > max_rows:
                raise _file_error(
                    "census.import_too_many_rows",
                    f"文件超过{max_rows:,}行，请拆分后分批导入",
                    f"the file has more than {max_rows:,} rows; split it and import the parts",
                )
            yield _parse_row(_Row(number, values), today, first_row_of_id)
    finally:
        rows.close()


# --- One row: the business rules --------------------------------------------------------------


def _parse_row(row: _Row, today: date, first_row_of_id: dict[str, int]) -> RowResult:
    name = _name(row)
    resident = _resident_id(row, today)
    if resident is not None:
        _refuse_repeated_id(row, resident.number, first_row_of_id)
    phone = _phone(row)
    relation = _choice(row, RELATION, RELATION_VALUES, RELATION_LABELS)
    residence_type = _choice(row, RESIDENCE_TYPE, RESIDENCE_TYPE_VALUES, RESIDENCE_TYPE_LABELS)
    tenure = _choice(row, TENURE, TENURE_VALUES, TENURE_LABELS)
    complex_name = row.text(COMPLEX)
    building_number = row.text(BUILDING)
    unit_number = row.text(UNIT)
    room = row.text(ROOM)
    moved_in_on = _date(row, MOVED_IN_ON, today)
    if moved_in_on is not None and resident is not None and moved_in_on < resident.birth_date:
        row.problem(
            MOVED_IN_ON,
            "入住日期早于身份证号中的出生日期",
            "the move-in date is before the birth date in the ID number",
        )
    care_tags = _care_tags(row)
    tags = _free_tags(row)
    verified_on = _date(row, VERIFIED_ON, today)
    if row.problems:
        return row.problems
    return ParsedRow(
        row=row.number,
        name=_present(name),
        id_number=_present(resident).number,
        birth_date=_present(resident).birth_date,
        sex=_present(resident).sex,
        phone=phone,
        relation_to_head=_present(relation),
        residence_type=_present(residence_type),
        tenure=_present(tenure),
        complex_name=_present(complex_name),
        building_number=_present(building_number),
        unit_number=_present(unit_number),
        room=_present(room),
        moved_in_on=moved_in_on,
        care_tags=care_tags,
        tags=tags,
        verified_on=_present(verified_on),
    )


_T = TypeVar("_T")
_DIGIT: Final = re.compile(r"\d")  # any Unicode digit, as str.isdigit sees them


def _present(value: _T | None) -> _T:
    """A required column's value in a row without problems, which is never missing."""
    if value is None:
        raise AssertionError("a row without problems lacks a required value")
    return value


def _name(row: _Row) -> str | None:
    name = row.text(NAME)
    if name is not None and _DIGIT.search(name):
        row.problem(
            NAME,
            "姓名中不应有数字，请检查是否填错了列",
            "a name has no digits; is this the right column?",
        )
        return None
    return name


def _resident_id(row: _Row, today: date) -> ResidentId | None:
    if isinstance(row.raw(ID_NUMBER), float):
        # Excel keeps 15 significant digits: an 18-digit number typed into a number-formatted
        # cell has already lost its last three, so there is nothing left to check.
        row.problem(
            ID_NUMBER,
            "身份证号被Excel存成了数字，后几位已丢失；请把本列设为文本格式后重新填写",
            "Excel stored the ID number as a number and lost its last digits; format the "
            "column as text and type the number again",
        )
        return None
    raw = row.text(ID_NUMBER)
    if raw is None:
        return None
    if MASK_CHARACTER in raw:
        row.problem(
            ID_NUMBER,
            "身份证号已脱敏（含*号），不能导入；请填写完整号码，或使用有权限人员导出的未脱敏文件",
            "the ID number is masked (it contains *) and cannot be imported; write the full "
            "number or use an unmasked export made by a pii-reader",
        )
        return None
    try:
        return parse_id_number(raw, today=today, field=ID_NUMBER.name_en)
    except DomainError as error:
        row.problem(ID_NUMBER, error.message_zh, error.message_en)
        return None


def _refuse_repeated_id(row: _Row, number: str, first_row_of_id: dict[str, int]) -> None:
    first = first_row_of_id.setdefault(number, row.number)
    if first != row.number:
        row.problem(
            ID_NUMBER,
            f"身份证号与第{first}行重复",
            f"the same ID number as row {first}",
        )


def _phone(row: _Row) -> str | None:
    raw = row.text(PHONE)
    if raw is None:
        return None
    if MASK_CHARACTER in raw:
        row.problem(
            PHONE,
            "手机号已脱敏（含*号），不能导入；请填写完整号码或留空",
            "the phone number is masked (it contains *); write the full number or leave it empty",
        )
        return None
    try:
        return parse_mobile(raw, field=PHONE.name_en)
    except DomainError as error:
        row.problem(PHONE, error.message_zh, error.message_en)
        return None


_E = TypeVar("_E")


def _choice(
    row: _Row, column: TemplateColumn, accepted: Mapping[str, _E], labels: Mapping[_E, str]
) -> _E | None:
    text = row.text(column)
    if text is None:
        return None
    value = accepted.get(_choice_key(text))
    if value is None:
        row.problem(
            column,
            "无法识别，请填写：" + "、".join(labels.values()),
            "not an accepted value; write one of "
            + ", ".join(f"{label} ({item})" for item, label in labels.items()),
        )
    return value


def _care_tags(row: _Row) -> frozenset[CareTag]:
    text = row.text(CARE_TAGS)
    if text is None:
        return frozenset()
    tags: set[CareTag] = set()
    for position, word in enumerate(_split_tags(text), start=1):
        if word in DERIVED_CARE_TAG_LABELS:
            continue
        tag = CARE_TAG_VALUES.get(_choice_key(word))
        if tag is None:
            row.problem(
                CARE_TAGS,
                f"第{position}个关爱标签无法识别，可填："
                + "、".join(IMPORTABLE_CARE_TAG_LABELS.values())
                + "，多个用“、”分隔",
                f"care tag {position} is not recognised; write "
                + ", ".join(f"{label} ({tag})" for tag, label in IMPORTABLE_CARE_TAG_LABELS.items())
                + ", separated by 、 , or ;",
            )
            continue
        tags.add(tag)
    return frozenset(tags)


def _free_tags(row: _Row) -> tuple[str, ...]:
    text = row.text(TAGS)
    if text is None:
        return ()
    tags = tuple(dict.fromkeys(_split_tags(text)))  # without repeats, in the order written
    if len(tags) > MAX_TAGS:
        row.problem(
            TAGS, f"标签最多{MAX_TAGS}个", f"at most {MAX_TAGS} tags, this cell has {len(tags)}"
        )
    if any(len(tag) > MAX_TAG_LENGTH for tag in tags):
        row.problem(
            TAGS,
            f"每个标签不超过{MAX_TAG_LENGTH}个字",
            f"a tag has at most {MAX_TAG_LENGTH} characters",
        )
    return tags


# 、 stays as it is under NFKC; full-width ，and ；fold to , and ;.
_TAG_SEPARATOR: Final = re.compile(r"[、,;\s]+")


def _split_tags(text: str) -> list[str]:
    return [word for word in _TAG_SEPARATOR.split(text) if word]


def _choice_key(text: str) -> str:
    return "".join(text.split()).lower()


# --- Dates ---------------------------------------------------------------------------------------

# 2023-05-01, 2023/5/1, 2023.5.1, 2023年5月1日, optionally with a time as CSV exports add it.
_DATE_TEXT: Final = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?"
)
_COMPACT_DATE: Final = re.compile(r"(\d{4})(\d{2})(\d{2})")  # 20230501, common on paper forms
# Excel serial day numbers: day 1 is 1900-01-01 and, after Excel's phantom 1900-02-29, day n is
# 1899-12-30 + n. Only numbers for 1920-2099 are taken as dates, so that a lone year such as
# 2023 is not read as a day in 1905.
_EXCEL_EPOCH: Final = date(1899, 12, 30)
_EXCEL_SERIALS: Final = range(7_306, 73_051)
_EARLIEST_DATE: Final = date(1900, 1, 1)


def _date(row: _Row, column: TemplateColumn, today: date) -> date | None:
    day = _date_in(row, column)
    if day is None:
        return None
    if day < _EARLIEST_DATE:
        row.problem(column, "日期早于1900年，请核对", "the date is before 1900; please check it")
        return None
    if day > today:
        row.problem(column, "日期晚于今天，请核对", "the date is after today; please check it")
        return None
    return day


def _date_in(row: _Row, column: TemplateColumn) -> date | None:
    value = row.raw(column)
    if isinstance(value, datetime):  # what openpyxl gives for a date-formatted cell
        return value.date()
    if isinstance(value, date):
        return value
    text = row.text(column)
    if text is None:
        return None
    if isinstance(value, int | float) and (day := _date_of_number(value)) is not None:
        return day
    return _date_of_text(row, column, text)


def _date_of_number(value: float) -> date | None:
    if isinstance(value, bool) or not float(value).is_integer():
        return None
    if int(value) in _EXCEL_SERIALS:
        return _EXCEL_EPOCH + timedelta(days=int(value))
    return None  # 20230501 typed as a number is read from its text


def _date_of_text(row: _Row, column: TemplateColumn, text: str) -> date | None:
    if len(text) == 10 and text[4] == "-" and text[7] == "-":  # 2023-05-01, the common case
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass  # e.g. 2023-02-30: the general path below names the problem
    match = _DATE_TEXT.fullmatch(text) or _COMPACT_DATE.fullmatch(text)
    if match is None:
        row.problem(
            column,
            "日期格式无法识别，请填写如 2023-05-01、2023/5/1 或 2023年5月1日",
            "not a date; write e.g. 2023-05-01, 2023/5/1 or 2023年5月1日",
        )
        return None
    year, month, day = (int(part) for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        row.problem(
            column, "日期不存在（如2月30日），请核对", "no such calendar date; please check it"
        )
        return None


# --- A row's cells ------------------------------------------------------------------------------


class _Row:
    """One data row being checked: collects every problem instead of stopping at the first."""

    def __init__(self, number: int, cells: Mapping[TemplateColumn, object]) -> None:
        self.number = number
        self._cells = cells
        self.problems: list[RowProblem] = []

    def problem(self, column: TemplateColumn, message_zh: str, message_en: str) -> None:
        self.problems.append(RowProblem(self.number, column.header_zh, message_zh, message_en))

    def raw(self, column: TemplateColumn) -> object:
        """The cell as the file holds it (str, int, float, datetime, bool or None)."""
        return self._cells.get(column)

    def text(self, column: TemplateColumn) -> str | None:
        """The cell as trimmed text, or None when it is empty (a problem if required)."""
        value = self._cells.get(column)
        if (
            type(value) is str
            and len(value) <= column.max_length
            and (value.isascii() or unicodedata.is_normalized("NFKC", value))
        ):
            # The common cell: already NFKC, short enough even before trimming.
            text = " ".join(value.split())
            if text and text[0] != TEXT_MARK and text not in BLANK_PLACEHOLDERS:
                return text
        if isinstance(value, datetime | date | time) and column not in DATE_COLUMNS:
            # Excel turns "1-2" or "3/5" typed into a general-format cell into a date.
            self.problem(
                column,
                "Excel把这个单元格当成了日期，请把本列设为文本格式后重新填写",
                "Excel took this cell for a date; format the column as text and type it again",
            )
            return None
        if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
            self._too_long(column)
            return None
        text = _text_of(value)
        if not text or text in BLANK_PLACEHOLDERS:
            if column.required:
                self.problem(column, "必填，不能为空", "required; must not be empty")
            return None
        if len(text) > column.max_length:
            self._too_long(column)
            return None
        return text

    def _too_long(self, column: TemplateColumn) -> None:
        self.problem(
            column,
            f"内容过长，最多{column.max_length}个字",
            f"too long: at most {column.max_length} characters",
        )


def _text_of(value: object) -> str:
    """A cell as text: full-width forms folded (NFKC), whitespace runs made one space."""
    if type(value) is str:
        # ASCII is already in NFKC; most cells of a generated file are, and skip the work.
        text = value if value.isascii() else unicodedata.normalize("NFKC", value)
    elif value is None:
        return ""
    elif isinstance(value, bool):
        return "是" if value else "否"  # an Excel TRUE/FALSE cell in the 是否租住 column
    elif isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        text = str(int(value))  # a room typed as 502 may come back as 502.0
    else:
        text = unicodedata.normalize("NFKC", str(value))
    text = " ".join(text.split())
    if text[1:2] in FORMULA_TRIGGERS and text.startswith(TEXT_MARK):
        return text[1:]  # our CSV export's guard against formula injection, taken off again
    return text


# --- The header --------------------------------------------------------------------------------


# Stars, spaces, underscores, hyphens and remarks in brackets are decoration: "*姓名",
# "身份证号（必填）", "ID number" and "id_number" all name a column.
_HEADER_DECORATION: Final = re.compile(r"\(.*?\)|[*\s_\-]")


def _header_key(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_CELL_CHARS:
        return ""
    return _HEADER_DECORATION.sub("", unicodedata.normalize("NFKC", value)).lower()


_COLUMN_BY_HEADER: Final[Mapping[str, TemplateColumn]] = {
    _header_key(name): column
    for column in COLUMNS
    for name in (column.header_zh, column.name_en, *column.aliases)
}


@dataclass(frozen=True)
class _Header:
    row: int
    positions: Mapping[TemplateColumn, int]  # column → index of its cell in a row

    def values_in(self, cells: Sequence[object]) -> dict[TemplateColumn, object] | None:
        """The template columns' cells of a row; None for a blank row.

        Cells of other columns ("序号", "备注") are not looked at, so a row with nothing but a
        pre-filled sequence number counts as blank.
        """
        values: dict[TemplateColumn, object] = {}
        for column, index in self.positions.items():
            value = cells[index] if index < len(cells) else None
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            values[column] = value
        return values or None


def _read_header(rows: _Rows) -> _Header:
    seen_content = False
    for number, cells in rows:
        header = _recognised_header(number, cells)
        if header is not None:
            _refuse_missing_columns(header)
            return header
        seen_content = seen_content or any(_text_of(cell) for cell in cells)
        if number >= HEADER_SEARCH_ROWS:
            break
    if not seen_content:
        raise _file_error(
            "census.import_empty_file",
            "文件是空的：第一个工作表中没有表头和数据",
            "the file is empty: its first sheet has neither a header nor rows",
        )
    raise _file_error(
        "census.import_no_header",
        f"前{HEADER_SEARCH_ROWS}行中找不到表头，请使用导入模板（第1行为列名，如“姓名”“身份证号”）",
        f"no header in the first {HEADER_SEARCH_ROWS} rows; use the import template (row 1 "
        "names the columns, e.g. 姓名 (name), 身份证号 (id_number))",
    )


def _recognised_header(number: int, cells: Sequence[object]) -> _Header | None:
    positions: dict[TemplateColumn, int] = {}
    for index, cell in enumerate(cells):
        column = _COLUMN_BY_HEADER.get(_header_key(cell))
        if column is None:
            continue
        if column in positions:
            raise _file_error(
                "census.import_duplicate_column",
                f"表头中“{column.header_zh}”出现了两次"
                f"（第{positions[column] + 1}列和第{index + 1}列）",
                f"the header names {column.header_zh} ({column.name_en}) twice (columns "
                f"{positions[column] + 1} and {index + 1})",
                FieldViolation(column.header_zh, "column appears twice in the header"),
            )
        positions[column] = index
    return _Header(number, positions) if positions else None


def _refuse_missing_columns(header: _Header) -> None:
    missing = [column for column in REQUIRED_COLUMNS if column not in header.positions]
    if missing:
        raise _file_error(
            "census.import_missing_columns",
            f"表头（第{header.row}行）缺少必填列：" + "、".join(c.header_zh for c in missing),
            f"the header (row {header.row}) lacks required columns: "
            + ", ".join(f"{c.header_zh} ({c.name_en})" for c in missing),
            *(FieldViolation(c.header_zh, "required column is missing") for c in missing),
        )


# --- The files -------------------------------------------------------------------------------

# (spreadsheet row number, the row's cell values)
_Rows: TypeAlias = Generator[tuple[int, Sequence[object]], None, None]


def _seekable(data: bytes | BinaryIO) -> BinaryIO:
    if isinstance(data, bytes | bytearray):
        return io.BytesIO(data)
    if data.seekable():
        data.seek(0)
        return data
    # openpyxl needs to seek in the zip, and the CSV encoding is checked before reading rows.
    return io.BytesIO(data.read())


# What openpyxl raises on a damaged or foreign file: it parses the zip's XML parts with little
# checking, so a malformed part surfaces as whatever its parser trips over. The try blocks that
# catch these hold only openpyxl calls, never this module's code. zipfile raises RuntimeError
# for an encrypted member and NotImplementedError (a RuntimeError) for a compression method or
# zip version it does not know.
_DAMAGED_XLSX: Final = (
    InvalidFileException,
    zipfile.BadZipFile,
    zlib.error,
    RuntimeError,
    ParseError,
    EOFError,
    OSError,
    KeyError,
    IndexError,
    ValueError,
    TypeError,
    AttributeError,
)


def _xlsx_rows(source: BinaryIO) -> _Rows:
    _refuse_zip_bomb(source)
    try:
        workbook = load_workbook(source, read_only=True, data_only=True, keep_links=False)
    except _DAMAGED_XLSX as error:
        raise _unreadable_xlsx() from error
    try:
        sheets = workbook.worksheets
        if not sheets:
            raise _unreadable_xlsx()
        sheet = sheets[0]
        # Read-only mode trusts the sheet's declared size, which some programs write wrongly
        # (e.g. "A1:A1"); reset, rows come as long as they really are.
        sheet.reset_dimensions()
        cell_rows = sheet.iter_rows(values_only=True)
        number = 0
        while True:
            try:
                cells = next(cell_rows)
            except StopIteration:
                return
            except _DAMAGED_XLSX as error:
                raise _unreadable_xlsx() from error
            number += 1  # openpyxl yields an empty row for each row missing from the file
            _refuse_row_beyond_excel(number)
            yield number, cells
    finally:
        workbook.close()


def _refuse_zip_bomb(source: BinaryIO) -> None:
    try:
        with zipfile.ZipFile(source) as archive:
            expanded = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, RuntimeError, EOFError, OSError, ValueError) as error:
        raise _unreadable_xlsx() from error
    finally:
        source.seek(0)
    if expanded > MAX_XLSX_EXPANDED_BYTES:
        raise _file_error(
            "census.import_file_too_large",
            f"文件解压后超过{MAX_XLSX_EXPANDED_BYTES // 2**20} MB，请拆分后分批导入",
            f"the workbook expands to more than {MAX_XLSX_EXPANDED_BYTES // 2**20} MiB; split "
            "it and import the parts",
        )


def _csv_rows(source: BinaryIO) -> _Rows:
    encoding, delimiter = _csv_dialect(source)
    text = io.TextIOWrapper(source, encoding=encoding, newline="")
    try:
        reader = csv.reader(_bounded_lines(text), delimiter=delimiter)
        number = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as error:
                raise _file_error(
                    "census.import_unreadable_file",
                    f"CSV文件第{number + 1}行格式错误（如引号不成对或内容过长），请检查",
                    f"the CSV file is malformed at row {number + 1} (unbalanced quotes or an "
                    "overlong field)",
                ) from error
            number += 1  # a record, as Excel shows it, even when a quoted cell spans lines
            _refuse_row_beyond_excel(number)
            yield number, cells
    finally:
        text.detach()  # the caller's stream stays open


def _bounded_lines(text: io.TextIOWrapper) -> Iterator[str]:
    while line := text.readline(MAX_CSV_LINE_CHARS + 1):
        if len(line) > MAX_CSV_LINE_CHARS:
            raise _file_error(
                "census.import_unreadable_file",
                f"CSV文件中有一行超过{MAX_CSV_LINE_CHARS:,}个字符，不是有效的导入文件",
                f"a line of the CSV file is longer than {MAX_CSV_LINE_CHARS:,} characters",
            )
        yield line


_ZIP_MAGIC: Final = b"PK\x03\x04"
_BOMS: Final = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Without a BOM: UTF-8 (Excel's "CSV UTF-8", WPS, most exports) or, failing that, GB18030, the
# superset of GBK and GB2312 that Chinese Excel's plain "CSV" writes. GBK text with Chinese in it
# is practically never valid UTF-8, so the order decides.
_ENCODINGS_WITHOUT_BOM: Final = ("utf-8", "gb18030")
_CHUNK: Final = 1 << 20


def _csv_dialect(source: BinaryIO) -> tuple[str, str]:
    """The file's encoding and delimiter (comma; tab or semicolon when the header says so)."""
    head = source.read(_CHUNK)
    source.seek(0)
    if head.startswith(_ZIP_MAGIC):
        raise _file_error(
            "census.import_format_mismatch",
            "这是一个Excel（.xlsx）文件，请按xlsx格式上传",
            "this is an Excel (.xlsx) file; upload it as xlsx",
        )
    candidates = next(
        ((encoding,) for bom, encoding in _BOMS if head.startswith(bom)), _ENCODINGS_WITHOUT_BOM
    )
    encoding = next((name for name in candidates if _decodes_as(source, name)), None)
    if encoding is None:
        raise _file_error(
            "census.import_encoding",
            "无法识别CSV文件的编码，请在Excel中另存为“CSV UTF-8”或xlsx格式后上传",
            "the CSV file's encoding is not UTF-8 or GBK/GB18030; save it from Excel as "
            '"CSV UTF-8" or as xlsx',
        )
    first_line = head.decode(encoding, errors="ignore").splitlines()[:1]
    line = first_line[0] if first_line else ""
    if "," not in line and ("\t" in line or ";" in line):
        return encoding, "\t" if line.count("\t") >= line.count(";") else ";"
    return encoding, ","


def _decodes_as(source: BinaryIO, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        while chunk := source.read(_CHUNK):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    finally:
        source.seek(0)
    return True


def _refuse_row_beyond_excel(number: int) -> None:
    if number > LAST_SHEET_ROW:
        raise _file_error(
            "census.import_too_many_rows",
            f"文件超过Excel的最大行数{LAST_SHEET_ROW:,}，不是有效的导入文件",
            f"the file has more rows than Excel allows ({LAST_SHEET_ROW:,})",
        )


def _unreadable_xlsx() -> ImportFileError:
    return _file_error(
        "census.import_unreadable_file",
        "无法读取该Excel文件：文件已损坏、设置了密码或不是.xlsx格式（.xls请先另存为.xlsx）",
        "the Excel file can't be read: it is damaged, password-protected or not .xlsx "
        "(save an .xls file as .xlsx first)",
    )


def _file_error(
    code: str, message_zh: str, message_en: str, *violations: FieldViolation
) -> ImportFileError:
    """A refused file; without columns at fault, the upload's ``file`` field is named."""
    named = violations or (FieldViolation("file", message_en),)
    return ImportFileError(code, message_zh, message_en, ErrorKind.INVALID_INPUT, named)
