"""Treatment plans' commands: the exercise library, designing and publishing plans,
cloning and promoting, enrollments (assigned, approved, self-assigned, paused), service
plans, and the sessions a patient performs as workouts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from domain.people.patient import Patient
from domain.people.staff import Staff
from domain.plans.content import PlanContent, PlanSession, PlanType, Scope
from domain.plans.enrollment import Enrollment, EnrollmentStatus, ExerciseResult, SessionCompletion
from domain.plans.errors import AccessDeniedError, InvalidPlanError, PlanStateError
from domain.plans.exercise import Exercise
from domain.plans.plan import TreatmentPlan
from domain.plans.policies import CompleteSession, FireTrigger
from domain.plans.service_plan import ServicePlan, service_plan_id
from domain.shared.context import Role
from domain.shared.errors import ForbiddenError, InvalidInputError, NotFoundError
from domain.shared.unit_of_work import UnitOfWork
from domain.webhooks.application import Fired, Webhooks
from domain.workouts.workout import Workout

SPECIALISTS = frozenset({Role.DOCTOR, Role.HOSPITAL_ADMIN})


@dataclass(frozen=True)
class ExerciseSaved:
    id: uuid.UUID


@dataclass(frozen=True)
class PlanSaved:
    id: uuid.UUID


@dataclass(frozen=True)
class PlanPublished:
    id: uuid.UUID
    version: int


@dataclass(frozen=True)
class EnrollmentSaved:
    enrollment_id: uuid.UUID
    status: str
    version: int


@dataclass(frozen=True)
class ServicePlanSet:
    patient_id: uuid.UUID
    telerehab_access: bool
    library_access: bool
    active: bool


@dataclass(frozen=True)
class SessionOutcome:
    outcome: str
    enrollment_id: uuid.UUID | None = None


def _visible_plan(uow: UnitOfWork, plan_id: uuid.UUID) -> TreatmentPlan:
    """A plan the caller may see: global (every clinic), or of the caller's tenant; a
    custom plan only to staff and its own patient. Anything else is 404."""
    plan = uow.get(TreatmentPlan, plan_id, "treatment plan", shared=True)
    actor = uow.actor
    if actor.role is Role.PATIENT:
        own = plan.scope is Scope.CUSTOM and plan.patient_id == actor.user_id
        if not own and not plan.in_library():
            raise NotFoundError(f"No treatment plan with id {plan_id}.")
    return plan


class Plans:
    def __init__(self, webhooks: Webhooks) -> None:
        self.webhooks = webhooks

    def handle(self, uow: UnitOfWork, command: CompleteSession | FireTrigger) -> object:
        """Runs a command treatment plans' process managers decided on."""
        if isinstance(command, CompleteSession):
            return self.complete_session(uow, command.workout_id)
        return self.fire(uow, command)

    def fire(self, uow: UnitOfWork, command: FireTrigger) -> Fired:
        """A trigger's webhooks, with the plan and patient it is about."""
        data = dict(command.data)
        aggregate = uow.find(Enrollment, command.aggregate_id)
        if aggregate is not None:
            data.setdefault("planId", str(aggregate.plan_id))
            data.setdefault("patientId", str(aggregate.patient_id))
            data.setdefault("version", aggregate.version)
            tenant = aggregate.tenant_id
        else:
            plan = uow.find(TreatmentPlan, command.aggregate_id)
            tenant = plan.tenant_id if plan is not None else None
        if tenant is None:
            return Fired(command.trigger, ())
        return self.webhooks.fire(
            uow, tenant, command.trigger, command.source, command.occurred_at, data
        )

    # -- the exercise library -----------------------------------------------------------

    def create_exercise(
        self,
        uow: UnitOfWork,
        name: str,
        body_region: str | None,
        description: str | None,
        video_url: str | None,
    ) -> ExerciseSaved:
        """Global when a platform admin creates it, the caller's clinic's otherwise."""
        tenant = None if uow.actor.is_platform_admin else uow.actor.tenant_id
        exercise = Exercise.create(
            uow.new_id(),
            tenant,
            uow.actor.user_id,
            name,
            uow.now,
            body_region,
            description,
            video_url,
        )
        uow.add(exercise)
        return ExerciseSaved(exercise.id)

    def edit_exercise(
        self,
        uow: UnitOfWork,
        exercise_id: uuid.UUID,
        name: str,
        body_region: str | None,
        description: str | None,
        video_url: str | None,
    ) -> ExerciseSaved:
        """Edits live content: every plan version that names the exercise shows the edit.
        A global exercise only by a platform admin, a clinic's by its staff."""
        exercise = uow.get(Exercise, exercise_id, "exercise")
        exercise.edit(name, body_region, description, video_url, uow.now)
        return ExerciseSaved(exercise.id)

    def _check_exercises(
        self, uow: UnitOfWork, content: PlanContent, tenant_id: uuid.UUID | None
    ) -> None:
        """Every exercise is in the library the plan may use: the global exercises, and
        the plan's clinic's own (a global plan uses global exercises only). Any other id,
        another clinic's included, is unknown: 404, as every id in a body."""
        ids = sorted(content.exercise_ids())
        uow.preload(ids)
        unknown = [
            i
            for i in ids
            if (e := uow.find(Exercise, i, shared=True)) is None
            or e.tenant_id not in (None, tenant_id)
        ]
        if unknown:
            raise NotFoundError(
                "No exercise in the library this plan may use with id "
                + ", ".join(map(str, unknown))
                + "."
            )

    # -- designing plans ----------------------------------------------------------------

    def design(
        self,
        uow: UnitOfWork,
        scope: str,
        content: PlanContent,
        patient_id: uuid.UUID | None = None,
    ) -> PlanSaved:
        """A draft (webhook `treatment_plan.created`): global by a platform admin; org or
        custom by a clinic's specialists; a custom plan may be for one patient."""
        try:
            kind = Scope(scope)
        except ValueError:
            raise InvalidInputError(
                "Unknown scope.", errors=[{"field": "scope", "message": "global, org or custom"}]
            ) from None
        actor = uow.actor
        if (kind is Scope.GLOBAL) != actor.is_platform_admin:
            raise ForbiddenError(
                "Global plans are the platform admin's; org and custom plans a clinic's."
            )
        self._check_exercises(uow, content, actor.tenant_id)
        if patient_id is not None:
            uow.get(Patient, patient_id, "patient")
        plan = TreatmentPlan.design(
            uow.new_id(), actor.tenant_id, kind, patient_id, actor.user_id, content, uow.now
        )
        uow.add(plan)
        return PlanSaved(plan.id)

    def edit(self, uow: UnitOfWork, plan_id: uuid.UUID, content: PlanContent) -> PlanSaved:
        """Replaces the draft, or starts a new one on a published plan; published versions
        never change."""
        plan = uow.get(TreatmentPlan, plan_id, "treatment plan")
        self._check_exercises(uow, content, plan.tenant_id)
        plan.edit(content, uow.now)
        return PlanSaved(plan.id)

    def publish(self, uow: UnitOfWork, plan_id: uuid.UUID) -> PlanPublished:
        plan = uow.get(TreatmentPlan, plan_id, "treatment plan")
        version = plan.publish(uow.now)
        return PlanPublished(plan.id, version.version)

    def clone(
        self, uow: UnitOfWork, plan_id: uuid.UUID, patient_id: uuid.UUID | None = None
    ) -> PlanSaved:
        """A custom draft of the caller's clinic with what the plan looks like now (its
        draft, or its latest version), optionally for one patient."""
        source = _visible_plan(uow, plan_id)
        actor = uow.actor
        if actor.tenant_id is None:
            raise ForbiddenError("Clones are custom plans of a clinic.")
        if patient_id is not None:
            uow.get(Patient, patient_id, "patient")
        content = source.current
        fresh = tuple(PlanSession(uow.new_id(), s.title, s.exercises) for s in content.sessions)
        clone = TreatmentPlan.design(
            uow.new_id(),
            actor.tenant_id,
            Scope.CUSTOM,
            patient_id,
            actor.user_id,
            PlanContent(**{**vars(content), "sessions": fresh}),
            uow.now,
            cloned_from=source.id,
        )
        uow.add(clone)
        return PlanSaved(clone.id)

    def promote(self, uow: UnitOfWork, plan_id: uuid.UUID) -> PlanSaved:
        plan = uow.get(TreatmentPlan, plan_id, "treatment plan")
        plan.promote(uow.actor.user_id, uow.now)
        return PlanSaved(plan.id)

    # -- enrollments --------------------------------------------------------------------

    def _service_plan(self, uow: UnitOfWork, patient: Patient) -> ServicePlan | None:
        return uow.find(ServicePlan, service_plan_id(patient.id))

    def assign(
        self,
        uow: UnitOfWork,
        plan_id: uuid.UUID,
        patient_id: uuid.UUID,
        version: int | None = None,
    ) -> EnrollmentSaved:
        """Enrolls the patient in a published version (the latest, or the one named):
        `active` at once, or `pending_approval` when that version requires approval.
        Telerehab plans need the patient's telerehab access (403)."""
        plan = _visible_plan(uow, plan_id)
        patient = uow.get(Patient, patient_id, "patient")
        if not patient.active:
            raise NotFoundError(f"No patient with id {patient_id}.")
        if plan.scope is Scope.CUSTOM and plan.patient_id not in (None, patient.id):
            raise InvalidPlanError(
                "This custom plan is for another patient.",
                errors=[{"field": "patientId", "message": "the plan is for another patient"}],
            )
        pinned = plan.latest if version is None else plan.published(version)
        if pinned is None:
            if version is not None:
                raise NotFoundError(f"No version {version} of treatment plan {plan_id}.")
            raise PlanStateError("Publish the plan before assigning it.")
        snapshot = pinned.snapshot
        if snapshot.plan_type == PlanType.TELEREHAB:
            access = self._service_plan(uow, patient)
            if access is None or not access.grants_telerehab:
                raise AccessDeniedError("The patient's service plan has no telerehab access.")
        return self._enroll(uow, plan, pinned.version, patient, self_assigned=False)

    def _enroll(
        self,
        uow: UnitOfWork,
        plan: TreatmentPlan,
        version: int,
        patient: Patient,
        self_assigned: bool,
    ) -> EnrollmentSaved:
        pinned = plan.published(version)
        assert pinned is not None and patient.tenant_id is not None
        snapshot = pinned.snapshot
        enrollment = Enrollment.enroll(
            uow.new_id(),
            patient.tenant_id,
            patient.id,
            plan.id,
            version,
            snapshot.plan_type,
            snapshot.frequency_per_week,
            snapshot.duration_weeks,
            [s.id for s in snapshot.sessions],
            uow.actor.user_id,
            self_assigned,
            snapshot.requires_approval,
            uow.now,
        )
        uow.add(enrollment)
        return EnrollmentSaved(enrollment.id, enrollment.status.value, version)

    def approve(self, uow: UnitOfWork, enrollment_id: uuid.UUID) -> EnrollmentSaved:
        """A specialist other than the one who assigned it approves a pending enrollment
        (four eyes: approving one's own assignment is 403)."""
        enrollment = uow.get(Enrollment, enrollment_id, "enrollment")
        if enrollment.assigned_by == uow.actor.user_id:
            raise ForbiddenError("A specialist cannot approve their own assignment.")
        self._practising(uow)
        enrollment.approve(uow.actor.user_id, uow.now)
        return EnrollmentSaved(enrollment.id, enrollment.status.value, enrollment.version)

    def _practising(self, uow: UnitOfWork) -> None:
        if uow.actor.role is Role.DOCTOR:
            doctor = uow.find(Staff, uow.actor.user_id)
            if doctor is None or not doctor.is_practising_doctor:
                raise ForbiddenError("Only an active, approved doctor can do this.")

    def _own_or_staff(self, uow: UnitOfWork, enrollment_id: uuid.UUID) -> Enrollment:
        enrollment = uow.get(Enrollment, enrollment_id, "enrollment")
        if uow.actor.role is Role.PATIENT and enrollment.patient_id != uow.actor.user_id:
            raise NotFoundError(f"No enrollment with id {enrollment_id}.")
        return enrollment

    def pause(self, uow: UnitOfWork, enrollment_id: uuid.UUID) -> EnrollmentSaved:
        enrollment = self._own_or_staff(uow, enrollment_id)
        enrollment.pause(uow.now)
        return EnrollmentSaved(enrollment.id, enrollment.status.value, enrollment.version)

    def resume(self, uow: UnitOfWork, enrollment_id: uuid.UUID) -> EnrollmentSaved:
        enrollment = self._own_or_staff(uow, enrollment_id)
        enrollment.resume(uow.now)
        return EnrollmentSaved(enrollment.id, enrollment.status.value, enrollment.version)

    def self_assign(self, uow: UnitOfWork, plan_id: uuid.UUID) -> EnrollmentSaved:
        """The spec's three checks, in order: the patient's active service plan grants
        library access (else 403); the plan is published in the library (else it is not
        visible to them: 404); then an active, self-assigned enrollment."""
        patient = uow.get(Patient, uow.actor.user_id, "patient")
        access = self._service_plan(uow, patient)
        if access is None or not access.grants_library:
            raise AccessDeniedError("Your service plan has no library access.")
        plan = uow.find(TreatmentPlan, plan_id, shared=True)
        if plan is None or plan.scope is Scope.CUSTOM or not plan.in_library():
            raise NotFoundError(f"No treatment plan with id {plan_id}.")
        latest = plan.latest
        assert latest is not None
        return self._enroll(uow, plan, latest.version, patient, self_assigned=True)

    def set_service_plan(
        self,
        uow: UnitOfWork,
        patient_id: uuid.UUID,
        telerehab_access: bool,
        library_access: bool,
        active: bool,
    ) -> ServicePlanSet:
        """What the patient's subscription unlocks. Losing access stops new assignments
        and self-assignments; enrollments already running continue (docs/decisions)."""
        patient = uow.get(Patient, patient_id, "patient")
        assert patient.tenant_id is not None
        plan = uow.find(ServicePlan, service_plan_id(patient.id))
        if plan is None:
            plan = ServicePlan.for_patient(patient.tenant_id, patient.id, uow.now)
        uow.add(plan)
        plan.set(telerehab_access, library_access, active, uow.now)
        return ServicePlanSet(patient.id, telerehab_access, library_access, active)

    # -- sessions performed as workouts -------------------------------------------------

    def check_session(
        self,
        uow: UnitOfWork,
        patient_id: uuid.UUID,
        enrollment_id: uuid.UUID | None,
        session_id: uuid.UUID | None,
    ) -> None:
        """A workout's plan references name the patient's own active enrollment and a
        session of its pinned version, or are both absent (422 otherwise)."""
        if enrollment_id is None and session_id is None:
            return
        errors = []
        enrollment = uow.find(Enrollment, enrollment_id) if enrollment_id else None
        if enrollment is None or enrollment.patient_id != patient_id:
            errors.append({"field": "enrollmentId", "message": "not an enrollment of yours"})
        elif enrollment.status is not EnrollmentStatus.ACTIVE:
            errors.append(
                {"field": "enrollmentId", "message": f"the enrollment is {enrollment.status.value}"}
            )
        elif session_id is None or session_id not in enrollment.session_ids:
            errors.append(
                {"field": "sessionId", "message": "not a session of the enrollment's version"}
            )
        if errors:
            raise InvalidInputError("The workout's plan session is not valid.", errors=errors)

    def complete_session(self, uow: UnitOfWork, workout_id: uuid.UUID) -> SessionOutcome:
        """A finalized workout that performed a plan session completes that session, once
        (the session-completion process manager's command)."""
        workout = uow.find(Workout, workout_id)
        if workout is None or workout.enrollment_id is None or workout.session_id is None:
            return SessionOutcome("not_a_plan_session")
        if workout.finalized_at is None:
            return SessionOutcome("not_finalized")
        enrollment = uow.find(Enrollment, workout.enrollment_id)
        if enrollment is None or enrollment.patient_id != workout.patient_id:
            return SessionOutcome("no_enrollment")
        if enrollment.completed_workout(workout.id):
            return SessionOutcome("already_completed", enrollment.id)
        if not enrollment.is_active or workout.session_id not in enrollment.session_ids:
            return SessionOutcome(f"not_counted_{enrollment.status.value}", enrollment.id)
        uow.add(enrollment)
        enrollment.complete_session(completion_of(workout))
        return SessionOutcome("completed", enrollment.id)


def completion_of(workout: Workout) -> SessionCompletion:
    """Per exercise, prescribed vs actual and what the app measured; the session's pain
    before and after and its questionnaire answers."""
    assert workout.finalized_at is not None and workout.session_id is not None
    tracked = workout.tracking
    exercises: Sequence[ExerciseResult] = [
        ExerciseResult(
            exercise_id=eid,
            prescribed=dict(workout.exercises[eid]["prescribed"]),
            actual=dict(workout.exercises[eid]["actual"]),
            pain=workout.exercises[eid]["pain"],
            video_watch_percent=tracked.get(eid, {}).get("videoWatchPercent"),
            pose_accuracy=tracked.get(eid, {}).get("poseAccuracy"),
        )
        for eid in workout.order
    ]
    return SessionCompletion(
        session_id=workout.session_id,
        workout_id=workout.id,
        completed_at=workout.finalized_at,
        exercises=tuple(exercises),
        pain_before=workout.pain_before,
        pain_after=workout.pain_after,
        questionnaire=dict(workout.questionnaire),
    )
