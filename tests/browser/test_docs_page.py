"""/docs and /redoc render in a real browser (Debian's Chromium driven by Playwright) with
every request kept on the loopback: the pages work on a machine without internet access."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.processes import Server, careloop_server
from tests.support.services import require

CHROMIUM = "/usr/bin/chromium"
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with careloop_server(tmp_path_factory.mktemp("docs")) as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    require(sync_playwright is not None, "playwright is not installed")
    require(
        Path(CHROMIUM).exists() or shutil.which("chromium") is not None,
        f"{CHROMIUM} is missing (apt-get install chromium)",
    )
    assert sync_playwright is not None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


class Visit:
    """A page whose every request is recorded, and refused unless it stays on the loopback
    (so a page that needs a CDN fails here as it would offline)."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, route: Any) -> None:
        url = route.request.url
        self.requests.append(url)
        if urlsplit(url).hostname in LOOPBACK or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            route.abort()

    def off_loopback(self) -> list[str]:
        return [
            u
            for u in self.requests
            if urlsplit(u).hostname not in LOOPBACK and not u.startswith(("data:", "blob:"))
        ]


@pytest.fixture
def visit(browser: Any) -> Iterator[Visit]:
    v = Visit(browser)
    try:
        yield v
    finally:
        v.context.close()


def test_swagger_ui_lists_the_operations_from_local_assets(server: Server, visit: Visit) -> None:
    visit.page.goto(f"{server.base_url}/docs")
    visit.page.wait_for_selector(".opblock", timeout=30_000)
    assert visit.page.locator(".opblock").count() > 5
    assert visit.page.locator(".opblock-summary-path", has_text="/v1/tenants").count() >= 1
    assert visit.off_loopback() == []
    assert visit.errors == []
    assert any(u.endswith("/docs-assets/swagger-ui-bundle.js") for u in visit.requests)


def test_redoc_lists_the_operations_from_local_assets(server: Server, visit: Visit) -> None:
    visit.page.goto(f"{server.base_url}/redoc")
    operations = visit.page.locator("[data-section-id^='operation/']")
    operations.first.wait_for(timeout=30_000)
    assert operations.count() > 5
    assert visit.off_loopback() == []
    assert visit.errors == []
    assert any(u.endswith("/docs-assets/redoc.standalone.js") for u in visit.requests)
