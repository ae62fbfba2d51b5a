"""The treatment-plan and webhook read models on SQLite and on PostgreSQL, fed by real
events: a clinic drives the domain (tests/support/plans.py), the read models catch up,
then the views answer."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from api.schemas.plans import CompletionOut
from domain.plans.content import PlanType, Visibility
from domain.webhooks.subscription import Trigger
from projections.plans.projection import PlanProjection
from projections.webhooks.projection import WebhookProjection
from tests.support.plans import PlanClinic, content, duration, reps, session


@pytest.fixture(params=["sqlite", "postgresql"])
def clinic(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PlanClinic]:
    c = PlanClinic(tmp_path / "data", backend=request.param)
    yield c
    c.close()


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["id"] for row in rows]


# -- the exercise library -------------------------------------------------------------------


def test_a_clinic_lists_the_global_exercises_and_its_own_by_name_never_another_clinics(
    clinic: PlanClinic,
) -> None:
    squat = clinic.exercise("Squat", clinic.platform, body_region="leg")
    bridge = clinic.exercise("Bridge", description="Lift the hips.")
    circles = clinic.exercise("ankle circles", video_url="https://videos.example/ankle")
    zebra = clinic.exercise("Zebra crawl", clinic.other.doctor)
    clinic.rt.catch_up()
    plans = clinic.rt.views.plans

    assert ids(plans.exercises(str(clinic.tenant))) == [str(circles), str(bridge), str(squat)]
    assert ids(plans.exercises(str(clinic.other.tenant))) == [str(squat), str(zebra)]
    assert ids(plans.exercises(None)) == [str(squat)]
    assert plans.exercise(str(squat)) == {
        "id": str(squat),
        "tenantId": None,
        "scope": "global",
        "name": "Squat",
        "bodyRegion": "leg",
        "description": None,
        "videoUrl": None,
        "createdAt": clinic.clock.now().isoformat(),
        "updatedAt": clinic.clock.now().isoformat(),
    }
    assert plans.exercise(str(circles))["scope"] == "org"
    assert plans.exercise(str(uuid.uuid4())) is None


def test_renaming_an_exercise_moves_it_in_the_list_and_shows_the_edit(clinic: PlanClinic) -> None:
    first = clinic.exercise("Alpha")
    second = clinic.exercise("Beta")
    clinic.advance(1)
    clinic.edit_exercise(first, "Gamma", description="Now longer.")
    clinic.rt.catch_up()
    plans = clinic.rt.views.plans

    assert ids(plans.exercises(str(clinic.tenant))) == [str(second), str(first)]
    row = plans.exercise(str(first))
    assert row is not None
    assert (row["name"], row["description"]) == ("Gamma", "Now longer.")
    assert row["updatedAt"] == clinic.clock.now().isoformat() != row["createdAt"]


# -- plans and the versioned-plan read model ------------------------------------------------


def test_a_plan_row_follows_its_draft_and_versions(clinic: PlanClinic) -> None:
    squat = clinic.exercise("Squat")
    plank = clinic.exercise("Plank")
    day1 = session("Day 1", reps(squat, sets=3, count=12), duration(plank, hold_seconds=45))
    plan_id = clinic.design(content(day1, title="Knee", questionnaire=["How was it?"]))
    clinic.rt.catch_up()
    plans = clinic.rt.views.plans
    drafted = plans.plan(str(plan_id))
    assert drafted is not None
    assert drafted["status"] == "draft"
    assert drafted["latestVersion"] is None
    assert drafted["draft"] == drafted["current"]
    assert drafted["current"] == {
        "title": "Knee",
        "type": "in_clinic",
        "frequencyPerWeek": 3,
        "durationWeeks": 4,
        "condition": "knee",
        "difficulty": "easy",
        "bodyRegion": "leg",
        "visibility": "library",
        "requiresApproval": False,
        "questionnaire": ["How was it?"],
        "sessions": [
            {
                "id": str(day1.id),
                "title": "Day 1",
                "exercises": [
                    {
                        "exerciseId": str(squat),
                        "params": {
                            "mode": "reps",
                            "sets": 3,
                            "reps": 12,
                            "restBetweenSetsSeconds": 30,
                        },
                    },
                    {
                        "exerciseId": str(plank),
                        "params": {
                            "mode": "duration",
                            "sets": 2,
                            "holdSeconds": 45,
                            "restBetweenSetsSeconds": 15,
                        },
                    },
                ],
            }
        ],
    }
    assert {k: drafted[k] for k in ("tenantId", "scope", "patientId", "createdBy")} == {
        "tenantId": str(clinic.tenant),
        "scope": "org",
        "patientId": None,
        "createdBy": str(clinic.doctor(0).user_id),
    }
    assert plans.versions(str(plan_id)) == []

    clinic.advance(1)
    clinic.publish(plan_id)
    clinic.rt.catch_up()
    published = plans.plan(str(plan_id))
    assert published is not None
    assert (published["status"], published["latestVersion"], published["draft"]) == (
        "published",
        1,
        None,
    )
    assert published["current"] == drafted["current"]

    clinic.advance(1)
    clinic.edit(plan_id, content(day1, title="Knee, harder"))
    clinic.rt.catch_up()
    edited = plans.plan(str(plan_id))
    assert edited is not None
    assert edited["status"] == "published_with_draft"
    assert edited["latestVersion"] == 1
    assert edited["draft"]["title"] == edited["current"]["title"] == "Knee, harder"


def test_published_versions_are_listed_in_order_and_never_change(clinic: PlanClinic) -> None:
    squat = clinic.exercise("Squat")
    day1 = session("Day 1", reps(squat))
    plan_id = clinic.design(content(day1, title="Version one"))
    clinic.publish(plan_id)
    v1_at = clinic.clock.now().isoformat()
    clinic.rt.catch_up()
    plans = clinic.rt.views.plans
    first = plans.version(str(plan_id), 1)
    assert first is not None
    assert first["version"] == 1
    assert first["publishedAt"] == v1_at
    assert first["snapshot"]["title"] == "Version one"

    # An edit, the exercise's live content changing, then a second version.
    clinic.advance(2)
    clinic.edit(plan_id, content(day1, session("Day 2", reps(squat, count=5)), title="Two"))
    clinic.edit_exercise(squat, "Deep squat")
    clinic.rt.catch_up()
    assert plans.version(str(plan_id), 1) == first
    clinic.advance(1)
    clinic.publish(plan_id)
    clinic.rt.catch_up()

    assert plans.version(str(plan_id), 1) == first
    second = plans.version(str(plan_id), 2)
    assert second is not None
    assert second["snapshot"]["title"] == "Two"
    assert len(second["snapshot"]["sessions"]) == 2
    assert plans.versions(str(plan_id)) == [
        {"version": 1, "publishedAt": v1_at},
        {"version": 2, "publishedAt": clinic.clock.now().isoformat()},
    ]
    assert plans.version(str(plan_id), 3) is None
    assert plans.version(str(uuid.uuid4()), 1) is None
    assert plans.versions(str(uuid.uuid4())) == []


def test_a_clone_names_its_source_and_a_promoted_plan_becomes_the_clinics(
    clinic: PlanClinic,
) -> None:
    source = clinic.published_plan(title="Shoulder")
    clone = clinic.clone(source, patient=clinic.patient)
    clinic.publish(clone)
    clinic.rt.catch_up()
    plans = clinic.rt.views.plans
    row = plans.plan(str(clone))
    assert row is not None
    assert (row["scope"], row["patientId"], row["clonedFrom"]) == (
        "custom",
        str(clinic.patient),
        str(source),
    )
    assert str(clone) not in ids(plans.library(str(clinic.tenant)))

    clinic.advance(1)
    clinic.promote(clone)
    clinic.rt.catch_up()
    promoted = plans.plan(str(clone))
    assert promoted is not None
    assert (promoted["scope"], promoted["patientId"]) == ("org", None)
    assert promoted["promotedAt"] == clinic.clock.now().isoformat()
    assert str(clone) in ids(plans.library(str(clinic.tenant)))


# -- the library ----------------------------------------------------------------------------


def test_the_library_shows_global_and_own_library_plans_never_custom_or_another_clinics(
    clinic: PlanClinic,
) -> None:
    global_knee = clinic.published_plan(
        scope="global", title="Global knee", condition="knee", difficulty="easy"
    )
    clinic.published_plan(scope="global", title="Global private", visibility="private")
    own_shoulder = clinic.published_plan(
        title="A shoulder plan", condition="shoulder", difficulty="hard", body_region="arm"
    )
    clinic.published_plan(scope="custom", title="Custom", patient=clinic.patient)
    clinic.design(content(session("Day 1", reps(clinic.exercise("Lunge"))), title="Draft"))
    other = clinic.published_plan(title="Other clinic's", actor=clinic.other.doctor)
    clinic.rt.catch_up()
    plans = clinic.rt.views.plans

    assert ids(plans.library(str(clinic.tenant))) == [str(own_shoulder), str(global_knee)]
    assert ids(plans.library(str(clinic.other.tenant))) == [str(global_knee), str(other)]
    assert ids(plans.library(None)) == [str(global_knee)]
    assert plans.library(str(clinic.tenant), condition="knee") == [
        {
            "id": str(global_knee),
            "scope": "global",
            "tenantId": None,
            "latestVersion": 1,
            "title": "Global knee",
            "type": PlanType.IN_CLINIC.value,
            "condition": "knee",
            "difficulty": "easy",
            "bodyRegion": "leg",
            "frequencyPerWeek": 3,
            "durationWeeks": 4,
        }
    ]
    assert ids(plans.library(str(clinic.tenant), difficulty="hard")) == [str(own_shoulder)]
    assert ids(plans.library(str(clinic.tenant), body_region="arm")) == [str(own_shoulder)]
    assert ids(plans.library(str(clinic.tenant), body_region="leg")) == [str(global_knee)]
    assert plans.library(str(clinic.tenant), condition="knee", difficulty="hard") == []


def test_the_library_follows_the_latest_version_not_the_draft(clinic: PlanClinic) -> None:
    squat = clinic.exercise("Squat")
    day1 = session("Day 1", reps(squat))
    plan_id = clinic.design(content(day1, title="Listed"))
    clinic.publish(plan_id)
    clinic.edit(plan_id, content(day1, title="Renamed, private", visibility="private"))
    clinic.rt.catch_up()
    plans = clinic.rt.views.plans
    (entry,) = plans.library(str(clinic.tenant))
    assert (entry["title"], entry["latestVersion"]) == ("Listed", 1)

    clinic.publish(plan_id)
    clinic.rt.catch_up()
    assert plans.library(str(clinic.tenant)) == []

    clinic.edit(plan_id, content(day1, title="Back", visibility=Visibility.LIBRARY.value))
    clinic.publish(plan_id)
    clinic.rt.catch_up()
    (entry,) = plans.library(str(clinic.tenant))
    assert (entry["title"], entry["latestVersion"]) == ("Back", 3)


# -- enrollments and service plans ----------------------------------------------------------


def test_an_enrollment_row_follows_approval_pause_sessions_and_completion(
    clinic: PlanClinic,
) -> None:
    clinic.service_plan(telerehab=True, library=True)
    plan_id = clinic.published_plan(
        title="Daily",
        plan_type=PlanType.TELEREHAB.value,
        frequency_per_week=1,
        duration_weeks=1,
        requires_approval=True,
        questionnaire=["Any dizziness?"],
    )
    (session_id,) = clinic.session_ids(plan_id)
    assigned = clinic.assign(plan_id)
    assert assigned["status"] == "pending_approval"
    enrollment = assigned["enrollmentId"]
    enrolled_at = clinic.clock.now()
    clinic.rt.catch_up()
    plans = clinic.rt.views.plans
    pending = plans.enrollment(enrollment)
    assert pending == {
        "id": enrollment,
        "tenantId": str(clinic.tenant),
        "patientId": str(clinic.patient),
        "planId": str(plan_id),
        "version": 1,
        "planType": "telerehab",
        "status": "pending_approval",
        "selfAssigned": False,
        "assignedBy": str(clinic.doctor(0).user_id),
        "approvedBy": None,
        "enrolledAt": enrolled_at.isoformat(),
        "startedAt": None,
        "endsAt": None,
        "pausedAt": None,
        "frequencyPerWeek": 1,
        "durationWeeks": 1,
        "completions": [],
    }

    clinic.advance(1)
    clinic.approve(enrollment)
    started = clinic.clock.now()
    clinic.advance(1)
    clinic.pause(enrollment)
    paused_at = clinic.clock.now()
    clinic.rt.catch_up()
    row = plans.enrollment(enrollment)
    assert row is not None
    assert (row["status"], row["approvedBy"]) == ("paused", str(clinic.doctor(1).user_id))
    assert row["startedAt"] == started.isoformat()
    assert row["pausedAt"] == paused_at.isoformat()
    ends_before = row["endsAt"]

    clinic.advance(2)
    clinic.resume(enrollment)
    clinic.advance(1)
    workout = clinic.perform(
        enrollment, session_id, pain_before=5, pain_after=3, questionnaire={"Any dizziness?": "No"}
    )
    finalized = clinic.clock.now()
    clinic.react()
    row = plans.enrollment(enrollment)
    assert row is not None
    assert row["pausedAt"] is None
    assert row["endsAt"] > ends_before  # pushed back by the two paused days
    assert row["status"] == "completed"  # one session a week for one week: all done
    assert row["completions"] == [
        {
            "sessionId": str(session_id),
            "workoutId": str(workout),
            "completedAt": finalized.isoformat(),
            "painBefore": 5,
            "painAfter": 3,
            "questionnaire": {"Any dizziness?": "No"},
            "exercises": [
                {
                    "exerciseId": "e1",
                    "prescribed": {"sets": 3, "reps": 10},
                    "actual": {"sets": 3, "reps": 8},
                    "pain": 3,
                    "videoWatchPercent": 90.0,
                    "poseAccuracy": 80.0,
                }
            ],
        }
    ]


def test_an_erased_patients_answers_read_null_and_the_numbers_stay(clinic: PlanClinic) -> None:
    clinic.service_plan(telerehab=True, library=True)
    plan_id = clinic.published_plan(
        title="Daily", frequency_per_week=2, duration_weeks=1, questionnaire=["Any dizziness?"]
    )
    (session_id,) = clinic.session_ids(plan_id)
    enrollment = clinic.assign(plan_id)["enrollmentId"]
    clinic.perform(
        enrollment,
        session_id,
        pain_before=5,
        pain_after=3,
        questionnaire={"Any dizziness?": "A bit"},
    )
    clinic.react()
    clinic.rt.keys.destroy(clinic.patient)
    row = clinic.rt.views.plans.enrollment(enrollment)
    assert row is not None
    [completion] = row["completions"]
    assert completion["questionnaire"] == {"Any dizziness?": None, "erased": True}
    assert (completion["painBefore"], completion["painAfter"]) == (5, 3)
    out = CompletionOut.model_validate(completion).model_dump(by_alias=True, exclude_none=True)
    assert out["questionnaire"] == {"Any dizziness?": None} and out["erased"] is True

    projection = clinic.rt.runners[PlanProjection.name].projection
    clinic.rt.store.reset(projection.name, projection.tables)
    clinic.rt.catch_up()
    assert clinic.rt.views.plans.enrollment(enrollment) == row


def test_a_patients_enrollments_are_listed_oldest_first_and_expire_at_their_end(
    clinic: PlanClinic,
) -> None:
    clinic.service_plan(telerehab=False, library=True)
    plan_id = clinic.published_plan(title="Walk", duration_weeks=1)
    first = clinic.assign(plan_id)["enrollmentId"]
    clinic.advance(1)
    second = clinic.self_assign(plan_id)["enrollmentId"]
    someone_else = clinic.invite_patient("Lena")
    clinic.assign(plan_id, patient=someone_else)
    clinic.rt.catch_up()
    plans = clinic.rt.views.plans
    mine = plans.enrollments_of(str(clinic.patient))
    assert ids(mine) == [first, second]
    assert [row["selfAssigned"] for row in mine] == [False, True]
    assert len(plans.enrollments_of(str(someone_else))) == 1
    assert plans.enrollments_of(str(uuid.uuid4())) == []

    clinic.advance(6.5)  # the first one's week is over, not the second's
    assert clinic.fire_due() == 1
    clinic.rt.catch_up()
    assert [row["status"] for row in plans.enrollments_of(str(clinic.patient))] == [
        "expired",
        "active",
    ]


def test_a_service_plan_row_shows_what_the_patient_may_use(clinic: PlanClinic) -> None:
    plans = clinic.rt.views.plans
    clinic.rt.catch_up()
    assert plans.service_plan(str(clinic.patient)) is None
    assert plans.service_plan("not-a-uuid") is None
    clinic.service_plan(telerehab=True, library=False)
    clinic.advance(1)
    clinic.service_plan(telerehab=False, library=True, active=True)
    clinic.rt.catch_up()
    assert plans.service_plan(str(clinic.patient)) == {
        "patientId": str(clinic.patient),
        "tenantId": str(clinic.tenant),
        "telerehabAccess": False,
        "libraryAccess": True,
        "active": True,
        "updatedAt": clinic.clock.now().isoformat(),
    }


# -- webhooks -------------------------------------------------------------------------------


def test_subscriptions_are_indexed_by_trigger_and_never_show_their_secret(
    clinic: PlanClinic,
) -> None:
    created, assigned = Trigger.CREATED.value, Trigger.ASSIGNED.value
    narrow = clinic.subscribe("http://127.0.0.1:9/a", [created, assigned], secret="x" * 40)
    narrow_at = clinic.clock.now()
    clinic.advance(1)
    everything = clinic.subscribe("http://127.0.0.1:9/b")
    theirs = clinic.subscribe("http://127.0.0.1:9/c", actor=clinic.other.admin)
    clinic.rt.catch_up()
    webhooks = clinic.rt.views.webhooks
    tenant = str(clinic.tenant)

    assert webhooks.subscriptions_of(tenant, created) == sorted([str(narrow), str(everything)])
    assert webhooks.subscriptions_of(tenant, Trigger.EXPIRED.value) == [str(everything)]
    assert webhooks.subscriptions_of(str(clinic.other.tenant), created) == [str(theirs)]
    assert ids(webhooks.subscriptions(tenant)) == [str(narrow), str(everything)]
    row = webhooks.subscription(str(narrow))
    assert row == {
        "id": str(narrow),
        "tenantId": tenant,
        "url": "http://127.0.0.1:9/a",
        "events": sorted([created, assigned]),
        "active": True,
        "createdAt": narrow_at.isoformat(),
    }
    assert "x" * 40 not in repr(webhooks.subscriptions(tenant))

    clinic.deactivate_subscription(narrow)
    clinic.rt.catch_up()
    assert webhooks.subscriptions_of(tenant, created) == [str(everything)]
    assert webhooks.subscriptions_of(tenant, assigned) == [str(everything)]
    assert webhooks.subscription(str(narrow))["active"] is False


class _Receiver:
    """A local HTTP receiver answering the given statuses in turn (then 200)."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.bodies: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    r = _Receiver(500, 500)
    yield r
    r.close()


