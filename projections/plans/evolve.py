"""Pure folds of the treatment-plan read models: the exercise library, plans (with the
versioned-plan read model beside them), the plan library, enrollments and service plans.

Rows are what the API returns: camelCase keys, ids as strings, times as ISO strings.
Fields whose names start with `_` are the projection's own (sort keys, the latest
version's summary, the list of versions); the view drops them from what it returns.

Sorted tables range over `KEY`. Every key starts with its partition (a tenant, `global`,
a plan or a patient) and a `|`, so one partition is the index range from `<p>|` up to,
not including, `<p>}` (`}` is the character after `|`): nothing beyond it can sort
inside, whatever the names hold.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.plans.content import ExerciseParams, Mode, PlanContent, Scope, Visibility
from domain.plans.enrollment import Enrollment, EnrollmentStatus, SessionCompletion
from domain.plans.exercise import Exercise
from domain.plans.plan import PlanVersion, TreatmentPlan
from domain.plans.service_plan import ServicePlan
from projections.deadlines.evolve import sort_key
from projections.platform.store import Doc

KEY = "_key"  # the sorted tables' indexed field
GLOBAL = "global"  # the partition of global exercises and plans (which have no tenant)
LATEST = "_latest"  # a plan row's summary of its latest published version
VERSIONS = "_versions"  # a plan row's [{version, publishedAt}]
_SEP = "|"


def iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def public(doc: Doc) -> Doc:
    """A row without the projection's own fields."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def partition(tenant_id: str | None) -> str:
    return tenant_id or GLOBAL


def key_range(prefix: str) -> tuple[str, str]:
    """The (after, below) bounds of every key starting with `prefix` (which ends in `|`):
    `after` is the prefix itself, which no key equals."""
    assert prefix.endswith(_SEP)
    return prefix, prefix[:-1] + chr(ord(_SEP) + 1)


def _named_key(tenant_id: str | None, name: str, row_id: str) -> str:
    """`<tenant or global>|<name, case-folded>|<id>`: a library sorts by name."""
    return f"{partition(tenant_id)}{_SEP}{name.casefold()}{_SEP}{row_id}"


# -- content --------------------------------------------------------------------------------


def params_doc(params: ExerciseParams) -> Doc:
    """Exactly the keys of its mode (api.md): `{mode, sets, reps, restBetweenSetsSeconds}`
    or `{mode, sets, holdSeconds, restBetweenSetsSeconds}`."""
    doc: Doc = {"mode": params.mode, "sets": params.sets}
    if params.mode == Mode.DURATION:
        doc["holdSeconds"] = params.hold_seconds
    else:
        doc["reps"] = params.reps
    doc["restBetweenSetsSeconds"] = params.rest_between_sets_seconds
    return doc


def content_doc(content: PlanContent) -> Doc:
    """A plan's whole structure, as a draft or a published snapshot."""
    return {
        "title": content.title,
        "type": content.plan_type,
        "frequencyPerWeek": content.frequency_per_week,
        "durationWeeks": content.duration_weeks,
        "condition": content.condition,
        "difficulty": content.difficulty,
        "bodyRegion": content.body_region,
        "visibility": content.visibility,
        "requiresApproval": content.requires_approval,
        "questionnaire": list(content.questionnaire),
        "sessions": [
            {
                "id": str(session.id),
                "title": session.title,
                "exercises": [
                    {"exerciseId": str(e.exercise_id), "params": params_doc(e.params)}
                    for e in session.exercises
                ],
            }
            for session in content.sessions
        ],
    }


# -- the exercise library -------------------------------------------------------------------


def _exercise_fields(event: Exercise.Created | Exercise.Edited) -> Doc:
    return {
        "name": event.name,
        "bodyRegion": event.body_region,
        "description": event.description,
        "videoUrl": event.video_url,
    }


