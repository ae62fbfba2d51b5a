"""The "Testing Checklist" of spec/survey-feedback-integration.txt, one test per line,
each named after its line, over HTTP on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from domain.shared.context import Role
from domain.shared.eventlog import metadata_of
from tests.support.app import Api, auth
from tests.support.http import assert_problem

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = [
    {"id": "care", "text": "How was your care?", "translations": {"ar": "كيف كانت رعايتك؟"}},
    {"id": "staff", "text": "How helpful was the staff?"},
]
NOTES = "Called Sam. The new exercise hurt; Maya lowered the load and will call him Friday."


class Clinic:
    """A tenant with a hospital admin, a PX admin, a doctor and a patient, a template, and
    the steps of the loop as the staff and the patient take them over HTTP."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.position = 0  # the highest position this clinic's writes reached
        self.tenant = api.tenant("Riverside")
        self.hospital_admin_id = api.staff(self.tenant, "HOSPITAL_ADMIN", "Hana", "Okafor")
        self.px_admin_id = api.staff(self.tenant, "PX_ADMIN", "Priya", "Shah")
        self.doctor_id, self.doctor = api.doctor(self.tenant)
        self.patient_id = str(api.invite(self.doctor)["patientId"])
        self.admin = auth(Role.HOSPITAL_ADMIN, self.hospital_admin_id, self.tenant)
        self.px_admin = auth(Role.PX_ADMIN, self.px_admin_id, self.tenant)
        self.patient = auth(Role.PATIENT, self.patient_id, self.tenant)
        self.template = str(
            self.post(
                "/v1/survey-templates",
                self.px_admin,
                201,
                json={"name": "After your visit", "questions": QUESTIONS},
            )["id"]
        )

    def post(self, path: str, headers: dict[str, str], expect: int, **kw: Any) -> Any:
        body = self.api.ok("POST", path, headers, expect, **kw)
        self.position = max(self.position, int(body.get("position", 0)))
        return body

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        """A read of this clinic's own writes (`minPosition`)."""
        separator = "&" if "?" in path else "?"
        return self.api.ok(
            "GET", f"{path}{separator}minPosition={self.position}", headers or self.admin
        )

    def public(self, path: str) -> Any:
        """A patient's form, once the surveys read model has this clinic's writes."""
        self.get("/v1/surveys?limit=1")
        return self.api.ok("GET", path, {})

    def request(self, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
        return self.api.client.request(method, path, headers=headers, **kw)

    # -- the loop -----------------------------------------------------------------------

    def send(self, headers: dict[str, str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = self.post(
            "/v1/surveys",
            headers or self.admin,
            201,
            json={"templateId": self.template, "patientId": self.patient_id},
        )
        return body

    def answer(self, token: str, care: int, staff: int) -> None:
        self.post(
            f"/v1/public/surveys/{token}/responses",
            {},
            201,
            json={"answers": {"care": care, "staff": staff}, "comment": "It hurt."},
        )

    def negative_survey(self) -> str:
        sent = self.send()
        self.answer(sent["token"], 2, 1)
        return str(sent["surveyId"])

    def log_contact(self, survey: str, headers: dict[str, str] | None = None) -> Any:
        return self.post(
            f"/surveys/instances/{survey}/log-contact/",
            headers or self.admin,
            200,
            json={"contactNotes": NOTES, "outcome": "resolved"},
        )

    def send_check(self, survey: str, headers: dict[str, str] | None = None) -> Any:
        return self.post(
            f"/surveys/instances/{survey}/send-satisfaction/", headers or self.admin, 202
        )

    def contacted_survey_with_check(self) -> tuple[str, str]:
        survey = self.negative_survey()
        self.log_contact(survey)
        return survey, str(self.send_check(survey)["feedbackId"])


def test_create_survey_with_negative_score(api: Api) -> None:
    clinic = Clinic(api)
    sent = clinic.send()
    assert set(sent) == {"surveyId", "token", "expiresAt", "position"}
    form = clinic.public(f"/v1/public/surveys/{sent['token']}")
    assert [q["id"] for q in form["questions"]] == ["care", "staff"]

    clinic.answer(sent["token"], 2, 3)

    survey = clinic.get(f"/v1/surveys/{sent['surveyId']}")
    assert survey["score"] == 2.5  # the mean of the answers
    assert survey["isNegative"] is True  # 2.5 < the default threshold, 3.0
    assert survey["negativeThreshold"] == 3.0
    assert survey["status"] == "answered"
    assert survey["answers"] == {"care": 2, "staff": 3}
    negative = clinic.get("/v1/surveys?negative=true")["items"]
    assert [s["id"] for s in negative] == [sent["surveyId"]]


def test_verify_warning_appears_on_survey_detail(api: Api) -> None:
    clinic = Clinic(api)
    negative = clinic.negative_survey()
    positive = clinic.send()
    clinic.answer(positive["token"], 5, 4)

    warning = clinic.get(f"/v1/surveys/{negative}")["warning"]
    assert warning == {
        "level": "action_required",
        "message": "Action Required: Contact patient to discuss negative feedback",
    }
    assert clinic.get(f"/v1/surveys/{positive['surveyId']}")["warning"] is None
    waiting = clinic.get("/v1/surveys/needs-action")["items"]
    assert [s["id"] for s in waiting] == [negative]


def test_log_patient_contact_with_notes(api: Api) -> None:
    clinic = Clinic(api)
    survey = clinic.negative_survey()
    path = f"/surveys/instances/{survey}/log-contact/"
    for body in ({"contactNotes": "   ", "outcome": "resolved"}, {"outcome": "resolved"}):
        assert_problem(clinic.request("POST", path, clinic.admin, json=body), 422)

    logged = clinic.log_contact(survey)

    assert logged["surveyId"] == survey
    assert logged["status"] == "contacted"
    assert logged["contacts"] == 1
    assert logged["contact"]["notes"] == NOTES
    assert logged["contact"]["outcome"] == "resolved"
    assert logged["contact"]["by"] == clinic.hospital_admin_id


def test_verify_contact_information_is_saved(api: Api) -> None:
    clinic = Clinic(api)
    survey = clinic.negative_survey()
    before = datetime.fromisoformat(clinic.get(f"/v1/surveys/{survey}")["answeredAt"])
    clinic.log_contact(survey)
    clinic.post(
        f"/surveys/instances/{survey}/log-contact/",
        clinic.px_admin,
        200,
        json={"contactNotes": "Sam confirmed the new load is fine.", "outcome": "explained"},
    )

    detail = clinic.get(f"/v1/surveys/{survey}")

    contacts = detail["contacts"]
    assert [(c["by"], c["notes"], c["outcome"]) for c in contacts] == [
        (clinic.hospital_admin_id, NOTES, "resolved"),
        (clinic.px_admin_id, "Sam confirmed the new load is fine.", "explained"),
    ]
    assert all(datetime.fromisoformat(c["at"]) >= before for c in contacts)
    summary = detail["contactSummary"]
    assert summary["count"] == 2
    assert (summary["by"], summary["outcome"]) == (clinic.px_admin_id, "explained")
    assert detail["status"] == "contacted"


def test_send_satisfaction_feedback(api: Api) -> None:
    clinic = Clinic(api)
    survey = clinic.negative_survey()
    send = f"/surveys/instances/{survey}/send-satisfaction/"
    assert_problem(clinic.request("POST", send, clinic.admin), 409)  # no contact yet
    clinic.log_contact(survey)

    first = clinic.send_check(survey)
    again = clinic.send_check(survey, clinic.px_admin)

    assert first["created"] is True
    assert set(first) == {"feedbackId", "token", "expiresAt", "created", "position"}
    assert (again["feedbackId"], again["created"]) == (first["feedbackId"], False)
    form = clinic.public(f"/v1/public/feedback/{first['token']}")
    assert form["surveyName"] == "After your visit"
    assert form["question"] == "How satisfied are you with how your concerns were addressed?"
    assert clinic.get(f"/v1/surveys/{survey}")["status"] == "feedback_sent"


def test_verify_feedback_record_is_created_and_linked(api: Api) -> None:
    clinic = Clinic(api)
    survey, feedback = clinic.contacted_survey_with_check()

    record = clinic.get(f"/v1/feedback/{feedback}")

    assert record["id"] == feedback
    assert record["type"] == "SATISFACTION_CHECK"
    assert record["status"] == "open"
    assert record["relatedSurveyId"] == survey
    assert record["patientId"] == clinic.patient_id
    assert record["sentBy"] == clinic.hospital_admin_id


def test_view_feedback_detail_and_verify_survey_link(api: Api) -> None:
    clinic = Clinic(api)
    survey, feedback = clinic.contacted_survey_with_check()

    card = clinic.get(f"/v1/feedback/{feedback}")["relatedSurvey"]

    assert card["id"] == survey
    assert card["name"] == "After your visit"
    assert card["score"] == 1.5
    assert card["completedAt"] is not None
    assert card["patientContact"]["notes"] == NOTES
    assert card["patientContact"]["by"] == clinic.hospital_admin_id
    assert card["link"] == f"/v1/surveys/{survey}"
    assert clinic.get(card["link"])["id"] == survey


def test_view_survey_detail_and_verify_feedback_link(api: Api) -> None:
    clinic = Clinic(api)
    survey, feedback = clinic.contacted_survey_with_check()

    detail = clinic.get(f"/v1/surveys/{survey}")

    assert [f["id"] for f in detail["followUpFeedbacks"]] == [feedback]
    assert detail["followUpFeedbacks"][0]["status"] == "open"
    assert detail["openFeedbackId"] == feedback
    linked = clinic.get(f"/v1/feedback/{detail['followUpFeedbacks'][0]['id']}")
    assert linked["relatedSurveyId"] == survey


Step = tuple[str, str, dict[str, Any] | None]
LISTS = {("GET", "/v1/surveys"), ("GET", "/v1/surveys/needs-action")}


def every_step(clinic: Clinic) -> list[Step]:
    """Each staff request of the loop, on a fresh negative survey with contact and an
    open check, and on a fresh negative survey without contact."""
    survey, feedback = clinic.contacted_survey_with_check()
    negative = clinic.negative_survey()
    return [
        ("GET", "/v1/surveys", None),
        ("GET", "/v1/surveys/needs-action", None),
        ("GET", f"/v1/surveys/{survey}", None),
        ("GET", f"/v1/feedback/{feedback}", None),
        ("POST", "/v1/surveys", {"templateId": clinic.template, "patientId": clinic.patient_id}),
        (
            "POST",
            f"/surveys/instances/{negative}/log-contact/",
            {"contactNotes": "Called.", "outcome": "unresolved"},
        ),
        ("POST", f"/surveys/instances/{survey}/send-satisfaction/", None),
        ("POST", f"/v1/feedback/{feedback}/escalate", {"reason": "Still in pain."}),
        ("POST", f"/v1/feedback/{feedback}/close", None),
    ]


def test_permissions_for_different_user_roles(api: Api) -> None:
    clinic = Clinic(api)
    other_tenant = api.tenant("Elsewhere")
    other_admin = auth(
        Role.HOSPITAL_ADMIN, api.staff(other_tenant, "HOSPITAL_ADMIN", "Olu", "Ade"), other_tenant
    )
    steps = every_step(clinic)
    refused = {
        "nobody": ({}, 401),
        "a doctor": (clinic.doctor, 403),
        "the patient": (clinic.patient, 403),
        "a platform admin": (api.admin, 403),
        "another tenant's admin": (other_admin, 404),  # another tenant's ids do not exist
    }
    for who, (headers, status) in refused.items():
        for method, path, body in steps:
            response = clinic.request(method, path, headers, json=body)
            if who == "another tenant's admin" and (method, path) in LISTS:
                assert response.status_code == 200, (who, path, response.text)
                assert response.json()["items"] == []  # their own tenant's lists
                continue
            assert_problem(response, status)
    survey = steps[2][1]
    assert clinic.get(survey)["status"] == "feedback_sent"  # nothing refused changed it

    for admin in (clinic.admin, clinic.px_admin):
        for method, path, body in every_step(clinic):
            # A GET reads the clinic's own writes; a command reads the aggregates.
            current = {"minPosition": clinic.position} if method == "GET" else None
            response = clinic.request(method, path, admin, json=body, params=current)
            assert response.status_code < 400, (method, path, response.text)


def catalogued_actions() -> dict[str, list[str]]:
    """The event catalogue's audit action names, each with the events it records."""
    text = (ROOT / "docs" / "event-catalogue.md").read_text()
    table = text.split("### Audit action names", 1)[1].split("\n## ", 1)[0]
    actions: dict[str, list[str]] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"`[a-z_]+`", cells[0]):
            actions[cells[0].strip("`")] = re.findall(r"`([A-Za-z]+\.[A-Za-z]+)`", cells[2])
    return actions


def test_verify_audit_logs_are_created(api: Api) -> None:
    clinic = Clinic(api)
    survey = clinic.negative_survey()
    contact = clinic.request(
        "POST",
        f"/surveys/instances/{survey}/log-contact/",
        {**clinic.admin, "X-Correlation-ID": "contact-1"},
        json={"contactNotes": NOTES, "outcome": "resolved"},
    )
    assert contact.status_code == 200, contact.text
    check = clinic.request(
        "POST",
        f"/surveys/instances/{survey}/send-satisfaction/",
        {**clinic.px_admin, "X-Correlation-ID": "check-1"},
    )
    assert check.status_code == 202, check.text
    positive = clinic.send()
    clinic.answer(positive["token"], 5, 5)
    refused = clinic.request(
        "POST",
        f"/surveys/instances/{positive['surveyId']}/log-contact/",
        {**clinic.admin, "X-Correlation-ID": "refused-1"},
        json={"contactNotes": NOTES, "outcome": "resolved"},
    )
    assert_problem(refused, 409)

    actions = catalogued_actions()
    assert actions["survey_patient_contacted"] == ["SurveyInstance.PatientContacted"]
    assert actions["satisfaction_feedback_sent"][:2] == [
        "SurveyInstance.SatisfactionFeedbackSent",
        "Feedback.Sent",
    ]
    log = api.runtime.log
    events = [log.decode(n) for n in log.read(0, 1_000_000)]

    def recorded(name: str, aggregate: str) -> list[Any]:
        return [
            e for e in events if type(e).__qualname__ == name and str(e.originator_id) == aggregate
        ]

    expected = {
        "survey_patient_contacted": ("contact-1", clinic.hospital_admin_id, "hospital_admin"),
        "satisfaction_feedback_sent": ("check-1", clinic.px_admin_id, "px_admin"),
    }
    feedback = check.json()["feedbackId"]
    for action, (correlation, actor, role) in expected.items():
        for name in actions[action]:
            if name.startswith("Delivery.") or name.startswith("OneTimeLink."):
                continue  # no aggregate id of its own to look up here
            aggregate = feedback if name.startswith("Feedback.") else survey
            found = recorded(name, aggregate)
            assert len(found) == 1, (action, name)
            meta = metadata_of(found[0])
            assert meta["actorId"] == actor, (action, meta)
            assert meta["role"] == role
            assert meta["tenantId"] == clinic.tenant
            assert meta["correlationId"] == correlation
            assert str(meta["causationId"]).startswith("request:")
            assert datetime.fromisoformat(str(meta["recordedAt"])) >= found[0].timestamp
    # The outcome: a command that succeeded recorded its events; a refused one, none.
    refused_events = [e for e in events if metadata_of(e).get("correlationId") == "refused-1"]
    assert refused_events == []
    assert recorded("SurveyInstance.PatientContacted", positive["surveyId"]) == []
    answered = recorded("SurveyInstance.Answered", survey)
    assert metadata_of(answered[0])["role"] == "patient"
    assert metadata_of(answered[0])["actorId"] == clinic.patient_id