def test_a_subscriptions_deliveries_list_every_attempt(
    clinic: PlanClinic, receiver: _Receiver
) -> None:
    subscription = clinic.subscribe(receiver.url, [Trigger.CREATED.value])
    clinic.advance(1)
    plan_id = clinic.design(content(session("Day 1", reps(clinic.exercise("Squat")))))
    queued_at = clinic.clock.now()
    clinic.react()
    webhooks = clinic.rt.views.webhooks
    (delivery,), cursor = webhooks.deliveries(str(subscription), None, 10)
    assert cursor is None
    assert delivery["event"] == Trigger.CREATED.value
    assert (delivery["status"], delivery["attempts"]) == ("pending", [])
    assert delivery["createdAt"] == queued_at.isoformat()

    for wait in (0, 5, 30):  # 500, then 500 after the first backoff, then 200
        clinic.clock.advance(wait)
        assert clinic.deliver_due() == 1
    clinic.rt.catch_up()

    (delivery,), _ = webhooks.deliveries(str(subscription), None, 10)
    assert delivery["status"] == "sent"
    assert delivery["nextAttemptAt"] is None
    assert [a["outcome"] for a in delivery["attempts"]] == [
        "started",
        "failed",
        "started",
        "failed",
        "started",
        "sent",
    ]
    assert "500" in delivery["attempts"][1]["detail"]
    assert set(delivery) == {"id", "event", "status", "attempts", "nextAttemptAt", "createdAt"}
    assert len(receiver.bodies) == 3
    assert str(plan_id).encode() in receiver.bodies[-1]


