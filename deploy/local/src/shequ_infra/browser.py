"""Driving the web console in headless Chromium for the browser tests (tests/browser).

Debian's Chromium is driven by Playwright (its own browser download cannot be reached here).
Users log in through the real Keycloak login page. Screenshots go to ``artifacts/screenshots/``
(the README's tour links them); CI keeps that folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, expect

from shequ_infra.grpc_calls import DEMO_PASSWORD
from shequ_infra.platform import RunningPlatform

CHROMIUM = os.environ.get("SHEQU_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("SHEQU_ARTIFACTS", Path.cwd() / "artifacts")) / "screenshots"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
UI_TIMEOUT_MS = 20_000
# Assertions wait as long as actions do: a page that shows the right thing after a slow answer
# (a loaded CI machine, a notice still expanding) is right, not a failure.
expect.set_options(timeout=UI_TIMEOUT_MS)


@dataclass
class Console:
    """One browser context (one user's session) on the platform's console."""

    platform: RunningPlatform
    context: BrowserContext
    page: Page

    @property
    def url(self) -> str:
        return f"{self.platform.gateway_url}/console/"

    def login(self, username: str, password: str = DEMO_PASSWORD, path: str = "") -> Page:
        """Opens the console, logs in on Keycloak's own login page, waits to be back."""
        self.page.goto(self.url + path)
        self.page.locator("#username").fill(username)
        self.page.locator("#password").fill(password)
        self.page.locator("#kc-login").click()
        self.page.wait_for_url(re.compile(r".*/console/(?!callback).*"), timeout=UI_TIMEOUT_MS)
        return self.page

    def screenshot(self, name: str) -> Path:
        """Saves the whole page as artifacts/screenshots/<name>.png once it has settled."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.wait_for_load_state("networkidle")
        expect(self.page.locator(".el-loading-mask")).to_have_count(0, timeout=UI_TIMEOUT_MS)
        self.page.screenshot(path=str(path), full_page=True)
        return path


def console_session(
    browser: Browser, platform: RunningPlatform, viewport: dict[str, int]
) -> Iterator[Console]:
    context = browser.new_context(
        viewport=viewport,  # type: ignore[arg-type]
        locale="zh-CN",
        timezone_id="Europe/Berlin",  # not Beijing: the console must show Beijing time anyway
        is_mobile=viewport is PHONE,
        has_touch=viewport is PHONE,
    )
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    yield Console(platform=platform, context=context, page=page)
    context.close()
