"""The pages a patient's one-time link opens, in a real browser (Debian's Chromium driven by
Playwright) on a phone-sized screen, against `careloop serve`: the survey form is answered
and submitted, the confirmation shows, and the same link then says it was answered; the
satisfaction check's page likewise."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from domain.shared.context import Role
from tests.support.app import auth
from tests.support.processes import Server, careloop_server
from tests.support.services import require

CHROMIUM = "/usr/bin/chromium"
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
PHONE = {"width": 390, "height": 844}
QUESTIONS: list[dict[str, Any]] = [
    {
        "id": "care",
        "text": "How satisfied are you with your treatment?",
        "translations": {"ar": "ما مدى رضاك عن علاجك؟"},
    },
    {
        "id": "staff",
        "text": "How well did our staff listen to you?",
        "translations": {"ar": "إلى أي مدى استمع إليك فريقنا؟"},
    },
    {
        "id": "booking",
        "text": "How easy was it to get an appointment?",
        "translations": {"ar": "ما مدى سهولة الحصول على موعد؟"},
    },
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with careloop_server(tmp_path_factory.mktemp("public-forms")) as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "playwright is not installed")
        raise
    require(
        Path(CHROMIUM).exists() or shutil.which("chromium") is not None,
        f"{CHROMIUM} is missing (apt-get install chromium)",
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


class Phone:
    """A phone-sized page whose requests must all stay on the loopback (the form needs
    nothing from elsewhere), with the page's script errors kept."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, route: Any) -> None:
        url = route.request.url
        self.requests.append(url)
        if urlsplit(url).hostname in LOOPBACK:
            route.continue_()
        else:
            route.abort()

    def open(self, url: str) -> int:
        response = self.page.goto(url)
        assert response is not None
        return int(response.status)

    def heading(self) -> str:
        return str(self.page.locator("h1").inner_text()).strip()

    def choose(self, name: str, value: int) -> None:
        """Taps the number `value` of the 1-5 scale named `name`, as a finger would: on
        its label."""
        self.page.locator(f'label:has(input[name="{name}"][value="{value}"])').tap()
        assert self.page.locator(f'input[name="{name}"][value="{value}"]').is_checked()

    def submit(self, button: str) -> int:
        """Taps the form's button and waits for the page it posts to; its status."""
        with self.page.expect_navigation() as navigation:
            self.page.get_by_role("button", name=button, exact=True).tap()
        return int(navigation.value.status)

    def fits_the_screen(self) -> bool:
        return bool(self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))

    def off_loopback(self) -> list[str]:
        return [u for u in self.requests if urlsplit(u).hostname not in LOOPBACK]


@pytest.fixture
def phone(browser: Any) -> Iterator[Phone]:
    p = Phone(browser)
    try:
        yield p
    finally:
        p.context.close()


class Clinic:
    """A clinic made over the served API: a hospital admin, a doctor, a patient and a
    survey template."""

    def __init__(self, server: Server) -> None:
        self.http = httpx.Client(base_url=server.base_url, timeout=30)
        self.position = 0
        platform = auth(Role.PLATFORM_ADMIN)
        self.tenant = self.post("/v1/tenants", platform, {"name": "Riverside"})["id"]
        admin_id = self.post(
            f"/v1/tenants/{self.tenant}/staff",
            platform,
            {
                "type": "HOSPITAL_ADMIN",
                "firstName": "Hana",
                "lastName": "Okafor",
                "email": f"hana.{uuid.uuid4().hex[:6]}@clinic.example",
            },
        )["id"]
        doctor_id = self.post(
            f"/v1/tenants/{self.tenant}/staff",
            platform,
            {
                "type": "DOCTOR",
                "firstName": "Maya",
                "lastName": "Lind",
                "email": f"maya.{uuid.uuid4().hex[:6]}@clinic.example",
            },
        )["id"]
        self.post(f"/v1/staff/{doctor_id}/approve", platform, None)
        self.admin = auth(Role.HOSPITAL_ADMIN, admin_id, self.tenant)
        self.patient_id: str = self.post(
            "/v1/patients/invite",
            auth(Role.DOCTOR, doctor_id, self.tenant),
            {
                "firstName": "Sam",
                "lastName": "Carter",
                "email": f"sam.{uuid.uuid4().hex[:6]}@patients.example",
            },
        )["patientId"]
        self.template = self.post(
            "/v1/survey-templates",
            self.admin,
            {"name": "After your visit", "questions": QUESTIONS},
        )["id"]

    def post(
        self, path: str, headers: dict[str, str], body: Any, method: str = "POST"
    ) -> dict[str, Any]:
        response = self.http.request(method, path, headers=headers, json=body)
        assert response.status_code < 300, (path, response.status_code, response.text)
        answer: dict[str, Any] = response.json()
        self.position = max(self.position, int(answer.get("position", 0)))
        return answer

    def get(self, path: str) -> dict[str, Any]:
        """A staff read that waits for this clinic's writes (so a link's form is there)."""
        response = self.http.get(path, headers=self.admin, params={"minPosition": self.position})
        assert response.status_code == 200, (path, response.status_code, response.text)
        answer: dict[str, Any] = response.json()
        return answer

    def send(self) -> dict[str, Any]:
        sent = self.post(
            "/v1/surveys",
            self.admin,
            {"templateId": self.template, "patientId": self.patient_id},
        )
        self.get(f"/v1/surveys/{sent['surveyId']}")
        return sent


