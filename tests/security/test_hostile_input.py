"""Hostile input through the gateway, as a community's staff would send it by mistake or an
attacker on purpose: malformed spreadsheets, bodies of the wrong type, unicode edge cases,
characters no database keeps, SQL and LIKE metacharacters in searches, text longer than any
column. Every one is answered cleanly — a problem+json naming the field, or the text kept
exactly as typed — and nothing is half-saved.

Oversized bodies and deep JSON belong to the gateway's limits (their own tests). The tests
work in Shibei, in a complex of their own, so what they count is theirs alone.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import pytest

from shequ_infra.platform import RunningPlatform
from shequ_infra.rest_checks import assert_problem, fields_of

if TYPE_CHECKING:
    from tests.security.conftest import DemoTokens

pytestmark = pytest.mark.platform  # a session of its own: see the Makefile

SHIBEI = "xiaoshan.beigan.shibei"
SHANGHAI = ZoneInfo("Asia/Shanghai")
STAFF = "shibei-staff"
STAIRWELL_CLUTTER = "0103"  # 楼道堆积物, a case category every community has
# GB 11643 check: weights of the first 17 digits, and the check character by sum mod 11.
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
# The census refuses a workbook that would expand past 512 MiB before opening it.
BOMB_EXPANDED_BYTES = 520 * 2**20
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
TEMPLATE_COLUMNS = (
    *("姓名", "身份证号", "手机号", "与户主关系", "户籍类型", "是否租住", "小区", "楼幢"),
    *("单元", "房号", "入住日期", "关爱标签", "其他标签", "核实日期"),
)


def id_number(birth: str, sequence: int) -> str:
    """A valid resident ID number of Xiaoshan (330109) for ``birth`` (YYYYMMDD)."""
    first17 = f"330109{birth}{sequence:03d}"
    weighted = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    return first17 + ID_CHECK[weighted % 11]


@dataclass
class Staff:
    """Shibei's staff calling the REST API."""

    url: str
    tokens: DemoTokens

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        prefix = "" if path.startswith("/api/") else f"/api/v1/tenants/{SHIBEI}"
        headers = {"Authorization": f"Bearer {self.tokens(STAFF)}", **kwargs.pop("headers", {})}
        return httpx.request(
            method, f"{self.url}{prefix}{path}", headers=headers, timeout=120, **kwargs
        )

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def raw_json(self, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
        """The body as JSON text with every non-ASCII character escaped: how a client sends
        a lone surrogate, which cannot be encoded as UTF-8."""
        return self.call(
            method,
            path,
            content=json.dumps(body).encode("ascii"),
            headers={"Content-Type": "application/json"},
        )

    def names(self, contains: str) -> list[str]:
        page = self.ok("GET", "/residents", params={"name": contains, "page_size": 500})
        return [resident["name"] for resident in page["items"]]

    def complex_names(self) -> set[str]:
        names: set[str] = set()
        token = ""
        while True:
            page = self.ok("GET", "/complexes", params={"page_size": 500, "page_token": token})
            names |= {c["name"] for c in page["items"]}
            token = page["next_page_token"]
            if not token:
                return names

    def residents_total(self) -> int:
        figures = self.ok("GET", "/stats/census")
        return int(figures["total"]["residents"])


@dataclass(frozen=True)
class Home:
    """A complex, building, unit and dwelling of the tests' own, with one household."""

    complex_name: str
    building_id: str
    building_number: str
    unit_number: str
    room: str
    household_id: str


@pytest.fixture(scope="module")
def staff(platform: RunningPlatform, tokens: DemoTokens) -> Staff:
    return Staff(platform.gateway_url, tokens)


@pytest.fixture(scope="module")
def home(staff: Staff) -> Home:
    name = f"安全测试苑{uuid.uuid4().hex[:6]}"
    complex_ = staff.ok("POST", "/complexes", json={"name": name, "address": "测试路1号"})
    building = staff.ok("POST", "/buildings", json={"complex_id": complex_["id"], "number": "1幢"})
    unit = staff.ok("POST", "/units", json={"building_id": building["id"], "number": "1单元"})
    dwelling = staff.ok("POST", "/dwellings", json={"unit_id": unit["id"], "room": "101"})
    household = staff.ok(
        "POST", "/households", json={"dwelling_id": dwelling["id"], "tenure": "owner"}
    )
    return Home(name, building["id"], "1幢", "1单元", "101", household["id"])


def register(staff: Staff, home: Home, name: str, sequence: int, **extra: Any) -> httpx.Response:
    return staff.call(
        "POST",
        "/residents",
        json={
            "household_id": home.household_id,
            "name": name,
            "id_number": id_number("19800101", sequence),
            "relation_to_head": "other",
            "residence_type": "registered",
            "tenure": "owner",
            **extra,
        },
    )


# ---- spreadsheets ----


def zip_bomb_workbook(template: bytes) -> bytes:
    """The real template with a shared-strings part that inflates past the census's bound
    (half a megabyte on the wire, written in chunks so the test never holds it whole)."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(template)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb,
    ):
        for member in source.infolist():
            if member.filename != "xl/sharedStrings.xml":
                bomb.writestr(member, source.read(member))
        with bomb.open("xl/sharedStrings.xml", "w", force_zip64=True) as strings:
            strings.write(
                b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            )
            strings.write(b"<si><t>")
            chunk = b"A" * 2**20
            for _ in range(BOMB_EXPANDED_BYTES // len(chunk)):
                strings.write(chunk)
            strings.write(b"</t></si></sst>")
    return out.getvalue()


def upload(staff: Staff, file_name: str, content: bytes) -> httpx.Response:
    return staff.call("POST", "/imports", files={"file": (file_name, content)})


def test_malformed_spreadsheets_are_refused_naming_the_file(
    staff: Staff, capsys: pytest.CaptureFixture[str]
) -> None:
    template = staff.call("GET", "/imports/template").content
    before = staff.residents_total()
    hostile = {
        "not a zip, named .xlsx": ("居民.xlsx", b"PK? not a workbook, just text", "unreadable"),
        "a truncated workbook": ("居民.xlsx", template[: len(template) // 2], "unreadable"),
        "binary junk named .csv": ("居民.csv", bytes(range(256)) * 64, "encoding"),
        "a zip bomb of shared strings": ("居民.xlsx", zip_bomb_workbook(template), "too_large"),
    }
    for what, (file_name, content, reason) in hostile.items():
        problem = assert_problem(upload(staff, file_name, content), 422)
        with capsys.disabled():
            print(f"\nupload of {what} ({len(content):,} bytes): 422 {problem['code']}")
        assert reason in problem["code"], (what, problem)
        assert fields_of(problem) == {"file"}, (what, problem)
    assert staff.residents_total() == before, "a refused file imported residents"


def csv_of(home: Home, rows: list[tuple[str, str]]) -> str:
    """A template CSV of residents (name, ID number) living in the tests' own dwelling."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(TEMPLATE_COLUMNS)
    verified_on = datetime.now(SHANGHAI).date().isoformat()
    for name, number in rows:
        place = (home.complex_name, home.building_number, home.unit_number, home.room)
        writer.writerow((name, number, "", "其他", "户籍", "自有", *place, "", "", "", verified_on))
    return text.getvalue()


@pytest.mark.parametrize(
    ("encoding", "name", "sequence"),
    [("gbk", "欧阳娜娜", 201), ("utf-8-sig", "诸葛亮亮", 202)],
    ids=["gbk", "utf-8 with bom"],
)
def test_csv_in_gbk_or_utf8_with_bom_imports_the_names_as_written(
    staff: Staff, home: Home, encoding: str, name: str, sequence: int
) -> None:
    # A name is letters only (an import refuses digits): unique through ten characters GBK has.
    name += "".join("甲乙丙丁戊己庚辛壬癸"[int(d, 16) % 10] for d in uuid.uuid4().hex[:5])
    content = csv_of(home, [(name, id_number("19750505", sequence))]).encode(encoding)
    report = staff.ok("POST", "/imports", files={"file": (f"居民-{encoding}.csv", content)})
    assert (report["rows_imported"], report["rejected"]) == (1, []), report
    assert staff.names(name) == [name]


def test_exports_neutralise_cells_that_a_spreadsheet_would_run_as_formulas(
    staff: Staff, home: Home
) -> None:
    formulas = [
        '=HYPERLINK("http://evil.example","点我")',
        "+1+2",
        "-3+4",
        "@SUM(A1)",
    ]
    for sequence, name in enumerate(formulas, start=301):
        assert register(staff, home, name, sequence).status_code == 201
    filters = {"building_id": home.building_id}
    csv_file = staff.call("GET", "/residents/export", params={**filters, "format": "csv"})
    assert csv_file.status_code == 200, csv_file.text
    # A masked export opens with a line saying so; the header row follows.
    lines = csv_file.content.decode("utf-8-sig").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("姓名,"))
    names = [row["姓名"] for row in csv.DictReader(lines[header:])]
    for name in formulas:
        assert "'" + name in names, (name, names)

    xlsx_file = staff.call("GET", "/residents/export", params={**filters, "format": "xlsx"})
    assert xlsx_file.status_code == 200, xlsx_file.text
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_file.content)).worksheets[0]
    cells = [cell for row in sheet.iter_rows() for cell in row if cell.value is not None]
    assert all(cell.data_type != "f" for cell in cells), "a cell is a formula"
    texts = {str(cell.value).lstrip("'") for cell in cells}
    assert set(formulas) <= texts


