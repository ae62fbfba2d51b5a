"""A clinic for treatment plans on the domain layer (no HTTP): a tenant with a hospital
admin, two approved doctors and a patient, a platform admin, and a helper for every step
of the plan flow. Commands run through the real command bus on a real Runtime (SQLite,
or PostgreSQL in a schema of its own), with a FakeClock and sequential ids.

    clinic = PlanClinic(tmp_path, backend="sqlite")
    squat = clinic.exercise("Squat")                       # the clinic's own exercise
    plan = clinic.published_plan(session("Day 1", reps(squat)), title="Knee")
    enrollment = clinic.assign(plan)["enrollmentId"]      # active (no approval needed)
    clinic.perform(enrollment, clinic.session_ids(plan)[0], pain_before=4, pain_after=2)
    clinic.react()                                        # the session is completed
    clinic.rt.views.plans.enrollment(enrollment)          # read models are caught up

Content is built with the module's `reps`, `duration`, `session` and `content` helpers.
Results are what the API would answer (`to_json`: camelCase, ids and times as strings).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.commands import to_json
from bootstrap.runtime import Runtime
from bootstrap.settings import Settings
from domain.outbox.delivery import DELIVERY
from domain.people.staff import StaffType
from domain.plans.content import (
    ExerciseParams,
    Mode,
    PlanContent,
    PlanExercise,
    PlanSession,
    PlanType,
    Visibility,
)
from domain.plans.enrollment import ENROLLMENT_END
from domain.plans.plan import TreatmentPlan
from domain.shared.clock import FakeClock, SequentialIds
from domain.shared.commands import Handler
from domain.shared.context import Actor, CommandContext, Role
from domain.webhooks.subscription import Subscription, Trigger
from tests.support.services import drop_schema, new_schema_name, postgres_url
from workers.reactions import ReactionFollower

DAY = 86_400.0
WEEK = 7 * DAY
SECRET = "s" * 32

# -- content ------------------------------------------------------------------------------


def reps(exercise_id: uuid.UUID, sets: int = 3, count: int = 10, rest: int = 30) -> PlanExercise:
    """An exercise in reps mode: `{mode: reps, sets, reps, restBetweenSetsSeconds}`."""
    return PlanExercise(exercise_id, ExerciseParams(Mode.REPS.value, sets, rest, reps=count))


def duration(
    exercise_id: uuid.UUID, sets: int = 2, hold_seconds: int = 30, rest: int = 15
) -> PlanExercise:
    """An exercise in duration mode: `{mode: duration, sets, holdSeconds, ...}`."""
    return PlanExercise(
        exercise_id, ExerciseParams(Mode.DURATION.value, sets, rest, hold_seconds=hold_seconds)
    )


def session(
    title: str, *exercises: PlanExercise, session_id: uuid.UUID | None = None
) -> PlanSession:
    """A session to pass to `content`: keeps `session_id` (or gets a fresh one)."""
    return PlanSession(session_id or uuid.uuid4(), title, tuple(exercises))


def content(
    *sessions: PlanSession,
    title: str = "Knee rehab",
    plan_type: str = PlanType.IN_CLINIC.value,
    frequency_per_week: int = 3,
    duration_weeks: int = 4,
    visibility: str = Visibility.LIBRARY.value,
    requires_approval: bool = False,
    condition: str | None = "knee",
    difficulty: str | None = "easy",
    body_region: str | None = "leg",
    questionnaire: Sequence[str] = (),
) -> PlanContent:
    """A plan's whole structure; by default an in-clinic library plan, three sessions a
    week for four weeks, with no approval needed."""
    return PlanContent(
        title=title,
        plan_type=plan_type,
        frequency_per_week=frequency_per_week,
        duration_weeks=duration_weeks,
        visibility=visibility,
        requires_approval=requires_approval,
        sessions=tuple(sessions),
        condition=condition,
        difficulty=difficulty,
        body_region=body_region,
        questionnaire=tuple(questionnaire),
    )


@dataclass(frozen=True)
class OtherClinic:
    """A second tenant, to show what one clinic never sees of another."""

    tenant: uuid.UUID
    admin: Actor
    doctor: Actor


class PlanClinic:
    """One tenant (`tenant`) with a hospital admin (`admin`), two approved doctors
    (`doctor(0)`, `doctor(1)`) and a patient (`patient`, `patient_actor`) invited by the
    first doctor, plus the platform admin (`platform`).

    Staff commands default to `doctor(0)`; pass `actor=` to act as someone else."""

    def __init__(
        self,
        data_dir: Path,
        clock: FakeClock | None = None,
        backend: str = "sqlite",
        timezone: str = "UTC",
        webhook_allow_private: bool = True,
    ) -> None:
        self.data_dir = data_dir
        self.backend = backend
        self.schema = new_schema_name() if backend == "postgresql" else None
        self.clock = clock or FakeClock()
        self.webhook_allow_private = webhook_allow_private
        self.rt = self._runtime()
        self.platform = Actor(uuid.uuid4(), Role.PLATFORM_ADMIN, None)
        self.tenant, admin_id, doctor_ids = self._new_clinic("Clinic", ("Maya", "Tomas"))
        self.admin = Actor(admin_id, Role.HOSPITAL_ADMIN, self.tenant)
        self.doctors = [Actor(d, Role.DOCTOR, self.tenant) for d in doctor_ids]
        self.patient = self.invite_patient("Sam", timezone)
        self._other: OtherClinic | None = None

    def _runtime(self) -> Runtime:
        if self.schema is None:
            settings = Settings(
                data_dir=self.data_dir, webhook_allow_private=self.webhook_allow_private
            )
        else:
            settings = Settings(
                database_url=postgres_url(),
                database_schema=self.schema,
                webhook_allow_private=self.webhook_allow_private,
            )
        return Runtime(
            settings,
            clock=self.clock,
            ids=SequentialIds(start=int(self.clock.now().timestamp())),
            create_tables=True,
        )

    def _new_clinic(
        self, name: str, doctors: Sequence[str]
    ) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID]]:
        rt = self.rt
        created = self.run(self.platform, lambda u: rt.people.create_tenant(u, name))
        tenant = uuid.UUID(created["id"])

        def register(kind: StaffType, first: str) -> uuid.UUID:
            return uuid.UUID(
                self.run(
                    self.platform,
                    lambda u: rt.people.register_staff(
                        u, tenant, kind, first, "Staff", f"{first.lower()}@{tenant.hex[:8]}.test"
                    ),
                )["id"]
            )

        admin = register(StaffType.HOSPITAL_ADMIN, f"Hana{name}")
        doctor_ids = []
        for first in doctors:
            doctor = register(StaffType.DOCTOR, first)
            self.run(self.platform, lambda u, d=doctor: rt.people.approve_staff(u, d))
            doctor_ids.append(doctor)
        return tenant, admin, doctor_ids

    def restart(self) -> None:
        """A crash and a restart: everything in memory is gone, the stores remain."""
        self.rt.close()
        self.rt = self._runtime()

    # -- actors ---------------------------------------------------------------------------

    def doctor(self, i: int = 0) -> Actor:
        return self.doctors[i]

    @property
    def patient_actor(self) -> Actor:
        return self.as_patient(self.patient)

    def as_patient(self, patient: uuid.UUID) -> Actor:
        return Actor(patient, Role.PATIENT, self.tenant)

    @property
    def other(self) -> OtherClinic:
        """A second tenant with a hospital admin and one doctor, made on first use."""
        if self._other is None:
            tenant, admin, (doctor,) = self._new_clinic("Other", ("Olga",))
            self._other = OtherClinic(
                tenant,
                Actor(admin, Role.HOSPITAL_ADMIN, tenant),
                Actor(doctor, Role.DOCTOR, tenant),
            )
        return self._other

    def run(self, actor: Actor, handler: Handler[Any]) -> Any:
        """Runs one command as `actor`; its result as the API would render it."""
        return to_json(self.rt.commands.run(CommandContext(actor=actor), handler).result)

    def invite_patient(self, first_name: str, timezone: str = "UTC") -> uuid.UUID:
        """Another patient of this clinic, invited by the first doctor."""
        return uuid.UUID(
            self.run(
                self.doctor(0),
                lambda u: self.rt.people.invite_patient(
                    u, first_name, "Carter", f"{first_name.lower()}@patients.test", timezone, []
                ),
            )["patientId"]
        )

    # -- the exercise library -------------------------------------------------------------

    def exercise(
        self,
        name: str,
        actor: Actor | None = None,
        body_region: str | None = None,
        description: str | None = None,
        video_url: str | None = None,
    ) -> uuid.UUID:
        """An exercise: the clinic's (by default, created by the first doctor), or global
        when `actor` is the platform admin."""
        return uuid.UUID(
            self.run(
                actor or self.doctor(0),
                lambda u: self.rt.plans.create_exercise(
                    u, name, body_region, description, video_url
                ),
            )["id"]
        )

    def edit_exercise(
        self,
        exercise_id: uuid.UUID,
        name: str,
        actor: Actor | None = None,
        body_region: str | None = None,
        description: str | None = None,
        video_url: str | None = None,
    ) -> Any:
        return self.run(
            actor or self.doctor(0),
            lambda u: self.rt.plans.edit_exercise(
                u, exercise_id, name, body_region, description, video_url
            ),
        )

    # -- designing plans ------------------------------------------------------------------

    def design(
        self,
        plan: PlanContent,
        scope: str = "org",
        actor: Actor | None = None,
        patient: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """A draft (global scope needs `actor=clinic.platform`)."""
        return uuid.UUID(
            self.run(
                actor or self.doctor(0),
                lambda u: self.rt.plans.design(u, scope, plan, patient),
            )["id"]
        )

    def edit(self, plan_id: uuid.UUID, plan: PlanContent, actor: Actor | None = None) -> Any:
        return self.run(actor or self.doctor(0), lambda u: self.rt.plans.edit(u, plan_id, plan))

    def publish(self, plan_id: uuid.UUID, actor: Actor | None = None) -> int:
        """Publishes the draft; the new version's number."""
        published = self.run(actor or self.doctor(0), lambda u: self.rt.plans.publish(u, plan_id))
        return int(published["version"])

    def published_plan(
        self,
        *sessions: PlanSession,
        scope: str = "org",
        actor: Actor | None = None,
        patient: uuid.UUID | None = None,
        **fields: Any,
    ) -> uuid.UUID:
        """Designs and publishes version 1 of `content(*sessions, **fields)`; with no
        session given, one session of one new exercise of the designer's."""
        actor = actor or (self.platform if scope == "global" else self.doctor(0))
        if not sessions:
            exercise = self.exercise(f"Exercise for {fields.get('title', 'a plan')}", actor)
            sessions = (session("Day 1", reps(exercise)),)
        plan_id = self.design(content(*sessions, **fields), scope, actor, patient)
        self.publish(plan_id, actor)
        return plan_id

    def clone(
        self, plan_id: uuid.UUID, patient: uuid.UUID | None = None, actor: Actor | None = None
    ) -> uuid.UUID:
        return uuid.UUID(
            self.run(actor or self.doctor(0), lambda u: self.rt.plans.clone(u, plan_id, patient))[
                "id"
            ]
        )

    def promote(self, plan_id: uuid.UUID, actor: Actor | None = None) -> Any:
        """Promotes a published custom plan (by default as the hospital admin)."""
        return self.run(actor or self.admin, lambda u: self.rt.plans.promote(u, plan_id))

    def plan_aggregate(self, plan_id: uuid.UUID) -> TreatmentPlan:
        plan = self.rt.log.find(plan_id)
        assert isinstance(plan, TreatmentPlan)
        return plan

    def session_ids(self, plan_id: uuid.UUID, version: int | None = None) -> list[uuid.UUID]:
        """The session ids of a version (the latest by default), in order."""
        plan = self.plan_aggregate(plan_id)
        pinned = plan.latest if version is None else plan.published(version)
        assert pinned is not None
        return [s.id for s in pinned.snapshot.sessions]

    # -- enrollments and service plans ----------------------------------------------------

    def service_plan(
        self,
        telerehab: bool = True,
        library: bool = True,
        active: bool = True,
        patient: uuid.UUID | None = None,
    ) -> Any:
        """Sets the patient's service plan (as the hospital admin)."""
        return self.run(
            self.admin,
            lambda u: self.rt.plans.set_service_plan(
                u, patient or self.patient, telerehab, library, active
            ),
        )

    def assign(
        self,
        plan_id: uuid.UUID,
        patient: uuid.UUID | None = None,
        version: int | None = None,
        actor: Actor | None = None,
    ) -> dict[str, Any]:
        """`{enrollmentId, status, version}`: assigned by the first doctor by default."""
        result: dict[str, Any] = self.run(
            actor or self.doctor(0),
            lambda u: self.rt.plans.assign(u, plan_id, patient or self.patient, version),
        )
        return result

    def approve(self, enrollment_id: uuid.UUID | str, actor: Actor | None = None) -> Any:
        """Approves as the second doctor by default (four eyes: not the assigner)."""
        return self.run(
            actor or self.doctor(1),
            lambda u: self.rt.plans.approve(u, uuid.UUID(str(enrollment_id))),
        )

    def self_assign(self, plan_id: uuid.UUID, patient: uuid.UUID | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self.run(
            self.as_patient(patient or self.patient),
            lambda u: self.rt.plans.self_assign(u, plan_id),
        )
        return result

    def pause(self, enrollment_id: uuid.UUID | str, actor: Actor | None = None) -> Any:
        return self.run(
            actor or self.patient_actor,
            lambda u: self.rt.plans.pause(u, uuid.UUID(str(enrollment_id))),
        )

    def resume(self, enrollment_id: uuid.UUID | str, actor: Actor | None = None) -> Any:
        return self.run(
            actor or self.patient_actor,
            lambda u: self.rt.plans.resume(u, uuid.UUID(str(enrollment_id))),
        )

    # -- sessions performed as workouts ---------------------------------------------------

    def start_session(
        self,
        enrollment_id: uuid.UUID | str,
        session_id: uuid.UUID,
        exercise_ids: Sequence[str] = ("e1",),
        patient: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Starts a workout that performs `session_id` of the enrollment (its exercises
        prescribed `{sets: 3, reps: 10}`)."""
        exercises = [
            {"exerciseId": e, "name": f"Exercise {e}", "prescribed": {"sets": 3, "reps": 10}}
            for e in exercise_ids
        ]
        started = self.run(
            self.as_patient(patient or self.patient),
            lambda u: self.rt.workouts.start(
                u, exercises, uuid.UUID(str(enrollment_id)), session_id
            ),
        )
        return uuid.UUID(started["workoutId"])

    def record(
        self,
        workout_id: uuid.UUID,
        exercise_id: str = "e1",
        actual: dict[str, Any] | None = None,
        pain: int | None = 3,
        video_watch_percent: float | None = 90.0,
        pose_accuracy: float | None = 80.0,
        patient: uuid.UUID | None = None,
    ) -> Any:
        return self.run(
            self.as_patient(patient or self.patient),
            lambda u: self.rt.workouts.record(
                u,
                workout_id,
                exercise_id,
                actual if actual is not None else {"sets": 3, "reps": 8},
                pain,
                None,
                None,
                video_watch_percent,
                pose_accuracy,
            ),
        )

    def finalize(
        self,
        workout_id: uuid.UUID,
        pain_before: int | None = None,
        pain_after: int | None = None,
        questionnaire: dict[str, str] | None = None,
        patient: uuid.UUID | None = None,
    ) -> Any:
        return self.run(
            self.as_patient(patient or self.patient),
            lambda u: self.rt.workouts.finalize(
                u, workout_id, pain_before, pain_after, questionnaire
            ),
        )

    def perform(
        self,
        enrollment_id: uuid.UUID | str,
        session_id: uuid.UUID,
        pain_before: int | None = 4,
        pain_after: int | None = 2,
        questionnaire: dict[str, str] | None = None,
        patient: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """A whole session: start, record its one exercise `e1`, finalize. The session
        counts once the process managers react (`react()`)."""
        workout = self.start_session(enrollment_id, session_id, patient=patient)
        self.record(workout, patient=patient)
        self.finalize(workout, pain_before, pain_after, questionnaire, patient=patient)
        return workout

    # -- webhooks -------------------------------------------------------------------------

    def subscribe(
        self,
        url: str,
        events: Sequence[str] = tuple(t.value for t in Trigger),
        secret: str = SECRET,
        actor: Actor | None = None,
    ) -> uuid.UUID:
        """A webhook subscription (as the hospital admin by default)."""
        return uuid.UUID(
            self.run(
                actor or self.admin,
                lambda u: self.rt.webhooks.subscribe(u, url, list(events), secret),
            )["id"]
        )

    def deactivate_subscription(self, subscription_id: uuid.UUID) -> None:
        """Deactivates a subscription on its aggregate (the service has no command for it
        yet)."""
        self.run(
            self.admin,
            lambda u: u.get(Subscription, subscription_id, "subscription").deactivate(u.now),
        )

    # -- time, timers and reactions -------------------------------------------------------

    def advance(self, days: float) -> None:
        self.clock.advance(days * DAY)

    def fire_due(self, kind: str = ENROLLMENT_END) -> int:
        """Fires every deadline of `kind` due now through its wired handler, as the
        scheduler would: enrollment ends by default, `DELIVERY` for outbox attempts."""
        self.rt.catch_up()
        due = [d for d in self.rt.views.deadlines.due(self.clock.now(), 1000) if d.kind == kind]
        return self.rt.deadline_handlers[kind].fire(due) if due else 0

    def deliver_due(self) -> int:
        """One attempt at every outbox delivery due now (webhooks are really POSTed)."""
        return self.fire_due(DELIVERY)

    def react(self) -> None:
        """Every process manager reacts to everything new (read models first), then the
        read models catch up with what they did."""
        self.rt.catch_up()
        for reaction in self.rt.reactions:
            ReactionFollower(reaction, self.rt.log, self.rt.commands, self.rt.reached).run_once()
        self.rt.catch_up()

    def events(self) -> list[Any]:
        return [self.rt.log.decode(n) for n in self.rt.log.read(0, 1_000_000)]

    def close(self) -> None:
        self.rt.close()
        if self.schema is not None:
            drop_schema(postgres_url(), self.schema)
