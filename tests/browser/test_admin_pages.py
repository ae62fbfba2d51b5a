"""The admin pages in a real browser (Debian's Chromium driven by Playwright) on a laptop
screen, against `careloop serve`: an admin pastes a token to sign in, toggles a flag and
the API reports it, filters the audit trail, starts a rebuild and watches it finish,
redelivers a dead email; a doctor's token and a form without its CSRF token are refused.

Each page's screenshot is saved under $CARELOOP_ARTEFACTS (else the test's tmp_path);
docs/screenshots/ holds one of each (docs/admin-pages.md)."""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.shared.context import Role
from tests.browser.test_public_survey_form import Clinic, browser  # noqa: F401 (a fixture)
from tests.support.app import PLATFORM, token
from tests.support.processes import Server, careloop_env, careloop_server, free_port

LAPTOP = {"width": 1366, "height": 900}


class Mailbox:
    """An SMTP server's handler that refuses every recipient for good (550) until told
    to accept: the first email dies, its redelivery is sent."""

    def __init__(self) -> None:
        self.accepting = False
        self.received: list[str] = []
        self.lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if not self.accepting:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.received.extend(envelope.rcpt_tos)
        return "250 OK"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    from aiosmtpd.controller import Controller

    box = Mailbox()
    port = free_port()
    smtp = Controller(box, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        yield box, port
    finally:
        smtp.stop()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, mailbox: tuple[Mailbox, int]
) -> Iterator[Server]:
    where = tmp_path_factory.mktemp("admin-pages")
    env = careloop_env(where / "data", CARELOOP_SMTP_URL=f"smtp://127.0.0.1:{mailbox[1]}")
    with careloop_server(where, env=env) as s:
        yield s


@pytest.fixture(scope="module")
def clinic(server: Server) -> Iterator[Clinic]:
    c = Clinic(server)
    try:
        yield c
    finally:
        c.http.close()


@pytest.fixture
def artefacts(tmp_path: Path) -> Path:
    where = Path(os.environ.get("CARELOOP_ARTEFACTS") or tmp_path) / "admin-pages"
    where.mkdir(parents=True, exist_ok=True)
    return where


class Admin:
    """A laptop-sized browser tab on the admin pages, whose script errors are kept."""

    def __init__(self, chromium: Any, server: Server, artefacts: Path, **context: Any) -> None:
        self.base = server.base_url
        self.context = chromium.new_context(viewport=LAPTOP, **context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.artefacts = artefacts

    def open(self, path: str) -> int:
        response = self.page.goto(self.base + path)
        assert response is not None
        return int(response.status)

    def sign_in(self, bearer: str, going_to: str) -> int:
        """Opens a page, is sent to the sign-in form, pastes the token, and lands."""
        self.open(going_to)
        assert self.page.url.startswith(self.base + "/admin/login")
        self.page.get_by_label("Token").fill(bearer)
        return self.submit("Sign in")

    def submit(self, button: str) -> int:
        with self.page.expect_navigation() as navigation:
            self.page.get_by_role("button", name=button, exact=True).click()
        return int(navigation.value.status)

    def heading(self) -> str:
        return str(self.page.locator("h1").inner_text()).strip()

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.artefacts / f"{name}.png"), full_page=True)


@pytest.fixture
def tab(browser: Any, server: Server, artefacts: Path) -> Iterator[Admin]:  # noqa: F811
    admin = Admin(browser, server, artefacts)
    try:
        yield admin
        assert admin.errors == []
    finally:
        admin.context.close()


def platform_token() -> str:
    return token(Role.PLATFORM_ADMIN, PLATFORM)


def api_get(server: Server, path: str) -> Any:
    headers = {"Authorization": f"Bearer {platform_token()}"}
    response = httpx.get(server.base_url + path, headers=headers, timeout=30)
    assert response.status_code == 200, (path, response.status_code, response.text)
    return response.json()


