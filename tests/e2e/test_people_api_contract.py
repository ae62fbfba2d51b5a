"""Every status code of the People, tenants and flags endpoints, as api.md states them.

Most tests share one clinic per module (a runtime takes about a second to close); a test
that checks a rejected command writes nothing compares the head of the event log before
and after. Tests that need their own settings or a restart build their own runtime.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from domain.shared.context import Role
from tests.support.app import PLATFORM, Api, auth, make_api, make_runtime, token
from tests.support.http import (
    assert_problem,
    bearer,
    error_fields,
    signed,
)

Headers = dict[str, str]


@dataclass(frozen=True)
class Clinic:
    api: Api
    tenant: str
    other_tenant: str
    doctor: str
    colleague: str  # an approved doctor
    unapproved_doctor: str
    inactive_doctor: str
    other_tenants_doctor: str
    hospital_admin: str
    px_admin: str
    patient: str

    @property
    def doctor_headers(self) -> Headers:
        return auth(Role.DOCTOR, self.doctor, self.tenant)

    @property
    def hospital_admin_headers(self) -> Headers:
        return auth(Role.HOSPITAL_ADMIN, self.hospital_admin, self.tenant)

    def head(self) -> int:
        return self.api.runtime.log.head()

    def send(self, method: str, path: str, headers: Headers, **kw: Any) -> httpx.Response:
        return self.api.client.request(method, path.format(**self.params), headers=headers, **kw)

    @property
    def params(self) -> dict[str, str]:
        return {"tenant": self.tenant, "doctor": self.doctor, "patient": self.patient}


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    with make_api("sqlite", tmp_path_factory.mktemp("people")) as api:
        tenant, other = api.tenant("Riverside"), api.tenant("Lakeside")
        doctor, doctor_headers = api.doctor(tenant, "Maya", "Lind")
        inactive = api.staff(tenant, "DOCTOR", "Ines", "Gone")
        api.ok("POST", f"/v1/staff/{inactive}/deactivate", api.admin)
        yield Clinic(
            api=api,
            tenant=tenant,
            other_tenant=other,
            doctor=doctor,
            colleague=api.staff(tenant, "DOCTOR", "Cole", "Berg"),
            unapproved_doctor=api.staff(tenant, "DOCTOR", "Una", "Waiting", approve=False),
            inactive_doctor=inactive,
            other_tenants_doctor=api.staff(other, "DOCTOR", "Otto", "Far"),
            hospital_admin=api.staff(tenant, "HOSPITAL_ADMIN", "Hal", "Moss"),
            px_admin=api.staff(tenant, "PX_ADMIN", "Pia", "Nord"),
            patient=api.invite(doctor_headers, "Sam")["patientId"],
        )


@contextmanager
def writes_nothing(clinic: Clinic) -> Iterator[None]:
    before = clinic.head()
    yield
    assert clinic.head() == before, "a rejected or repeated command wrote events"


def new_patient(**extra: Any) -> dict[str, Any]:
    return {
        "firstName": "Ada",
        "lastName": "Byrne",
        "email": f"ada.{uuid.uuid4().hex[:8]}@patients.example",
        **extra,
    }


def new_staff(kind: str = "DOCTOR", **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "firstName": "Noor",
        "lastName": "Haddad",
        "email": f"noor.{uuid.uuid4().hex[:8]}@clinic.example",
        **extra,
    }


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid doctor claims, with overrides; a None override removes the claim."""
    base: dict[str, Any] = {
        "sub": str(uuid.uuid4()),
        "role": "doctor",
        "tenant": str(uuid.uuid4()),
        "exp": int(time.time()) + 600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


# -- 401 ------------------------------------------------------------------------------


def assert_unauthenticated(clinic: Clinic, headers: Headers) -> None:
    with writes_nothing(clinic):
        response = clinic.send("POST", "/v1/tenants", headers, json={"name": "Nowhere"})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_request_without_a_token_is_401(clinic: Clinic) -> None:
    assert_unauthenticated(clinic, {})


def test_a_malformed_token_is_401(clinic: Clinic) -> None:
    assert_unauthenticated(clinic, bearer("not-a-jwt"))


def test_a_wrongly_signed_token_is_401(clinic: Clinic) -> None:
    forged = claims(role="platform_admin", tenant=None)
    assert_unauthenticated(clinic, bearer(signed(forged, secret="another-secret-" + "x" * 32)))


def test_an_expired_token_is_401(clinic: Clinic) -> None:
    assert_unauthenticated(clinic, bearer(token(Role.PLATFORM_ADMIN, PLATFORM, ttl=-60)))


def test_a_token_whose_role_is_not_a_known_role_is_401(clinic: Clinic) -> None:
    assert_unauthenticated(clinic, bearer(signed(claims(role="superuser"))))


def test_a_token_claiming_the_internal_system_role_is_401(clinic: Clinic) -> None:
    assert_unauthenticated(clinic, bearer(signed(claims(role="system", tenant=None))))


@pytest.mark.parametrize("role", ["patient", "doctor", "hospital_admin", "px_admin"])
def test_a_token_of_a_tenant_role_without_a_tenant_is_401(clinic: Clinic, role: str) -> None:
    assert_unauthenticated(clinic, bearer(signed(claims(role=role, tenant=None))))


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda: {"Authorization": "Basic dXNlcjpwYXNz"}, id="basic-scheme"),
        pytest.param(lambda: {"Authorization": "Bearer"}, id="bearer-without-token"),
        pytest.param(
            lambda: bearer(signed(claims(role="platform_admin"))), id="platform-admin-with-tenant"
        ),
        pytest.param(lambda: bearer(signed(claims(sub="alice"))), id="subject-not-a-uuid"),
        pytest.param(lambda: bearer(signed(claims(tenant="clinic-1"))), id="tenant-not-a-uuid"),
        pytest.param(lambda: bearer(signed(claims(exp=None))), id="no-expiry"),
        pytest.param(lambda: bearer(signed(claims(sub=None))), id="no-subject"),
        pytest.param(lambda: bearer(signed(claims(role=None))), id="no-role"),
    ],
)
def test_any_other_unusable_token_is_401(clinic: Clinic, headers: Callable[[], Headers]) -> None:
    assert_unauthenticated(clinic, headers())


