"""The phone pages of Shibei's resident and its first micro-grid leader (390×844): a resident
reports a problem at a building, picking 小区 → 楼幢; it is routed at once to the micro-grid
leader, shows on the staff's cases board with its SLA, is started and resolved on the worker's
phone, a visit is recorded there, and the resident follows the case and rates it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from shequ_infra import LocalInfrastructure
from shequ_infra.browser import PHONE, Console, console_session
from shequ_infra.platform import RunningPlatform

pytestmark = [pytest.mark.platform, pytest.mark.browser]

SHIBEI = "xiaoshan.beigan.shibei"
RESIDENT = f"m/resident/{SHIBEI}"
WORKER = f"m/grid/{SHIBEI}"
BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def worker_phone(browser: Browser, platform: RunningPlatform) -> Iterator[Console]:
    """The grid worker's phone, beside the resident's."""
    yield from console_session(browser, platform, PHONE)


def rest(console: Console, infra: LocalInfrastructure, username: str) -> httpx.Client:
    """Shibei's REST API as a demo user (password grant), to set up and to check figures."""
    token = infra.keycloak.password_grant(username, "shequ-demo")["access_token"]
    return httpx.Client(
        base_url=f"{console.platform.gateway_url}/api/v1/tenants/{SHIBEI}/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def shown_in_beijing(instant: str) -> str:
    """How the console writes an API instant: Beijing wall clock, `YYYY/MM/DD HH:MM`."""
    return datetime.fromisoformat(instant).astimezone(BEIJING).strftime("%Y/%m/%d %H:%M")


def choose(page: Page, testid: str, option: str, *, exact: bool = True) -> None:
    """Opens the el-select with the test id and taps the option with that text (exactly, but
    for a category's code shown beside its name; or starting with it)."""
    page.get_by_test_id(testid).click()
    text = f"^{re.escape(option)}(\\d{{4}})?$" if exact else f"^{re.escape(option)}"
    page.locator(".el-select-dropdown__item:visible").filter(has_text=re.compile(text)).click()


@dataclass(frozen=True)
class Membership:
    member_id: str
    grid_id: str
    micro_grid_id: str
    micro_grid_name: str
    buildings: list[dict[str, Any]]


def memberships_of_shibei_grid(api: httpx.Client) -> list[Membership]:
    """The micro-grids shibei-grid leads, with the buildings each covers (by the grid API)."""
    found = []
    for grid in ok(api.get("grids", params={"page_size": 500}))["items"]:
        members = ok(api.get(f"grids/{grid['id']}/members", params={"page_size": 500}))["items"]
        micro_grids = {m["id"]: m for m in ok(api.get(f"grids/{grid['id']}"))["micro_grids"]}
        for member in members:
            if member["account_username"] == "shibei-grid" and member["micro_grid_id"]:
                coverage = ok(
                    api.get(
                        f"grids/{grid['id']}/buildings",
                        params={"micro_grid_id": member["micro_grid_id"], "page_size": 500},
                    )
                )["items"]
                found.append(
                    Membership(
                        member_id=member["id"],
                        grid_id=grid["id"],
                        micro_grid_id=member["micro_grid_id"],
                        micro_grid_name=micro_grids[member["micro_grid_id"]]["name"],
                        buildings=coverage,
                    )
                )
    assert found, "shibei-grid leads no micro-grid"
    return found


def test_grid_worker_sees_their_micro_grid_with_its_buildings_and_workload(
    phone: Console, infra: LocalInfrastructure
) -> None:
    api = rest(phone, infra, "shibei-grid")
    memberships = memberships_of_shibei_grid(api)
    workload = {p["scope_id"]: p for p in ok(api.get("stats/grids"))["parts"]}

    page = phone.login("shibei-grid", path=WORKER)
    cards = page.get_by_test_id("my-grid")
    expect(cards).to_have_count(len(memberships))
    first = memberships[0]
    figures = workload[first.micro_grid_id]
    card = cards.filter(has_text=first.micro_grid_name)
    expect(card.get_by_test_id("figure-households").locator(".value")).to_have_text(
        f"{figures['households']:,}"
    )
    expect(card.get_by_test_id("figure-residents").locator(".value")).to_have_text(
        f"{figures['residents']:,}"
    )
    complexes = {
        c["id"]: c["name"] for c in ok(api.get("complexes", params={"page_size": 500}))["items"]
    }
    chips = card.get_by_test_id("my-building")
    expect(chips).to_have_count(len(first.buildings))
    # As people say it: the complex's name, then the building's number.
    assert sorted(t.strip() for t in chips.all_inner_texts()) == sorted(
        f"{complexes[b['complex_id']]} {b['building_number']}" for b in first.buildings
    )
    phone.screenshot("grid-worker-grids")


def test_a_resident_report_is_handled_on_the_workers_phone_and_rated_by_the_resident(
    phone: Console, worker_phone: Console, another_desktop: Console, infra: LocalInfrastructure
) -> None:
    worker_api = rest(phone, infra, "shibei-grid")
    resident_api = rest(phone, infra, "shibei-resident")
    staff_api = rest(phone, infra, "shibei-staff")
    memberships = memberships_of_shibei_grid(worker_api)
    covered = next(b for m in memberships for b in m.buildings)
    complex_name = next(
        c["name"]
        for c in ok(resident_api.get("complexes", params={"page_size": 500}))["items"]
        if c["id"] == covered["complex_id"]
    )
    category = next(
        c for c in ok(resident_api.get("case-categories"))["items"] if c["code"] == "0103"
    )
    assert category["name"] == "楼道堆积物"
    title = f"楼道堆放纸箱，影响通行 {uuid.uuid4().hex[:6]}"

    # The resident reports on the phone, picking the complex and building by name.
    page = phone.login("shibei-resident", path=RESIDENT)
    choose(page, "report-category", "楼道堆积物")
    expect(page.get_by_test_id("report-category-hint")).to_have_text(
        f"一般在{category['deadline_amount']}个工作日内处置"
    )
    choose(page, "report-complex", complex_name)
    choose(page, "report-building", covered["building_number"])
    page.get_by_test_id("report-detail").fill("2单元3楼楼道")
    page.get_by_test_id("report-title").fill(title)
    page.get_by_test_id("report-description").fill("纸箱和旧家具堆了一周，消防通道被挡。")
    phone.screenshot("resident-report")
    page.get_by_test_id("report-submit").dblclick()  # a double tap files once
    expect(page.get_by_test_id("report-filed")).to_be_visible()
    expect(page.get_by_test_id("filed-state")).to_have_text("已派遣")

    reported = ok(resident_api.get("cases", params={"mine": "reported", "q": title}))["items"]
    assert len(reported) == 1
    case = reported[0]
    assert case["state"] == "dispatched"
    assert case["place"]["building_id"] == covered["building_id"]
    assert case["place"]["address"] == f"{complex_name} {covered['building_number']} 2单元3楼楼道"
    assert case["assignee_member_id"] in {m.member_id for m in memberships}
    assert case["deadline"]

    # Staff see it on their cases board with its SLA.
    board = another_desktop.login("shibei-staff", path=f"community/{SHIBEI}/cases")
    card = board.get_by_test_id("column-dispatched").locator(
        f"[data-testid=case-card][data-number='{case['number']}']"
    )
    expect(card).to_contain_text(title)
    expect(card.get_by_test_id("deadline")).to_contain_text(shown_in_beijing(case["deadline"]))
    expect(card.get_by_test_id("sla")).to_have_text(re.compile(r"^剩余"))

    # The micro-grid leader finds it under My cases with the API's deadline, starts and resolves.
    worker = worker_phone.login("shibei-grid", path=f"{WORKER}/cases")
    mine = worker.get_by_test_id("case-card").filter(has_text=title)
    expect(mine.get_by_test_id("case-deadline")).to_contain_text(shown_in_beijing(case["deadline"]))
    expect(mine.get_by_test_id("case-countdown")).to_have_text(re.compile(r"^剩余"))
    worker_phone.screenshot("grid-worker-cases")
    mine.click()
    expect(worker).to_have_url(re.compile(rf"{WORKER}/cases/[0-9a-f-]+$"))
    expect(worker.get_by_test_id("case-state")).to_have_text("已派遣")
    worker.get_by_test_id("action-start").click()
    worker.get_by_test_id("action-submit").click()
    expect(worker.get_by_test_id("case-state")).to_have_text("处置中")
    worker.get_by_test_id("action-resolve").click()
    worker.get_by_test_id("action-submit").click()
    expect(worker.get_by_text("请填写处置情况说明")).to_be_visible()  # asked before sending
    worker.get_by_test_id("action-note").fill("已联系物业清理，消防通道已畅通")
    worker.get_by_test_id("action-photos").fill("https://photos.example.org/after-1.jpg")
    worker.get_by_test_id("action-submit").click()
    expect(worker.get_by_test_id("case-state")).to_have_text("处置完成")
    expect(worker.get_by_test_id("case-timeline")).to_contain_text("已联系物业清理")
    expect(worker.get_by_test_id("case-actions")).to_have_count(0)
    resolved = ok(resident_api.get(f"cases/{case['id']}"))
    assert resolved["state"] == "resolved"

    # A visit at the building, about this case, lands at the top of their visit list.
    findings = f"上门查看楼道清理情况，已畅通 {uuid.uuid4().hex[:6]}"
    worker.locator(".phone-tabs").get_by_text("走访").click()
    choose(worker, "visit-building", f"{complex_name} {covered['building_number']}")
    worker.get_by_test_id("visit-findings").fill(findings)
    worker.get_by_test_id("visit-follow-up").fill("一周后复查")
    choose(worker, "visit-case", case["number"], exact=False)
    worker.get_by_test_id("visit-submit").click()
    newest = worker.get_by_test_id("visit-card").first
    expect(newest).to_contain_text(findings)
    expect(newest).to_contain_text(f"{complex_name} {covered['building_number']}")
    expect(newest.locator(".el-tag")).to_have_text("我")
    worker_phone.screenshot("grid-worker-visit")
    visits = ok(worker_api.get("visits", params={"building_id": covered["building_id"]}))["items"]
    recorded = next(v for v in visits if v["findings"] == findings)
    assert recorded["case_id"] == case["id"]
    assert recorded["follow_up"] == "一周后复查"

    # The resident sees it resolved; once staff verify and close it, they rate it.
    page.goto(phone.url + f"{RESIDENT}/cases")
    followed = page.get_by_test_id("case-card").filter(has_text=title)
    expect(followed.get_by_test_id("case-state")).to_have_text("处置完成")
    expect(followed.locator(".el-step__title.is-process")).to_have_text("处置完成")
    phone.screenshot("resident-my-cases")
    version = resolved["version"]
    for action in ("verify", "close"):
        version = ok(
            staff_api.post(
                f"cases/{case['id']}/actions", json={"action": action, "expected_version": version}
            )
        )["case"]["version"]
    followed.click()
    expect(page).to_have_url(re.compile(rf"{RESIDENT}/cases/[0-9a-f-]+$"))
    expect(page.get_by_test_id("case-state")).to_have_text("已结案")
    expect(page.get_by_test_id("case-timeline")).to_contain_text("已联系物业清理")
    page.get_by_test_id("action-rate").click()
    page.get_by_test_id("rating-satisfied").click()
    page.get_by_test_id("action-submit").click()
    expect(page.get_by_test_id("case-state")).to_have_text("已评价")
    expect(page.get_by_test_id("case-rating")).to_have_text("满意")
    rated = ok(resident_api.get(f"cases/{case['id']}"))
    assert (rated["state"], rated["rating"]) == ("rated", "satisfied")


def test_a_resident_sees_refusals_in_words(phone: Console, infra: LocalInfrastructure) -> None:
    # A case someone else reported is not theirs to see: 404, said in words.
    staff_api = rest(phone, infra, "shibei-staff")
    theirs = ok(
        staff_api.post(
            "cases",
            json={"category_code": "0501", "title": f"菜场门口占道经营 {uuid.uuid4().hex[:6]}"},
        ),
        201,
    )
    page = phone.login("shibei-resident", path=f"{RESIDENT}/cases/{theirs['id']}")
    expect(page.locator(".async-state[data-state=error]").first).to_contain_text("加载失败")
    expect(page.get_by_test_id("case-detail")).to_have_count(0)
    # Another community's pages are refused outright.
    page.goto(phone.url + "m/resident/xiaoshan.shushan.hushan")
    expect(page.get_by_text("无权访问")).to_be_visible()
    expect(page.get_by_test_id("report-form")).to_have_count(0)
