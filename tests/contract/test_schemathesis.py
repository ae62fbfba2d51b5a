"""Schemathesis over every operation of `/openapi.json`, with a token of each role.

The operations are the ones the served document lists, so an endpoint added later is
fuzzed here without any edit. Each role gets a small clinic of its own, seeded over HTTP,
and a generated id in a path or a body is often swapped for one of the clinic's real ids,
so that the 2xx answers are checked as well as the 404s. Valid and invalid requests are
mixed (the invalid ones include a missing token). Every answer must be no server error,
have a documented status, content type and headers, and match the documented schema (a
problem body included). See docs/decisions/0019-schemathesis.md.

The CI share is CARELOOP_SCHEMATHESIS_EXAMPLES examples per operation and role (default
10), each run from CARELOOP_SCHEMATHESIS_SEED (default fixed, so CI is reproducible). A
longer local run:

    CARELOOP_SCHEMATHESIS_EXAMPLES=200 CARELOOP_SCHEMATHESIS_SEED=random \
        .venv/bin/pytest tests/contract/test_schemathesis.py -s
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import ASGIClient
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from domain.people.flags import Flag
from domain.shared.context import Role
from tests.support.app import PLATFORM, Api, auth, make_api
from tests.support.http import wait_until_current

EXAMPLES = int(os.environ.get("CARELOOP_SCHEMATHESIS_EXAMPLES", "10"))
_SEED = os.environ.get("CARELOOP_SCHEMATHESIS_SEED", "8")
SEED = None if _SEED == "random" else int(_SEED)

ROLES = (
    Role.PLATFORM_ADMIN,
    Role.HOSPITAL_ADMIN,
    Role.PX_ADMIN,
    Role.AUDITOR,
    Role.DOCTOR,
    Role.PATIENT,
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@dataclass(frozen=True)
class Clinic:
    """One tenant's people and things, as the ids a request can name."""

    tenant: str
    hospital_admin: str
    px_admin: str
    doctor: str  # approved; the acting doctor, connected to `patient`
    colleague: str  # approved; `patient`'s second therapist
    patient: str
    conversation: str  # `patient`'s care-team conversation
    workout: str  # `patient`'s finalized workout, with the doctor's note on e2
    open_workout: str  # `patient`'s workout not finalized yet

    def headers(self, role: Role) -> dict[str, str]:
        if role is Role.PLATFORM_ADMIN:
            return auth(role, PLATFORM)
        if role is Role.AUDITOR:  # no staff record: an auditor is only a token of the tenant
            return auth(role, uuid.uuid5(uuid.NAMESPACE_URL, f"auditor/{self.tenant}"), self.tenant)
        user = {
            Role.PATIENT: self.patient,
            Role.DOCTOR: self.doctor,
            Role.HOSPITAL_ADMIN: self.hospital_admin,
            Role.PX_ADMIN: self.px_admin,
        }[role]
        return auth(role, user, self.tenant)

    def known(self) -> dict[str, list[Any]]:
        """Real values for parameters and body fields, by name, whatever the operation."""
        return {
            "tenantId": [self.tenant],
            "staffId": [self.colleague, self.doctor, self.hospital_admin],
            "patientId": [self.patient],
            "doctorId": [self.doctor, self.colleague],
            "targetDoctorId": [self.colleague],
            "conversationId": [self.conversation],
            "workoutId": [self.workout, self.open_workout],
            "aggregateId": [self.workout, self.open_workout, self.patient, self.conversation],
            "exerciseId": ["e1", "e2"],
            "flag": [flag.value for flag in Flag],
        }