def test_a_token_without_a_signature_algorithm_is_401(clinic: Clinic) -> None:
    header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"  # {"alg":"none","typ":"JWT"}
    unsigned = signed(claims(role="platform_admin", tenant=None)).split(".")[1]
    assert_unauthenticated(clinic, bearer(f"{header}.{unsigned}."))


def test_authentication_is_checked_before_validation_and_lookup(clinic: Clinic) -> None:
    assert_problem(clinic.send("POST", "/v1/tenants", {}, json={"name": ""}), 401)
    assert_problem(clinic.send("POST", "/v1/staff/not-a-uuid/approve", {}), 401)
    assert_problem(clinic.send("POST", f"/v1/staff/{uuid.uuid4()}/approve", {}), 401)


# -- 403 ------------------------------------------------------------------------------


WRONG_ROLES = [
    pytest.param(
        Role.DOCTOR, "POST", "/v1/tenants", {"name": "Mine now"}, id="doctor-creates-tenant"
    ),
    pytest.param(
        Role.HOSPITAL_ADMIN,
        "PUT",
        "/v1/tenants/{tenant}/feature-flags/feedbackNotifications",
        {"enabled": True},
        id="hospital-admin-sets-a-flag",
    ),
    pytest.param(
        Role.PX_ADMIN, "POST", "/v1/tenants/{tenant}/staff", new_staff(), id="px-admin-adds-staff"
    ),
    pytest.param(
        Role.DOCTOR, "POST", "/v1/tenants/{tenant}/staff", new_staff(), id="doctor-adds-staff"
    ),
    pytest.param(
        Role.DOCTOR, "POST", "/v1/staff/{doctor}/approve", None, id="doctor-approves-themself"
    ),
    pytest.param(
        Role.PATIENT, "POST", "/v1/staff/{doctor}/deactivate", None, id="patient-deactivates-staff"
    ),
    pytest.param(
        Role.HOSPITAL_ADMIN,
        "POST",
        "/v1/patients/invite",
        new_patient(),
        id="hospital-admin-invites-a-patient",
    ),
    pytest.param(
        Role.PATIENT, "GET", "/v1/tenants/{tenant}/feature-flags", None, id="patient-reads-flags"
    ),
    pytest.param(
        Role.PX_ADMIN, "GET", "/v1/tenants/{tenant}/feature-flags", None, id="px-admin-reads-flags"
    ),
]


