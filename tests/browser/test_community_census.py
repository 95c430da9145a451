"""The community workspace's census pages in a real browser: the overview's figures, the places
tree down to a building's residents, masked personal data and the audited reveal, the import
wizard's row-level report, enterprises, and adding a member. Figures are checked against what
the REST API answers the same user."""

from __future__ import annotations

import csv
import io
import re
import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from census.identity.codes import credit_check_character
from shequ_infra import LocalInfrastructure
from shequ_infra.browser import Console
from shequ_infra.rest_checks import auth, tenant_url

pytestmark = [pytest.mark.platform, pytest.mark.browser]

HUSHAN = "xiaoshan.shushan.hushan"
WORKSPACE = f"community/{HUSHAN}"


def api(console: Console, infra: LocalInfrastructure, user: str) -> httpx.Client:
    """The REST API as ``user`` (password grant), for setting up and checking what a page shows."""
    token = infra.keycloak.password_grant(user, "shequ-demo")["access_token"]
    return httpx.Client(base_url=console.platform.gateway_url, headers=auth(token), timeout=30)


def get(client: httpx.Client, path: str, **query: Any) -> Any:
    response = client.get(tenant_url(HUSHAN, path), params=query)
    assert response.status_code == 200, response.text
    return response.json()


def figure(page: Page, testid: str) -> str:
    return page.get_by_test_id(testid).locator(".value").inner_text().strip()


def unique_resident_with_phone(client: httpx.Client) -> dict[str, Any]:
    """A resident with a phone whose name no one else here has, so a name search finds one row."""
    for resident in get(client, "/residents", page_size=100)["items"]:
        if resident["phone"] and len(get(client, "/residents", name=resident["name"])["items"]) < 2:
            return dict(resident)
    raise AssertionError("the demo community has no resident with a phone and a unique name")


def search_resident(page: Page, name: str) -> None:
    page.get_by_test_id("resident-name").fill(name)
    page.get_by_test_id("resident-search").click()
    rows = page.get_by_test_id("residents-table").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(name)


def test_overview_shows_the_communitys_census_figures(
    desktop: Console, infra: LocalInfrastructure
) -> None:
    with api(desktop, infra, "hushan-staff") as client:
        total = get(client, "/stats/census")["total"]
    page = desktop.login("hushan-staff", path=WORKSPACE)
    expect(page.get_by_test_id("figure-households").locator(".value")).to_have_text(
        f"{total['households']:,}"
    )
    assert figure(page, "figure-residents") == f"{total['residents']:,}"
    assert figure(page, "figure-migrant") == f"{total['by_residence_type']['migrant']:,}"
    assert figure(page, "figure-elderly") == f"{total['by_care_tag']['elderly']:,}"
    assert figure(page, "figure-children") == f"{total['by_care_tag']['child']:,}"
    expect(page.locator(".shell-aside")).to_contain_text("房屋")
    for chart in page.locator(".chart").all():
        expect(chart.locator("canvas").first).to_be_visible()
    desktop.screenshot("community-overview")


def test_staff_browses_the_places_tree_to_a_building_and_sees_its_residents(
    desktop: Console, infra: LocalInfrastructure
) -> None:
    with api(desktop, infra, "hushan-staff") as client:
        complex_ = get(client, "/complexes")["items"][0]
        buildings = get(client, "/buildings", complex_id=complex_["id"])["items"]
        building = next(b for b in buildings if b["number"] == "1幢")
        counts = get(client, f"/buildings/{building['id']}")
        first = get(client, "/residents", building_id=building["id"], page_size=20)["items"][0]
    page = desktop.login("hushan-staff", path=f"{WORKSPACE}/places")
    tree = page.get_by_test_id("places-tree")
    tree.locator(".tree-label").get_by_text(complex_["name"], exact=True).click()
    tree.locator(".tree-label").get_by_text("1幢", exact=True).click()

    panel = page.get_by_test_id("building-panel")
    expect(panel).to_contain_text(f"{complex_['name']} 1幢")
    expect(panel.get_by_test_id("building-residents").locator(".value")).to_have_text(
        f"{counts['residents']:,}"
    )
    assert figure(page, "building-households") == f"{counts['households']:,}"
    rows = panel.get_by_test_id("building-residents-table").locator("tbody tr")
    expect(rows).to_have_count(20)
    expect(rows.first).to_contain_text(first["name"])
    expect(rows.first).to_contain_text(first["id_number"])
    assert "*" in first["id_number"]
    # The building opens into its units, read from its dwellings' addresses.
    expect(tree.locator(".tree-label").get_by_text(re.compile(r"^\d+单元$")).first).to_be_visible()
    desktop.screenshot("community-places")


