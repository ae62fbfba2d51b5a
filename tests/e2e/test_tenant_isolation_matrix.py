"""Tenant isolation, endpoint by endpoint: every route x every role x own or other tenant.

Two clinics are set up over HTTP. Every actor belongs to clinic A; a request addresses the
ids of clinic A (own tenant) or of clinic B (other tenant). The rules:

- a role the endpoint does not admit gets 403, whatever it addresses;
- an admitted role gets 2xx in its own tenant, and nothing of the other tenant leaks into it;
- an admitted role addressing the other tenant's ids gets what an id that never existed
  gets (404; for the additional therapists of an invite, 422 naming the id), never a 2xx
  or a 403 that would reveal the id exists;
- an admitted role that can never have access to the resource (a non-participant of a
  conversation) gets 404 in every tenant;
- a platform admin has no tenant and succeeds in every tenant.

Every refusal is an application/problem+json body and reads exactly like the refusal of
ids that never existed.

ENDPOINTS must name every route of the app: a test fails when a new route is missing, so
whoever adds an endpoint decides here who may call it. The full matrix runs on SQLite; a
sample of it runs on PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi.routing import APIRoute

from domain.shared.context import Role
from tests.support.app import PLATFORM, Api, auth, make_api
from tests.support.http import assert_problem, masked, wait_until_current
from tests.support.surveys_http import (
    NEGATIVE,
    answer,
    log_contact,
    new_template,
    send,
    send_check,
)

PATIENT = Role.PATIENT
DOCTOR = Role.DOCTOR
HOSPITAL_ADMIN = Role.HOSPITAL_ADMIN
PX_ADMIN = Role.PX_ADMIN
PLATFORM_ADMIN = Role.PLATFORM_ADMIN
AUDITOR = Role.AUDITOR
ROLES = (PATIENT, DOCTOR, HOSPITAL_ADMIN, PX_ADMIN, AUDITOR, PLATFORM_ADMIN)
# Everyone but the auditor, who reads the history and the audit trail and nothing else.
EVERYONE = frozenset(ROLES) - {AUDITOR}
HISTORY_READERS = frozenset({HOSPITAL_ADMIN, AUDITOR, PLATFORM_ADMIN})

OWN, OTHER, NO_TENANT = "own-tenant", "other-tenant", "no-tenant-named"

ADMIN_PAGES = (
    # The admin pages (HTML twins of API routes): their roles, tenant isolation,
    # CSRF and one audit entry per request, admitted and refused, are tested in
    # tests/e2e/test_admin_pages_auth.py.
    "/admin",
    "/admin/login",
    "/admin/logout",
    "/admin/feature-flags",
    "/admin/feature-flags/{tenantId}/{flag}",
    "/admin/audit",
    "/admin/projections",
    "/admin/projections/status",
    "/admin/projections/{name}/rebuild",
    "/admin/deliveries",
    "/admin/deliveries/{deliveryId}/redeliver",
)

NOT_IN_MATRIX = {
    # Needs a what-if rebuild made first: who may read it (a platform admin only) and its
    # one audit entry are tested in test_rebuild_api.
    "/v1/admin/projections/{name}/what-if/{into}",
    "/health",
    "/metrics",
    "/openapi.json",
    "/docs",
    # Needs a dead delivery of each clinic: its isolation is tested in test_deliveries_api.
    "/v1/admin/deliveries/{deliveryId}/redeliver",
    # No caller at all: a one-time link's token is the credential. Tested (unknown, used,
    # expired, and a token of the other kind) in test_surveys_api and
    # test_public_survey_pages.
    "/v1/public/surveys/{token}",
    "/v1/public/surveys/{token}/responses",
    "/v1/public/feedback/{token}",
    "/v1/public/feedback/{token}/responses",
    "/public/surveys/{token}",
    "/public/feedback/{token}",
    # One-shot transitions (a new draft to publish, a custom plan to promote, a pending
    # enrollment to approve for every admitted cell): their isolation (another clinic's
    # ids are 404) is tested in test_treatment_plans_api.
    "/v1/treatment-plans/{planId}/publish",
    "/v1/treatment-plans/{planId}/promote",
    "/v1/enrollments/{enrollmentId}/approve",
    # Irreversible: erasing the matrix's patient would change every later cell. Its
    # isolation (another clinic's patient is 404, only hospital admins) is tested in
    # test_erasure_api.
    "/v1/patients/{patientId}/erase",
    *ADMIN_PAGES,
}


@dataclass(frozen=True)
class Clinic:
    """One tenant's people, as the ids a request can name."""

    tenant: str
    hospital_admin: str
    px_admin: str
    doctor: str  # approved; the acting doctor, connected to both patients
    colleague: str  # approved; named as an additional therapist, assigned to `patient2`
    target: str  # the doctor that approve / deactivate / read-a-staff-member address
    patient: str  # in a direct conversation with `doctor`
    patient2: str  # the patient whose care team the assign / unassign cases change
    conversation: str  # between `patient` and `doctor`
    workout: str  # `patient`'s finalized workout; `doctor` has a note on its exercise e2
    open_workout: str  # `patient`'s workout not finalized yet
    template: str  # a survey template
    survey: str  # `patient`'s negative survey, contacted, with a satisfaction check open
    feedback: str  # that check
    closing_feedback: str  # the open check of a second such survey, which one case closes
    exercise: str  # the clinic's own exercise
    plan: str  # a published org library plan (in clinic) of `exercise`, version 1
    enrollment: str  # `patient`'s active enrollment in `plan`; `patient` has library access
    webhook: str  # a webhook subscription of the clinic

    @property
    def params(self) -> dict[str, str]:
        return {
            "tenantId": self.tenant,
            "templateId": self.template,
            "surveyId": self.survey,
            "feedbackId": self.feedback,
            "planId": self.plan,
            "version": "1",
            "enrollmentId": self.enrollment,
            "webhookId": self.webhook,
            "staffId": self.target,
            "patientId": self.patient,
            "conversationId": self.conversation,
            "workoutId": self.workout,
            "exerciseId": "e1",
            "flag": "feedbackNotifications",
        }

    @property
    def ids(self) -> set[str]:
        return set(vars(self).values())

    def headers(self, role: Role) -> dict[str, str]:
        if role is PLATFORM_ADMIN:
            return auth(role, PLATFORM)
        if role is AUDITOR:  # no staff record: an auditor is only a token of the tenant
            return auth(role, uuid.uuid5(uuid.NAMESPACE_URL, f"auditor/{self.tenant}"), self.tenant)
        user = {
            PATIENT: self.patient,
            DOCTOR: self.doctor,
            HOSPITAL_ADMIN: self.hospital_admin,
            PX_ADMIN: self.px_admin,
        }[role]
        return auth(role, user, self.tenant)