@pytest.mark.parametrize(("role", "method", "path", "body"), WRONG_ROLES)
def test_a_role_that_may_not_do_it_is_403_and_writes_nothing(
    clinic: Clinic, role: Role, method: str, path: str, body: dict[str, Any] | None
) -> None:
    with writes_nothing(clinic):
        response = clinic.send(method, path, auth(role, tenant=clinic.tenant), json=body)
    assert_problem(response, 403)


@pytest.mark.parametrize("who", ["unapproved_doctor", "inactive_doctor"])
def test_an_unapproved_or_deactivated_doctor_cannot_invite(clinic: Clinic, who: str) -> None:
    headers = auth(Role.DOCTOR, getattr(clinic, who), clinic.tenant)
    with writes_nothing(clinic):
        response = clinic.send("POST", "/v1/patients/invite", headers, json=new_patient())
    assert_problem(response, 403)


def test_a_doctor_token_for_someone_not_on_the_staff_cannot_invite(clinic: Clinic) -> None:
    with writes_nothing(clinic):
        response = clinic.send(
            "POST",
            "/v1/patients/invite",
            auth(Role.DOCTOR, uuid.uuid4(), clinic.tenant),
            json=new_patient(),
        )
    assert_problem(response, 403)


def test_a_doctor_of_another_clinic_cannot_invite_into_this_one(clinic: Clinic) -> None:
    posing = auth(Role.DOCTOR, clinic.other_tenants_doctor, clinic.tenant)
    with writes_nothing(clinic):
        response = clinic.send("POST", "/v1/patients/invite", posing, json=new_patient())
    assert_problem(response, 403)


# -- 404 ------------------------------------------------------------------------------


UNKNOWN = str(uuid.uuid4())


UNKNOWN_IDS = [
    pytest.param("GET", f"/v1/tenants/{UNKNOWN}", None, id="tenant"),
    pytest.param("GET", f"/v1/tenants/{UNKNOWN}/feature-flags", None, id="tenant-flags"),
    pytest.param(
        "PUT",
        f"/v1/tenants/{UNKNOWN}/feature-flags/feedbackNotifications",
        {"enabled": True},
        id="tenant-set-flag",
    ),
    pytest.param("POST", f"/v1/tenants/{UNKNOWN}/staff", new_staff(), id="tenant-add-staff"),
    pytest.param(
        "GET",
        f"/v1/tenants/{UNKNOWN}/staff",
        None,
        id="tenant-list-staff",
    ),
    pytest.param(
        "GET",
        f"/v1/tenants/{UNKNOWN}/patients",
        None,
        id="tenant-list-patients",
    ),
    pytest.param("GET", f"/v1/staff/{UNKNOWN}", None, id="staff"),
    pytest.param("POST", f"/v1/staff/{UNKNOWN}/approve", None, id="staff-approve"),
    pytest.param("POST", f"/v1/staff/{UNKNOWN}/deactivate", None, id="staff-deactivate"),
    pytest.param("GET", f"/v1/patients/{UNKNOWN}", None, id="patient"),
]