def test_deliveries_page_newest_first_with_a_cursor(clinic: PlanClinic) -> None:
    subscription = clinic.subscribe("http://127.0.0.1:9/a", [Trigger.CREATED.value])
    other = clinic.subscribe("http://127.0.0.1:9/b", [Trigger.CREATED.value])
    squat = clinic.exercise("Squat")
    for i in range(5):
        clinic.advance(1)
        clinic.design(content(session("Day 1", reps(squat)), title=f"Plan {i}"))
    clinic.react()
    webhooks = clinic.rt.views.webhooks

    first, cursor = webhooks.deliveries(str(subscription), None, 2)
    second, cursor2 = webhooks.deliveries(str(subscription), cursor, 2)
    third, end = webhooks.deliveries(str(subscription), cursor2, 2)
    rows = first + second + third
    assert (len(first), len(second), len(third), end) == (2, 2, 1, None)
    created = [row["createdAt"] for row in rows]
    assert created == sorted(created, reverse=True)
    assert len(set(ids(rows))) == 5
    # A cursor of another subscription starts that one over.
    restarted, _ = webhooks.deliveries(str(other), cursor, 2)
    assert len(restarted) == 2 and not set(ids(restarted)) & set(ids(rows))
    assert webhooks.deliveries(str(uuid.uuid4()), None, 2) == ([], None)


