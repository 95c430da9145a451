"""The community workspace's grid, cases and notices pages, as Shibei's staff and its first
micro-grid leader use them: grids and workload, the cases board with SLA countdowns and only the
allowed actions, the notice composer's preview and send, and the planner's diff applied in one
click (last: it changes the layout the other tests rely on)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from shequ_infra import LocalInfrastructure
from shequ_infra.browser import Console

pytestmark = [pytest.mark.platform, pytest.mark.browser]

SHIBEI = "xiaoshan.beigan.shibei"
WORKSPACE = f"community/{SHIBEI}"
BEIJING = ZoneInfo("Asia/Shanghai")


class Api:
    """The gateway's REST API as one demo user (password grant), for setting up and checking."""

    def __init__(self, console: Console, infra: LocalInfrastructure, username: str) -> None:
        token = infra.keycloak.password_grant(username, "shequ-demo")["access_token"]
        self.client = httpx.Client(
            base_url=f"{console.platform.gateway_url}/api/v1/tenants/{SHIBEI}/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def get(self, path: str, **query: Any) -> Any:
        response = self.client.get(path, params=query)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: dict[str, Any], status: int = 200) -> Any:
        response = self.client.post(path, json=body)
        assert response.status_code == status, response.text
        return response.json()


def field(page: Page, testid: str) -> Locator:
    """An Element Plus input by its test id (on the input itself or on its wrapper)."""
    return page.locator(
        f"input[data-testid={testid}], textarea[data-testid={testid}], "
        f"[data-testid={testid}] input, [data-testid={testid}] textarea"
    ).first


def pick(page: Page, label: str, option: str) -> None:
    """Opens the el-select of the form item labelled so and clicks the option with the text."""
    page.locator(".el-form-item", has_text=label).locator(".el-select").first.click()
    page.locator(".el-select-dropdown__item:visible", has_text=option).first.click()


def confirm(page: Page) -> None:
    page.locator(".el-message-box__btns .el-button--primary").click()


def beijing(instant: str) -> str:
    """An API instant as the console shows it: Beijing wall clock, `YYYY/MM/DD HH:MM`."""
    return datetime.fromisoformat(instant).astimezone(BEIJING).strftime("%Y/%m/%d %H:%M")


def test_staff_sees_shibei_grids_and_workload(desktop: Console, infra: LocalInfrastructure) -> None:
    api = Api(desktop, infra, "shibei-staff")
    grids = api.get("grids", page_size=500)["items"]
    workload = api.get("stats/grids")
    grid_parts = [p for p in workload["parts"] if p["scope"] == "grid"]
    assert len(grids) == 13

    page = desktop.login("shibei-staff", path=f"{WORKSPACE}/grids")
    expect(page.get_by_test_id("total-households")).to_have_text(
        f"{workload['total']['households']:,}"
    )
    expect(page.get_by_test_id("total-residents")).to_have_text(
        f"{workload['total']['residents']:,}"
    )
    table = page.get_by_test_id("workload-table")
    expect(table.locator(".el-table__body tr")).to_have_count(len(grid_parts))
    heaviest = max(grid_parts, key=lambda p: p["weighted"])
    # Sorted heaviest first, in red (more than 20 % above the mean) when it is that heavy.
    expect(table.locator(".el-table__body tr").first).to_contain_text(heaviest["scope_name"])
    expect(table.locator(".el-table__body tr").first).to_contain_text(f"{heaviest['weighted']:.1f}")
    expect(page.locator(".workload-chart canvas")).to_have_count(1)
    desktop.screenshot("community-grids")

    page.get_by_role("tab", name="网格与成员").click()
    expect(page.get_by_test_id("grid-table").locator(".el-table__body tr")).to_have_count(13)
    first = min(grids, key=lambda g: g["number"])
    expect(page.get_by_test_id("grid-title")).to_contain_text(first["code"])
    page.get_by_role("tab", name="成员", exact=True).click()
    members = page.get_by_test_id("member-table")
    expect(members).to_contain_text("shibei-grid")
    # Phones stay masked.
    expect(members).to_contain_text(re.compile(r"1\d\d\*{4}\d{4}"))