@pytest.mark.parametrize(("method", "path", "body"), UNKNOWN_IDS)
def test_an_unknown_id_is_404_and_writes_nothing(
    clinic: Clinic, method: str, path: str, body: dict[str, Any] | None
) -> None:
    with writes_nothing(clinic):
        response = clinic.send(method, path, clinic.api.admin, json=body)
    assert UNKNOWN in assert_problem(response, 404)["detail"]


def test_an_unknown_flag_name_is_404_and_writes_nothing(clinic: Clinic) -> None:
    with writes_nothing(clinic):
        response = clinic.send(
            "PUT",
            "/v1/tenants/{tenant}/feature-flags/darkMode",
            clinic.api.admin,
            json={"enabled": True},
        )
    assert "darkMode" in assert_problem(response, 404)["detail"]


def test_a_doctor_not_connected_to_a_patient_of_their_clinic_gets_404(clinic: Clinic) -> None:
    colleague = auth(Role.DOCTOR, clinic.colleague, clinic.tenant)
    assert_problem(clinic.send("GET", "/v1/patients/{patient}", colleague), 404)


def test_a_patient_reading_another_patient_gets_404(clinic: Clinic) -> None:
    someone_else = auth(Role.PATIENT, uuid.uuid4(), clinic.tenant)
    assert_problem(clinic.send("GET", "/v1/patients/{patient}", someone_else), 404)


def test_an_unknown_path_is_a_404_problem(clinic: Clinic) -> None:
    assert_problem(clinic.send("GET", "/v1/no-such-thing", clinic.api.admin), 404)


# -- 422 ------------------------------------------------------------------------------


INVALID_INPUT = [
    pytest.param("POST", "/v1/tenants", {"name": ""}, "name", id="empty-tenant-name"),
    pytest.param("POST", "/v1/tenants", {"name": "   "}, "name", id="blank-tenant-name"),
    pytest.param("POST", "/v1/tenants", {}, "name", id="missing-tenant-name"),
    pytest.param(
        "POST", "/v1/tenants", {"name": "Riverside", "plan": "gold"}, "plan", id="extra-field"
    ),
    pytest.param(
        "POST",
        "/v1/tenants/{tenant}/staff",
        new_staff(firstName=" \t "),
        "firstName",
        id="blank-first-name",
    ),
    pytest.param(
        "POST",
        "/v1/tenants/{tenant}/staff",
        new_staff(lastName="x" * 101),
        "lastName",
        id="name-too-long",
    ),
    pytest.param(
        "POST",
        "/v1/tenants/{tenant}/staff",
        new_staff(firstName="Ma\u0000ya"),
        "firstName",
        id="control-character-in-name",
    ),
    pytest.param(
        "POST",
        "/v1/tenants/{tenant}/staff",
        new_staff(email="maya-at-clinic"),
        "email",
        id="bad-email",
    ),
    pytest.param(
        "POST", "/v1/tenants/{tenant}/staff", new_staff("NURSE"), "type", id="unknown-staff-type"
    ),
    pytest.param(
        "POST",
        "/v1/tenants/{tenant}/staff",
        new_staff(approved=True),
        "approved",
        id="registering-staff-as-already-approved",
    ),
    pytest.param(
        "PUT",
        "/v1/tenants/{tenant}/feature-flags/feedbackNotifications",
        {"enabled": "maybe"},
        "enabled",
        id="flag-not-a-boolean",
    ),
    pytest.param("POST", "/v1/staff/not-a-uuid/approve", None, "staffId", id="bad-uuid-in-path"),
    pytest.param("GET", "/v1/tenants/42/staff", None, "tenantId", id="bad-tenant-uuid-in-path"),
    pytest.param(
        "GET", "/v1/tenants?minPosition=-1", None, "minPosition", id="negative-min-position"
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), INVALID_INPUT)
def test_invalid_input_is_422_naming_the_field_and_writes_nothing(
    clinic: Clinic, method: str, path: str, body: dict[str, Any] | None, field: str
) -> None:
    with writes_nothing(clinic):
        response = clinic.send(method, path, clinic.api.admin, json=body)
    assert field in error_fields(assert_problem(response, 422))


