"""Fixtures of the browser tests: the whole platform, Debian's Chromium, one console session per
user (desktop or phone-sized). The helpers live in ``shequ_infra.browser``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from shequ_infra import LocalInfrastructure
from shequ_infra.browser import CHROMIUM, DESKTOP, PHONE, Console, console_session
from shequ_infra.platform import RunningPlatform, running_platform


@pytest.fixture(scope="session")
def platform(infra: LocalInfrastructure) -> Iterator[RunningPlatform]:
    with running_platform(infra) as running:
        yield running


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    launched = playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        # Root in CI: Chromium's sandbox needs user namespaces it may not get.
        args=["--no-sandbox", "--disable-dev-shm-usage"],
    )
    yield launched
    launched.close()


@pytest.fixture
def desktop(browser: Browser, platform: RunningPlatform) -> Iterator[Console]:
    yield from console_session(browser, platform, DESKTOP)


@pytest.fixture
def phone(browser: Browser, platform: RunningPlatform) -> Iterator[Console]:
    yield from console_session(browser, platform, PHONE)


@pytest.fixture
def another_desktop(browser: Browser, platform: RunningPlatform) -> Iterator[Console]:
    """A second user's session beside the first one."""
    yield from console_session(browser, platform, DESKTOP)