def test_staff_sees_residents_masked_and_no_reveal(
    desktop: Console, infra: LocalInfrastructure
) -> None:
    with api(desktop, infra, "hushan-staff") as client:
        resident = unique_resident_with_phone(client)
    page = desktop.login("hushan-staff", path=f"{WORKSPACE}/residents")
    expect(page.get_by_test_id("residents-table").locator("tbody tr")).to_have_count(20)
    desktop.screenshot("community-residents")

    search_resident(page, resident["name"])
    row = page.get_by_test_id("residents-table").locator("tbody tr").first
    expect(row.get_by_test_id("cell-id-number")).to_have_text(resident["id_number"])
    expect(row.get_by_test_id("cell-phone")).to_have_text(re.compile(r"^1\d{2}\*{4}\d{4}$"))
    row.click()
    expect(page.get_by_test_id("resident-id-number")).to_have_text(resident["id_number"])
    expect(page.get_by_test_id("resident-phone")).to_contain_text("****")
    expect(page.get_by_text("身份证号、手机号已脱敏显示。")).to_be_visible()
    expect(page.get_by_test_id("reveal")).to_have_count(0)
    expect(page.get_by_test_id("export-revealed")).to_have_count(0)


def test_pii_reader_reveals_a_resident_with_a_reason(
    desktop: Console, infra: LocalInfrastructure
) -> None:
    with api(desktop, infra, "hushan-pii") as client:
        resident = unique_resident_with_phone(client)
    masked_id = resident["id_number"]
    page = desktop.login("hushan-pii", path=f"{WORKSPACE}/residents")
    search_resident(page, resident["name"])
    page.get_by_test_id("residents-table").locator("tbody tr").first.click()

    page.get_by_test_id("reveal").click()
    expect(page.get_by_text("请填写查看原因（至少4个字）")).to_be_visible()
    expect(page.get_by_test_id("resident-id-number")).to_have_text(masked_id)

    page.get_by_test_id("reveal-reason").fill("上门核实独居老人情况")
    page.get_by_test_id("reveal").click()
    expect(page.get_by_test_id("reveal-audited")).to_be_visible()
    full_id = page.get_by_test_id("resident-id-number").inner_text().strip()
    assert re.fullmatch(r"\d{17}[\dX]", full_id), full_id
    assert full_id[:6] == masked_id[:6]
    assert full_id[-2:] == masked_id[-2:]
    phone = page.get_by_test_id("resident-phone").inner_text().strip()
    assert re.fullmatch(r"1\d{10}", phone), phone
    assert phone[:3] == resident["phone"][:3]
    assert phone[-4:] == resident["phone"][-4:]
    expect(page.get_by_test_id("reveal")).to_have_count(0)


def test_import_wizard_names_the_row_and_field_of_every_problem(
    desktop: Console, infra: LocalInfrastructure
) -> None:
    with api(desktop, infra, "hushan-staff") as client:
        template = client.get(tenant_url(HUSHAN, "/imports/template"), params={"format": "csv"})
        assert template.status_code == 200, template.text
        header = next(csv.reader(io.StringIO(template.content.decode("utf-8-sig"))))
        residents_before = get(client, "/stats/census")["total"]["residents"]
    assert "身份证号" in header
    assert "核实日期" in header
    # Row 2: an ID number of six digits; row 3: a name and nothing else.
    rows = [
        {"姓名": "王测试", "身份证号": "123456"},
        {"姓名": "李测试"},
    ]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)

    page = desktop.login("hushan-staff", path=f"{WORKSPACE}/import")
    page.get_by_test_id("import-next").click()
    page.get_by_test_id("import-file").locator("input[type=file]").set_input_files(
        {"name": "有误的居民表.csv", "mimeType": "text/csv", "buffer": text.getvalue().encode()}
    )
    page.get_by_test_id("import-check").click()

    report = page.get_by_test_id("import-report")
    expect(report).to_contain_text("本次未导入任何数据")
    problems = page.get_by_test_id("import-problems").locator("tbody tr")
    id_problem = problems.filter(has_text="身份证号").filter(has=page.get_by_text("2", exact=True))
    expect(id_problem.first).to_contain_text("18位")
    expect(
        problems.filter(has_text="核实日期").filter(has=page.get_by_text("3", exact=True))
    ).to_have_count(1)
    # Every row is bad: there are no good rows to import instead.
    expect(page.get_by_test_id("import-good-rows")).to_have_count(0)
    desktop.screenshot("community-import-report")

    with api(desktop, infra, "hushan-staff") as client:
        assert get(client, "/stats/census")["total"]["residents"] == residents_before
        assert get(client, "/residents", name="王测试")["items"] == []