INVALID_INVITES = [
    pytest.param(new_patient(timezone="Mars/Olympus_Mons"), "timezone", id="unknown-timezone"),
    pytest.param(new_patient(timezone="America"), "timezone", id="timezone-directory"),
    pytest.param(new_patient(firstName=""), "firstName", id="blank-first-name"),
    pytest.param(new_patient(email="ada@"), "email", id="bad-email"),
    pytest.param(
        new_patient(additionalTherapistIds=["maya"]),
        "additionalTherapistIds.0",
        id="therapist-id-not-a-uuid",
    ),
    pytest.param(
        new_patient(additionalTherapistIds=[str(uuid.uuid4()) for _ in range(51)]),
        "additionalTherapistIds",
        id="more-than-50-therapists",
    ),
    pytest.param(new_patient(therapistIds=[]), "therapistIds", id="extra-field"),
]


@pytest.mark.parametrize(("body", "field"), INVALID_INVITES)
def test_an_invalid_invite_is_422_naming_the_field_and_writes_nothing(
    clinic: Clinic, body: dict[str, Any], field: str
) -> None:
    with writes_nothing(clinic):
        response = clinic.send("POST", "/v1/patients/invite", clinic.doctor_headers, json=body)
    assert field in error_fields(assert_problem(response, 422))


BAD_THERAPISTS: list[Any] = [
    pytest.param(lambda c: c.inactive_doctor, id="inactive-doctor"),
    pytest.param(lambda c: c.unapproved_doctor, id="unapproved-doctor"),
    pytest.param(lambda c: c.other_tenants_doctor, id="doctor-of-another-tenant"),
    pytest.param(lambda c: c.hospital_admin, id="hospital-admin-not-a-doctor"),
    pytest.param(lambda c: c.px_admin, id="px-admin-not-a-doctor"),
    pytest.param(lambda c: c.patient, id="a-patient"),
    pytest.param(lambda c: c.tenant, id="the-tenant-itself"),
    pytest.param(lambda _: str(uuid.uuid4()), id="no-such-user"),
]


@pytest.mark.parametrize("bad", BAD_THERAPISTS)
def test_an_invalid_additional_therapist_is_422_naming_it_and_nothing_is_created(
    clinic: Clinic, bad: Callable[[Clinic], str]
) -> None:
    bad_id = bad(clinic)
    body = new_patient(additionalTherapistIds=[clinic.colleague, bad_id])
    with writes_nothing(clinic):
        response = clinic.send("POST", "/v1/patients/invite", clinic.doctor_headers, json=body)
    problem = assert_problem(response, 422)
    assert bad_id in problem["detail"] and clinic.colleague not in problem["detail"]
    assert [(e["field"], e["value"]) for e in problem["errors"]] == [
        ("additionalTherapistIds", bad_id)
    ]


def test_every_invalid_additional_therapist_is_named(clinic: Clinic) -> None:
    bad = [clinic.unapproved_doctor, clinic.other_tenants_doctor]
    body = new_patient(additionalTherapistIds=[bad[0], clinic.colleague, bad[1]])
    with writes_nothing(clinic):
        response = clinic.send("POST", "/v1/patients/invite", clinic.doctor_headers, json=body)
    assert [e["value"] for e in assert_problem(response, 422)["errors"]] == bad


def test_valid_additional_therapists_are_connected_once_each(clinic: Clinic) -> None:
    body = new_patient(additionalTherapistIds=[clinic.colleague, clinic.colleague, clinic.doctor])
    invited = clinic.api.ok("POST", "/v1/patients/invite", clinic.doctor_headers, 201, json=body)
    assert invited["therapistIds"] == [clinic.doctor, clinic.colleague]