def covered_building_of_shibei_grid(api: Api) -> tuple[str, str]:
    """A building in the micro-grid shibei-grid leads, and that member's id."""
    for grid in api.get("grids", page_size=500)["items"]:
        for member in api.get(f"grids/{grid['id']}/members", page_size=200)["items"]:
            if member["account_username"] == "shibei-grid" and member["micro_grid_id"]:
                coverage = api.get(
                    f"grids/{grid['id']}/buildings",
                    micro_grid_id=member["micro_grid_id"],
                    page_size=1,
                )["items"]
                assert coverage, "shibei-grid's micro-grid covers no building"
                return coverage[0]["building_id"], member["id"]
    raise AssertionError("shibei-grid leads no micro-grid")


def test_resident_case_is_on_the_board_with_its_sla_and_only_allowed_buttons(
    desktop: Console, another_desktop: Console, infra: LocalInfrastructure
) -> None:
    staff_api = Api(desktop, infra, "shibei-staff")
    resident_api = Api(desktop, infra, "shibei-resident")
    building, leader = covered_building_of_shibei_grid(staff_api)
    category = next(
        c
        for c in resident_api.get("case-categories")["items"]
        if c["enabled"]
        and c["responsible_level"] == "micro_grid"
        and c["deadline_unit"] == "working_days"
        and not c["urgent"]
    )
    case = resident_api.post(
        "cases",
        {
            "category_code": category["code"],
            "title": "楼道里堆满纸箱，影响通行",
            "place": {"building_id": building},
        },
        status=201,
    )
    assert case["state"] == "dispatched"
    assert case["assignee_member_id"] == leader

    page = desktop.login("shibei-staff", path=f"{WORKSPACE}/cases")
    card = page.get_by_test_id("column-dispatched").locator(
        f"[data-testid=case-card][data-number='{case['number']}']"
    )
    expect(card).to_be_visible()
    expect(card).to_contain_text(case["title"])
    expect(card).to_contain_text(category["name"])
    expect(card.get_by_test_id("deadline")).to_contain_text(beijing(case["deadline"]))
    left = datetime.fromisoformat(case["deadline"]) - datetime.now(BEIJING)
    tone = "ok" if left.total_seconds() > 24.1 * 3600 else "soon"
    expect(card.get_by_test_id("sla")).to_have_attribute("data-tone", tone)
    expect(card.get_by_test_id("sla")).to_have_text(re.compile(r"^剩余"))
    desktop.screenshot("cases-board")

    card.click()
    expect(page.get_by_test_id("case-number")).to_have_text(case["number"])
    expect(page.get_by_test_id("case-deadline")).to_have_text(beijing(case["deadline"]))
    expect(page.get_by_test_id("case-timeline")).to_contain_text("上报")
    # Staff manage: they may reassign or extend, the assignee's own steps are not theirs.
    expect(page.get_by_test_id("action-reassign")).to_be_visible()
    expect(page.get_by_test_id("action-extend_deadline")).to_be_visible()
    desktop.screenshot("case-detail")

    # A reassignment without its reason is refused before any call, in words.
    page.get_by_test_id("action-reassign").click()
    page.get_by_test_id("action-submit").click()
    expect(page.get_by_test_id("action-dialog")).to_contain_text("请填写改派理由")
    page.keyboard.press("Escape")

    grid_page = another_desktop.login("shibei-grid", path=f"{WORKSPACE}/cases/{case['id']}")
    expect(grid_page.get_by_test_id("case-number")).to_have_text(case["number"])
    expect(grid_page.get_by_test_id("action-start")).to_be_visible()
    for staff_only in ("reassign", "extend_deadline", "decline_extension", "merge", "void"):
        expect(grid_page.get_by_test_id(f"action-{staff_only}")).to_have_count(0)
    expected = set(staff_api.get(f"cases/{case['id']}")["allowed_actions"])
    assert "reassign" in expected