@pytest.fixture
def clinic(server: Server) -> Iterator[Clinic]:
    c = Clinic(server)
    try:
        yield c
    finally:
        c.http.close()


def test_the_patient_answers_the_survey_in_the_browser_and_the_used_link_says_so(
    server: Server, clinic: Clinic, phone: Phone
) -> None:
    sent = clinic.send()
    link = f"{server.base_url}/public/surveys/{sent['token']}"

    assert phone.open(link) == 200
    assert phone.heading() == "After your visit"
    for question in QUESTIONS:
        assert phone.page.get_by_text(question["text"]).is_visible()
    assert phone.fits_the_screen()
    for question, value in zip(QUESTIONS, (2, 1, 3), strict=True):
        phone.choose(f"answers.{question['id']}", value)
    phone.page.locator("textarea[name=comment]").fill("The new exercise hurt.")
    assert phone.submit("Send answers") == 200

    assert phone.heading() == "Thank you"
    assert phone.page.get_by_text("Your answers were received.").is_visible()
    survey = clinic.get(f"/v1/surveys/{sent['surveyId']}")
    assert survey["answers"] == {"care": 2, "staff": 1, "booking": 3}
    assert survey["comment"] == "The new exercise hurt."
    assert survey["score"] == 2.0 and survey["isNegative"] is True

    assert phone.open(link) == 410
    assert phone.heading() == "Already answered"
    assert phone.page.get_by_text("This link was already used to answer.").is_visible()
    assert phone.page.locator("form").count() == 0
    assert phone.off_loopback() == []
    assert phone.errors == []


def test_the_patient_rates_the_satisfaction_check_in_the_browser_once(
    server: Server, clinic: Clinic, phone: Phone
) -> None:
    sent = clinic.send()
    survey = sent["surveyId"]
    clinic.post(
        f"/v1/public/surveys/{sent['token']}/responses",
        {},
        {"answers": {"care": 1, "staff": 2, "booking": 2}},
    )
    clinic.post(
        f"/surveys/instances/{survey}/log-contact/",
        clinic.admin,
        {"contactNotes": "Called Sam; Maya lowered the load.", "outcome": "resolved"},
    )
    check = clinic.post(f"/surveys/instances/{survey}/send-satisfaction/", clinic.admin, None)
    clinic.get(f"/v1/feedback/{check['feedbackId']}")
    link = f"{server.base_url}/public/feedback/{check['token']}"

    assert phone.open(link) == 200
    assert phone.heading() == "After your visit"
    question = "How satisfied are you with how your concerns were addressed?"
    assert phone.page.get_by_text(question).is_visible()
    assert phone.fits_the_screen()
    phone.choose("rating", 4)
    assert phone.submit("Send") == 200

    assert phone.heading() == "Thank you"
    assert phone.page.get_by_text("Your answer was received.").is_visible()
    feedback = clinic.get(f"/v1/feedback/{check['feedbackId']}")
    assert (feedback["status"], feedback["rating"]) == ("answered", 4)

    assert phone.open(link) == 410
    assert phone.heading() == "Already answered"
    assert phone.off_loopback() == []
    assert phone.errors == []


def test_a_patient_who_reads_arabic_gets_the_form_right_to_left_in_arabic(
    server: Server, clinic: Clinic, phone: Phone
) -> None:
    patient = auth(Role.PATIENT, clinic.patient_id, clinic.tenant)
    clinic.post("/v1/me/language", patient, {"language": "ar"}, method="PUT")
    sent = clinic.send()

    assert phone.open(f"{server.base_url}/public/surveys/{sent['token']}") == 200
    html = phone.page.locator("html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == ("ar", "rtl")
    for question in QUESTIONS:
        assert phone.page.get_by_text(question["translations"]["ar"]).is_visible()
    assert phone.fits_the_screen()
    for question in QUESTIONS:
        phone.choose(f"answers.{question['id']}", 5)
    assert phone.submit("إرسال الإجابات") == 200

    assert phone.heading() == "شكرًا لك"
    assert clinic.get(f"/v1/surveys/{sent['surveyId']}")["language"] == "ar"
    assert phone.off_loopback() == []
    assert phone.errors == []