def seed_clinic(api: Api, name: str) -> Clinic:
    tenant = api.tenant(name)
    for flag in Flag:
        api.flag(tenant, flag.value)
    doctor, doctor_headers = api.doctor(tenant, "Maya", "Lind")
    colleague = api.staff(tenant, "DOCTOR", "Cole", "Berg")
    patient = api.invite(doctor_headers, "Sam", extra=[colleague])["patientId"]
    patient_headers = auth(Role.PATIENT, patient, tenant)
    exercises = [{"exerciseId": e, "name": f"Exercise {e}"} for e in ("e1", "e2")]
    workouts = [
        api.ok("POST", "/v1/workouts", patient_headers, 201, json={"exercises": exercises})
        for _ in range(2)
    ]
    workout = str(workouts[0]["workoutId"])
    finalized = api.ok("POST", f"/v1/workouts/{workout}/finalize", patient_headers)
    api.ok(
        "PUT",
        f"/v1/workouts/{workout}/exercises/e2/note",
        doctor_headers,
        json={"text": "Slower on the way down."},
    )
    conversations = api.ok(
        "GET", f"/v1/conversations?minPosition={finalized['position']}", patient_headers
    )
    return Clinic(
        tenant=tenant,
        hospital_admin=api.staff(tenant, "HOSPITAL_ADMIN", "Hal", "Moss"),
        px_admin=api.staff(tenant, "PX_ADMIN", "Pia", "Nord"),
        doctor=doctor,
        colleague=colleague,
        patient=patient,
        conversation=conversations[0]["id"],
        workout=workout,
        open_workout=str(workouts[1]["workoutId"]),
    )


def sometimes_known(values: Any, known: dict[str, list[Any]]) -> Any:
    """A strategy: each value that names a thing is kept, or replaced by a real one."""
    if not isinstance(values, dict):
        return st.just(values)
    return st.fixed_dictionaries(
        {
            name: st.sampled_from([value, *known[name]]) if name in known else st.just(value)
            for name, value in values.items()
        }
    )


@pytest.fixture(scope="module")
def contract_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with make_api("sqlite", tmp_path_factory.mktemp("schemathesis")) as api:
        yield api


@pytest.fixture(params=ROLES, ids=[role.value for role in ROLES])
def role(request: pytest.FixtureRequest) -> Role:
    return Role(request.param)


@pytest.fixture
def clinic(contract_api: Api, role: Role) -> Clinic:
    clinic = seed_clinic(contract_api, f"Clinic of the {role.value} run")
    wait_until_current(contract_api.runtime)
    return clinic


def document_schema(api: Api, clinic: Clinic) -> Any:
    """The served document as schemathesis sees it, with the clinic's ids mixed in."""
    settings: dict[str, Any] = {"generation": {"database": "none"}}
    if SEED is not None:
        settings["seed"] = SEED
    config = schemathesis.Config.from_dict(settings)
    schema = schemathesis.openapi.from_dict(api.client.get("/openapi.json").json(), config=config)
    known = clinic.known()

    @schema.hook
    def flatmap_path_parameters(_: Any, path_parameters: Any) -> Any:
        return sometimes_known(path_parameters, known)

    @schema.hook
    def flatmap_body(_: Any, body: Any) -> Any:
        return sometimes_known(body, known)

    return schema


def fuzz(operation: Any, send: Callable[[Any], None]) -> None:
    """EXAMPLES requests to one operation, valid and invalid ones mixed."""
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(cases)
    def run(case: Any) -> None:
        send(case)

    if SEED is not None:
        run = hypothesis.seed(SEED)(run)
    run()


def test_every_operation_answers_as_its_document_says(
    contract_api: Api, clinic: Clinic, role: Role, subtests: pytest.Subtests
) -> None:
    schema = document_schema(contract_api, clinic)
    # Not entered, so it does not start the app's lifespan a second time: the test client
    # already runs it, and the projections with it.
    session = ASGIClient(contract_api.client.app)
    headers = clinic.headers(role)
    sent: Counter[str] = Counter()
    statuses: Counter[int] = Counter()

    def send(case: Any) -> None:
        sent[case.operation.label] += 1
        response = case.call_and_validate(session=session, headers=headers, checks=CHECKS)
        statuses[response.status_code] += 1

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30, "the document lists fewer operations than CareLoop serves"
    for operation in operations:
        with subtests.test(msg=f"{operation.label} as {role.value}"):
            fuzz(operation, send)

    print(
        f"\nschemathesis as {role.value}: {sum(sent.values())} requests over "
        f"{len(operations)} operations ({EXAMPLES} examples each at most); "
        f"statuses {dict(sorted(statuses.items()))}"
    )
    assert {operation.label for operation in operations} <= set(sent), "an operation got nothing"
    assert any(200 <= status < 300 for status in statuses), "no request succeeded"
