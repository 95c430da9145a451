"""Writing residents into the import template's shape: the export's files (.csv or .xlsx).

The counterpart of :mod:`census.imports.reading`, with no database and no gRPC: the service
hands in :class:`ExportRow` values (already masked or revealed) and streams out bytes. The
columns, their order and the words in them are the template's (:data:`template.COLUMNS`, the
Chinese labels 户主/配偶/…, 户籍/常住/流动, 自有/租住), so that an unmasked export imports again
unchanged. What reading accepts beyond that is never written:

- A street's export ends with a column 社区 (the community's tenant id), which the reader
  does not know and so ignores.
- A masked export starts with a note row above the header, so that nobody mistakes it for a
  file to import; the header is still found (the reader looks in the first rows), and every
  masked ID number is refused as a row error.
- CSV: UTF-8 with a BOM (Excel shows the Chinese), ``\\t`` before ID numbers and phones so that
  Excel keeps them as text (the reader drops whitespace), and a ``'`` before a value Excel would
  run as a formula (the reader drops it again). Produced row by row, never whole in memory.
- XLSX: openpyxl's write-only workbook (rows go to a temporary file as they come, strings are
  written inline), ID numbers and phones as text cells, dates as dates.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import BinaryIO, Final

# openpyxl ships no type hints: its classes are Any to mypy.
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from census.imports.template import (
    BUILDING,
    CARE_TAGS,
    COLUMNS,
    COMPLEX,
    DATA_SHEET_TITLE,
    FORMULA_TRIGGERS,
    ID_NUMBER,
    IMPORTABLE_CARE_TAG_LABELS,
    MOVED_IN_ON,
    NAME,
    PHONE,
    RELATION,
    RELATION_LABELS,
    RESIDENCE_TYPE,
    RESIDENCE_TYPE_LABELS,
    ROOM,
    TAGS,
    TENURE,
    TENURE_LABELS,
    TEXT_MARK,
    UNIT,
    VERIFIED_ON,
    TemplateColumn,
)
from census.vocabulary import CareTag, Relation, ResidenceType, Tenure

# The trailing column of a street's export; not a template column, so an import ignores it.
COMMUNITY_HEADER: Final = "社区"
MASKED_NOTE: Final = (
    "注意：本文件中的身份证号、手机号已脱敏（*号），不能用于导入。"
    "Note: ID numbers and phones in this file are masked (*) and it cannot be imported."
)
MASKED_FILE_SUFFIX: Final = "_已脱敏"
# 一老 and 一小 are shown as the census derives them; the reader accepts and skips them.
CARE_TAG_LABELS: Final[Mapping[CareTag, str]] = {
    CareTag.ELDERLY: "一老",
    CareTag.CHILD: "一小",
    **IMPORTABLE_CARE_TAG_LABELS,
}
# Several values in one cell: the first separator the reader splits on.
VALUE_SEPARATOR: Final = "、"
# A CSV piece is handed on once it holds this many characters (32-96 KiB of UTF-8); the service
# cuts the pieces into its own message size.
CSV_PIECE_CHARS: Final = 32 * 1024

# Columns Excel would turn into numbers (an 18-digit ID loses its last digits) or dates.
_TEXT_COLUMNS: Final = frozenset({ID_NUMBER, PHONE, BUILDING, UNIT, ROOM})
_KEEP_AS_TEXT_IN_CSV: Final = frozenset({ID_NUMBER, PHONE})


@dataclass(frozen=True)
class ExportRow:
    """One resident as the export writes it; ``id_number`` and ``phone`` as they are to appear
    (masked or revealed: the caller decided)."""

    name: str = field(repr=False)
    id_number: str = field(repr=False)
    phone: str = field(repr=False)  # empty when the census has none
    relation_to_head: Relation
    residence_type: ResidenceType
    tenure: Tenure
    complex_name: str
    building_number: str
    unit_number: str
    room: str
    moved_in_on: date | None
    care_tags: frozenset[CareTag]
    tags: tuple[str, ...]
    verified_on: date | None
    community: str = ""  # the row's tenant, written only in a street's export


def export_file_name(tenant: str, today: date, file_format: str, *, masked: bool) -> str:
    """``居民信息_xiaoshan.shushan.hushan_20261123_已脱敏.csv``: whose, when, and whether masked."""
    suffix = MASKED_FILE_SUFFIX if masked else ""
    return f"居民信息_{tenant}_{today:%Y%m%d}{suffix}.{file_format}"


def header(*, with_community: bool) -> list[str]:
    return [column.header_zh for column in COLUMNS] + ([COMMUNITY_HEADER] if with_community else [])


def cells_of(row: ExportRow, *, with_community: bool) -> list[str | date | None]:
    """The row's cells in the template's column order (dates as dates, empty as None)."""
    by_column: dict[TemplateColumn, str | date | None] = {
        NAME: row.name,
        ID_NUMBER: row.id_number,
        PHONE: row.phone or None,
        RELATION: RELATION_LABELS[row.relation_to_head],
        RESIDENCE_TYPE: RESIDENCE_TYPE_LABELS[row.residence_type],
        TENURE: TENURE_LABELS[row.tenure],
        COMPLEX: row.complex_name,
        BUILDING: row.building_number,
        UNIT: row.unit_number,
        ROOM: row.room,
        MOVED_IN_ON: row.moved_in_on,
        CARE_TAGS: VALUE_SEPARATOR.join(
            CARE_TAG_LABELS[tag] for tag in CareTag if tag in row.care_tags
        )
        or None,
        TAGS: VALUE_SEPARATOR.join(row.tags) or None,
        VERIFIED_ON: row.verified_on,
    }
    cells = [by_column[column] for column in COLUMNS]  # a new template column fails loudly here
    return [*cells, row.community] if with_community else cells


# --- CSV -----------------------------------------------------------------------------------------


def csv_pieces(rows: Iterable[ExportRow], *, masked: bool, with_community: bool) -> Iterator[bytes]:
    """The CSV file in pieces of about 64 KiB, each produced as the rows arrive."""
    width = len(COLUMNS) + (1 if with_community else 0)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")  # the BOM: Excel reads the file as UTF-8 only with it
    if masked:
        # Padded to the full width: the reader guesses the delimiter from the first line.
        writer.writerow([MASKED_NOTE] + [""] * (width - 1))
    writer.writerow(header(with_community=with_community))
    text_positions = {COLUMNS.index(column) for column in _KEEP_AS_TEXT_IN_CSV}
    for row in rows:
        cells = cells_of(row, with_community=with_community)
        writer.writerow(
            _csv_cell(cell, keep_as_text=index in text_positions)
            for index, cell in enumerate(cells)
        )
        if buffer.tell() >= CSV_PIECE_CHARS:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _csv_cell(cell: str | date | None, *, keep_as_text: bool) -> str:
    if cell is None:
        return ""
    if isinstance(cell, date):
        return cell.isoformat()
    if keep_as_text:
        return "\t" + cell  # Excel opens "\t330109…" as text, not as 3.30109E+17
    return TEXT_MARK + cell if cell[:1] in FORMULA_TRIGGERS else cell


# --- XLSX ----------------------------------------------------------------------------------------

_NOTE_FONT: Final = Font(bold=True, color="C00000")
_HEADER_FONT: Final = Font(bold=True)
_HEADER_FILL: Final = PatternFill("solid", fgColor="EDEDED")


def write_xlsx(
    rows: Iterable[ExportRow], into: BinaryIO, *, masked: bool, with_community: bool
) -> None:
    """Write the workbook into ``into`` (a temporary file: openpyxl needs to seek while saving).

    Memory stays bounded by openpyxl's write-only mode: each row is serialised to its own
    temporary file as it is appended, and strings are written inline (no shared-string table).
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(DATA_SHEET_TITLE)
    for index, column in enumerate(COLUMNS, start=1):
        width = 22 if column is ID_NUMBER else 14
        sheet.column_dimensions[get_column_letter(index)].width = width
    if with_community:
        sheet.column_dimensions[get_column_letter(len(COLUMNS) + 1)].width = 28
    if masked:
        note = WriteOnlyCell(sheet, MASKED_NOTE)
        note.font = _NOTE_FONT
        sheet.append([note])
    sheet.freeze_panes = "A3" if masked else "A2"
    sheet.append([_header_cell(sheet, name) for name in header(with_community=with_community)])
    text_positions = {COLUMNS.index(column) for column in _TEXT_COLUMNS}
    for row in rows:
        cells = cells_of(row, with_community=with_community)
        sheet.append(
            [
                _xlsx_cell(sheet, cell, as_text=index in text_positions)
                for index, cell in enumerate(cells)
            ]
        )
    workbook.save(into)


def _header_cell(sheet: object, name: str) -> object:
    cell = WriteOnlyCell(sheet, name)
    cell.font = _HEADER_FONT
    cell.fill = _HEADER_FILL
    return cell


def _xlsx_cell(sheet: object, value: str | date | None, *, as_text: bool) -> object:
    if value is None or isinstance(value, date):
        return value  # openpyxl gives a date the yyyy-mm-dd format
    cell = WriteOnlyCell(sheet, value)
    # openpyxl takes "=…" for a formula and "#N/A" for an error; our values are only ever text.
    cell.data_type = "s"
    if as_text:
        cell.number_format = "@"  # stays text when someone edits the cell in Excel
    return cell