def nowhere() -> Clinic:
    """A clinic whose every id never existed."""
    return Clinic(*(str(uuid.uuid4()) for _ in range(len(fields(Clinic)))))


# A request body from the clinic the request addresses and the caller's own clinic.
Body = Callable[[Clinic, Clinic], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    allowed: frozenset[Role]  # the roles the endpoint admits; any other role gets 403
    body: Body | None = None
    # What an admitted tenant role gets for the other tenant's ids; None when the request
    # names no tenant's ids at all.
    across_tenants: int | None = 404
    # Admitted roles that can never have access to the addressed resource (not a
    # participant, not connected): 404 in every tenant.
    no_access: frozenset[Role] = frozenset()
    # Path parameters other than the clinic's defaults (Clinic.params).
    params: Callable[[Clinic], dict[str, str]] | None = None
    wheres: tuple[str, ...] = field(init=False)

    def url(self, clinic: Clinic) -> str:
        params = {**clinic.params, **(self.params(clinic) if self.params else {})}
        return self.path.format(**params)

    def __post_init__(self) -> None:
        named = (OWN, OTHER) if self.across_tenants is not None else (NO_TENANT,)
        object.__setattr__(self, "wheres", named)


def new_staff(_to: Clinic, _me: Clinic) -> dict[str, Any]:
    return {
        "type": "PX_ADMIN",
        "firstName": "Noor",
        "lastName": "Haddad",
        "email": f"noor.{uuid.uuid4().hex[:8]}@clinic.example",
    }


def new_patient(to: Clinic, _me: Clinic) -> dict[str, Any]:
    return {
        "firstName": "Ada",
        "lastName": "Byrne",
        "email": f"ada.{uuid.uuid4().hex[:8]}@patients.example",
        "additionalTherapistIds": [to.colleague],
    }


def assignment(to: Clinic, _me: Clinic) -> dict[str, Any]:
    return {"patientId": to.patient2, "targetDoctorId": to.colleague}


def unassignment(to: Clinic, me: Clinic) -> dict[str, Any]:
    # The caller's own doctor: a doctor may only unassign themself.
    return {"patientId": to.patient2, "doctorId": me.doctor}


def survey_to_send(to: Clinic, _me: Clinic) -> dict[str, Any]:
    return {"templateId": to.template, "patientId": to.patient}


def constant(body: dict[str, Any]) -> Body:
    return lambda _to, _me: body


def admins(*more: Role) -> frozenset[Role]:
    return frozenset({PLATFORM_ADMIN, HOSPITAL_ADMIN, *more})


def only(*roles: Role) -> frozenset[Role]:
    return frozenset(roles)


NOT_A_PARTICIPANT = only(HOSPITAL_ADMIN, PX_ADMIN, PLATFORM_ADMIN)
SURVEY_STAFF = only(HOSPITAL_ADMIN, PX_ADMIN)
PLAN_READERS = only(PATIENT, DOCTOR, HOSPITAL_ADMIN, PLATFORM_ADMIN)
ENROLLED = only(PATIENT, DOCTOR, HOSPITAL_ADMIN)  # the patient themself, the clinic's specialists
# A public address: the default guard refuses loopback, private and link-local ones.
WEBHOOK = {
    "url": "https://93.184.215.14/careloop",
    "events": ["treatment_plan.assigned"],
    "secret": "whsec-matrix-0123456789abcdef",
}


def plan_content(exercise: str) -> dict[str, Any]:
    """A plan's whole content, of one session of `exercise`."""
    params = {"mode": "reps", "sets": 3, "reps": 10, "restBetweenSetsSeconds": 30}
    return {
        "title": "Knee rehab",
        "type": "in_clinic",
        "frequencyPerWeek": 2,
        "durationWeeks": 4,
        "visibility": "library",
        "sessions": [{"title": "Day 1", "exercises": [{"exerciseId": exercise, "params": params}]}],
    }


ENDPOINTS = [
    # People, tenants, flags
    Endpoint(
        "create-a-tenant",
        "POST",
        "/v1/tenants",
        only(PLATFORM_ADMIN),
        constant({"name": "Elsewhere"}),
        across_tenants=None,
    ),
    Endpoint("list-tenants", "GET", "/v1/tenants", only(PLATFORM_ADMIN), across_tenants=None),
    Endpoint("read-a-tenant", "GET", "/v1/tenants/{tenantId}", admins()),
    Endpoint("read-feature-flags", "GET", "/v1/tenants/{tenantId}/feature-flags", admins()),
    Endpoint(
        "set-a-feature-flag",
        "PUT",
        "/v1/tenants/{tenantId}/feature-flags/{flag}",
        only(PLATFORM_ADMIN),
        constant({"enabled": False}),
    ),
    Endpoint("register-staff", "POST", "/v1/tenants/{tenantId}/staff", admins(), new_staff),
    Endpoint("list-staff", "GET", "/v1/tenants/{tenantId}/staff", admins(PX_ADMIN, DOCTOR)),
    Endpoint("read-a-staff-member", "GET", "/v1/staff/{staffId}", admins(PX_ADMIN, DOCTOR)),
    Endpoint("approve-staff", "POST", "/v1/staff/{staffId}/approve", admins()),
    Endpoint("deactivate-staff", "POST", "/v1/staff/{staffId}/deactivate", admins()),
    Endpoint(
        "invite-a-patient",
        "POST",
        "/v1/patients/invite",
        only(DOCTOR),
        new_patient,
        across_tenants=422,  # the contract's one exception: bad additionalTherapistIds
    ),
    Endpoint("list-patients", "GET", "/v1/tenants/{tenantId}/patients", admins(PX_ADMIN)),
    Endpoint("read-a-patient", "GET", "/v1/patients/{patientId}", EVERYONE),
    Endpoint("export-a-patient", "GET", "/v1/patients/{patientId}/export", only(HOSPITAL_ADMIN)),
    # Care team
    Endpoint(
        "list-tenant-doctors",
        "GET",
        "/v2/doctor/patients/tenant-doctors",
        only(DOCTOR),
        across_tenants=None,
    ),
    Endpoint(
        "assign", "POST", "/v2/doctor/patients/assign", only(DOCTOR, HOSPITAL_ADMIN), assignment
    ),
    Endpoint(
        "unassign",
        "POST",
        "/v2/doctor/patients/unassign",
        only(DOCTOR, HOSPITAL_ADMIN),
        unassignment,
    ),
    Endpoint("my-patients", "GET", "/v2/doctor/patients", only(DOCTOR), across_tenants=None),
    Endpoint("all-patients", "GET", "/v2/doctor/patients/all", only(DOCTOR), across_tenants=None),
    # Conversations
    Endpoint("my-conversations", "GET", "/v1/conversations", EVERYONE, across_tenants=None),
    Endpoint(
        "read-messages",
        "GET",
        "/v1/conversations/{conversationId}/messages",
        EVERYONE,
        no_access=NOT_A_PARTICIPANT,
    ),
    Endpoint(
        "post-a-message",
        "POST",
        "/v1/conversations/{conversationId}/messages",
        EVERYONE,
        constant({"text": "How are you feeling today?"}),
        no_access=NOT_A_PARTICIPANT,
    ),
    # Workouts and the Session Viewer
    Endpoint(
        "start-a-workout",
        "POST",
        "/v1/workouts",
        only(PATIENT),
        constant({"exercises": [{"exerciseId": "e1", "name": "Squat"}]}),
        across_tenants=None,
    ),
    Endpoint(
        "record-an-exercise",
        "PUT",
        "/v1/workouts/{workoutId}/exercises/{exerciseId}",
        only(PATIENT),
        constant({"actual": {"sets": 3, "reps": 10}, "pain": 2, "exertion": 5}),
        params=lambda c: {"workoutId": c.open_workout},
    ),
    Endpoint("finalize-a-workout", "POST", "/v1/workouts/{workoutId}/finalize", only(PATIENT)),
    Endpoint(
        "save-a-note",
        "PUT",
        "/v1/workouts/{workoutId}/exercises/{exerciseId}/note",
        only(DOCTOR),
        constant({"text": "Keep the knee behind the toes."}),
    ),
    Endpoint(
        "delete-a-note",
        "DELETE",
        "/v1/workouts/{workoutId}/exercises/{exerciseId}/note",
        only(DOCTOR),
        params=lambda _: {"exerciseId": "e2"},
    ),
    Endpoint(
        "view-a-session",
        "GET",
        "/v1/workouts/{workoutId}",
        only(PATIENT, DOCTOR, HOSPITAL_ADMIN),
    ),
    # The caller's own resources
    Endpoint(
        "register-a-push-token",
        "PUT",
        "/v1/me/push-tokens",
        EVERYONE - {PLATFORM_ADMIN},
        constant({"token": "ExponentPushToken[matrix-device-1]", "platform": "ios"}),
        across_tenants=None,
    ),
    Endpoint(
        "my-notifications",
        "GET",
        "/v1/me/notifications",
        EVERYONE - {PLATFORM_ADMIN},
        across_tenants=None,
    ),
    Endpoint(
        "my-language",
        "PUT",
        "/v1/me/language",
        only(PATIENT),
        constant({"language": "en"}),
        across_tenants=None,
    ),
    # Surveys: the tenant's hospital and PX admins only, platform admins included out
    Endpoint(
        "create-a-survey-template",
        "POST",
        "/v1/survey-templates",
        SURVEY_STAFF,
        constant({"name": "Visit", "questions": [{"id": "care", "text": "How was it?"}]}),
        across_tenants=None,
    ),
    Endpoint(
        "list-survey-templates",
        "GET",
        "/v1/survey-templates",
        SURVEY_STAFF,
        across_tenants=None,
    ),
    Endpoint(
        "revise-a-survey-template",
        "PUT",
        "/v1/survey-templates/{templateId}",
        SURVEY_STAFF,
        constant({"negativeThreshold": 3.0}),
    ),
    Endpoint("read-a-survey-template", "GET", "/v1/survey-templates/{templateId}", SURVEY_STAFF),
    Endpoint("send-a-survey", "POST", "/v1/surveys", SURVEY_STAFF, survey_to_send),
    Endpoint("list-surveys", "GET", "/v1/surveys", SURVEY_STAFF, across_tenants=None),
    Endpoint(
        "surveys-needing-action",
        "GET",
        "/v1/surveys/needs-action",
        SURVEY_STAFF,
        across_tenants=None,
    ),
    Endpoint("survey-stats", "GET", "/v1/surveys/stats", SURVEY_STAFF, across_tenants=None),
    Endpoint("view-a-survey", "GET", "/v1/surveys/{surveyId}", SURVEY_STAFF),
    Endpoint(
        "log-contact",
        "POST",
        "/surveys/instances/{surveyId}/log-contact/",
        SURVEY_STAFF,
        constant({"contactNotes": "Called; apologised.", "outcome": "resolved"}),
    ),
    Endpoint(
        "send-a-satisfaction-check",
        "POST",
        "/surveys/instances/{surveyId}/send-satisfaction/",
        SURVEY_STAFF,
    ),
    Endpoint("view-a-feedback", "GET", "/v1/feedback/{feedbackId}", SURVEY_STAFF),
    Endpoint(
        "close-a-feedback",
        "POST",
        "/v1/feedback/{feedbackId}/close",
        SURVEY_STAFF,
        params=lambda c: {"feedbackId": c.closing_feedback},
    ),
    Endpoint(
        "escalate-a-feedback",
        "POST",
        "/v1/feedback/{feedbackId}/escalate",
        SURVEY_STAFF,
        constant({"reason": "Asks for the head of department."}),
    ),
    # Treatment plans
    Endpoint(
        "create-an-exercise",
        "POST",
        "/v1/exercises",
        admins(DOCTOR),
        constant({"name": "Squat", "bodyRegion": "knee"}),
        across_tenants=None,
    ),
    Endpoint("list-exercises", "GET", "/v1/exercises", PLAN_READERS, across_tenants=None),
    Endpoint(
        "read-an-exercise",
        "GET",
        "/v1/exercises/{exerciseId}",
        PLAN_READERS,
        params=lambda c: {"exerciseId": c.exercise},
    ),
    Endpoint(
        "edit-an-exercise",
        "PUT",
        "/v1/exercises/{exerciseId}",
        admins(DOCTOR),
        constant({"name": "Deep squat", "bodyRegion": "knee"}),
        params=lambda c: {"exerciseId": c.exercise},
    ),
    Endpoint(
        # A platform admin designs only global plans: an org plan is 403 for them. Another
        # clinic's exercise in the body is an unknown one: 404, as every id in a body.
        "design-a-plan",
        "POST",
        "/v1/treatment-plans",
        only(DOCTOR, HOSPITAL_ADMIN),
        lambda to, _me: plan_content(to.exercise) | {"scope": "org"},
    ),
    Endpoint("read-a-plan", "GET", "/v1/treatment-plans/{planId}", PLAN_READERS),
    Endpoint(
        "edit-a-plan",
        "PUT",
        "/v1/treatment-plans/{planId}",
        admins(DOCTOR),
        lambda to, _me: plan_content(to.exercise),
    ),
    Endpoint("list-plan-versions", "GET", "/v1/treatment-plans/{planId}/versions", PLAN_READERS),
    Endpoint(
        "read-a-plan-version",
        "GET",
        "/v1/treatment-plans/{planId}/versions/{version}",
        PLAN_READERS,
    ),
    Endpoint(
        "clone-a-plan",
        "POST",
        "/v1/treatment-plans/{planId}/clone",
        only(DOCTOR, HOSPITAL_ADMIN),
        constant({}),
    ),
    Endpoint(
        "plan-library",
        "GET",
        "/v1/treatment-plans/library",
        PLAN_READERS,
        across_tenants=None,
    ),
    Endpoint(
        "assign-a-plan",
        "POST",
        "/v1/treatment-plans/{planId}/assign",
        only(DOCTOR, HOSPITAL_ADMIN),
        lambda to, _me: {"patientId": to.patient2},
    ),
    Endpoint("self-assign", "POST", "/v1/treatment-plans/{planId}/self-assign", only(PATIENT)),
    Endpoint("pause-an-enrollment", "POST", "/v1/enrollments/{enrollmentId}/pause", ENROLLED),
    Endpoint("resume-an-enrollment", "POST", "/v1/enrollments/{enrollmentId}/resume", ENROLLED),
    Endpoint("read-an-enrollment", "GET", "/v1/enrollments/{enrollmentId}", ENROLLED),
    Endpoint("read-progress", "GET", "/v1/enrollments/{enrollmentId}/progress", ENROLLED),
    Endpoint(
        "list-a-patients-enrollments", "GET", "/v1/patients/{patientId}/enrollments", ENROLLED
    ),
    Endpoint(
        "set-a-service-plan",
        "PUT",
        "/v1/patients/{patientId}/service-plan",
        only(HOSPITAL_ADMIN),
        constant({"telerehabAccess": True, "libraryAccess": True, "active": True}),
    ),
    Endpoint("read-a-service-plan", "GET", "/v1/patients/{patientId}/service-plan", ENROLLED),
    # Webhooks
    Endpoint(
        "create-a-webhook",
        "POST",
        "/v1/webhooks",
        only(HOSPITAL_ADMIN),
        constant(WEBHOOK),
        across_tenants=None,
    ),
    Endpoint("list-webhooks", "GET", "/v1/webhooks", only(HOSPITAL_ADMIN), across_tenants=None),
    Endpoint("read-a-webhook", "GET", "/v1/webhooks/{webhookId}", only(HOSPITAL_ADMIN)),
    Endpoint(
        "list-webhook-deliveries",
        "GET",
        "/v1/webhooks/{webhookId}/deliveries",
        only(HOSPITAL_ADMIN),
    ),
    # Operations
    Endpoint(
        "read-projection-status", "GET", "/v1/admin/projections", admins(), across_tenants=None
    ),
    Endpoint("list-deliveries", "GET", "/v1/admin/deliveries", admins(), across_tenants=None),
    Endpoint(
        "rebuild-a-read-model",
        "POST",
        "/v1/admin/projections/{name}/rebuild",
        only(PLATFORM_ADMIN),
        across_tenants=None,
        params=lambda _: {"name": "tenants"},
    ),
    # History
    Endpoint(
        "list-a-stream's-events",
        "GET",
        "/v1/streams/{aggregateId}/events",
        HISTORY_READERS,
        params=lambda clinic: {"aggregateId": clinic.workout},
    ),
    Endpoint(
        "read-a-stream's-state",
        "GET",
        "/v1/streams/{aggregateId}",
        HISTORY_READERS,
        params=lambda clinic: {"aggregateId": clinic.plan},
    ),
    # The audit trail: its readers, each their own tenant's (a platform admin: the
    # platform's own chain unless it names a tenant).
    Endpoint("read-the-audit-trail", "GET", "/v1/audit", HISTORY_READERS, across_tenants=None),
    Endpoint(
        "verify-the-audit-trail", "GET", "/v1/audit/verify", HISTORY_READERS, across_tenants=None
    ),
    # Provenance: the history readers, and whoever may read the thing (a workout: its
    # patient and their connected doctors).
    Endpoint(
        "trace-a-workout's-provenance",
        "GET",
        "/v1/provenance/{id}",
        frozenset(ROLES),
        no_access=frozenset({PX_ADMIN}),
        params=lambda clinic: {"id": clinic.workout},
    ),
]


@dataclass
class World:
    api: Api
    mine: Clinic
    theirs: Clinic

    def send(self, endpoint: Endpoint, role: Role, where: str) -> httpx.Response:
        return self.send_to(endpoint, role, self.theirs if where == OTHER else self.mine)

    def send_to(self, endpoint: Endpoint, role: Role, addressed: Clinic) -> httpx.Response:
        return self.api.client.request(
            endpoint.method,
            endpoint.url(addressed),
            headers=self.mine.headers(role),
            json=endpoint.body(addressed, self.mine) if endpoint.body else None,
        )


FLAGS = ("therapistPatientAssignment", "allActivePatientsDashboard")


def set_up_clinic(api: Api, name: str) -> Clinic:
    tenant = api.tenant(name)
    for flag in FLAGS:
        api.flag(tenant, flag)
    doctor, doctor_headers = api.doctor(tenant, "Maya", "Lind")
    patient = api.invite(doctor_headers, "Sam")["patientId"]
    patient_headers = auth(PATIENT, patient, tenant)
    conversations = api.ok(
        "GET", f"/v1/conversations?minPosition={api.runtime.log.head()}", patient_headers
    )
    workout = start_workout(api, patient_headers)
    api.ok("POST", f"/v1/workouts/{workout}/finalize", patient_headers)
    api.ok(
        "PUT",
        f"/v1/workouts/{workout}/exercises/e2/note",
        doctor_headers,
        json={"text": "Slower on the way down."},
    )
    hospital_admin = api.staff(tenant, "HOSPITAL_ADMIN", "Hal", "Moss")
    admin_headers = auth(HOSPITAL_ADMIN, hospital_admin, tenant)
    template = str(new_template(api, admin_headers)["id"])
    (survey, feedback), (_, closing_feedback) = (
        open_check(api, admin_headers, template, patient) for _ in range(2)
    )
    return Clinic(
        tenant=tenant,
        hospital_admin=hospital_admin,
        px_admin=api.staff(tenant, "PX_ADMIN", "Pia", "Nord"),
        doctor=doctor,
        colleague=api.staff(tenant, "DOCTOR", "Cole", "Berg"),
        target=api.staff(tenant, "DOCTOR", "Tess", "Vik"),
        patient=patient,
        patient2=api.invite(doctor_headers, "Kim")["patientId"],
        conversation=conversations[0]["id"],
        workout=workout,
        open_workout=start_workout(api, patient_headers),
        template=template,
        survey=survey,
        feedback=feedback,
        closing_feedback=closing_feedback,
        **set_up_plans(api, doctor_headers, admin_headers, patient),
    )


def set_up_plans(
    api: Api, doctor_headers: dict[str, str], admin_headers: dict[str, str], patient: str
) -> dict[str, str]:
    """An exercise, a published library plan of it, `patient` with library access and
    enrolled in it, and a webhook subscription."""
    exercise = api.ok("POST", "/v1/exercises", doctor_headers, 201, json={"name": "Squat"})["id"]
    body = {"scope": "org", **plan_content(exercise)}
    plan = api.ok("POST", "/v1/treatment-plans", doctor_headers, 201, json=body)["id"]
    api.ok("POST", f"/v1/treatment-plans/{plan}/publish", doctor_headers)
    access = {"telerehabAccess": True, "libraryAccess": True, "active": True}
    api.ok("PUT", f"/v1/patients/{patient}/service-plan", admin_headers, json=access)
    assigned = api.ok(
        "POST",
        f"/v1/treatment-plans/{plan}/assign",
        doctor_headers,
        201,
        json={"patientId": patient},
    )
    webhook = api.ok("POST", "/v1/webhooks", admin_headers, 201, json=WEBHOOK)["id"]
    return {
        "exercise": str(exercise),
        "plan": str(plan),
        "enrollment": str(assigned["enrollmentId"]),
        "webhook": str(webhook),
    }


def open_check(
    api: Api, admin_headers: dict[str, str], template: str, patient: str
) -> tuple[str, str]:
    """A negative survey of `patient`, contacted, and its open satisfaction check."""
    sent = send(api, admin_headers, template, patient)
    answer(api, sent["token"], NEGATIVE)
    log_contact(api, admin_headers, sent["surveyId"])
    return sent["surveyId"], send_check(api, admin_headers, sent["surveyId"])["feedbackId"]


def start_workout(api: Api, patient_headers: dict[str, str]) -> str:
    exercises = [{"exerciseId": e, "name": f"Exercise {e}"} for e in ("e1", "e2")]
    started = api.ok("POST", "/v1/workouts", patient_headers, 201, json={"exercises": exercises})
    return str(started["workoutId"])


def build_world(backend: str, tmp_path: Path) -> Iterator[World]:
    with make_api(backend, tmp_path) as api:
        world = World(api, set_up_clinic(api, "Mine"), set_up_clinic(api, "Theirs"))
        wait_until_current(api.runtime)
        yield world


# One world per module, not per test: building one is cheap, but closing a runtime waits
# for its projection threads (about a second), and the matrix has over a hundred cells.
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from build_world("sqlite", tmp_path_factory.mktemp("matrix"))


@pytest.fixture(scope="module")
def postgres_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from build_world("postgresql", tmp_path_factory.mktemp("matrix-pg"))


def expected_status(endpoint: Endpoint, role: Role, where: str) -> int | None:
    """The status the matrix prescribes; None for any 2xx."""
    if role not in endpoint.allowed:
        return 403
    if role in endpoint.no_access:
        return 404
    if where == OTHER and role is not PLATFORM_ADMIN:
        return endpoint.across_tenants
    return None


def check(world: World, endpoint: Endpoint, role: Role, where: str) -> None:
    response = world.send(endpoint, role, where)
    expected = expected_status(endpoint, role, where)
    if expected is None:
        assert 200 <= response.status_code < 300, (response.status_code, response.text)
        if role is not PLATFORM_ADMIN:
            leaked = {i for i in world.theirs.ids if i in response.text}
            assert not leaked, f"the other tenant's ids leaked: {leaked}"
        return
    body = assert_problem(response, expected)
    # Indistinguishable from ids that never existed: same status, same words.
    never_existed = world.send_to(endpoint, role, nowhere())
    assert masked(never_existed.json()) == masked(body)


def cells(
    keep: Callable[[Endpoint, Role, str], bool], endpoints: list[Endpoint] = ENDPOINTS
) -> list[Any]:
    return [
        pytest.param(endpoint, role, where, id=f"{endpoint.name}-as-{role.value}-{where}")
        for endpoint in endpoints
        for role in ROLES
        for where in endpoint.wheres
        if keep(endpoint, role, where)
    ]


@pytest.mark.parametrize(
    ("endpoint", "role", "where"), cells(lambda e, role, _: role not in e.allowed)
)
def test_a_role_the_endpoint_does_not_admit_is_403_in_any_tenant(
    world: World, endpoint: Endpoint, role: Role, where: str
) -> None:
    check(world, endpoint, role, where)


@pytest.mark.parametrize(
    ("endpoint", "role", "where"),
    cells(lambda e, role, where: role in e.allowed - e.no_access and where != OTHER),
)
def test_an_admitted_role_succeeds_in_its_own_tenant_and_sees_nothing_of_another(
    world: World, endpoint: Endpoint, role: Role, where: str
) -> None:
    check(world, endpoint, role, where)


@pytest.mark.parametrize(
    ("endpoint", "role", "where"),
    cells(
        lambda e, role, where: role in e.allowed - e.no_access - {PLATFORM_ADMIN} and where == OTHER
    ),
)
def test_an_admitted_role_finds_nothing_in_another_tenant(
    world: World, endpoint: Endpoint, role: Role, where: str
) -> None:
    check(world, endpoint, role, where)


@pytest.mark.parametrize(
    ("endpoint", "role", "where"), cells(lambda e, role, _: role in e.allowed & e.no_access)
)
def test_an_admitted_role_without_access_to_the_resource_finds_nothing_in_any_tenant(
    world: World, endpoint: Endpoint, role: Role, where: str
) -> None:
    check(world, endpoint, role, where)


@pytest.mark.parametrize(
    ("endpoint", "role", "where"),
    cells(
        lambda e, role, where: (
            role is PLATFORM_ADMIN and role in e.allowed - e.no_access and where == OTHER
        )
    ),
)
def test_a_platform_admin_succeeds_in_every_tenant(
    world: World, endpoint: Endpoint, role: Role, where: str
) -> None:
    check(world, endpoint, role, where)


def test_with_its_flag_off_an_endpoint_is_403_before_any_id_is_looked_up(world: World) -> None:
    tenant = world.api.tenant("Flagless")
    _, doctor = world.api.doctor(tenant, "Fay", "Off")
    answers = [
        world.api.client.post(
            "/v2/doctor/patients/assign", headers=doctor, json={"patientId": patient}
        )
        for patient in (world.mine.patient, world.theirs.patient, str(uuid.uuid4()))
    ]
    bodies = [assert_problem(response, 403) for response in answers]
    assert {body["flag"] for body in bodies} == {"therapistPatientAssignment"}
    assert len({masked(body) for body in bodies}) == 1


POSTGRES_SAMPLE = [
    e
    for e in ENDPOINTS
    if e.name
    in {
        "read-feature-flags",
        "register-staff",
        "approve-staff",
        "invite-a-patient",
        "read-a-patient",
        "assign",
        "post-a-message",
        "save-a-note",
        "view-a-session",
        "send-a-survey",
        "log-contact",
        "view-a-feedback",
        "design-a-plan",
        "read-a-plan",
        "assign-a-plan",
        "read-an-enrollment",
        "set-a-service-plan",
        "read-a-webhook",
    }
]


@pytest.mark.parametrize(
    ("endpoint", "role", "where"),
    cells(lambda _e, role, _w: role in (DOCTOR, HOSPITAL_ADMIN, PLATFORM_ADMIN), POSTGRES_SAMPLE),
)
def test_on_postgresql_a_sample_of_the_matrix_holds_too(
    postgres_world: World, endpoint: Endpoint, role: Role, where: str
) -> None:
    check(postgres_world, endpoint, role, where)


def routes_of(world: World) -> set[tuple[str, str]]:
    """(method, path) of every APIRoute, including those of included routers: since
    FastAPI 0.16x `app.routes` holds included routers unexpanded."""
    routes: Iterable[Any] = world.api.client.app.routes  # type: ignore[attr-defined]
    expand = getattr(fastapi.routing, "iter_route_contexts", None)
    if expand is not None:
        routes = expand(routes)
    return {
        (method, route.path)
        for route in routes
        if isinstance(getattr(route, "original_route", route), APIRoute)
        and route.path not in NOT_IN_MATRIX
        for method in route.methods
    }


def test_every_route_of_the_app_is_in_the_matrix(world: World) -> None:
    missing = routes_of(world) - {(e.method, e.path) for e in ENDPOINTS}
    assert not missing, (
        f"add these routes to ENDPOINTS in {Path(__file__).name}, saying who may call them: "
        f"{sorted(missing)}"
    )


def test_every_endpoint_in_the_matrix_is_a_route_of_the_app(world: World) -> None:
    stale = {(e.method, e.path) for e in ENDPOINTS} - routes_of(world)
    assert not stale, f"these ENDPOINTS are not routes of the app: {sorted(stale)}"