# -- rebuilding -----------------------------------------------------------------------------


def test_rebuilding_from_position_zero_gives_the_same_rows(clinic: PlanClinic) -> None:
    clinic.service_plan()
    clinic.subscribe("http://127.0.0.1:9/a")
    global_plan = clinic.published_plan(scope="global", title="Global")
    plan_id = clinic.published_plan(title="Org", plan_type=PlanType.TELEREHAB.value)
    clinic.edit(plan_id, content(session("Day 1", reps(clinic.exercise("Lunge"))), title="v2"))
    clinic.publish(plan_id)
    enrollment = clinic.assign(plan_id)["enrollmentId"]
    clinic.self_assign(global_plan)
    clinic.perform(enrollment, clinic.session_ids(plan_id)[0])
    clinic.react()
    store = clinic.rt.store
    projections = (PlanProjection(), WebhookProjection())

    def rows() -> dict[str, list[dict[str, Any]]]:
        return {table: store.list(table) for p in projections for table in p.tables}

    before = rows()
    assert all(before.values()), [table for table, r in before.items() if not r]
    for projection in projections:
        store.reset(projection.name, projection.tables)
    assert all(not r for r in rows().values())
    clinic.rt.catch_up()
    assert rows() == before
    assert clinic.rt.views.plans.versions(str(plan_id))[-1]["version"] == 2