# -- staff lifecycle ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "approved"), [("DOCTOR", False), ("HOSPITAL_ADMIN", True), ("PX_ADMIN", True)]
)
def test_staff_start_active_doctors_unapproved_and_admins_approved(
    clinic: Clinic, kind: str, approved: bool
) -> None:
    created = clinic.api.ok(
        "POST", f"/v1/tenants/{clinic.tenant}/staff", clinic.api.admin, 201, json=new_staff(kind)
    )
    row = clinic.api.ok(
        "GET", f"/v1/staff/{created['id']}?minPosition={created['position']}", clinic.api.admin
    )
    assert (row["type"], row["active"], row["approved"]) == (kind, True, approved)


@pytest.mark.parametrize(
    ("action", "state"),
    [("approve", {"approved": True, "active": True}), ("deactivate", {"active": False})],
)
def test_approving_or_deactivating_twice_changes_nothing_the_second_time(
    clinic: Clinic, action: str, state: dict[str, bool]
) -> None:
    staff_id = clinic.api.staff(clinic.tenant, "DOCTOR", "Ivo", "Twice", approve=False)
    path = f"/v1/staff/{staff_id}/{action}"
    headers = clinic.hospital_admin_headers
    first = clinic.api.ok("POST", path, headers)
    with writes_nothing(clinic):
        second = clinic.api.ok("POST", path, headers)
    assert first.items() >= state.items() and second.items() >= state.items()
    assert second["position"] >= first["position"]


def test_a_deactivated_doctor_can_still_be_approved_but_still_cannot_invite(
    clinic: Clinic,
) -> None:
    clinic.api.ok("POST", f"/v1/staff/{clinic.inactive_doctor}/approve", clinic.api.admin)
    headers = auth(Role.DOCTOR, clinic.inactive_doctor, clinic.tenant)
    response = clinic.send("POST", "/v1/patients/invite", headers, json=new_patient())
    assert_problem(response, 403)


# -- no input is a 500 ----------------------------------------------------------------

JSON = "application/json"

GARBAGE = [
    pytest.param(b'{"name": "Riv', JSON, id="truncated-json"),
    pytest.param(b"name=Riverside", JSON, id="not-json"),
    pytest.param(b'{"name": "\xff\xfe"}', JSON, id="invalid-utf8"),
    pytest.param(b'{"name": "\\ud800"}', JSON, id="lone-surrogate"),
    pytest.param(b'{"name": "Riverside"}', "text/plain", id="wrong-content-type"),
    pytest.param(b"name=Riverside", "application/x-www-form-urlencoded", id="form-encoded"),
    pytest.param(b"", JSON, id="empty-body"),
    pytest.param(b"null", JSON, id="json-null"),
    pytest.param(b'["Riverside"]', JSON, id="json-array"),
    pytest.param(b'"Riverside"', JSON, id="json-string"),
    pytest.param(b'{"name": 42}', JSON, id="number-for-string"),
    pytest.param(b'{"name": 1e400}', JSON, id="out-of-range-number"),
    pytest.param(b'{"name": {"first": "R"}}', JSON, id="object-for-string"),
    pytest.param(b'{"name": true}', JSON, id="boolean-for-string"),
    pytest.param(b'{"name": "' + b"R" * 1_000_000 + b'"}', JSON, id="megabyte-string"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, JSON, id="deeply-nested"),
    pytest.param(b'{"name": "a", "name": 7}', JSON, id="duplicate-key"),
]

TARGETS = [
    pytest.param("/v1/tenants", id="create-tenant"),
    pytest.param("/v1/tenants/{tenant}/staff", id="add-staff"),
    pytest.param("/v1/patients/invite", id="invite"),
]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(("content", "content_type"), GARBAGE)
def test_garbage_in_is_a_4xx_problem_never_a_500_and_writes_nothing(
    clinic: Clinic, target: str, content: bytes, content_type: str
) -> None:
    headers = clinic.doctor_headers if target.endswith("invite") else clinic.api.admin
    with writes_nothing(clinic):
        response = clinic.send(
            "POST", target, {**headers, "Content-Type": content_type}, content=content
        )
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert_problem(response, response.status_code)


