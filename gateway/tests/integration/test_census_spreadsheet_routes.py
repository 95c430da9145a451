"""The import template and the resident export through the gateway, against a real census gRPC
server and real tokens: download the template, fill it, import it; export it again as CSV and
xlsx, masked or (in a POST body, audited) revealed.

The census runs in this process with a database of its own (``gateway_census_files``).
"""

import csv
import io
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from census.app import CensusCore
from census.identity.codes import id_check_character
from census.imports.template import COLUMNS, DATA_SHEET_TITLE
from census.people.models import PiiReveal
from shequ_kit.db import system_scope

Login = Callable[..., str]
TODAY = date(2026, 11, 23)
HUSHAN = "xiaoshan.shushan.hushan"
XIANGYUAN = "xiaoshan.shushan.xiangyuan"
TEMPLATE_HEADER = [column.header_zh for column in COLUMNS]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REASON = "年度人口底数核对，报街道"
CENSUS_DATABASE = "gateway_census_files"  # this module's census server (conftest)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def url(tenant: str, path: str) -> str:
    return f"/api/v1/tenants/{tenant}{path}"


def id_number(birth: str, sequence: str) -> str:
    first17 = f"330109{birth}{sequence}"
    return first17 + id_check_character(first17)


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code)
    assert body["detail"]
    assert body["detail_en"]
    return body


def fields_of(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem.get("errors", [])}


def file_name_of(response: httpx.Response) -> str:
    """The Chinese file name from ``filename*`` (RFC 6266), checking the ASCII fallback too."""
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="census.')
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    return unquote(encoded)


def two_residents(complex_name: str, first_sequence: int) -> list[list[str]]:
    """A head and spouse of one dwelling, as staff type them into the template."""
    place = [complex_name, "2幢", "1单元", "301"]
    return [
        [
            "周模板",
            id_number("19580101", f"{first_sequence:03d}"),
            "13900001111",
            "户主",
            "户籍",
            "自有",
            *place,
            "2020-05-01",
            "独居",
            "楼道长",
            "2026-11-01",
        ],
        [
            "吴模板",
            id_number("19600202", f"{first_sequence + 1:03d}"),
            "",
            "配偶",
            "流动",
            "租住",
            *place,
            "",
            "",
            "",
            "2026-11-01",
        ],
    ]


def upload(
    api: TestClient, headers: dict[str, str], name: str, data: bytes, mime: str
) -> dict[str, Any]:
    response = api.post(
        url(HUSHAN, "/imports"), headers=headers, files={"file": (name, data, mime)}
    )
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def complex_id_of(api: TestClient, headers: dict[str, str], name: str) -> str:
    listed = api.get(url(HUSHAN, "/complexes"), headers=headers, params={"page_size": 500})
    (found,) = [c["id"] for c in listed.json()["items"] if c["name"] == name]
    return str(found)


@pytest.fixture(scope="module")
def imported(api: TestClient, staff: dict[str, str]) -> str:
    """The xlsx template downloaded, filled with two residents and imported: the complex id."""
    response = api.get(url(HUSHAN, "/imports/template"), headers=staff)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    assert file_name_of(response) == "居民导入模板.xlsx"
    workbook = load_workbook(io.BytesIO(response.content))
    sheet = workbook[DATA_SHEET_TITLE]
    assert [cell.value for cell in sheet[1]] == TEMPLATE_HEADER
    for row in two_residents("模板苑", 100):
        sheet.append(row)
    filled = io.BytesIO()
    workbook.save(filled)
    report = upload(api, staff, "居民导入模板.xlsx", filled.getvalue(), XLSX)
    assert (report["rows_total"], report["rows_imported"], report["rejected"]) == (2, 2, [])
    return complex_id_of(api, staff, "模板苑")


def test_the_downloaded_xlsx_template_filled_with_two_rows_imports(
    api: TestClient, staff: dict[str, str], imported: str
) -> None:
    listed = api.get(url(HUSHAN, "/residents"), headers=staff, params={"complex_id": imported})
    residents = {r["name"]: r for r in listed.json()["items"]}
    assert set(residents) == {"周模板", "吴模板"}
    assert residents["周模板"]["relation_to_head"] == "self"
    assert set(residents["周模板"]["care_tags"]) == {"elderly", "living_alone"}
    assert residents["吴模板"]["residence_type"] == "migrant"