def eventually(probe: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_an_admin_signs_in_toggles_a_flag_and_the_api_reports_it(
    server: Server, clinic: Clinic, tab: Admin
) -> None:
    tab.open("/admin/login")
    tab.shot("login")
    assert tab.sign_in(platform_token(), "/admin/feature-flags") == 200
    assert tab.page.url == server.base_url + "/admin/feature-flags"
    tab.page.get_by_role("link", name="Riverside").first.click()
    assert tab.heading() == "Feature flags: Riverside"
    state = tab.page.locator("#flag-feedbackNotifications [data-state]")
    assert state.inner_text() == "Off"

    assert tab.submit("Turn feedbackNotifications on") == 200
    assert state.inner_text() == "On"
    assert tab.page.get_by_role("status").inner_text().startswith("The flag")
    tab.shot("feature-flags")
    flags = api_get(server, f"/v1/tenants/{clinic.tenant}/feature-flags")["flags"]
    assert flags["feedbackNotifications"] is True


def test_the_audit_trail_is_filtered_and_its_chain_verified(
    server: Server, clinic: Clinic, tab: Admin
) -> None:
    tab.sign_in(platform_token(), "/admin/audit")
    tab.page.get_by_role("combobox", name=re.compile("^Tenant")).select_option(label="Riverside")
    tab.page.get_by_label("Action").fill("staff_registered")
    tab.page.get_by_label("Outcome").select_option("success")
    assert tab.submit("Filter") == 200

    assert "action=staff_registered" in tab.page.url
    rows = tab.page.locator("#audit-entries tbody tr")
    assert rows.count() == 2  # the clinic's hospital admin and doctor
    for i in range(rows.count()):
        assert "staff_registered" in rows.nth(i).inner_text()
        assert "success" in rows.nth(i).inner_text()
    assert tab.page.locator("#chain-status").get_attribute("data-verified") == "true"
    tab.shot("audit")

    tab.page.get_by_label("Action").fill("no_such_action")
    tab.submit("Filter")
    assert tab.page.get_by_text("No entries match these filters.").is_visible()


def test_a_rebuild_is_started_and_watched_until_it_is_live_again(
    server: Server, clinic: Clinic, tab: Admin
) -> None:
    tab.sign_in(platform_token(), "/admin/projections")
    row = tab.page.locator("tr[data-status]").filter(has=tab.page.locator("form")).first
    name = str(row.get_attribute("id")).removeprefix("projection-")
    seen: list[str] = []

    assert tab.submit(f"Rebuild {name}") == 200
    assert f"The rebuild of {name} has started" in tab.page.get_by_role("status").first.inner_text()
    status = tab.page.locator(f"#projection-{name}")

    def live() -> bool:
        seen.append(str(status.get_attribute("data-status")))
        return seen[-1] == "live"

    eventually(live, timeout=120)
    tab.shot("projections")
    rows = {r["name"]: r for r in api_get(server, "/v1/admin/projections")}
    assert rows[name]["status"] == "live" and "rebuild" not in rows[name]


def test_a_dead_email_is_redelivered_from_the_outbox_page(
    server: Server, clinic: Clinic, tab: Admin, mailbox: tuple[Mailbox, int]
) -> None:
    box, _ = mailbox
    clinic.send()  # its email is refused for good: the delivery dies at once
    platform = {"Authorization": f"Bearer {platform_token()}"}

    def dead() -> list[dict[str, Any]]:
        response = httpx.get(
            server.base_url + "/v1/admin/deliveries?status=dead", headers=platform, timeout=30
        )
        return [d for d in response.json()["items"] if d["channel"] == "email"]

    [delivery] = eventually(dead)
    tab.sign_in(platform_token(), "/admin/deliveries?status=dead")
    row = tab.page.locator(f"#delivery-{delivery['id']}")
    assert row.get_attribute("data-status") == "dead"
    assert "550" in row.inner_text()
    tab.shot("deliveries")

    box.accepting = True
    assert tab.submit(f"Redeliver {delivery['id']}") == 200
    assert "is queued again" in tab.page.get_by_role("status").inner_text()

    def sent() -> bool:
        tab.open("/admin/deliveries")
        return row.get_attribute("data-status") == "sent"

    eventually(sent)
    assert box.received  # the redelivered email reached the server


def test_a_doctors_token_gets_a_403_page(
    server: Server,
    clinic: Clinic,
    browser: Any,  # noqa: F811 (the fixture)
    artefacts: Path,
) -> None:
    doctor = token(Role.DOCTOR, uuid.uuid4(), clinic.tenant)
    tab = Admin(browser, server, artefacts)
    try:
        assert tab.sign_in(doctor, "/admin/feature-flags") == 403
        assert tab.heading().startswith("Not allowed")
        assert tab.page.get_by_text("The role 'doctor' has no admin pages").is_visible()
        tab.shot("refused-doctor")
    finally:
        tab.context.close()
    headers = {"Authorization": f"Bearer {doctor}"}
    bearer = Admin(browser, server, artefacts, extra_http_headers=headers)
    try:
        for page in ("/admin/audit", "/admin/deliveries", "/admin/projections"):
            assert bearer.open(page) == 403
            assert bearer.page.get_by_text("The role 'doctor' may not do this.").is_visible()
    finally:
        bearer.context.close()


def test_a_form_without_its_csrf_token_is_refused(
    server: Server, clinic: Clinic, tab: Admin
) -> None:
    tab.sign_in(platform_token(), f"/admin/feature-flags?tenantId={clinic.tenant}")
    before = api_get(server, f"/v1/tenants/{clinic.tenant}/feature-flags")["flags"]
    tab.page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
    flag = "allActivePatientsDashboard"
    assert tab.submit(f"Turn {flag} {'off' if before[flag] else 'on'}") == 403
    assert tab.heading().startswith("Not allowed")
    assert tab.page.get_by_text(re.compile("security token is missing")).is_visible()
    tab.shot("refused-csrf")
    assert api_get(server, f"/v1/tenants/{clinic.tenant}/feature-flags")["flags"] == before