WRONG_KINDS: list[Any] = [None, 7, 3.5, True, [], {}, "x" * 100_000]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param(field, value, id=f"{field}-{type(value).__name__}")
        for field in ("firstName", "lastName", "email", "timezone", "additionalTherapistIds")
        for value in WRONG_KINDS
        # an empty list of additional therapists is valid; a long string is a wrong kind
        if not (field == "additionalTherapistIds" and value == [])
    ],
)
def test_any_value_of_the_wrong_kind_in_an_invite_is_422(
    clinic: Clinic, field: str, value: Any
) -> None:
    body = new_patient(**{field: value})
    with writes_nothing(clinic):
        response = clinic.send("POST", "/v1/patients/invite", clinic.doctor_headers, json=body)
    assert field in {f.split(".")[0] for f in error_fields(assert_problem(response, 422))}


def test_an_overlong_idempotency_key_is_422(clinic: Clinic) -> None:
    headers = {**clinic.api.admin, "Idempotency-Key": "k" * 201}
    with writes_nothing(clinic):
        response = clinic.send("POST", "/v1/tenants", headers, json={"name": "Riverside"})
    assert "Idempotency-Key" in error_fields(assert_problem(response, 422))


# -- Idempotency-Key ------------------------------------------------------------------


def post_tenant(api: Api, key: str, name: str = "Riverside") -> httpx.Response:
    return api.client.post(
        "/v1/tenants", headers={**api.admin, "Idempotency-Key": key}, json={"name": name}
    )


def test_the_same_key_and_body_replay_the_first_response_and_write_nothing(
    clinic: Clinic,
) -> None:
    key = str(uuid.uuid4())
    first = post_tenant(clinic.api, key)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    with writes_nothing(clinic):
        again = post_tenant(clinic.api, key)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]


def test_the_same_key_with_a_different_body_is_422_and_writes_nothing(clinic: Clinic) -> None:
    key = str(uuid.uuid4())
    post_tenant(clinic.api, key, "Riverside")
    with writes_nothing(clinic):
        response = post_tenant(clinic.api, key, "Lakeside")
    assert "Idempotency-Key" in error_fields(assert_problem(response, 422))


def test_a_replayed_approval_answers_200_again(clinic: Clinic) -> None:
    staff_id = clinic.api.staff(clinic.tenant, "DOCTOR", "Rey", "Play", approve=False)
    headers = {**clinic.hospital_admin_headers, "Idempotency-Key": "approve-rey"}
    first = clinic.send("POST", f"/v1/staff/{staff_id}/approve", headers)
    with writes_nothing(clinic):
        again = clinic.send("POST", f"/v1/staff/{staff_id}/approve", headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["approved"] is True


def test_one_key_used_by_two_callers_is_two_requests(clinic: Clinic) -> None:
    key = "shared-key"
    first = clinic.send(
        "POST",
        "/v1/tenants/{tenant}/staff",
        {**clinic.hospital_admin_headers, "Idempotency-Key": key},
        json=new_staff(),
    )
    second = clinic.send(
        "POST",
        "/v1/tenants/{tenant}/staff",
        {**auth(Role.HOSPITAL_ADMIN, uuid.uuid4(), clinic.tenant), "Idempotency-Key": key},
        json=new_staff(),
    )
    assert (first.status_code, second.status_code) == (201, 201)
    assert "idempotent-replayed" not in second.headers
    assert first.json()["id"] != second.json()["id"]


def test_a_rejected_command_does_not_use_up_its_key(clinic: Clinic) -> None:
    key = str(uuid.uuid4())
    headers = {**clinic.api.admin, "Idempotency-Key": key}
    assert_problem(clinic.send("POST", "/v1/tenants", headers, json={"name": ""}), 422)
    retried = clinic.send("POST", "/v1/tenants", headers, json={"name": "Riverside"})
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers


def test_an_idempotency_key_survives_a_restart(tmp_path: Path) -> None:
    with make_api("sqlite", tmp_path) as api:
        first = post_tenant(api, "restart-key")
    assert first.status_code == 201
    with make_api("sqlite", tmp_path) as restarted:
        before = restarted.runtime.log.head()
        again = post_tenant(restarted, "restart-key")
        assert restarted.runtime.log.head() == before
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]


