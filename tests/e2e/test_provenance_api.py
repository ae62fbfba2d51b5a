"""`GET /v1/provenance/{id}` over HTTP, on SQLite and PostgreSQL: the feedback loop runs
once per backend (a FakeClock moves the notes' window past its deadline), then each card
and push is traced back to the request that set it off, and each reader is tried."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from domain.shared.clock import FakeClock
from domain.shared.context import Role
from tests.support.app import PLATFORM, Api, auth, make_api
from tests.support.feedback_http import FeedbackClinic, eventually
from tests.support.http import assert_problem, masked

WINDOW_SECONDS = 300.0


@dataclass(frozen=True)
class Loop:
    """One run of the feedback loop: what it handed out, and who can ask about it."""

    api: Api
    clinic: FeedbackClinic
    workout: str
    finalize_position: int
    summary: str  # the PATIENT_FEEDBACK_SUMMARY card
    maya_push: str  # Maya's notification of that card
    note: str  # Maya's DOCTOR_FEEDBACK_NOTE card
    notes: list[int]  # the positions Maya's two note requests wrote up to

    def chain(self, thing: str, headers: dict[str, str]) -> list[dict[str, Any]]:
        body = self.api.ok("GET", f"/v1/provenance/{thing}", headers)
        assert body["id"] == thing
        chain: list[dict[str, Any]] = body["chain"]
        return chain

    def status(self, thing: str, headers: dict[str, str]) -> int:
        return self.api.client.get(f"/v1/provenance/{thing}", headers=headers).status_code


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Loop]:
    clock = FakeClock()
    with make_api(
        str(request.param),
        tmp_path_factory.mktemp(f"provenance-{request.param}"),
        process_managers=True,
        clock=clock,
        feedback_window_seconds=WINDOW_SECONDS,
    ) as api:
        clinic = FeedbackClinic(api)
        workout = clinic.hard_workout()
        finalized = api.ok("POST", f"/v1/workouts/{workout}/finalize", clinic.patient_h)
        finalize_position = finalized["position"]
        conversation = clinic.group_conversation()
        summary = eventually(
            lambda: clinic.cards(clinic.maya_h, conversation, "PATIENT_FEEDBACK_SUMMARY"),
            what="summary card",
        )
        push = eventually(lambda: clinic.notifications(clinic.maya_h), what="Maya's push")
        notes = []
        for exercise, text in (("squat", "Drop to 6 reps"), ("plank", "Great hold")):
            api.ok(
                "PUT",
                f"/v1/workouts/{workout}/exercises/{exercise}/note",
                clinic.maya_h,
                json={"text": text},
            )
            notes.append(api.runtime.log.head())
            clock.advance(60)
        clock.advance(WINDOW_SECONDS)
        note = eventually(
            lambda: clinic.cards(clinic.patient_h, conversation, "DOCTOR_FEEDBACK_NOTE"),
            what="doctor note card",
        )
        yield Loop(
            api=api,
            clinic=clinic,
            workout=workout,
            finalize_position=finalize_position,
            summary=summary[0]["id"],
            maya_push=push[0]["id"],
            note=note[0]["id"],
            notes=notes,
        )


def kinds(chain: list[dict[str, Any]]) -> list[str]:
    return [step["type"] for step in chain]


def test_a_summary_card_leads_back_to_the_patients_finalize_request(loop: Loop) -> None:
    chain = loop.chain(loop.summary, loop.clinic.patient_h)
    assert kinds(chain) == ["Workout.Finalized", "Message.Posted"]
    finalized, card = chain
    assert finalized["aggregateId"] == loop.workout and finalized["aggregateType"] == "Workout"
    assert finalized["position"] == loop.finalize_position
    assert finalized["actorId"] == loop.clinic.patient and finalized["role"] == "patient"
    assert finalized["causationId"].startswith("request:")
    assert card["aggregateId"] == loop.summary and card["aggregateType"] == "Message"
    assert card["causationId"] == f"event:{finalized['position']}"
    assert card["role"] == "system"


def test_a_doctor_note_card_leads_back_through_the_windows_elapse_to_the_note_that_set_it(
    loop: Loop,
) -> None:
    chain = loop.chain(loop.note, loop.clinic.patient_h)
    assert kinds(chain) == [
        "FeedbackWindow.Extended",
        "FeedbackWindow.Elapsed",
        "Message.Posted",
    ]
    extended, elapsed, card = chain
    # The window's deadline was last moved by Maya's second note: that request set it off.
    assert extended["position"] <= loop.notes[1] and extended["position"] > loop.notes[0]
    assert extended["actorId"] == loop.clinic.maya and extended["role"] == "doctor"
    assert extended["causationId"].startswith("request:")
    assert elapsed["aggregateId"] == extended["aggregateId"]
    assert elapsed["causationId"].startswith(f"deadline:feedback_window:{extended['aggregateId']}@")
    assert card["causationId"] == f"event:{elapsed['position']}"
    assert card["aggregateId"] == loop.note
    assert [s["position"] for s in chain] == sorted(s["position"] for s in chain)


def test_a_therapists_push_leads_back_to_the_finalize_its_card_came_from(loop: Loop) -> None:
    push = loop.chain(loop.maya_push, loop.clinic.maya_h)
    card = loop.chain(loop.summary, loop.clinic.maya_h)
    assert kinds(push) == ["Workout.Finalized", "Delivery.Queued"]
    assert push[-1]["aggregateId"] == loop.maya_push
    # The card and its push are written by one reaction to the finalize: siblings, one cause.
    assert push[-1]["causationId"] == card[-1]["causationId"] == f"event:{push[0]['position']}"
    assert push[0] == card[0]


def test_correlation_ids_continue_along_every_chain(loop: Loop) -> None:
    for thing, headers in (
        (loop.summary, loop.clinic.patient_h),
        (loop.maya_push, loop.clinic.maya_h),
        (loop.note, loop.clinic.patient_h),
    ):
        chain = loop.chain(thing, headers)
        first = chain[0]
        assert first["correlationId"] == first["causationId"].removeprefix("request:")
        assert {step["correlationId"] for step in chain} == {first["correlationId"]}


def test_a_workouts_provenance_is_the_request_that_started_it(loop: Loop) -> None:
    chain = loop.chain(loop.workout, loop.clinic.patient_h)
    assert kinds(chain) == ["Workout.Started"]
    assert chain[0]["causationId"].startswith("request:")


def test_history_readers_of_the_tenant_and_platform_admins_read_any_provenance(
    loop: Loop,
) -> None:
    tenant = loop.clinic.tenant
    admin = auth(
        Role.HOSPITAL_ADMIN, loop.api.staff(tenant, "HOSPITAL_ADMIN", "Ana", "Ruiz"), tenant
    )
    for headers in (
        admin,
        auth(Role.AUDITOR, uuid.uuid4(), tenant),
        auth(Role.PLATFORM_ADMIN, PLATFORM),
    ):
        for thing in (loop.summary, loop.maya_push, loop.note, loop.workout):
            assert loop.status(thing, headers) == 200


def test_whoever_may_read_the_thing_reads_its_provenance_and_no_one_else(loop: Loop) -> None:
    clinic = loop.clinic
    # The card's conversation: the patient and both therapists take part.
    for headers in (clinic.patient_h, clinic.maya_h, clinic.tomas_h):
        assert loop.status(loop.summary, headers) == 200
    # A push is its recipient's.
    assert loop.status(loop.maya_push, clinic.maya_h) == 200
    for headers in (clinic.tomas_h, clinic.patient_h):
        assert loop.status(loop.maya_push, headers) == 404
    # A workout: its patient and their connected therapists.
    for headers in (clinic.patient_h, clinic.maya_h):
        assert loop.status(loop.workout, headers) == 200
    _, outsider_h = loop.api.doctor(clinic.tenant, "Ola", "Berg")
    px = auth(
        Role.PX_ADMIN, loop.api.staff(clinic.tenant, "PX_ADMIN", "Pia", "Holm"), clinic.tenant
    )
    other_patient = auth(Role.PATIENT, uuid.uuid4(), clinic.tenant)
    for headers in (outsider_h, px, other_patient):
        for thing in (loop.summary, loop.maya_push, loop.note, loop.workout):
            assert loop.status(thing, headers) == 404, (thing, headers)


def test_another_tenants_ids_and_unknown_ids_are_404_alike(loop: Loop) -> None:
    other = loop.api.tenant("Elsewhere")
    admin = auth(Role.HOSPITAL_ADMIN, loop.api.staff(other, "HOSPITAL_ADMIN", "Eli", "Moss"), other)
    auditor = auth(Role.AUDITOR, uuid.uuid4(), other)
    for headers in (admin, auditor):
        unknown = loop.api.client.get(f"/v1/provenance/{uuid.uuid4()}", headers=headers)
        theirs = loop.api.client.get(f"/v1/provenance/{loop.summary}", headers=headers)
        assert masked(assert_problem(theirs, 404)) == masked(assert_problem(unknown, 404))
    assert loop.status(loop.summary, {}) == 401
