"""The console's frame: login through Keycloak, landing by role, language switch, refusals,
logout, and the gateway serving the single-page application."""

import re

import httpx
import pytest
from playwright.sync_api import expect

from shequ_infra.browser import Console

pytestmark = [pytest.mark.platform, pytest.mark.browser]


def test_login_lands_street_admin_on_their_street(desktop: Console) -> None:
    page = desktop.login("shushan-admin")
    expect(page).to_have_url(re.compile(r"/console/street/xiaoshan\.shushan(/.*)?$"))
    expect(page.locator(".shell-header")).to_contain_text("蜀山")
    expect(page.locator(".shell-header")).to_contain_text("社区治理平台")


def test_language_switch_turns_the_frame_english_and_back(desktop: Console) -> None:
    page = desktop.login("hushan-staff")
    expect(page).to_have_url(re.compile(r"/console/community/xiaoshan\.shushan\.hushan"))
    page.get_by_text("EN", exact=True).click()
    expect(page.locator(".shell-aside")).to_contain_text("Messages")
    page.get_by_text("中文", exact=True).click()
    expect(page.locator(".shell-aside")).to_contain_text("消息")


def test_staff_of_one_community_is_refused_another(desktop: Console) -> None:
    page = desktop.login("hushan-staff")
    page.goto(desktop.url + "community/xiaoshan.beigan.shibei/inbox")
    expect(page.get_by_text("无权访问")).to_be_visible()
    expect(page.locator(".message")).to_have_count(0)


def test_wrong_password_stays_on_keycloak_with_its_message(desktop: Console) -> None:
    page = desktop.page
    page.goto(desktop.url)
    page.locator("#username").fill("hushan-staff")
    page.locator("#password").fill("not-the-password")
    page.locator("#kc-login").click()
    expect(page.locator("#input-error, .kc-feedback-text, [id*='error']").first).to_be_visible()
    assert "/console/" not in page.url.split("?")[0]


def test_logout_ends_the_session(desktop: Console) -> None:
    page = desktop.login("hushan-staff")
    page.locator(".user").hover()
    page.get_by_text("退出登录").click()
    page.wait_for_url(re.compile(r"/console/|/realms/shequ/"))
    page.goto(desktop.url)
    expect(page.locator("#username")).to_be_visible()


def test_gateway_serves_the_app_shell_for_deep_links_and_hashed_assets(desktop: Console) -> None:
    gateway = desktop.platform.gateway_url
    deep = httpx.get(f"{gateway}/console/community/x/residents")
    assert deep.status_code == 200
    assert "text/html" in deep.headers["content-type"]
    assert deep.headers["cache-control"] == "no-cache"
    config = httpx.get(f"{gateway}/console/config.json").json()
    assert config["client_id"] == "shequ-console"
    assert config["issuer"].endswith("/realms/shequ")
    missing = httpx.get(f"{gateway}/console/assets/gone-1234.js")
    assert missing.status_code == 404
    escape = httpx.get(f"{gateway}/console/..%2F..%2Fpyproject.toml")
    assert "[project]" not in escape.text


_STORED_USER = "Object.keys(sessionStorage).find((k) => k.startsWith('oidc.user:'))"


def test_an_expired_access_token_is_renewed_silently(desktop: Console) -> None:
    page = desktop.login("hushan-staff")
    expect(page.locator(".shell-aside")).to_contain_text("消息")
    # Age the stored token past its expiry: the next API call must renew it with the refresh
    # token in the background, without sending the user back to the login page.
    before = page.evaluate(
        f"""() => {{
            const key = {_STORED_USER};
            const user = JSON.parse(sessionStorage.getItem(key));
            user.expires_at = Math.floor(Date.now() / 1000) - 30;
            sessionStorage.setItem(key, JSON.stringify(user));
            return user.access_token;
        }}"""
    )
    page.locator(".shell-aside").get_by_text("消息").click()
    expect(page.locator(".inbox")).to_be_visible()
    expect(page.locator(".async-state")).to_have_attribute("data-state", re.compile("ready|empty"))
    assert "/realms/shequ/" not in page.url
    after = page.evaluate(f"() => JSON.parse(sessionStorage.getItem({_STORED_USER})).access_token")
    assert after != before
