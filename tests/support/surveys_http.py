"""Driving the survey loop over HTTP: a clinic with its admins, a template, and each step
of the loop as the staff's and the patient's requests."""

from __future__ import annotations

from typing import Any

from domain.shared.context import Role
from projections.platform.runner import wait_for_position
from projections.surveys.projection import SurveyProjection
from tests.support.app import Api, auth

QUESTIONS: list[dict[str, Any]] = [
    {"id": "care", "text": "How was your care?", "translations": {"ar": "كيف كانت رعايتك؟"}},
    {
        "id": "staff",
        "text": "How helpful was the staff?",
        "translations": {"ar": "ما مدى مساعدة الموظفين؟"},
    },
]
NEGATIVE = {"care": 1, "staff": 2}  # mean 1.5, below the default threshold of 3.0
POSITIVE = {"care": 5, "staff": 4}


def surveys_current(api: Api, position: int) -> None:
    """Wait until the surveys read model has `position`: the public forms offer no
    `?minPosition=`, having no caller to count waits against."""
    assert wait_for_position(api.runtime.store, SurveyProjection.name, position, 10)


def new_template(api: Api, headers: dict[str, str], name: str = "Visit") -> dict[str, Any]:
    body = {"name": name, "questions": QUESTIONS}
    result: dict[str, Any] = api.ok("POST", "/v1/survey-templates", headers, 201, json=body)
    return result


def send(
    api: Api, headers: dict[str, str], template: str, patient: str, key: str | None = None
) -> dict[str, Any]:
    """A survey sent; its form is readable once this returns."""
    extra = {"Idempotency-Key": key} if key else {}
    sent: dict[str, Any] = api.ok(
        "POST",
        "/v1/surveys",
        {**headers, **extra},
        201,
        json={"templateId": template, "patientId": patient},
    )
    surveys_current(api, sent["position"])
    return sent


def answer(
    api: Api, token: str, answers: dict[str, Any], comment: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"answers": answers}
    if comment is not None:
        body["comment"] = comment
    result: dict[str, Any] = api.ok(
        "POST", f"/v1/public/surveys/{token}/responses", {}, 201, json=body
    )
    return result


def log_contact(
    api: Api,
    headers: dict[str, str],
    survey: str,
    notes: str = "Called; apologised for the wait.",
    outcome: str = "resolved",
) -> dict[str, Any]:
    result: dict[str, Any] = api.ok(
        "POST",
        f"/surveys/instances/{survey}/log-contact/",
        headers,
        json={"contactNotes": notes, "outcome": outcome},
    )
    return result


def send_check(
    api: Api, headers: dict[str, str], survey: str, key: str | None = None
) -> dict[str, Any]:
    """A satisfaction check sent (202); its form is readable once this returns."""
    extra = {"Idempotency-Key": key} if key else {}
    sent: dict[str, Any] = api.ok(
        "POST", f"/surveys/instances/{survey}/send-satisfaction/", {**headers, **extra}, 202
    )
    surveys_current(api, sent["position"])
    return sent


def answer_check(api: Api, token: str, rating: Any, comment: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"rating": rating}
    if comment is not None:
        body["comment"] = comment
    result: dict[str, Any] = api.ok(
        "POST", f"/v1/public/feedback/{token}/responses", {}, 201, json=body
    )
    return result


class SurveyDesk:
    """A tenant with a hospital admin, a PX admin, a doctor, a patient and a template."""

    def __init__(self, api: Api, name: str = "Clinic") -> None:
        self.api = api
        self.tenant = api.tenant(name)
        self.doctor, self.doctor_h = api.doctor(self.tenant, "Maya", "Lind")
        self.patient = str(api.invite(self.doctor_h, "Sam")["patientId"])
        self.patient_h = auth(Role.PATIENT, self.patient, self.tenant)
        self.admin = api.staff(self.tenant, "HOSPITAL_ADMIN", "Hal", "Moss")
        self.admin_h = auth(Role.HOSPITAL_ADMIN, self.admin, self.tenant)
        self.px = api.staff(self.tenant, "PX_ADMIN", "Pia", "Nord")
        self.px_h = auth(Role.PX_ADMIN, self.px, self.tenant)
        self.template = str(new_template(api, self.admin_h)["id"])

    def send(self, key: str | None = None, patient: str | None = None) -> dict[str, Any]:
        return send(self.api, self.admin_h, self.template, patient or self.patient, key)

    def negative_survey(self) -> tuple[str, str, int]:
        """(survey id, its token, the answer's position)."""
        sent = self.send()
        answered = answer(self.api, sent["token"], NEGATIVE)
        return sent["surveyId"], sent["token"], answered["position"]

    def contacted_survey(self) -> str:
        survey, _, _ = self.negative_survey()
        log_contact(self.api, self.admin_h, survey)
        return survey

    def open_check(self) -> tuple[str, dict[str, Any]]:
        """A contacted negative survey and the satisfaction check sent for it."""
        survey = self.contacted_survey()
        return survey, send_check(self.api, self.admin_h, survey)

    def get(self, path: str, position: int, headers: dict[str, str] | None = None) -> Any:
        """A staff read that sees every write up to `position`."""
        joiner = "&" if "?" in path else "?"
        return self.api.ok("GET", f"{path}{joiner}minPosition={position}", headers or self.admin_h)