def test_staff_registers_corrects_and_removes_an_enterprise(
    desktop: Console, infra: LocalInfrastructure
) -> None:
    # Hex digits never include the letters a credit code leaves out (I, O, S, V, Z).
    body = "92330109MA" + uuid.uuid4().hex[:7].upper()
    credit_code = body + credit_check_character(body)
    name = f"湖山测试便利店{credit_code[-4:]}"
    page = desktop.login("hushan-staff", path=f"{WORKSPACE}/enterprises")
    page.get_by_test_id("add-enterprise").click()
    page.get_by_test_id("enterprise-save").click()
    expect(page.get_by_text("必填").first).to_be_visible()
    page.get_by_test_id("enterprise-name").fill(name)
    page.get_by_test_id("enterprise-credit-code").fill(credit_code)
    page.get_by_test_id("enterprise-address").fill("蜀山街道市心北路88号")
    page.get_by_test_id("enterprise-save").click()
    row = page.get_by_test_id("enterprises-table").locator("tbody tr", has_text=name)
    expect(row).to_contain_text(credit_code)

    row.get_by_text("更正").click()
    dialog = page.locator(".el-dialog", has_text="更正企业店铺")
    dialog.locator(".el-input-number input").fill("7")
    dialog.locator(".el-input-number input").press("Tab")
    page.get_by_test_id("enterprise-save").click()
    expect(page.get_by_text("已更正")).to_be_visible()
    with api(desktop, infra, "hushan-staff") as client:
        stored = next(e for e in get(client, "/enterprises")["items"] if e["name"] == name)
    assert stored["employees"] == 7
    assert stored["version"] == 2

    page.get_by_test_id("enterprises-table").locator("tbody tr", has_text=name).get_by_text(
        "删除"
    ).click()
    removal = page.locator(".el-dialog", has_text="删除企业店铺")
    removal.locator("input").fill("已歇业")
    removal.get_by_role("button", name="删除").click()
    expect(removal.get_by_text("至少4个字")).to_be_visible()
    removal.locator("input").fill("已歇业，店面转让")
    removal.get_by_role("button", name="删除").click()
    expect(page.get_by_text("已删除")).to_be_visible()
    table = page.get_by_test_id("enterprises-table")
    expect(table.locator("tbody tr", has_text=name)).to_have_count(0)


def test_staff_adds_a_grid_worker_member(desktop: Console, infra: LocalInfrastructure) -> None:
    username = f"hushan-grid-{uuid.uuid4().hex[:6]}"
    page = desktop.login("hushan-staff", path=f"{WORKSPACE}/members")
    expect(page.get_by_test_id("members-table")).to_contain_text("hushan-grid")
    page.get_by_test_id("add-member").click()
    # Staff grant grid workers and residents; staff accounts come from the street.
    expect(page.get_by_test_id("member-role")).not_to_contain_text("社区工作人员")
    page.get_by_test_id("member-save").click()
    expect(page.get_by_text("至少10位")).to_be_visible()

    page.get_by_test_id("member-username").fill(username)
    page.get_by_test_id("member-name").fill("陈网格")
    page.get_by_test_id("member-password").fill("Grid-worker-2026")
    page.get_by_test_id("member-save").click()
    row = page.get_by_test_id("members-table").locator("tbody tr", has_text=username)
    expect(row).to_contain_text("网格员")
    expect(row).to_contain_text("正常")

    with api(desktop, infra, "hushan-staff") as client:
        members = get(client, "/members")["items"]
    added = next(m for m in members if m["username"] == username)
    assert added["roles"] == ["grid-worker"]
    assert added["enabled"] is True
