"""The pages a patient's one-time link opens, over HTTP: the survey's and the satisfaction
check's forms, the confirmation, "already answered", "link expired", "link not found",
the form again when an answer is missing, and right-to-left pages in Arabic."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from domain.shared.clock import FakeClock
from domain.surveys.messages import SATISFACTION_QUESTION
from tests.support.app import Api, make_api
from tests.support.surveys_http import NEGATIVE, QUESTIONS, SurveyDesk, answer, surveys_current

DAY = 86_400.0
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, FakeClock]]:
    clock = FakeClock()
    with make_api("sqlite", tmp_path_factory.mktemp("pages"), clock=clock) as api:
        yield api, clock


@pytest.fixture
def api(world: tuple[Api, FakeClock]) -> Api:
    return world[0]


@pytest.fixture
def clock(world: tuple[Api, FakeClock]) -> FakeClock:
    return world[1]


@pytest.fixture
def desk(api: Api) -> SurveyDesk:
    return SurveyDesk(api, f"Clinic {uuid.uuid4().hex[:6]}")


def page(response: httpx.Response, status: int) -> str:
    """The HTML page of `response`, which must have `status` and a private page's headers."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "form-action 'self'" in response.headers["Content-Security-Policy"]
    text = response.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    return text


def heading(html: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", html, re.S)
    assert found, html
    return found.group(1).strip()


def checked(html: str, name: str) -> list[str]:
    return re.findall(rf'name="{re.escape(name)}" value="(\d)" checked', html)


def post_form(api: Api, path: str, fields: dict[str, Any]) -> httpx.Response:
    return api.client.post(path, content=httpx.QueryParams(fields).__str__(), headers=FORM)


# -- the survey ---------------------------------------------------------------------------


def test_the_survey_link_opens_a_form_with_one_to_five_for_each_question(
    api: Api, desk: SurveyDesk
) -> None:
    token = desk.send()["token"]
    html = page(api.client.get(f"/public/surveys/{token}"), 200)
    assert '<html lang="en" dir="ltr">' in html
    assert heading(html) == "Visit"
    assert '<form method="post">' in html
    for question in QUESTIONS:
        assert question["text"] in html
        values = re.findall(rf'name="answers\.{question["id"]}" value="(\d)"', html)
        assert values == ["1", "2", "3", "4", "5"]
    assert '<textarea id="comment" name="comment"' in html
    assert "Send answers" in html
    assert "<script" not in html


def test_submitting_the_form_answers_the_survey_and_shows_thank_you(
    api: Api, desk: SurveyDesk
) -> None:
    sent = desk.send()
    fields = {"answers.care": "1", "answers.staff": "2", "comment": "Long wait.\r\nCold room."}
    html = page(post_form(api, f"/public/surveys/{sent['token']}", fields), 200)
    assert heading(html) == "Thank you"
    assert "Your answers were received." in html
    shown = html[html.index("<main>") :]
    assert "1.5" not in shown and "negative" not in shown.lower()
    survey = desk.get(f"/v1/surveys/{sent['surveyId']}", api.runtime.log.head())
    assert survey["answers"] == {"care": 1, "staff": 2} and survey["score"] == 1.5
    assert survey["comment"] == "Long wait.\r\nCold room."


def test_a_used_link_shows_already_answered_with_410(api: Api, desk: SurveyDesk) -> None:
    sent = desk.send()
    fields = {"answers.care": "5", "answers.staff": "5"}
    page(post_form(api, f"/public/surveys/{sent['token']}", fields), 200)
    for response in (
        api.client.get(f"/public/surveys/{sent['token']}"),
        post_form(api, f"/public/surveys/{sent['token']}", fields),
    ):
        html = page(response, 410)
        assert heading(html) == "Already answered"
        assert "This link was already used to answer. Thank you!" in html
        assert "<form" not in html


def test_a_link_answered_through_the_json_api_shows_already_answered_at_once(
    api: Api, desk: SurveyDesk
) -> None:
    sent = desk.send()
    answer(api, sent["token"], NEGATIVE)  # no wait for the read model
    assert heading(page(api.client.get(f"/public/surveys/{sent['token']}"), 410)) == (
        "Already answered"
    )


def test_an_expired_link_shows_link_expired_with_410(
    api: Api, clock: FakeClock, desk: SurveyDesk
) -> None:
    token = desk.send()["token"]
    clock.advance(30 * DAY)
    for response in (
        api.client.get(f"/public/surveys/{token}"),
        post_form(api, f"/public/surveys/{token}", {"answers.care": "5", "answers.staff": "5"}),
    ):
        html = page(response, 410)
        assert heading(html) == "Link expired"
        assert "This link has expired." in html


def test_an_unknown_link_shows_link_not_found_with_404(api: Api) -> None:
    for path in ("/public/surveys/", "/public/feedback/"):
        for token in ("x" * 43, "nope", "y" * 500):
            for response in (api.client.get(path + token), post_form(api, path + token, {})):
                html = page(response, 404)
                assert heading(html) == "Link not found"


def test_a_missing_answer_shows_the_form_again_with_the_error_and_what_was_chosen(
    api: Api, desk: SurveyDesk
) -> None:
    sent = desk.send()
    fields = {"answers.care": "4", "comment": "Kind <b>nurses</b>"}
    html = page(post_form(api, f"/public/surveys/{sent['token']}", fields), 422)
    assert "Please answer every question." in html
    assert html.count("Please choose a number from 1 to 5.") == 1
    assert checked(html, "answers.care") == ["4"] and checked(html, "answers.staff") == []
    assert "Kind &lt;b&gt;nurses&lt;/b&gt;</textarea>" in html
    # Nothing was answered: the link is still open, and the form takes the full answer.
    fields = {"answers.care": "4", "answers.staff": "5"}
    assert heading(page(post_form(api, f"/public/surveys/{sent['token']}", fields), 200)) == (
        "Thank you"
    )


@pytest.mark.parametrize("value", ["0", "6", "three", ""])
def test_an_answer_that_is_not_1_to_5_shows_the_form_again(
    api: Api, desk: SurveyDesk, value: str
) -> None:
    sent = desk.send()
    fields = {"answers.care": value, "answers.staff": "3"}
    html = page(post_form(api, f"/public/surveys/{sent['token']}", fields), 422)
    assert "Please choose a number from 1 to 5." in html
    assert checked(html, "answers.staff") == ["3"]


def test_a_patient_who_reads_arabic_gets_right_to_left_pages_in_arabic(
    api: Api, desk: SurveyDesk
) -> None:
    api.ok("PUT", "/v1/me/language", desk.patient_h, json={"language": "ar"})
    token = desk.send()["token"]
    html = page(api.client.get(f"/public/surveys/{token}"), 200)
    assert '<html lang="ar" dir="rtl">' in html
    for question in QUESTIONS:
        assert question["translations"]["ar"] in html
    assert "إرسال الإجابات" in html
    missing = page(post_form(api, f"/public/surveys/{token}", {"answers.care": "2"}), 422)
    assert 'dir="rtl"' in missing and "يرجى الإجابة عن كل سؤال." in missing
    fields = {"answers.care": "2", "answers.staff": "1"}
    thanks = page(post_form(api, f"/public/surveys/{token}", fields), 200)
    assert '<html lang="ar" dir="rtl">' in thanks and heading(thanks) == "شكرًا لك"
    used = page(api.client.get(f"/public/surveys/{token}"), 410)
    assert '<html lang="ar" dir="rtl">' in used and heading(used) == "تمت الإجابة مسبقًا"


def test_question_texts_are_escaped(api: Api, desk: SurveyDesk) -> None:
    body = {"name": "<i>Visit</i>", "questions": [{"id": "q", "text": "<script>x()</script>"}]}
    template = api.ok("POST", "/v1/survey-templates", desk.admin_h, 201, json=body)["id"]
    sent = api.ok(
        "POST",
        "/v1/surveys",
        desk.admin_h,
        201,
        json={"templateId": template, "patientId": desk.patient},
    )
    surveys_current(api, sent["position"])
    html = page(api.client.get(f"/public/surveys/{sent['token']}"), 200)
    assert "<script>" not in html and "&lt;script&gt;x()&lt;/script&gt;" in html
    assert "&lt;i&gt;Visit&lt;/i&gt;" in html


# -- the satisfaction check ---------------------------------------------------------------


def test_the_check_link_opens_a_form_with_one_rating_and_thanks_once_answered(
    api: Api, desk: SurveyDesk
) -> None:
    survey, check = desk.open_check()
    path = f"/public/feedback/{check['token']}"
    html = page(api.client.get(path), 200)
    assert heading(html) == "Visit" and SATISFACTION_QUESTION["en"] in html
    assert re.findall(r'name="rating" value="(\d)"', html) == ["1", "2", "3", "4", "5"]
    thanks = page(post_form(api, path, {"rating": "5", "comment": "Thanks!"}), 200)
    assert heading(thanks) == "Thank you" and "Your answer was received." in thanks
    shown = desk.get(f"/v1/feedback/{check['feedbackId']}", api.runtime.log.head())
    assert shown["rating"] == 5 and shown["comment"] == "Thanks!"
    assert heading(page(api.client.get(path), 410)) == "Already answered"
    assert heading(page(post_form(api, path, {"rating": "4"}), 410)) == "Already answered"
    assert desk.get(f"/v1/surveys/{survey}", api.runtime.log.head())["status"] == "feedback_sent"


def test_a_check_without_a_rating_shows_the_form_again(api: Api, desk: SurveyDesk) -> None:
    _, check = desk.open_check()
    path = f"/public/feedback/{check['token']}"
    html = page(post_form(api, path, {"comment": "Hmm"}), 422)
    assert "Please choose a number from 1 to 5." in html and "Hmm</textarea>" in html
    assert heading(page(post_form(api, path, {"rating": "3"}), 200)) == "Thank you"


def test_the_check_of_a_closed_loop_says_the_follow_up_is_closed(
    api: Api, desk: SurveyDesk
) -> None:
    _, check = desk.open_check()
    closed = api.ok("POST", f"/v1/feedback/{check['feedbackId']}/close", desk.admin_h)
    surveys_current(api, closed["position"])
    html = page(api.client.get(f"/public/feedback/{check['token']}"), 410)
    assert heading(html) == "Follow-up closed"


def test_a_survey_link_is_not_a_check_page_nor_the_other_way_round(
    api: Api, desk: SurveyDesk
) -> None:
    survey_token = desk.send()["token"]
    _, check = desk.open_check()
    assert heading(page(api.client.get(f"/public/feedback/{survey_token}"), 404)) == (
        "Link not found"
    )
    assert heading(page(api.client.get(f"/public/surveys/{check['token']}"), 404)) == (
        "Link not found"
    )


def test_the_pages_are_named_but_not_described_in_the_openapi_document(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    for path in ("/public/surveys/{token}", "/public/feedback/{token}"):
        assert path not in document["paths"]
        assert f"`{path}`" in document["info"]["description"]