# ---- content types ----


def test_json_routes_refuse_other_content_types_and_upload_routes_refuse_json(
    staff: Staff, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"类型测试苑{uuid.uuid4().hex[:6]}"
    wrong_bodies: dict[str, dict[str, Any]] = {
        "text/plain": {
            "content": json.dumps({"name": name}),
            "headers": {"Content-Type": "text/plain"},
        },
        "form data": {"data": {"name": name}},
        "multipart": {"files": {"name": ("name.txt", name.encode())}},
    }
    for what, body in wrong_bodies.items():
        response = staff.call("POST", "/complexes", **body)
        problem = assert_problem(response, response.status_code)
        with capsys.disabled():
            print(f"\n{what} to a JSON route: {response.status_code} {problem['code']}")
        assert response.status_code in (415, 422), (what, problem)
    assert name not in staff.complex_names()

    response = staff.call("POST", "/imports", json={"file": "张三,330109198001010011"})
    problem = assert_problem(response, response.status_code)
    assert response.status_code in (415, 422), problem


# ---- unicode ----


def test_unicode_edge_cases_in_names_and_addresses_are_kept_as_typed(
    staff: Staff, home: Home
) -> None:
    tag = uuid.uuid4().hex[:6]
    complexes = {
        f"🏠晴庐{tag}": "市心北路 🚲 2号",  # astral emoji
        f"Café晴庐{tag}": "e\u0301 combining acute",  # combining mark, left as typed
        f"שלום晴庐{tag}": "\u202eRTL override 北路",  # right-to-left text and override
        f"晴\u200b庐{tag}": "zero\u200dwidth\ufeff joiner",  # zero-width space and joiner
    }
    for name, address in complexes.items():
        created = staff.ok("POST", "/complexes", json={"name": name, "address": address})
        assert (created["name"], created["address"]) == (name, address)
    assert set(complexes) <= staff.complex_names()

    resident = f"阿依古丽·麦麦提{tag}👩‍🌾"  # a middle dot and an emoji joined by U+200D
    assert register(staff, home, resident, 401).status_code == 201
    assert staff.names(f"麦麦提{tag}") == [resident]


def test_nul_and_lone_surrogates_are_refused_naming_the_field(staff: Staff, home: Home) -> None:
    marker = f"坏字符{uuid.uuid4().hex[:6]}"
    refused = [
        ("POST", "/complexes", {"name": f"{marker}\u0000苑"}, "body.name"),
        ("POST", "/complexes", {"name": marker, "address": "路\ud800"}, "body.address"),
        (
            "POST",
            "/cases",
            {"category_code": STAIRWELL_CLUTTER, "title": marker, "description": "\udfff"},
            "body.description",
        ),
        (
            "POST",
            "/residents",
            {
                "household_id": home.household_id,
                "name": f"{marker}\u0000",
                "id_number": id_number("19800101", 501),
                "relation_to_head": "other",
                "residence_type": "registered",
                "tenure": "owner",
            },
            "body.name",
        ),
    ]
    for method, path, body, field in refused:
        problem = assert_problem(staff.raw_json(method, path, body), 422)
        assert fields_of(problem) == {field}, problem
    search = staff.call("GET", "/residents", params={"name": "王\u0000"})
    assert fields_of(assert_problem(search, 422)) == {"query.name"}

    assert not any(marker in name for name in staff.complex_names())
    assert staff.names(marker) == []
    cases = staff.ok("GET", "/cases", params={"q": marker})["items"]
    assert cases == []


def test_full_width_digits_in_id_numbers_and_phones_are_read_or_refused_by_field(
    staff: Staff, home: Home
) -> None:
    number = id_number("19660606", 601)
    full_width_phone = "13812345678".translate(FULL_WIDTH)
    created = register(
        staff, home, "全角号码", 0, id_number=number.translate(FULL_WIDTH), phone=full_width_phone
    )
    assert created.status_code == 201, created.text
    resident = created.json()
    # Read as the ASCII number it is: masked like any other, found by its ASCII form, and the
    # same person cannot be registered again in ASCII digits.
    masked = (f"{number[:6]}**********{number[-2:]}", "138****5678")
    assert (resident["id_number"], resident["phone"]) == masked
    found = staff.ok("POST", "/residents/search", json={"id_number": number})["items"]
    assert [r["id"] for r in found] == [resident["id"]]
    again = register(staff, home, "全角号码", 0, id_number=number)
    assert_problem(again, 409)

    # Phones the case and grid services keep as typed are checked as ASCII digits: a
    # full-width one is refused naming the field, not stored in a shape no one can dial.
    case = staff.call(
        "POST",
        "/cases",
        json={
            "category_code": STAIRWELL_CLUTTER,
            "title": "楼道堆物",
            "source": "phone",
            "reporter_name": "张三",
            "reporter_phone": full_width_phone,
        },
    )
    assert fields_of(assert_problem(case, 422)) == {"body.reporter_phone"}


# ---- searches ----


def test_sql_and_like_metacharacters_in_searches_match_only_literally(
    staff: Staff, home: Home
) -> None:
    literal_names = {
        "%": "百分%比",
        "_": "下划_线",
        "\\": "反斜\\杠",
        "'": "单引'号",
        '"': '双引"号',
        ";": "分号;号",
        "--": "注释--号",
    }
    for sequence, name in enumerate(literal_names.values(), start=701):
        assert register(staff, home, name, sequence).status_code == 201
    assert len(staff.names("")) > len(literal_names)  # the list without a filter is large
    for metacharacter, name in literal_names.items():
        found = staff.names(metacharacter)
        assert name in found, (metacharacter, found)
        assert all(metacharacter in other for other in found), (metacharacter, found)

    title = f"窗户坏了%_{uuid.uuid4().hex[:6]}"
    staff.ok("POST", "/cases", json={"category_code": STAIRWELL_CLUTTER, "title": title})
    for metacharacter in ("%", "_", "%_"):
        found = staff.ok("GET", "/cases", params={"q": metacharacter, "page_size": 200})["items"]
        assert title in [case["title"] for case in found], metacharacter
        assert all(
            metacharacter in f"{c['title']}{c.get('description') or ''}{c['number']}" for c in found
        ), (metacharacter, [c["title"] for c in found])
    for injection in ("'; DROP TABLE cases; --", '" OR 1=1 --', "\\'"):
        assert staff.ok("GET", "/cases", params={"q": injection})["items"] == []
        assert staff.names(injection) == []


# ---- lengths ----


def test_text_beyond_its_column_is_refused_naming_the_field(staff: Staff, home: Home) -> None:
    marker = f"超长{uuid.uuid4().hex[:6]}"
    too_long = [
        ("/complexes", {"name": marker + "苑" * 200}, "name"),
        ("/complexes", {"name": marker, "address": "路" * 201}, "address"),
        (
            "/cases",
            {"category_code": STAIRWELL_CLUTTER, "title": marker + "题" * 101},
            "body.title",
        ),
        (
            "/residents",
            {
                "household_id": home.household_id,
                "name": marker + "名" * 51,
                "id_number": id_number("19800101", 801),
                "relation_to_head": "other",
                "residence_type": "registered",
                "tenure": "owner",
            },
            "name",
        ),
    ]
    for path, body, field in too_long:
        problem = assert_problem(staff.call("POST", path, json=body), 422)
        # The gateway names a body field "body.title"; a service names it "name".
        assert field in fields_of(problem) | {f.removeprefix("body.") for f in fields_of(problem)}
    assert not any(marker in name for name in staff.complex_names())
    assert staff.names(marker) == []

    resident = register(staff, home, "待删除", 802).json()
    removal = staff.call(
        "POST",
        f"/residents/{resident['id']}/remove",
        json={"reason": "登记有误" * 200, "expected_version": resident["version"]},
    )
    assert "reason" in {f.removeprefix("body.") for f in fields_of(assert_problem(removal, 422))}
    assert staff.ok("GET", f"/residents/{resident['id']}")["version"] == resident["version"]
