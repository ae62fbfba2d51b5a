"""The audit-completeness matrix: every route of the app, called by a caller it admits and
by one it refuses, leaves exactly one audit entry, with the route's action, the request's
subject, the outcome of its status, and the status itself.

The routes are enumerated from the app: a new route without an action (api/audit/actions.py)
or without a case here fails `test_every_route_of_the_app_has_an_action_and_a_case`. The
cases are the tenant-isolation matrix's endpoints (its world: two clinics set up over
HTTP), plus the routes that matrix leaves to other tests: the one-shot transitions, the
redelivery, and the public links, whose credential is the link's token (an unknown token
is no identity: like a 401, it gets no entry).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi.routing import APIRoute

from api.audit.actions import ACTIONS, UNAUDITED, markdown, route_table
from api.auth import decode_token
from domain.audit.entry import AuditEntry, outcome_of
from domain.audit.store import AuditFilter
from domain.shared.context import Role
from tests.e2e.test_tenant_isolation_matrix import (
    ADMIN_PAGES,
    ENDPOINTS,
    OTHER,
    OWN,
    PLATFORM_ADMIN,
    ROLES,
    Endpoint,
    World,
    build_world,
    plan_content,
)
from tests.support.surveys_http import NEGATIVE, answer, log_contact, send, send_check

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from build_world("sqlite", tmp_path_factory.mktemp("audit-matrix"))


def entries_of(world: World, correlation_id: str) -> list[AuditEntry]:
    """Every stored entry of one request, whichever chain it went to."""
    audit = world.api.runtime.audit
    return [
        entry
        for tenant in audit.tenants()
        for entry in audit.query(tenant, AuditFilter(), 200)
        if entry.correlation_id == correlation_id
    ]


def route_names(world: World) -> dict[tuple[str, str], str]:
    routes: Any = fastapi.routing.iter_route_contexts(world.api.client.app.routes)  # type: ignore[attr-defined]
    return {
        (method, route.path): route.name
        for route in routes
        if isinstance(getattr(route, "original_route", route), APIRoute)
        for method in route.methods
    }


@dataclass(frozen=True)
class Call:
    """One request of the matrix and who made it."""

    method: str
    path: str  # the route's path template
    url: str
    headers: dict[str, str]
    actor_id: str | None
    role: Role | None
    subject: str | None = None  # the id the entry must name, when the request names it
    json: Any = None
    form: dict[str, str] | None = None

    def send(self, world: World, correlation_id: str) -> httpx.Response:
        headers = {**self.headers, "X-Correlation-ID": correlation_id}
        if self.form is not None:
            content = str(httpx.QueryParams(self.form))
            return world.api.client.request(
                self.method, self.url, headers={**headers, **FORM}, content=content
            )
        return world.api.client.request(self.method, self.url, headers=headers, json=self.json)


def caller(world: World, role: Role) -> tuple[dict[str, str], str]:
    headers = world.mine.headers(role)
    token = headers["Authorization"].split()[1]
    actor = decode_token(world.api.runtime.settings.jwt_secret, token)
    return headers, str(actor.user_id)


def matrix_call(world: World, endpoint: Endpoint, role: Role, where: str) -> Call:
    addressed = world.theirs if where == OTHER else world.mine
    headers, actor_id = caller(world, role)
    action = ACTIONS[route_names(world)[(endpoint.method, endpoint.path)]]
    params = {**addressed.params, **(endpoint.params(addressed) if endpoint.params else {})}
    return Call(
        endpoint.method,
        endpoint.path,
        endpoint.url(addressed),
        headers,
        actor_id,
        role,
        subject=params.get(action.subject_param) if action.subject_param else None,
        json=endpoint.body(addressed, world.mine) if endpoint.body else None,
    )


def admitted(endpoint: Endpoint) -> tuple[Role, str]:
    tenant_roles = sorted(endpoint.allowed - endpoint.no_access - {PLATFORM_ADMIN})
    if tenant_roles:
        return tenant_roles[0], OWN
    return PLATFORM_ADMIN, endpoint.wheres[0]


def refused(endpoint: Endpoint) -> tuple[Role, str]:
    outsiders = [role for role in ROLES if role not in endpoint.allowed]
    if outsiders:
        return outsiders[0], endpoint.wheres[0]
    if endpoint.no_access:
        return sorted(endpoint.no_access)[0], endpoint.wheres[0]
    return admitted(endpoint)[0], OTHER


MATRIX_CASES = [
    pytest.param(endpoint, *pick(endpoint), id=f"{endpoint.name}-{kind}")
    for endpoint in ENDPOINTS
    for kind, pick in (("admitted", admitted), ("refused", refused))
]


def assert_one_entry(world: World, call: Call) -> AuditEntry:
    correlation_id = f"audit-matrix-{uuid.uuid4()}"
    response = call.send(world, correlation_id)
    assert response.status_code != 500, response.text
    found = entries_of(world, correlation_id)
    assert len(found) == 1, (call.method, call.url, response.status_code, found)
    entry = found[0]
    action = ACTIONS[route_names(world)[(call.method, call.path)]]
    assert entry.action == action.name
    assert entry.status == response.status_code
    assert entry.outcome == outcome_of(response.status_code).value
    assert entry.actor_id == call.actor_id
    assert call.role is not None and entry.role == call.role.value
    if call.role is not PLATFORM_ADMIN:
        assert entry.tenant == world.mine.tenant, "a tenant role's entry is in its own chain"
    if call.subject is not None:
        assert entry.subject_id == call.subject
    elif response.is_success and action.subject_type != "platform":
        assert entry.subject_id is not None, f"{action.name} names no subject"
    if call.method == "GET":
        assert entry.position is None
    elif response.is_success and "position" in response.json():
        assert entry.position is None or entry.position <= response.json()["position"]
    return entry


@pytest.mark.parametrize(("endpoint", "role", "where"), MATRIX_CASES)
def test_a_request_leaves_exactly_one_entry_naming_what_it_did_and_how_it_ended(
    world: World, endpoint: Endpoint, role: Role, where: str
) -> None:
    assert_one_entry(world, matrix_call(world, endpoint, role, where))


# -- the routes the isolation matrix leaves to other tests ------------------------------


def staff_call(world: World, method: str, path: str, role: Role, subject: str, **kw: Any) -> Call:
    headers, actor_id = caller(world, role)
    url = path.format(**{name: subject for name in ("planId", "enrollmentId", "deliveryId")})
    return Call(method, path, url, headers, actor_id, role, subject=subject, **kw)


def fresh_draft(world: World) -> str:
    headers = world.mine.headers(Role.DOCTOR)
    body = {"scope": "org", **plan_content(world.mine.exercise)}
    created = world.api.ok("POST", "/v1/treatment-plans", headers, 201, json=body)
    return str(created["id"])


def fresh_custom_plan(world: World) -> str:
    headers = world.mine.headers(Role.DOCTOR)
    body = {"scope": "custom", **plan_content(world.mine.exercise)}
    body["visibility"] = "assigned"
    response = world.api.client.post("/v1/treatment-plans", headers=headers, json=body)
    return str(response.json().get("id", uuid.uuid4()))


def test_publishing_promoting_and_approving_leave_one_entry_each(world: World) -> None:
    for path, subject in (
        ("/v1/treatment-plans/{planId}/publish", fresh_draft(world)),
        ("/v1/treatment-plans/{planId}/promote", fresh_custom_plan(world)),
        ("/v1/enrollments/{enrollmentId}/approve", world.mine.enrollment),
    ):
        for role in (Role.DOCTOR, Role.PATIENT):  # the first admitted, the second refused
            assert_one_entry(world, staff_call(world, "POST", path, role, subject))


def test_a_redelivery_leaves_one_entry_whoever_asks(world: World) -> None:
    path = "/v1/admin/deliveries/{deliveryId}/redeliver"
    delivery = str(uuid.uuid4())  # none by that id: the admitted admin is answered 404
    for role in (Role.HOSPITAL_ADMIN, Role.DOCTOR):
        entry = assert_one_entry(world, staff_call(world, "POST", path, role, delivery))
        assert entry.outcome == "denied"


def link_call(method: str, path: str, token: str, patient: str, **kw: Any) -> Call:
    url = path.replace("{token}", token)
    return Call(method, path, url, {}, patient, Role.PATIENT, **kw)


def test_a_public_link_is_audited_as_its_patient_and_an_unknown_token_is_not_at_all(
    world: World,
) -> None:
    admin = world.mine.headers(Role.HOSPITAL_ADMIN)
    patient = world.mine.patient
    for api_path, page in (
        ("/v1/public/surveys/{token}", "/public/surveys/{token}"),
        ("/v1/public/feedback/{token}", "/public/feedback/{token}"),
    ):
        sent = send(world.api, admin, world.mine.template, patient)
        token = sent["token"]
        subject = sent["surveyId"]
        if "feedback" in api_path:
            answer(world.api, token, NEGATIVE)
            log_contact(world.api, admin, sent["surveyId"])
            check = send_check(world.api, admin, sent["surveyId"])
            token, subject = check["token"], check["feedbackId"]
        reads = (link_call("GET", api_path, token, patient), link_call("GET", page, token, patient))
        for call in reads:
            assert assert_one_entry(world, call).subject_id == subject
        body: dict[str, Any] = {"rating": 2} if "feedback" in api_path else {"answers": NEGATIVE}
        form = (
            {"rating": "2"}
            if "feedback" in api_path
            else {"answers.care": "1", "answers.staff": "2"}
        )
        answered = assert_one_entry(
            world, link_call("POST", api_path + "/responses", token, patient, json=body)
        )
        assert answered.outcome == "success" and answered.subject_id == subject
        # The same link again: 410, still the patient's own (refused) request.
        again = assert_one_entry(world, link_call("POST", page, token, patient, form=form))
        assert again.outcome == "rejected" and again.status == 410
        unknown = "x" * 43
        for call in (
            link_call("GET", api_path, unknown, patient),
            link_call("GET", page, unknown, patient),
        ):
            correlation_id = f"unknown-link-{uuid.uuid4()}"
            assert call.send(world, correlation_id).status_code == 404
            assert entries_of(world, correlation_id) == []


def test_a_401_has_no_identity_so_no_entry_and_is_counted(world: World) -> None:
    correlation_id = f"no-token-{uuid.uuid4()}"
    response = world.api.client.get(
        f"/v1/workouts/{world.mine.workout}", headers={"X-Correlation-ID": correlation_id}
    )
    assert response.status_code == 401
    assert entries_of(world, correlation_id) == []
    metrics = world.api.client.get("/metrics").text
    assert "careloop_unauthenticated_requests_total" in metrics


def test_an_erasure_leaves_one_entry_whoever_asks(world: World) -> None:
    patient = world.api.invite(world.mine.headers(Role.DOCTOR), "Eve")["patientId"]
    path = "/v1/patients/{patientId}/erase"
    for role in (Role.HOSPITAL_ADMIN, Role.DOCTOR):  # admitted, then refused (403)
        headers, actor_id = caller(world, role)
        url = path.format(patientId=patient)
        call = Call(
            "POST",
            path,
            url,
            headers,
            actor_id,
            role,
            subject=patient,
            json={"reason": "consent_withdrawn"},
        )
        assert_one_entry(world, call)


COVERED_ELSEWHERE_HERE = {
    "/v1/admin/projections/{name}/what-if/{into}",  # test_rebuild_api
    "/v1/patients/{patientId}/erase",
    "/v1/treatment-plans/{planId}/publish",
    "/v1/treatment-plans/{planId}/promote",
    "/v1/enrollments/{enrollmentId}/approve",
    "/v1/admin/deliveries/{deliveryId}/redeliver",
    "/v1/public/surveys/{token}",
    "/v1/public/surveys/{token}/responses",
    "/v1/public/feedback/{token}",
    "/v1/public/feedback/{token}/responses",
    "/public/surveys/{token}",
    "/public/feedback/{token}",
    *ADMIN_PAGES,  # tests/e2e/test_admin_pages_auth.py
}


def test_every_route_of_the_app_has_an_action_and_a_case(world: World) -> None:
    names = route_names(world)
    audited = {key: name for key, name in names.items() if name not in UNAUDITED}
    without_action = sorted(key for key, name in audited.items() if name not in ACTIONS)
    assert not without_action, (
        f"give these routes an action in api/audit/actions.py: {without_action}"
    )
    cased = {(e.method, e.path) for e in ENDPOINTS}
    uncased = sorted(
        key for key in audited if key not in cased and key[1] not in COVERED_ELSEWHERE_HERE
    )
    assert not uncased, f"add a case for these routes: {uncased}"
    stale = sorted(set(ACTIONS) - set(names.values()))
    assert not stale, f"actions of routes that no longer exist: {stale}"


def test_the_actions_listed_in_the_docs_are_the_table(world: World) -> None:
    found = route_table(world.api.client.app.routes)  # type: ignore[attr-defined]
    listed = (Path(__file__).parents[2] / "docs" / "audit-actions.md").read_text()
    assert listed == markdown(found), "regenerate it: python -m api.audit.actions"