def evolve_exercise(row: Doc | None, event: Any) -> Doc | None:
    """An exercise as it is now: its content is live, so an edit changes it everywhere."""
    if isinstance(event, Exercise.Created):
        exercise_id, tenant = str(event.originator_id), _str(event.tenant_id)
        return {
            "id": exercise_id,
            "tenantId": tenant,
            "scope": Scope.GLOBAL.value if tenant is None else Scope.ORG.value,
            **_exercise_fields(event),
            "createdAt": iso(event.timestamp),
            "updatedAt": iso(event.timestamp),
            KEY: _named_key(tenant, event.name, exercise_id),
        }
    if row is None:
        return None
    if isinstance(event, Exercise.Edited):
        return {
            **row,
            **_exercise_fields(event),
            "updatedAt": iso(event.timestamp),
            KEY: _named_key(row["tenantId"], event.name, row["id"]),
        }
    return row


# -- plans ----------------------------------------------------------------------------------


def _status(latest_version: int | None, has_draft: bool) -> str:
    if latest_version is None:
        return "draft"
    return "published_with_draft" if has_draft else "published"


def _summary(content: PlanContent) -> Doc:
    """What the library shows of a version, and whether it is in the library."""
    return {
        "title": content.title,
        "type": content.plan_type,
        "condition": content.condition,
        "difficulty": content.difficulty,
        "bodyRegion": content.body_region,
        "frequencyPerWeek": content.frequency_per_week,
        "durationWeeks": content.duration_weeks,
        "visibility": content.visibility,
    }


def evolve_plan(row: Doc | None, event: Any) -> Doc | None:
    """A plan as its designers see it: `draft` is the draft being edited (None when every
    edit is published), `current` what the plan looks like now (the draft, else the latest
    version's snapshot)."""
    if isinstance(event, TreatmentPlan.Drafted):
        content = content_doc(event.content)
        return {
            "id": str(event.originator_id),
            "tenantId": _str(event.tenant_id),
            "scope": event.scope,
            "patientId": _str(event.patient_id),
            "createdBy": str(event.created_by),
            "clonedFrom": _str(event.cloned_from),
            "status": _status(None, True),
            "latestVersion": None,
            "draft": content,
            "current": content,
            "createdAt": iso(event.timestamp),
            "updatedAt": iso(event.timestamp),
            "promotedAt": None,
            LATEST: None,
            VERSIONS: [],
        }
    if row is None:
        return None
    at = iso(event.timestamp)
    if isinstance(event, TreatmentPlan.DraftEdited):
        content = content_doc(event.content)
        return {
            **row,
            "status": _status(row["latestVersion"], True),
            "draft": content,
            "current": content,
            "updatedAt": at,
        }
    if isinstance(event, TreatmentPlan.Published):
        version: PlanVersion = event.version
        return {
            **row,
            "status": _status(version.version, False),
            "latestVersion": version.version,
            "draft": None,
            "current": content_doc(version.snapshot),
            "updatedAt": at,
            LATEST: _summary(version.snapshot),
            VERSIONS: [
                *row[VERSIONS],
                {"version": version.version, "publishedAt": iso(version.published_at)},
            ],
        }
    if isinstance(event, TreatmentPlan.Promoted):
        return {
            **row,
            "scope": Scope.ORG.value,
            "patientId": None,
            "updatedAt": at,
            "promotedAt": at,
        }
    return row


def version_row(plan_id: str, version: PlanVersion) -> Doc:
    """One published version, keyed `<planId>:<n>`: written once, never changed."""
    return {
        "id": f"{plan_id}:{version.version}",
        "planId": plan_id,
        "version": version.version,
        "publishedAt": iso(version.published_at),
        "snapshot": content_doc(version.snapshot),
    }


def library_key(tenant_id: str | None, title: str, plan_id: str) -> str:
    return _named_key(tenant_id, title, plan_id)


def library_row(plan: Doc) -> Doc | None:
    """The plan's entry in the library, or None when it has none: a published plan whose
    latest version is visible in the library, global or of a clinic (custom plans never)."""
    latest = plan.get(LATEST)
    if latest is None or plan["scope"] == Scope.CUSTOM.value:
        return None
    if latest["visibility"] != Visibility.LIBRARY.value:
        return None
    return {
        "id": plan["id"],
        "scope": plan["scope"],
        "tenantId": plan["tenantId"],
        "latestVersion": plan["latestVersion"],
        **{k: v for k, v in latest.items() if k != "visibility"},
        KEY: library_key(plan["tenantId"], latest["title"], plan["id"]),
    }


