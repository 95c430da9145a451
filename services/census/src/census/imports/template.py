"""The resident import template: its columns, the values each accepts, and the files to download.

One resident per row. Staff fill the template in Excel (or WPS) and upload it as .xlsx or .csv;
:mod:`census.imports.reading` reads it back. The column list here is the single source of truth
for the header row, the explanation sheet ("说明"), the dropdowns and the reader's checks.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, TypeVar

# openpyxl ships no type hints: its classes are Any to mypy.
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from census.vocabulary import CareTag, Relation, ResidenceType, Tenure

# A file with more rows than this is refused as a whole: the largest community in the seeds has
# about 10,000 residents and a street about 100,000, so three times that is no census.
MAX_ROWS: Final = 300_000

DATA_SHEET_TITLE: Final = "居民信息"
NOTES_SHEET_TITLE: Final = "说明"

# Words staff write into a cell to say "nothing here"; they count as an empty cell.
BLANK_PLACEHOLDERS: Final = frozenset({"无", "暂无", "/", "-", "—", "——"})

# Excel and WPS run a CSV cell that starts with one of these as a formula (CSV injection). The
# export writes TEXT_MARK before such a value; the reader takes the mark off again.
FORMULA_TRIGGERS: Final = frozenset("=+-@")
TEXT_MARK: Final = "'"


# --- The enumerations a row carries ------------------------------------------------------------
# Values are the words the census stores and census.vocabulary maps to the proto enums, so a
# parsed row's values can be stored as they are.


# The Chinese word for each value, as the dropdown and the explanation sheet show it.
RELATION_LABELS: Final[Mapping[Relation, str]] = {
    Relation.SELF: "户主",
    Relation.SPOUSE: "配偶",
    Relation.CHILD: "子女",
    Relation.PARENT: "父母",
    Relation.OTHER: "其他",
}
RESIDENCE_TYPE_LABELS: Final[Mapping[ResidenceType, str]] = {
    ResidenceType.REGISTERED: "户籍",
    ResidenceType.RESIDENT: "常住",
    ResidenceType.MIGRANT: "流动",
}
TENURE_LABELS: Final[Mapping[Tenure, str]] = {Tenure.OWNER: "自有", Tenure.TENANT: "租住"}
IMPORTABLE_CARE_TAG_LABELS: Final[Mapping[CareTag, str]] = {
    CareTag.LIVING_ALONE: "独居",
    CareTag.DISABLED: "残疾",
    CareTag.PARTY_MEMBER: "党员",
    CareTag.VETERAN: "退役军人",
    CareTag.KEY_GROUP: "重点人群",
}
# 一老 and 一小 follow from the birth date in the ID number; a file that names them is not wrong,
# but what it says is not taken over (the ID number is the authority).
DERIVED_CARE_TAG_LABELS: Final = frozenset({"一老", "一小"})

_E = TypeVar("_E", bound=StrEnum)


def _accepted(labels: Mapping[_E, str], aliases: Mapping[str, _E]) -> Mapping[str, _E]:
    """Every spelling the reader accepts: the label, the English value, and common synonyms."""
    accepted: dict[str, _E] = {label: value for value, label in labels.items()}
    accepted.update({value.value: value for value in labels})
    accepted.update(aliases)
    return accepted


# Keys are compared after folding full-width forms, dropping spaces and lower-casing.
RELATION_VALUES: Final = _accepted(
    RELATION_LABELS,
    {
        "本人": Relation.SELF,
        "妻子": Relation.SPOUSE,
        "丈夫": Relation.SPOUSE,
        "儿子": Relation.CHILD,
        "女儿": Relation.CHILD,
        "父亲": Relation.PARENT,
        "母亲": Relation.PARENT,
    },
)
RESIDENCE_TYPE_VALUES: Final = _accepted(
    RESIDENCE_TYPE_LABELS,
    {
        "户籍人口": ResidenceType.REGISTERED,
        "常住人口": ResidenceType.RESIDENT,
        "流动人口": ResidenceType.MIGRANT,
    },
)
# The column asks "是否租住" (renting?): 是 (yes) means renting, 否 (no) means own home.
TENURE_VALUES: Final = _accepted(
    TENURE_LABELS,
    {"是": Tenure.TENANT, "否": Tenure.OWNER, "租赁": Tenure.TENANT, "自住": Tenure.OWNER},
)
CARE_TAG_VALUES: Final = _accepted(
    IMPORTABLE_CARE_TAG_LABELS,
    {
        "残疾人": CareTag.DISABLED,
        "中共党员": CareTag.PARTY_MEMBER,
        "独居老人": CareTag.LIVING_ALONE,
    },
)
# Care tags and free tags: several in one cell, separated like this (full-width ，；
# fold to , ; before splitting).
TAG_SEPARATORS_ZH: Final = "、 , ;"
MAX_TAGS: Final = 10
MAX_TAG_LENGTH: Final = 20


# --- The columns -------------------------------------------------------------------------------


# Compared by identity: each column is one module-level object, and the reader looks columns up
# in dicts for every row (a field-by-field hash would cost more than the lookup).
@dataclass(frozen=True, eq=False)
class TemplateColumn:
    """One column of the template.

    ``required`` columns must be in the header and filled in every row; optional ones may be
    left out of the file altogether.
    """

    header_zh: str
    name_en: str
    required: bool
    description_zh: str
    description_en: str
    example: str
    max_length: int
    # Chinese labels of an enumeration (the dropdown); empty for free text and dates.
    accepted_values: tuple[str, ...] = ()
    # Several values in one cell, separated by 、 , or ;.
    multiple: bool = False
    # Other headers seen in community spreadsheets that mean this column.
    aliases: tuple[str, ...] = ()


NAME: Final = TemplateColumn(
    "姓名",
    "name",
    required=True,
    description_zh="与身份证一致",
    description_en="as on the ID card",
    example="张三",
    max_length=50,
)
ID_NUMBER: Final = TemplateColumn(
    "身份证号",
    "id_number",
    required=True,
    description_zh="18位公民身份号码，末位可为X。请保持本列为文本格式，否则Excel会把后几位变成0",
    description_en="the 18-character resident ID number (the last may be X); keep the column "
    "formatted as text, or Excel turns the last digits into 0",
    example="330109199001011239",  # a valid number: people copy examples
    max_length=30,
    aliases=("身份证号码", "公民身份号码", "证件号码"),
)
PHONE: Final = TemplateColumn(
    "手机号",
    "phone",
    required=False,
    description_zh="11位手机号，可不填（如儿童）；暂不支持固定电话",
    description_en="11-digit mobile number; may be empty (children); landlines are not accepted",
    example="13812345678",
    max_length=30,
    aliases=("手机号码", "联系电话", "电话"),
)
RELATION: Final = TemplateColumn(
    "与户主关系",
    "relation_to_head",
    required=True,
    description_zh="户主本人填“户主”",
    description_en="the head of household writes 户主 (self)",
    example="户主",
    max_length=10,
    accepted_values=tuple(RELATION_LABELS.values()),
    aliases=("与户主的关系",),
)
RESIDENCE_TYPE: Final = TemplateColumn(
    "户籍类型",
    "residence_type",
    required=True,
    description_zh="户籍=户口在本社区；常住=户口在外、在本社区长期居住；流动=流动人口",
    description_en="户籍 registered here; 常住 living here long-term, registered elsewhere; "
    "流动 migrant",
    example="户籍",
    max_length=10,
    accepted_values=tuple(RESIDENCE_TYPE_LABELS.values()),
    aliases=("人口类型", "户籍性质"),
)
TENURE: Final = TemplateColumn(
    "是否租住",
    "tenure",
    required=True,
    description_zh="自有=住在自家房屋；租住=租房居住。其他表格中的“是”视为租住，“否”视为自有",
    description_en="自有 own home; 租住 renting. In other spreadsheets 是 (yes) is read as renting "
    "and 否 (no) as own home",
    example="自有",
    max_length=10,
    accepted_values=tuple(TENURE_LABELS.values()),
    aliases=("自有或租住", "租住情况"),
)
COMPLEX: Final = TemplateColumn(
    "小区",
    "complex",
    required=True,
    description_zh="小区名称，与系统中的小区一致",
    description_en="the residential complex's name, as the census knows it",
    example="晴庐",
    max_length=50,
    aliases=("小区名称",),
)
BUILDING: Final = TemplateColumn(
    "楼幢",
    "building",
    required=True,
    description_zh="楼幢号",
    description_en="building number",
    example="3幢",
    max_length=20,
    aliases=("楼栋", "楼号", "幢"),
)
UNIT: Final = TemplateColumn(
    "单元",
    "unit",
    required=True,
    description_zh="单元号；没有单元的楼幢填 1",
    description_en="unit (stairwell) number; a building without units writes 1",
    example="1单元",
    max_length=20,
    aliases=("单元号",),
)
ROOM: Final = TemplateColumn(
    "房号",
    "room",
    required=True,
    description_zh="房间号",
    description_en="room number",
    example="502",
    max_length=20,
    aliases=("房间号", "室号"),
)
MOVED_IN_ON: Final = TemplateColumn(
    "入住日期",
    "moved_in_on",
    required=False,
    description_zh="如 2023-05-01、2023/5/1 或 2023年5月1日；不晚于今天",
    description_en="e.g. 2023-05-01, 2023/5/1 or 2023年5月1日; not after today",
    example="2023-05-01",
    max_length=30,
    aliases=("入住时间",),
)
CARE_TAGS: Final = TemplateColumn(
    "关爱标签",
    "care_tags",
    required=False,
    description_zh="可填多个，用“、”“,”或“;”分隔。一老、一小由身份证号自动计算，无需填写",
    description_en="several allowed, separated by 、 , or ;. Elderly and child tags come from "
    "the ID number and need not be written",
    example="独居、党员",
    max_length=100,
    accepted_values=tuple(IMPORTABLE_CARE_TAG_LABELS.values()),
    multiple=True,
)
TAGS: Final = TemplateColumn(
    "其他标签",
    "tags",
    required=False,
    description_zh=f"自定义标签，用“、”“,”或“;”分隔；最多{MAX_TAGS}个，每个不超过{MAX_TAG_LENGTH}字",
    description_en=f"free tags separated by 、 , or ;; at most {MAX_TAGS}, each at most "
    f"{MAX_TAG_LENGTH} characters",
    example="楼道长、志愿者",
    max_length=200,
    multiple=True,
    aliases=("标签",),
)
VERIFIED_ON: Final = TemplateColumn(
    "核实日期",
    "verified_on",
    required=True,
    description_zh="最近一次上门核实的日期，格式同入住日期；不晚于今天",
    description_en="when the record was last confirmed door to door; formats as for "
    "moved_in_on; not after today",
    example="2025-03-15",
    max_length=30,
    aliases=("核实时间", "最近核实日期"),
)

COLUMNS: Final = (
    NAME,
    ID_NUMBER,
    PHONE,
    RELATION,
    RESIDENCE_TYPE,
    TENURE,
    COMPLEX,
    BUILDING,
    UNIT,
    ROOM,
    MOVED_IN_ON,
    CARE_TAGS,
    TAGS,
    VERIFIED_ON,
)
REQUIRED_COLUMNS: Final = tuple(column for column in COLUMNS if column.required)
DATE_COLUMNS: Final = frozenset({MOVED_IN_ON, VERIFIED_ON})
# Excel turns long digit strings into floats (an ID number loses its last digits) and "1-2" into
# a date, unless the column is formatted as text before anyone types.
_TEXT_FORMATTED_COLUMNS: Final = frozenset({ID_NUMBER, PHONE, BUILDING, UNIT, ROOM})

GENERAL_NOTES: Final = (
    (
        "每行填写一位居民；第1行为表头，请勿修改列名（列的顺序可以调整，也可以使用英文列名）。",
        "One resident per row. Row 1 is the header: keep the column names (their order may "
        "change; the English names work too).",
    ),
    (
        "数据请填在第一个工作表中；本说明页不会被导入。",
        "Fill in the first sheet; this sheet is not imported.",
    ),
    (
        "空行会被跳过；单元格中的“无”“/”“-”视为未填。",
        "Blank rows are skipped; 无, / and - in a cell count as empty.",
    ),
    (
        "日期可填 2023-05-01、2023/5/1、2023年5月1日 或Excel日期。",
        "Dates may be 2023-05-01, 2023/5/1, 2023年5月1日 or Excel dates.",
    ),
    (
        f"每个文件最多{MAX_ROWS:,}行。导入结果会列出每一行的问题（行号与Excel中看到的一致）。",
        f"At most {MAX_ROWS:,} rows per file. The import report names every problem by the row "
        "number Excel shows.",
    ),
)


# --- The files to download ---------------------------------------------------------------------

TEMPLATE_FILE_STEM: Final = "居民导入模板"
CONTENT_TYPES: Final[Mapping[str, str]] = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


def template_csv() -> bytes:
    """The header row as CSV, UTF-8 with a BOM so that Excel shows the Chinese correctly."""
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerow(column.header_zh for column in COLUMNS)
    return text.getvalue().encode("utf-8-sig")


def template_xlsx() -> bytes:
    """A workbook with the header row, dropdowns for the enumerations and a "说明" sheet."""
    workbook = Workbook()
    _fill_data_sheet(workbook.active)
    _fill_notes_sheet(workbook.create_sheet(NOTES_SHEET_TITLE))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


_REQUIRED_FILL: Final = PatternFill("solid", fgColor="FCE4D6")
_OPTIONAL_FILL: Final = PatternFill("solid", fgColor="EDEDED")
_LAST_EXCEL_ROW: Final = 1_048_576


def _fill_data_sheet(ws: Worksheet) -> None:
    ws.title = DATA_SHEET_TITLE
    ws.append([column.header_zh for column in COLUMNS])
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        header = ws.cell(row=1, column=index)
        header.font = Font(bold=True, color="C00000" if column.required else "000000")
        header.fill = _REQUIRED_FILL if column.required else _OPTIONAL_FILL
        dimension = ws.column_dimensions[letter]
        dimension.width = max(12, 2 * len(column.example) + 4, 2 * len(column.header_zh) + 4)
        if column in _TEXT_FORMATTED_COLUMNS:
            dimension.number_format = "@"
        elif column in DATE_COLUMNS:
            dimension.number_format = "yyyy-mm-dd"
        ws.add_data_validation(_hint_for(column, f"{letter}2:{letter}{_LAST_EXCEL_ROW}"))
    ws.freeze_panes = "A2"


def _hint_for(column: TemplateColumn, cells: str) -> DataValidation:
    """A dropdown for a single-choice column; an input hint (any value) for the others."""
    # Excel limits an input message to 255 characters and its title to 32.
    values = f"可填：{'、'.join(column.accepted_values)}。" if column.accepted_values else ""
    prompt = (values + column.description_zh)[:255]
    title = f"{column.header_zh}（{'必填' if column.required else '选填'}）"
    if column.accepted_values and not column.multiple:
        validation = DataValidation(
            type="list",
            formula1='"' + ",".join(column.accepted_values) + '"',
            allow_blank=True,
            showErrorMessage=True,
            errorTitle=column.header_zh,
            error="请从下拉列表中选择：" + "、".join(column.accepted_values),
        )
    else:
        validation = DataValidation(allow_blank=True)
    validation.showInputMessage = True
    validation.promptTitle = title
    validation.prompt = prompt
    validation.add(cells)
    return validation


def _fill_notes_sheet(ws: Worksheet) -> None:
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    ws.append(["居民信息导入说明 / How to fill in the resident import"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([])
    ws.append(["列名", "是否必填", "填写说明", "可填的值", "示例", "Column", "Description"])
    for cell in ws[3]:
        cell.font = bold
    for column in COLUMNS:
        ws.append(
            [
                column.header_zh,
                "必填" if column.required else "选填",
                column.description_zh,
                "、".join(column.accepted_values),
                column.example,
                column.name_en,
                column.description_en,
            ]
        )
    ws.append([])
    ws.append(["注意事项 / Notes"])
    ws.cell(row=ws.max_row, column=1).font = bold
    for note_zh, note_en in GENERAL_NOTES:
        ws.append([note_zh, None, None, None, None, None, note_en])
    for letter, width in zip("ABCDEFG", (14, 10, 48, 32, 20, 18, 60), strict=True):
        ws.column_dimensions[letter].width = width
    for row in ws.iter_rows(min_row=4):
        for cell in row:
            cell.alignment = wrap