# -- minPosition ----------------------------------------------------------------------


def test_a_read_your_write_get_sees_the_write(clinic: Clinic) -> None:
    created = clinic.api.ok(
        "POST", f"/v1/tenants/{clinic.tenant}/staff", clinic.api.admin, 201, json=new_staff()
    )
    listed = clinic.api.ok(
        "GET",
        f"/v1/tenants/{clinic.tenant}/staff?minPosition={created['position']}",
        clinic.api.admin,
    )
    assert created["id"] in {row["id"] for row in listed}


def test_a_min_position_beyond_the_head_is_422_at_once(tmp_path: Path) -> None:
    with make_api("sqlite", tmp_path, min_position_timeout_seconds=5) as api:
        tenant = api.tenant()
        far = api.runtime.log.head() + 1
        started = time.monotonic()
        response = api.client.get(
            f"/v1/tenants/{tenant}/feature-flags?minPosition={far}", headers=api.admin
        )
        assert time.monotonic() - started < 2
    assert "minPosition" in error_fields(assert_problem(response, 422))


def test_a_read_model_that_does_not_reach_a_min_position_in_time_is_503_with_retry_after(
    tmp_path: Path,
) -> None:
    # No projections run in this app, so the read model stays behind the head.
    with (
        make_runtime("sqlite", tmp_path, min_position_timeout_seconds=0.05) as runtime,
        TestClient(create_app(runtime)) as client,
    ):
        admin = auth(Role.PLATFORM_ADMIN, PLATFORM)
        created = client.post("/v1/tenants", headers=admin, json={"name": "Behind"})
        assert created.status_code == 201
        response = client.get(
            f"/v1/tenants/{created.json()['id']}/feature-flags"
            f"?minPosition={created.json()['position']}",
            headers=admin,
        )
    assert_problem(response, 503)
    assert int(response.headers["retry-after"]) >= 1


# -- what no input may do: stall a read model -----------------------------------------


@pytest.fixture(scope="module")
def postgres_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    path = tmp_path_factory.mktemp("people-pg")
    with make_api("postgresql", path, min_position_timeout_seconds=2) as api:
        yield api


def test_on_postgresql_a_nul_character_in_a_name_is_refused_before_it_reaches_a_read_model(
    postgres_api: Api,
) -> None:
    api = postgres_api
    response = api.client.post("/v1/tenants", headers=api.admin, json={"name": "River\u0000side"})
    assert "name" in error_fields(assert_problem(response, 422))
    tenant = api.tenant("Lakeside")
    api.ok("GET", f"/v1/tenants/{tenant}?minPosition={api.runtime.log.head()}", api.admin)


def test_on_postgresql_a_nul_character_in_a_chat_message_does_not_stall_conversations(
    postgres_api: Api,
) -> None:
    api = postgres_api
    tenant = api.tenant("Harbour")
    _, doctor = api.doctor(tenant)
    patient = api.invite(doctor)["patientId"]
    patient_headers = auth(Role.PATIENT, patient, tenant)
    head = api.runtime.log.head()
    [conversation] = api.ok("GET", f"/v1/conversations?minPosition={head}", patient_headers)
    path = f"/v1/conversations/{conversation['id']}/messages"
    posted = api.client.post(path, headers=patient_headers, json={"text": "pain\u0000 7"})
    assert posted.status_code in (201, 422), posted.text
    later = api.ok("POST", path, patient_headers, 201, json={"text": "feeling better"})
    response = api.client.get(f"{path}?minPosition={later['position']}", headers=patient_headers)
    assert response.status_code == 200, response.text