def test_composer_previews_the_elderly_of_one_complex_and_sends(
    desktop: Console, infra: LocalInfrastructure
) -> None:
    api = Api(desktop, infra, "shibei-staff")
    complex_ = sorted(api.get("complexes", page_size=500)["items"], key=lambda c: c["name"])[0]
    variables = {"title": "重阳节慰问", "content": "社区将上门为老人送去慰问品。"}
    draft = {
        "template_code": "general.notice",
        "variables": variables,
        "audience": {"complex_ids": [complex_["id"]], "care_tags": ["elderly"]},
        "channels": ["inbox", "sms"],
    }
    expected = api.post("notices/preview", draft)
    assert expected["recipients"] > 0

    page = desktop.login("shibei-staff", path=f"{WORKSPACE}/notices/new")
    pick(page, "模板", "general.notice")
    field(page, "notice-var-title").fill(variables["title"])
    field(page, "notice-var-content").fill(variables["content"])
    pick(page, "小区", complex_["name"])
    page.keyboard.press("Escape")
    page.get_by_text("一老（60岁及以上）").click()
    page.get_by_test_id("notice-preview").click()
    expect(page.get_by_test_id("preview-recipients")).to_have_text(str(expected["recipients"]))
    expect(page.get_by_test_id("notice-preview-panel")).to_contain_text("【通知】重阳节慰问")
    if expected["would_send_at"]:
        expect(page.get_by_test_id("preview-when")).to_contain_text(
            beijing(expected["would_send_at"])
        )
    desktop.screenshot("notice-composer")

    page.get_by_test_id("notice-send").click()
    confirm(page)
    expect(page).to_have_url(re.compile(rf"/{WORKSPACE}/notices/[0-9a-f-]+$"))
    expect(page.get_by_test_id("notice-subject")).to_have_text("【通知】重阳节慰问")
    expect(page.get_by_test_id("count-recipients")).to_have_text(str(expected["recipients"]))
    notice_id = page.url.rsplit("/", 1)[1]
    counts = api.get(f"notices/{notice_id}")["counts"]
    assert counts["recipients"] == expected["recipients"]
    expect(page.get_by_test_id("delivery-table")).to_be_visible()
    desktop.screenshot("notice-detail")


def test_planner_shows_the_rebalance_as_a_diff_and_applies_it(
    desktop: Console, infra: LocalInfrastructure
) -> None:
    api = Api(desktop, infra, "shibei-staff")
    before = api.get("micro-grids", page_size=500)["items"]

    page = desktop.login("shibei-staff", path=f"{WORKSPACE}/planner")
    # One micro-grid more than today: the proposal must create one and move buildings into it.
    micro = field(page, "plan-micro-grids")
    expect(micro).to_have_value(str(len(before)))
    micro.fill(str(len(before) + 1))
    micro.press("Tab")
    page.get_by_test_id("propose").click()
    expect(page.get_by_test_id("plan-state")).to_have_text("待应用")
    plan_id = re.search(r"plan=([0-9a-f-]+)", page.url)
    assert plan_id, page.url
    plan = api.get(f"grid-plans/{plan_id.group(1)}")
    moves = [m for m in plan["diff"]["building_moves"] if m["from_micro_grid"]]
    assert plan["diff"]["micro_grids_created"]
    expect(page.get_by_test_id("moved-buildings")).to_have_text(str(len(moves)))
    balance = page.get_by_test_id("plan-balance")
    micro_balance = plan["micro_grid_balance"]["coefficient_of_variation"]
    current_balance = plan["current_micro_grid_balance"]["coefficient_of_variation"]
    expect(balance).to_contain_text(f"{current_balance:.2f} → {micro_balance:.2f}")
    expect(page.get_by_test_id("plan-moves").locator(".el-table__body tr")).to_have_count(
        len({(m["from_micro_grid"], m["to_micro_grid"]) for m in plan["diff"]["building_moves"]})
    )
    desktop.screenshot("community-planner")

    page.get_by_test_id("apply-plan").click()
    confirm(page)
    expect(page.get_by_test_id("plan-applied")).to_be_visible()
    after = api.get("micro-grids", page_size=500)["items"]
    assert len(after) == len(before) + 1
    proposed_codes = {m["key"]: m["code"] for m in plan["proposed_micro_grids"]}
    for move in plan["diff"]["building_moves"]:
        covering = api.get(f"buildings/{move['building_id']}/coverage")["micro_grid"]
        assert covering["code"] == proposed_codes[move["to_micro_grid"]]

    # The grids page shows the new layout.
    page.goto(desktop.url + f"{WORKSPACE}/grids")
    expect(page.get_by_test_id("total-buildings")).to_be_visible()
    page.locator(".el-radio-button", has_text="按微网格").click()
    expect(page.get_by_test_id("workload-table").locator(".el-table__body tr")).to_have_count(
        len(after)
    )
