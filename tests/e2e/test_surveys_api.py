"""The survey loop over HTTP (spec: survey-feedback-integration): every status code of
every survey endpoint, on SQLite and on PostgreSQL.

One app per backend, with the process managers running (the staff alert is one of them)
and a FakeClock (links expire after 30 days); each test sets up a clinic of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.shared.clock import FakeClock
from domain.shared.context import Role
from domain.shared.idempotency import IdempotencyRecord, idempotency_record_id
from domain.surveys.messages import SATISFACTION_QUESTION
from tests.support.app import PLATFORM, Api, auth, make_api
from tests.support.feedback_http import eventually
from tests.support.http import assert_problem, error_fields
from tests.support.surveys_http import (
    NEGATIVE,
    POSITIVE,
    QUESTIONS,
    SurveyDesk,
    answer,
    answer_check,
    log_contact,
    send_check,
    surveys_current,
)

DAY = 86_400.0


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Api, FakeClock]]:
    clock = FakeClock()
    with make_api(
        str(request.param),
        tmp_path_factory.mktemp(f"surveys-{request.param}"),
        process_managers=True,
        clock=clock,
    ) as api:
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


def notifications(api: Api, headers: dict[str, str], kind: str) -> list[dict[str, Any]]:
    rows = api.ok("GET", "/v1/me/notifications", headers)
    return [row for row in rows if row["data"]["type"] == kind]


# -- the whole loop ---------------------------------------------------------------------


def test_the_whole_loop_runs_over_http_from_template_to_closed(api: Api, desk: SurveyDesk) -> None:
    # Staff send a survey; the patient reads the form without logging in.
    sent = desk.send()
    assert set(sent) == {"surveyId", "token", "expiresAt", "position"}
    survey, token = sent["surveyId"], sent["token"]
    assert len(token) >= 22  # at least 128 bits, base64url
    form = api.ok("GET", f"/v1/public/surveys/{token}", {})
    assert form == {
        "templateName": "Visit",
        "language": "en",
        "questions": [{"id": q["id"], "text": q["text"]} for q in QUESTIONS],
        "expiresAt": sent["expiresAt"],
    }

    # The patient answers negatively; the answer reveals nothing of the score.
    answered = answer(api, token, NEGATIVE, comment="The wait was long.")
    assert set(answered) == {"surveyId", "position"} and answered["surveyId"] == survey

    # Every admin of the tenant is alerted in-app.
    for headers in (desk.admin_h, desk.px_h):
        alerts = eventually(
            lambda h=headers: notifications(api, h, "NEGATIVE_SURVEY"), what="staff alert"
        )
        assert [a["data"]["surveyId"] for a in alerts] == [survey]
    invited = eventually(lambda: notifications(api, desk.patient_h, "SURVEY"), what="invite")
    assert invited[0]["data"]["surveyId"] == survey

    detail = desk.get(f"/v1/surveys/{survey}", answered["position"])
    assert detail["score"] == 1.5 and detail["isNegative"] is True
    assert detail["status"] == "answered" and detail["needsAction"] is True
    assert detail["warning"]["level"] == "action_required"
    assert detail["comment"] == "The wait was long."
    waiting = desk.get("/v1/surveys/needs-action", answered["position"])
    assert [row["id"] for row in waiting["items"]] == [survey]

    # Staff log contact, then send the satisfaction check (twice: the same one).
    contact = log_contact(api, desk.px_h, survey, "Called; apologised.", "explained")
    assert contact["surveyId"] == survey and contact["status"] == "contacted"
    assert contact["contacts"] == 1
    assert contact["contact"]["by"] == desk.px and contact["contact"]["outcome"] == "explained"
    check = send_check(api, desk.admin_h, survey)
    assert set(check) == {"feedbackId", "token", "expiresAt", "created", "position"}
    again = send_check(api, desk.admin_h, survey)
    assert (again["feedbackId"], again["token"]) == (check["feedbackId"], check["token"])
    assert check["created"] is True and again["created"] is False
    feedback = check["feedbackId"]
    pushed = eventually(
        lambda: notifications(api, desk.patient_h, "SATISFACTION_CHECK"), what="check push"
    )
    assert pushed[0]["data"]["feedbackId"] == feedback

    # The patient answers the check.
    check_form = api.ok("GET", f"/v1/public/feedback/{check['token']}", {})
    assert check_form == {
        "surveyName": "Visit",
        "question": SATISFACTION_QUESTION["en"],
        "language": "en",
        "expiresAt": check["expiresAt"],
    }
    rated = answer_check(api, check["token"], 4, "Much better now.")
    assert set(rated) == {"feedbackId", "position"} and rated["feedbackId"] == feedback

    shown = desk.get(f"/v1/feedback/{feedback}", rated["position"])
    assert shown["type"] == "SATISFACTION_CHECK" and shown["status"] == "answered"
    assert shown["rating"] == 4 and shown["relatedSurveyId"] == survey
    card = shown["relatedSurvey"]
    assert card["id"] == survey and card["name"] == "Visit" and card["score"] == 1.5
    assert card["contactCount"] == 1 and card["patientContact"]["notes"] == "Called; apologised."
    assert card["link"] == f"/v1/surveys/{survey}"

    # Staff close the loop: the survey and the feedback both closed.
    closed = api.ok("POST", f"/v1/feedback/{feedback}/close", desk.admin_h)
    assert closed["feedbackId"] == feedback and closed["surveyId"] == survey
    assert closed["status"] == "closed"
    detail = desk.get(f"/v1/surveys/{survey}", closed["position"])
    assert detail["status"] == "closed" and detail["needsAction"] is False
    assert [(f["id"], f["status"], f["rating"]) for f in detail["followUpFeedbacks"]] == [
        (feedback, "closed", 4)
    ]
    assert [c["notes"] for c in detail["contacts"]] == ["Called; apologised."]
    assert detail["contactSummary"]["by"] == desk.px
    assert desk.get(f"/v1/feedback/{feedback}", closed["position"])["status"] == "closed"
    assert desk.get("/v1/surveys/needs-action", closed["position"])["items"] == []

    stats = desk.get("/v1/surveys/stats", closed["position"])
    assert stats["negativeSurveys"] == 1 and stats["contacted"] == 1
    assert stats["checksSent"] == 1 and stats["checksAnswered"] == 1
    assert stats["satisfactionImprovementRate"] == 1.0


def test_px_admins_create_templates_send_and_view_as_hospital_admins_do(
    api: Api, desk: SurveyDesk
) -> None:
    template = api.ok(
        "POST",
        "/v1/survey-templates",
        desk.px_h,
        201,
        json={"name": "Discharge", "negativeThreshold": 4, "questions": QUESTIONS},
    )
    assert set(template) == {"id", "version", "position"} and template["version"] == 1
    sent = api.ok(
        "POST",
        "/v1/surveys",
        desk.px_h,
        201,
        json={"templateId": template["id"], "patientId": desk.patient},
    )
    listed = desk.get("/v1/survey-templates", sent["position"], desk.px_h)
    assert {t["name"] for t in listed} == {"Visit", "Discharge"}
    shown = desk.get(f"/v1/survey-templates/{template['id']}", sent["position"], desk.px_h)
    assert shown["negativeThreshold"] == 4.0 and shown["defaultLanguage"] == "en"
    survey = desk.get(f"/v1/surveys/{sent['surveyId']}", sent["position"], desk.px_h)
    assert survey["status"] == "sent" and survey["sentBy"] == desk.px


# -- templates ------------------------------------------------------------------------------


def test_a_template_revision_is_a_new_version_and_a_survey_keeps_the_one_it_was_sent_with(
    api: Api, desk: SurveyDesk
) -> None:
    before = desk.send()
    revised = api.ok(
        "PUT",
        f"/v1/survey-templates/{desk.template}",
        desk.admin_h,
        json={"name": "Visit (2026)", "negativeThreshold": 2.0},
    )
    assert revised == {"id": desk.template, "version": 2, "position": revised["position"]}
    template = desk.get(f"/v1/survey-templates/{desk.template}", revised["position"])
    assert template["version"] == 2 and template["name"] == "Visit (2026)"
    assert [q["id"] for q in template["questions"]] == ["care", "staff"]
    answered = answer(api, before["token"], NEGATIVE)
    survey = desk.get(f"/v1/surveys/{before['surveyId']}", answered["position"])
    assert survey["templateVersion"] == 1 and survey["negativeThreshold"] == 3.0
    assert survey["isNegative"] is True  # 1.5 < 3.0, the threshold of version 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "V", "questions": []}, "questions"),
        ({"name": "V", "negativeThreshold": 6, "questions": QUESTIONS}, "negativeThreshold"),
        ({"name": "V", "negativeThreshold": "3", "questions": QUESTIONS}, "negativeThreshold"),
        ({"name": " ", "questions": QUESTIONS}, "name"),
        ({"name": "V", "questions": [QUESTIONS[0], QUESTIONS[0]]}, "questions[1].id"),
        ({"name": "V", "questions": [{"id": "a b", "text": "Q"}]}, "questions[0].id"),
        ({"name": "V", "defaultLanguage": "English", "questions": QUESTIONS}, "defaultLanguage"),
        ({"questions": QUESTIONS}, "name"),
    ],
)
def test_an_invalid_template_is_422_naming_the_field(
    api: Api, desk: SurveyDesk, body: dict[str, Any], field: str
) -> None:
    response = api.client.post("/v1/survey-templates", headers=desk.admin_h, json=body)
    assert field in error_fields(assert_problem(response, 422))


def test_revising_an_unknown_template_is_404_and_an_invalid_revision_422(
    api: Api, desk: SurveyDesk
) -> None:
    unknown = api.client.put(
        f"/v1/survey-templates/{uuid.uuid4()}", headers=desk.admin_h, json={"name": "X"}
    )
    assert_problem(unknown, 404)
    invalid = api.client.put(
        f"/v1/survey-templates/{desk.template}", headers=desk.admin_h, json={"questions": []}
    )
    assert "questions" in error_fields(assert_problem(invalid, 422))


# -- permissions and tenants ----------------------------------------------------------------


def staff_requests(desk: SurveyDesk, survey: str, feedback: str) -> list[tuple[str, str, Any]]:
    """Every staff endpoint of the loop, as (method, path, body)."""
    return [
        ("POST", "/v1/survey-templates", {"name": "V", "questions": QUESTIONS}),
        ("PUT", f"/v1/survey-templates/{desk.template}", {"name": "V2"}),
        ("GET", "/v1/survey-templates", None),
        ("GET", f"/v1/survey-templates/{desk.template}", None),
        ("POST", "/v1/surveys", {"templateId": desk.template, "patientId": desk.patient}),
        ("GET", "/v1/surveys", None),
        ("GET", "/v1/surveys/needs-action", None),
        ("GET", "/v1/surveys/stats", None),
        ("GET", f"/v1/surveys/{survey}", None),
        (
            "POST",
            f"/surveys/instances/{survey}/log-contact/",
            {"contactNotes": "Called.", "outcome": "resolved"},
        ),
        ("POST", f"/surveys/instances/{survey}/send-satisfaction/", None),
        ("GET", f"/v1/feedback/{feedback}", None),
        ("POST", f"/v1/feedback/{feedback}/close", None),
        ("POST", f"/v1/feedback/{feedback}/escalate", {"reason": "Still unhappy."}),
    ]


def test_doctors_patients_and_platform_admins_are_403_on_every_staff_endpoint(
    api: Api, desk: SurveyDesk
) -> None:
    survey, check = desk.open_check()
    refused = {
        "doctor": desk.doctor_h,
        "patient": desk.patient_h,
        "platform admin": auth(Role.PLATFORM_ADMIN, PLATFORM),
    }
    for who, headers in refused.items():
        for method, path, body in staff_requests(desk, survey, check["feedbackId"]):
            response = api.client.request(method, path, headers=headers, json=body)
            assert response.status_code == 403, (who, method, path, response.text)
            assert_problem(response, 403)


def test_staff_endpoints_need_a_bearer_token(api: Api, desk: SurveyDesk) -> None:
    survey, check = desk.open_check()
    for method, path, body in staff_requests(desk, survey, check["feedbackId"]):
        response = api.client.request(method, path, json=body)
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_another_tenants_ids_are_404_everywhere_as_if_they_never_existed(api: Api) -> None:
    mine, theirs = SurveyDesk(api, "Mine"), SurveyDesk(api, "Theirs")
    survey, check = theirs.open_check()
    feedback = check["feedbackId"]
    for method, path, body in staff_requests(theirs, survey, feedback):
        if not any(i in path for i in (survey, feedback, theirs.template)) and body != {
            "templateId": theirs.template,
            "patientId": theirs.patient,
        }:
            continue  # lists and new templates: the caller's own tenant's
        response = api.client.request(method, path, headers=mine.admin_h, json=body)
        for real in (survey, feedback, theirs.template):
            path = path.replace(real, str(uuid.uuid4()))
        never = api.client.request(method, path, headers=mine.admin_h, json=body)
        assert assert_problem(response, 404)["title"] == assert_problem(never, 404)["title"]
    # The other tenant's patient, with a template of mine.
    response = api.client.post(
        "/v1/surveys",
        headers=mine.admin_h,
        json={"templateId": mine.template, "patientId": theirs.patient},
    )
    assert_problem(response, 404)
    # Their loop is untouched; their surveys are not in my lists.
    detail = theirs.get(f"/v1/surveys/{survey}", api.runtime.log.head())
    assert detail["status"] == "feedback_sent" and len(detail["contacts"]) == 1
    head = api.runtime.log.head()
    assert mine.get("/v1/surveys", head)["items"] == []
    assert mine.get("/v1/surveys/needs-action", head)["items"] == []
    assert {t["id"] for t in mine.get("/v1/survey-templates", head)} == {mine.template}


def test_unknown_ids_are_404(api: Api, desk: SurveyDesk) -> None:
    nothing = str(uuid.uuid4())
    for method, path, body in staff_requests(desk, nothing, nothing):
        if nothing not in path:
            continue
        response = api.client.request(method, path, headers=desk.admin_h, json=body)
        assert_problem(response, 404)
    for body in (
        {"templateId": nothing, "patientId": desk.patient},
        {"templateId": desk.template, "patientId": nothing},
    ):
        assert_problem(api.client.post("/v1/surveys", headers=desk.admin_h, json=body), 404)


# -- the patient's public side --------------------------------------------------------------


def test_the_public_endpoints_need_no_token_and_ignore_one_that_is_invalid(
    api: Api, desk: SurveyDesk
) -> None:
    token = desk.send()["token"]
    garbage = {"Authorization": "Bearer not-a-jwt"}
    assert api.client.get(f"/v1/public/surveys/{token}", headers=garbage).status_code == 200
    response = api.client.post(
        f"/v1/public/surveys/{token}/responses", headers=garbage, json={"answers": POSITIVE}
    )
    assert response.status_code == 201, response.text


def test_public_answers_and_forms_are_never_cached_nor_referred(api: Api, desk: SurveyDesk) -> None:
    token = desk.send()["token"]
    for response in (
        api.client.get(f"/v1/public/surveys/{token}"),
        api.client.post(f"/v1/public/surveys/{token}/responses", json={"answers": POSITIVE}),
    ):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "no-referrer"


def test_an_unknown_token_is_404_on_every_public_endpoint(api: Api, desk: SurveyDesk) -> None:
    desk.send()
    for token in ("x" * 43, "nope", str(uuid.uuid4())):
        assert_problem(api.client.get(f"/v1/public/surveys/{token}"), 404)
        assert_problem(api.client.get(f"/v1/public/feedback/{token}"), 404)
        response = api.client.post(
            f"/v1/public/surveys/{token}/responses", json={"answers": POSITIVE}
        )
        assert_problem(response, 404)
        response = api.client.post(f"/v1/public/feedback/{token}/responses", json={"rating": 5})
        assert_problem(response, 404)


def test_a_survey_token_is_not_a_satisfaction_check_token_nor_the_other_way_round(
    api: Api, desk: SurveyDesk
) -> None:
    survey_token = desk.send()["token"]
    _, check = desk.open_check()
    assert_problem(api.client.get(f"/v1/public/feedback/{survey_token}"), 404)
    assert_problem(api.client.get(f"/v1/public/surveys/{check['token']}"), 404)
    response = api.client.post(
        f"/v1/public/surveys/{check['token']}/responses", json={"answers": POSITIVE}
    )
    assert_problem(response, 404)


def test_a_used_token_is_410_on_its_form_and_its_answer(api: Api, desk: SurveyDesk) -> None:
    survey, token, _ = desk.negative_survey()
    body = assert_problem(api.client.get(f"/v1/public/surveys/{token}"), 410)
    assert body["reason"] == "used"
    again = api.client.post(f"/v1/public/surveys/{token}/responses", json={"answers": POSITIVE})
    assert assert_problem(again, 410)["reason"] == "used"

    log_contact(api, desk.admin_h, survey)
    check = send_check(api, desk.admin_h, survey)
    answer_check(api, check["token"], 2)
    assert assert_problem(api.client.get(f"/v1/public/feedback/{check['token']}"), 410)
    again = api.client.post(f"/v1/public/feedback/{check['token']}/responses", json={"rating": 5})
    assert assert_problem(again, 410)["reason"] == "used"


def test_a_token_expires_after_30_days_and_is_410_from_then_on(
    api: Api, clock: FakeClock, desk: SurveyDesk
) -> None:
    survey, check = desk.open_check()
    token = desk.send()["token"]
    clock.advance(30 * DAY - 1)
    assert api.client.get(f"/v1/public/surveys/{token}").status_code == 200
    clock.advance(1)
    body = assert_problem(api.client.get(f"/v1/public/surveys/{token}"), 410)
    assert body["reason"] == "expired"
    response = api.client.post(f"/v1/public/surveys/{token}/responses", json={"answers": POSITIVE})
    assert assert_problem(response, 410)["reason"] == "expired"
    body = assert_problem(api.client.get(f"/v1/public/feedback/{check['token']}"), 410)
    assert body["reason"] == "expired"
    response = api.client.post(
        f"/v1/public/feedback/{check['token']}/responses", json={"rating": 5}
    )
    assert_problem(response, 410)
    # The check's own deadline expires it too, and the survey needs action again.
    expired = eventually(
        lambda: [
            row
            for row in desk.get("/v1/surveys/needs-action", api.runtime.log.head())["items"]
            if row["id"] == survey
        ],
        what="the expired check's survey back in needs-action",
    )
    assert expired[0]["warning"]["level"] == "check_expired"


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"care": 0, "staff": 3}, "answers.care"),
        ({"care": 6, "staff": 3}, "answers.care"),
        ({"care": 3}, "answers.staff"),
        ({"care": 3, "staff": 3, "extra": 3}, "answers.extra"),
        ({"care": "3", "staff": 3}, "answers.care"),
        ({"care": True, "staff": 3}, "answers.care"),
        ({"care": 2.5, "staff": 3}, "answers.care"),
    ],
)
def test_answers_missing_unknown_or_outside_1_to_5_are_422_and_leave_the_link_open(
    api: Api, desk: SurveyDesk, answers: dict[str, Any], field: str
) -> None:
    token = desk.send()["token"]
    response = api.client.post(f"/v1/public/surveys/{token}/responses", json={"answers": answers})
    assert field in error_fields(assert_problem(response, 422))
    assert api.client.get(f"/v1/public/surveys/{token}").status_code == 200


def test_a_body_without_answers_is_422(api: Api, desk: SurveyDesk) -> None:
    token = desk.send()["token"]
    response = api.client.post(f"/v1/public/surveys/{token}/responses", json={"comment": "Hi"})
    assert "answers" in error_fields(assert_problem(response, 422))


@pytest.mark.parametrize("rating", [0, 6, "4", None, 3.5])
def test_a_satisfaction_rating_outside_1_to_5_is_422(
    api: Api, desk: SurveyDesk, rating: Any
) -> None:
    _, check = desk.open_check()
    response = api.client.post(
        f"/v1/public/feedback/{check['token']}/responses", json={"rating": rating}
    )
    assert "rating" in error_fields(assert_problem(response, 422))


def test_a_patient_who_reads_arabic_gets_the_arabic_forms(api: Api, desk: SurveyDesk) -> None:
    chosen = api.ok("PUT", "/v1/me/language", desk.patient_h, json={"language": "ar"})
    assert chosen == {"patientId": desk.patient, "language": "ar", "position": chosen["position"]}
    sent = desk.send()
    form = api.ok("GET", f"/v1/public/surveys/{sent['token']}", {})
    assert form["language"] == "ar"
    assert [q["text"] for q in form["questions"]] == [q["translations"]["ar"] for q in QUESTIONS]
    answer(api, sent["token"], NEGATIVE)
    log_contact(api, desk.admin_h, sent["surveyId"])
    check = send_check(api, desk.admin_h, sent["surveyId"])
    check_form = api.ok("GET", f"/v1/public/feedback/{check['token']}", {})
    assert check_form["language"] == "ar"
    assert check_form["question"] == SATISFACTION_QUESTION["ar"]


def test_a_language_no_template_has_falls_back_to_the_default(api: Api, desk: SurveyDesk) -> None:
    api.ok("PUT", "/v1/me/language", desk.patient_h, json={"language": "fr"})
    form = api.ok("GET", f"/v1/public/surveys/{desk.send()['token']}", {})
    assert form["language"] == "en" and form["questions"][0]["text"] == QUESTIONS[0]["text"]


def test_only_a_patient_sets_their_language_and_it_must_be_a_language_code(
    api: Api, desk: SurveyDesk
) -> None:
    for headers in (desk.doctor_h, desk.admin_h, auth(Role.PLATFORM_ADMIN, PLATFORM)):
        response = api.client.put("/v1/me/language", headers=headers, json={"language": "ar"})
        assert_problem(response, 403)
    assert_problem(api.client.put("/v1/me/language", json={"language": "ar"}), 401)
    for language in ("Arabic", "a1", 7):
        response = api.client.put(
            "/v1/me/language", headers=desk.patient_h, json={"language": language}
        )
        assert "language" in error_fields(assert_problem(response, 422))


def test_a_public_answer_with_the_same_idempotency_key_is_answered_once(
    api: Api, desk: SurveyDesk
) -> None:
    token = desk.send()["token"]
    path = f"/v1/public/surveys/{token}/responses"
    key = {"Idempotency-Key": "answer-1"}
    first = api.client.post(path, headers=key, json={"answers": POSITIVE})
    again = api.client.post(path, headers=key, json={"answers": POSITIVE})
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = api.client.post(path, headers=key, json={"answers": NEGATIVE})
    assert_problem(other, 422)


# -- the follow-up --------------------------------------------------------------------------


def test_blank_contact_notes_are_422_and_so_is_an_unknown_outcome(
    api: Api, desk: SurveyDesk
) -> None:
    survey, _, _ = desk.negative_survey()
    path = f"/surveys/instances/{survey}/log-contact/"
    for body, field in [
        ({"contactNotes": "   ", "outcome": "resolved"}, "contactNotes"),
        ({"contactNotes": "", "outcome": "resolved"}, "contactNotes"),
        ({"outcome": "resolved"}, "contactNotes"),
        ({"contactNotes": "Called.", "outcome": "fixed"}, "outcome"),
        ({"contactNotes": "Called."}, "outcome"),
    ]:
        response = api.client.post(path, headers=desk.admin_h, json=body)
        assert field in error_fields(assert_problem(response, 422)), body


def test_logging_contact_on_a_survey_that_is_not_negative_is_409(
    api: Api, desk: SurveyDesk
) -> None:
    unanswered = desk.send()
    positive = desk.send()
    answer(api, positive["token"], POSITIVE)
    for survey in (unanswered["surveyId"], positive["surveyId"]):
        response = api.client.post(
            f"/surveys/instances/{survey}/log-contact/",
            headers=desk.admin_h,
            json={"contactNotes": "Called.", "outcome": "resolved"},
        )
        assert_problem(response, 409)
        response = api.client.post(
            f"/surveys/instances/{survey}/send-satisfaction/", headers=desk.admin_h
        )
        assert_problem(response, 409)


def test_every_contact_stays_in_the_history(api: Api, desk: SurveyDesk) -> None:
    survey, _, _ = desk.negative_survey()
    log_contact(api, desk.admin_h, survey, "No answer.", "unresolved")
    second = log_contact(api, desk.px_h, survey, "Reached; explained the delay.", "explained")
    assert second["contacts"] == 2
    detail = desk.get(f"/v1/surveys/{survey}", second["position"])
    assert [(c["by"], c["outcome"]) for c in detail["contacts"]] == [
        (desk.admin, "unresolved"),
        (desk.px, "explained"),
    ]
    assert detail["contactSummary"]["count"] == 2
    assert detail["contactSummary"]["notes"] == "Reached; explained the delay."


def test_a_satisfaction_check_before_any_contact_is_409(api: Api, desk: SurveyDesk) -> None:
    survey, _, _ = desk.negative_survey()
    response = api.client.post(
        f"/surveys/instances/{survey}/send-satisfaction/", headers=desk.admin_h
    )
    body = assert_problem(response, 409)
    assert "contact" in body["detail"].lower()


def test_a_low_satisfaction_rating_flags_the_survey_for_escalation(
    api: Api, desk: SurveyDesk
) -> None:
    survey, check = desk.open_check()
    rated = answer_check(api, check["token"], 1)
    detail = desk.get(f"/v1/surveys/{survey}", rated["position"])
    assert detail["flaggedForEscalation"] is True and detail["needsAction"] is True
    assert detail["warning"]["level"] == "flagged_for_escalation"
    shown = desk.get(f"/v1/feedback/{check['feedbackId']}", rated["position"])
    assert shown["flaggedForEscalation"] is True


def test_escalating_keeps_the_survey_in_needs_action_with_its_escalation(
    api: Api, desk: SurveyDesk
) -> None:
    survey, check = desk.open_check()
    feedback = check["feedbackId"]
    blank = api.client.post(
        f"/v1/feedback/{feedback}/escalate", headers=desk.admin_h, json={"reason": "  "}
    )
    assert "reason" in error_fields(assert_problem(blank, 422))
    missing = api.client.post(f"/v1/feedback/{feedback}/escalate", headers=desk.admin_h, json={})
    assert "reason" in error_fields(assert_problem(missing, 422))
    escalated = api.ok(
        "POST",
        f"/v1/feedback/{feedback}/escalate",
        desk.px_h,
        json={"reason": "Asks for the head of department."},
    )
    assert escalated["status"] == "escalated" and escalated["surveyId"] == survey
    assert escalated["escalation"]["reason"] == "Asks for the head of department."
    assert escalated["escalation"]["by"] == desk.px
    waiting = desk.get("/v1/surveys/needs-action", escalated["position"])
    [row] = [r for r in waiting["items"] if r["id"] == survey]
    assert row["status"] == "escalated" and row["escalation"]["feedbackId"] == feedback
    shown = desk.get(f"/v1/feedback/{feedback}", escalated["position"])
    assert shown["status"] == "escalated"
    assert shown["escalation"]["reason"] == "Asks for the head of department."


def test_closing_twice_changes_nothing_and_a_closed_loop_takes_no_escalation_or_check(
    api: Api, desk: SurveyDesk
) -> None:
    survey, check = desk.open_check()
    feedback = check["feedbackId"]
    closed = api.ok("POST", f"/v1/feedback/{feedback}/close", desk.admin_h)

    def events() -> int:
        return sum(len(api.runtime.log.stream(uuid.UUID(i))) for i in (survey, feedback))

    before = events()
    again = api.ok("POST", f"/v1/feedback/{feedback}/close", desk.px_h)
    assert again["status"] == "closed" and events() == before
    response = api.client.post(
        f"/v1/feedback/{feedback}/escalate", headers=desk.admin_h, json={"reason": "Late."}
    )
    assert_problem(response, 409)
    for path in (
        f"/surveys/instances/{survey}/send-satisfaction/",
        f"/surveys/instances/{survey}/log-contact/",
    ):
        body = {"contactNotes": "Again.", "outcome": "resolved"} if "log" in path else None
        assert_problem(api.client.post(path, headers=desk.admin_h, json=body), 409)
    # The patient may no longer answer the check of a closed loop.
    assert_problem(api.client.get(f"/v1/public/feedback/{check['token']}"), 410)
    detail = desk.get(f"/v1/surveys/{survey}", closed["position"])
    assert detail["status"] == "closed"


# -- lists and stats ------------------------------------------------------------------------


def test_the_survey_list_filters_by_negativity_and_status_and_pages_newest_first(
    api: Api, clock: FakeClock, desk: SurveyDesk
) -> None:
    negative, _, _ = desk.negative_survey()
    clock.advance(60)
    positive = desk.send()
    answered = answer(api, positive["token"], POSITIVE)
    clock.advance(60)
    unanswered = desk.send()
    position = answered["position"]
    head = api.runtime.log.head()

    def ids(query: str) -> list[str]:
        return [row["id"] for row in desk.get(f"/v1/surveys{query}", head)["items"]]

    assert ids("") == [unanswered["surveyId"], positive["surveyId"], negative]
    assert ids("?negative=true") == [negative]
    assert ids("?negative=false") == [unanswered["surveyId"], positive["surveyId"]]
    assert ids("?status=answered") == [positive["surveyId"], negative]
    assert ids("?negative=true&status=sent") == []
    first = desk.get("/v1/surveys?limit=2", head)
    assert len(first["items"]) == 2 and first["nextCursor"]
    rest = desk.get(f"/v1/surveys?limit=2&cursor={first['nextCursor']}", head)
    assert [r["id"] for r in rest["items"]] == [negative] and "nextCursor" not in rest
    row = desk.get(f"/v1/surveys?negative=true&minPosition={position}", head)["items"][0]
    assert {"id", "templateId", "patientId", "score", "isNegative", "status"} <= set(row)
    assert {"contacts", "followUpFeedbacks"} <= set(row)
    [waiting] = desk.get("/v1/surveys?status=sent", head)["items"]
    assert waiting["score"] is None and waiting["answeredAt"] is None  # nulls are kept
    for query in ("?status=lost", "?limit=0", "?limit=201", "?negative=maybe"):
        assert_problem(api.client.get(f"/v1/surveys{query}", headers=desk.admin_h), 422)


def test_needs_action_lists_open_negative_surveys_oldest_first(
    api: Api, clock: FakeClock, desk: SurveyDesk
) -> None:
    older, _, _ = desk.negative_survey()
    clock.advance(60)
    newer, _, position = desk.negative_survey()
    waiting = desk.get("/v1/surveys/needs-action", position)
    assert [row["id"] for row in waiting["items"]] == [older, newer]
    page = desk.get("/v1/surveys/needs-action?limit=1", position)
    assert [row["id"] for row in page["items"]] == [older]
    rest = desk.get(f"/v1/surveys/needs-action?limit=1&cursor={page['nextCursor']}", position)
    assert [row["id"] for row in rest["items"]] == [newer]


def test_stats_count_the_surveys_answered_in_the_range(
    api: Api, clock: FakeClock, desk: SurveyDesk
) -> None:
    start = clock.now()
    survey, _, _ = desk.negative_survey()
    clock.advance(3600)
    log_contact(api, desk.admin_h, survey)
    positive = desk.send()
    answered = answer(api, positive["token"], POSITIVE)
    params = {"from": start.isoformat(), "minPosition": str(answered["position"])}
    stats = api.ok("GET", "/v1/surveys/stats", desk.admin_h, params=params)
    assert stats["from"] == start.isoformat() and stats["to"] is None
    assert stats["surveysAnswered"] == 2 and stats["negativeSurveys"] == 1
    assert stats["contacted"] == 1 and stats["contactedShare"] == 1.0
    assert stats["medianTimeToContactSeconds"] == 3600
    later = {"from": clock.now().isoformat(), "minPosition": str(answered["position"])}
    assert api.ok("GET", "/v1/surveys/stats", desk.admin_h, params=later)["surveysAnswered"] == 1
    naive = api.client.get(
        "/v1/surveys/stats", headers=desk.admin_h, params={"from": "2026-01-01T00:00:00"}
    )
    assert_problem(naive, 422)


# -- tokens are answered, never stored --------------------------------------------------------


def test_a_replayed_send_answers_the_same_token_and_no_token_is_ever_stored(
    api: Api, desk: SurveyDesk
) -> None:
    first = api.client.post(
        "/v1/surveys",
        headers={**desk.admin_h, "Idempotency-Key": "send-1"},
        json={"templateId": desk.template, "patientId": desk.patient},
    )
    again = api.client.post(
        "/v1/surveys",
        headers={**desk.admin_h, "Idempotency-Key": "send-1"},
        json={"templateId": desk.template, "patientId": desk.patient},
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and list(again.json()) == list(first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.headers["Cache-Control"] == "no-store"
    survey, token = first.json()["surveyId"], first.json()["token"]
    surveys_current(api, first.json()["position"])

    answer(api, token, NEGATIVE)
    log_contact(api, desk.admin_h, survey)
    path = f"/surveys/instances/{survey}/send-satisfaction/"
    key = {**desk.admin_h, "Idempotency-Key": "check-1"}
    sent, resent = api.client.post(path, headers=key), api.client.post(path, headers=key)
    assert (sent.status_code, resent.status_code) == (202, 202)
    assert resent.json() == sent.json() and resent.headers["Idempotent-Replayed"] == "true"
    check_token = sent.json()["token"]

    for key_name in ("send-1", "check-1"):
        record = api.runtime.log.find(idempotency_record_id(uuid.UUID(desk.admin), key_name))
        assert isinstance(record, IdempotencyRecord)
        assert "token" not in record.body
    stored = [n.state for n in api.runtime.log.read(0, 1_000_000)]
    for secret in (token, check_token):
        assert not [s for s in stored if secret.encode() in s]
    if api.runtime.backend == "sqlite":
        data = api.runtime.settings.data_dir
        for file in (p for p in Path(data).rglob("*") if p.is_file()):
            content = file.read_bytes()
            assert token.encode() not in content and check_token.encode() not in content, file


def test_the_openapi_document_offers_no_min_position_on_the_public_forms(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    for path in ("/v1/public/surveys/{token}", "/v1/public/feedback/{token}"):
        operation = document["paths"][path]["get"]
        assert "minPosition" not in {p["name"] for p in operation.get("parameters", [])}
        assert {"404", "410"} <= set(operation["responses"])
        assert "security" not in operation
    staff = document["paths"]["/surveys/instances/{surveyId}/send-satisfaction/"]["post"]
    assert {"202", "401", "403", "404", "409"} <= set(staff["responses"])