# -- enrollments ----------------------------------------------------------------------------


def completion_doc(completion: SessionCompletion) -> Doc:
    return {
        "sessionId": str(completion.session_id),
        "workoutId": str(completion.workout_id),
        "completedAt": iso(completion.completed_at),
        "painBefore": completion.pain_before,
        "painAfter": completion.pain_after,
        "questionnaire": dict(completion.questionnaire),
        "exercises": [
            {
                "exerciseId": e.exercise_id,
                "prescribed": dict(e.prescribed),
                "actual": dict(e.actual),
                "pain": e.pain,
                "videoWatchPercent": e.video_watch_percent,
                "poseAccuracy": e.pose_accuracy,
            }
            for e in completion.exercises
        ],
    }


def enrollment_key(patient_id: str, enrolled_at: datetime, enrollment_id: str) -> str:
    """`<patientId>|<enrolled at>|<id>`: a patient's enrollments, oldest first."""
    return f"{patient_id}{_SEP}{sort_key(enrolled_at)}{_SEP}{enrollment_id}"


def evolve_enrollment(row: Doc | None, event: Any) -> Doc | None:
    if isinstance(event, Enrollment.Enrolled):
        enrollment_id, patient = str(event.originator_id), str(event.patient_id)
        return {
            "id": enrollment_id,
            "tenantId": str(event.tenant_id),
            "patientId": patient,
            "planId": str(event.plan_id),
            "version": event.version,
            "planType": event.plan_type,
            "status": event.status,
            "selfAssigned": event.self_assigned,
            "assignedBy": str(event.assigned_by),
            "approvedBy": None,
            "enrolledAt": iso(event.timestamp),
            # Only an active enrollment has started (a pending one waits for approval).
            "startedAt": iso(event.timestamp) if event.ends_at is not None else None,
            "endsAt": iso(event.ends_at),
            "pausedAt": None,
            "frequencyPerWeek": event.frequency_per_week,
            "durationWeeks": event.duration_weeks,
            "completions": [],
            KEY: enrollment_key(patient, event.timestamp, enrollment_id),
        }
    if row is None:
        return None
    at = iso(event.timestamp)
    if isinstance(event, Enrollment.Approved):
        return {
            **row,
            "status": EnrollmentStatus.ACTIVE.value,
            "approvedBy": str(event.approved_by),
            "startedAt": at,
            "endsAt": iso(event.ends_at),
        }
    if isinstance(event, Enrollment.Paused):
        return {**row, "status": EnrollmentStatus.PAUSED.value, "pausedAt": at}
    if isinstance(event, Enrollment.Resumed):
        return {
            **row,
            "status": EnrollmentStatus.ACTIVE.value,
            "endsAt": iso(event.ends_at),
            "pausedAt": None,
        }
    if isinstance(event, Enrollment.SessionCompleted):
        return {**row, "completions": [*row["completions"], completion_doc(event.completion)]}
    if isinstance(event, Enrollment.Completed):
        return {**row, "status": EnrollmentStatus.COMPLETED.value}
    if isinstance(event, Enrollment.Expired):
        return {**row, "status": EnrollmentStatus.EXPIRED.value}
    return row


# -- service plans --------------------------------------------------------------------------


def evolve_service_plan(row: Doc | None, event: Any) -> Doc | None:
    """What a patient's subscription unlocks (nothing until it is first set)."""
    if isinstance(event, ServicePlan.Started):
        return {
            "patientId": str(event.patient_id),
            "tenantId": str(event.tenant_id),
            "telerehabAccess": False,
            "libraryAccess": False,
            "active": False,
            "updatedAt": iso(event.timestamp),
        }
    if row is None:
        return None
    if isinstance(event, ServicePlan.Set):
        return {
            **row,
            "telerehabAccess": event.telerehab_access,
            "libraryAccess": event.library_access,
            "active": event.active,
            "updatedAt": iso(event.timestamp),
        }
    return row