def test_the_csv_template_filled_with_two_rows_imports(
    api: TestClient, staff: dict[str, str]
) -> None:
    response = api.get(url(HUSHAN, "/imports/template"), headers=staff, params={"format": "csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert file_name_of(response) == "居民导入模板.csv"
    text = response.content.decode("utf-8-sig")
    assert next(csv.reader(io.StringIO(text))) == TEMPLATE_HEADER
    buffer = io.StringIO()
    csv.writer(buffer).writerows(two_residents("模板苑CSV", 200))
    filled = (text + buffer.getvalue()).encode("utf-8-sig")
    report = upload(api, staff, "居民导入模板.csv", filled, "text/csv")
    assert (report["rows_imported"], report["rejected"]) == (2, [])


def test_an_unknown_template_format_is_a_422_naming_it(
    api: TestClient, staff: dict[str, str]
) -> None:
    response = api.get(url(HUSHAN, "/imports/template"), headers=staff, params={"format": "xls"})
    assert fields_of(assert_problem(response, 422, "request.invalid")) == {"query.format"}


# ---- export ----


def csv_rows(response: httpx.Response) -> dict[str, dict[str, str]]:
    records = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    if records[0][0].startswith("注意"):
        records = records[1:]
    header, *rows = records
    return {
        row[0]: {h: c.removeprefix("\t") for h, c in zip(header, row, strict=True)} for row in rows
    }


def test_a_masked_export_downloads_as_csv(
    api: TestClient, staff: dict[str, str], imported: str
) -> None:
    response = api.get(
        url(HUSHAN, "/residents/export"),
        headers=staff,
        params={"format": "csv", "complex_id": imported},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["cache-control"] == "no-store"
    name = file_name_of(response)
    assert name.startswith(f"居民信息_{HUSHAN}_")
    assert name.endswith("_已脱敏.csv")
    rows = csv_rows(response)
    assert set(rows) == {"周模板", "吴模板"}
    head = rows["周模板"]
    assert head["身份证号"] == "330109**********" + id_number("19580101", "100")[-2:]
    assert head["手机号"] == "139****1111"
    assert (head["与户主关系"], head["关爱标签"], head["其他标签"]) == (
        "户主",
        "一老、独居",
        "楼道长",
    )


def test_a_masked_export_downloads_as_xlsx_with_id_numbers_as_text(
    api: TestClient, staff: dict[str, str], imported: str
) -> None:
    response = api.get(
        url(HUSHAN, "/residents/export"), headers=staff, params={"complex_id": imported}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    assert file_name_of(response).endswith("_已脱敏.xlsx")
    sheet = load_workbook(io.BytesIO(response.content))[DATA_SHEET_TITLE]
    assert "脱敏" in str(sheet["A1"].value)
    assert [cell.value for cell in sheet[2]] == TEMPLATE_HEADER
    ids = {row[0].value: row[1] for row in sheet.iter_rows(min_row=3)}
    assert set(ids) == {"周模板", "吴模板"}
    assert ids["周模板"].data_type == "s"
    assert ids["周模板"].value == "330109**********" + id_number("19580101", "100")[-2:]


def test_a_revealed_export_takes_its_reason_in_the_body_and_is_audited(
    api: TestClient, token_of: Login, census: CensusCore, imported: str
) -> None:
    request_id = f"export-{uuid.uuid4().hex[:8]}"
    response = api.post(
        url(HUSHAN, "/residents/export"),
        headers={**auth(token_of("hushan-pii")), "X-Request-ID": request_id},
        json={"format": "csv", "complex_id": imported, "reveal_reason": REASON},
    )
    assert response.status_code == 200, response.text
    assert "已脱敏" not in file_name_of(response)
    rows = csv_rows(response)
    assert rows["周模板"]["身份证号"] == id_number("19580101", "100")
    assert rows["周模板"]["手机号"] == "13900001111"
    with system_scope(), census.sessions() as session:
        audit = session.scalars(select(PiiReveal).where(PiiReveal.request_id == request_id)).all()
    assert len(audit) == 2
    assert {(a.actor_username, a.reason, a.tenant_id) for a in audit} == {
        ("hushan-pii", REASON, HUSHAN)
    }


def test_the_reason_is_refused_in_the_url(api: TestClient, token_of: Login) -> None:
    response = api.get(
        url(HUSHAN, "/residents/export"),
        headers=auth(token_of("hushan-pii")),
        params={"reveal_reason": REASON},
    )
    problem = assert_problem(response, 422, "request.reveal_reason_in_url")
    assert fields_of(problem) == {"reveal_reason"}


def test_a_revealed_export_needs_the_role_and_a_real_reason(
    api: TestClient, token_of: Login, staff: dict[str, str]
) -> None:
    export = url(HUSHAN, "/residents/export")
    denied = assert_problem(
        api.post(export, headers=staff, json={"reveal_reason": REASON}),
        403,
        "auth.permission_denied",
    )
    assert denied["params"]["required_roles"] == "pii-reader"
    pii = auth(token_of("hushan-pii"))
    missing = assert_problem(api.post(export, headers=pii, json={}), 422, "request.invalid")
    assert fields_of(missing) == {"body.reveal_reason"}
    short = assert_problem(
        api.post(export, headers=pii, json={"reveal_reason": "看看"}),
        422,
        "census.reveal_reason_required",
    )
    assert fields_of(short) == {"reveal_reason"}


def test_a_bad_filter_is_a_422_problem_before_any_byte(
    api: TestClient, staff: dict[str, str]
) -> None:
    response = api.get(
        url(HUSHAN, "/residents/export"), headers=staff, params={"building_id": "3幢"}
    )
    problem = assert_problem(response, 422, "census.id_invalid")
    assert fields_of(problem) == {"building_id"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/imports/template"),
        ("get", "/residents/export"),
        ("post", "/residents/export"),
    ],
)
def test_the_spreadsheets_need_a_token_and_a_grant_on_the_tenant(
    api: TestClient, token_of: Login, method: str, path: str
) -> None:
    body = {"reveal_reason": REASON} if method == "post" else None
    anonymous = api.request(method, url(HUSHAN, path), json=body)
    assert_problem(anonymous, 401, "auth.unauthenticated")
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    foreign = api.request(
        method, url(HUSHAN, path), headers=auth(token_of("xiangyuan-staff")), json=body
    )
    assert assert_problem(foreign, 403, "auth.permission_denied")["params"] == {"tenant": HUSHAN}


def test_another_community_exports_nothing_of_hushans(
    api: TestClient, token_of: Login, imported: str
) -> None:
    response = api.get(
        url(XIANGYUAN, "/residents/export"),
        headers=auth(token_of("xiangyuan-staff")),
        params={"format": "csv", "complex_id": imported},
    )
    assert response.status_code == 200, response.text
    assert csv_rows(response) == {}
    everything = api.get(
        url(XIANGYUAN, "/residents/export"),
        headers=auth(token_of("xiangyuan-staff")),
        params={"format": "csv"},
    )
    assert "模板" not in everything.content.decode("utf-8-sig")
