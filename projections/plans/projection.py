"""The treatment-plan read models: the exercise library, plans, the versioned-plan read
model (one immutable row per published version), the plan library, enrollments and
service plans (see evolve.py for the rows and the sort keys)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from domain.plans.enrollment import Enrollment
from domain.plans.exercise import Exercise
from domain.plans.plan import TreatmentPlan
from domain.plans.service_plan import ServicePlan
from projections.plans.evolve import (
    KEY,
    evolve_enrollment,
    evolve_exercise,
    evolve_plan,
    evolve_service_plan,
    library_row,
    version_row,
)
from projections.platform.projection import Batch, Projection

EXERCISES = "plan_exercise"  # by id; sorted: `<tenant or global>|<name>|<id>`
PLANS = "treatment_plan"  # by id
VERSIONS = "plan_version"  # by `<planId>:<n>`: the versioned-plan read model
LIBRARY = "plan_library"  # by plan id; sorted: `<tenant or global>|<title>|<id>`
ENROLLMENTS = "plan_enrollment"  # by id; sorted: `<patientId>|<enrolled at>|<id>`
SERVICE_PLANS = "plan_service"  # by the service plan's id (derived from the patient's)

EXERCISE_EVENTS = (Exercise.Created, Exercise.Edited)
PLAN_EVENTS = (
    TreatmentPlan.Drafted,
    TreatmentPlan.DraftEdited,
    TreatmentPlan.Published,
    TreatmentPlan.Promoted,
)
ENROLLMENT_EVENTS = (
    Enrollment.Enrolled,
    Enrollment.Approved,
    Enrollment.Paused,
    Enrollment.Resumed,
    Enrollment.SessionCompleted,
    Enrollment.Completed,
    Enrollment.Expired,
)
SERVICE_PLAN_EVENTS = (ServicePlan.Started, ServicePlan.Set)


class PlanProjection(Projection):
    name = "plans"
    tables = (EXERCISES, PLANS, VERSIONS, LIBRARY, ENROLLMENTS, SERVICE_PLANS)
    sorted_by: ClassVar[Mapping[str, str]] = {EXERCISES: KEY, LIBRARY: KEY, ENROLLMENTS: KEY}
    handles = (*EXERCISE_EVENTS, *PLAN_EVENTS, *ENROLLMENT_EVENTS, *SERVICE_PLAN_EVENTS)

    def prepare(self, batch: Batch, events: list[Any]) -> None:
        def ids(*types: type[Any]) -> list[str]:
            return [str(e.originator_id) for e in events if isinstance(e, types)]

        batch.assume_absent(EXERCISES, ids(Exercise.Created))
        batch.assume_absent(PLANS, ids(TreatmentPlan.Drafted))
        batch.assume_absent(ENROLLMENTS, ids(Enrollment.Enrolled))
        batch.assume_absent(SERVICE_PLANS, ids(ServicePlan.Started))
        batch.prefetch(EXERCISES, ids(*EXERCISE_EVENTS))
        batch.prefetch(PLANS, ids(*PLAN_EVENTS))
        batch.prefetch(ENROLLMENTS, ids(*ENROLLMENT_EVENTS))
        batch.prefetch(SERVICE_PLANS, ids(*SERVICE_PLAN_EVENTS))

    def apply(self, batch: Batch, event: Any, position: int) -> None:
        key = str(event.originator_id)
        if isinstance(event, EXERCISE_EVENTS):
            self._put(batch, EXERCISES, key, evolve_exercise(batch.get(EXERCISES, key), event))
        elif isinstance(event, PLAN_EVENTS):
            self._apply_plan(batch, key, event)
        elif isinstance(event, ENROLLMENT_EVENTS):
            row = evolve_enrollment(batch.get(ENROLLMENTS, key), event)
            self._put(batch, ENROLLMENTS, key, row)
        else:
            row = evolve_service_plan(batch.get(SERVICE_PLANS, key), event)
            self._put(batch, SERVICE_PLANS, key, row)

    def _apply_plan(self, batch: Batch, key: str, event: Any) -> None:
        """The plan row, its version row when one is published, and its library entry,
        which follows the plan's latest version and scope."""
        before = batch.get(PLANS, key)
        after = evolve_plan(before, event)
        if after is None:
            return
        tenant = after["tenantId"]
        batch.put(PLANS, key, tenant, after)
        if isinstance(event, TreatmentPlan.Published):
            version = version_row(key, event.version)
            batch.put(VERSIONS, version["id"], tenant, version)
        entry = library_row(after)
        if entry is not None:
            if before is None or entry != library_row(before):
                batch.put(LIBRARY, key, tenant, entry)
        elif before is not None and library_row(before) is not None:
            batch.delete(LIBRARY, key)

    def _put(self, batch: Batch, table: str, key: str, row: Any) -> None:
        if row is not None:
            batch.put(table, key, row["tenantId"], row)
