"""The audit action of every route: a stable name, and where the entry's subject comes
from. docs/audit-actions.md lists them (generated from this table, and checked against it
by a test); a route missing here fails tests/e2e/test_audit_completeness.py.

Commands are named for what they do, in the spec's past-tense style (the survey loop's
`survey_patient_contacted` and `satisfaction_feedback_sent` are the spec's own names);
reads of patient data are `<resource>.read`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.shared.history import camel


@dataclass(frozen=True)
class Action:
    name: str
    subject_type: str
    # The path parameter naming the subject; None: the subject comes from what the
    # request's code noted (a created id, a body's patient), else the caller's tenant.
    subject_param: str | None = None


def created_subject(action: Action, ids: Mapping[str, str]) -> str | None:
    """The subject a command created, from the ids its result named: `<subjectType>Id`
    (`workoutId` for a workout), else `id`."""
    return ids.get(camel(action.subject_type) + "Id") or ids.get("id")


def _a(name: str, subject_type: str, subject_param: str | None = None) -> Action:
    return Action(name, subject_type, subject_param)


ACTIONS: dict[str, Action] = {
    # Tenants, staff, patients
    "create_tenant": _a("tenant_created", "tenant"),
    "list_tenants": _a("tenants.read", "platform"),
    "get_tenant": _a("tenant.read", "tenant", "tenantId"),
    "get_feature_flags": _a("feature_flags.read", "tenant", "tenantId"),
    "set_feature_flag": _a("feature_flag_set", "tenant", "tenantId"),
    "register_staff": _a("staff_registered", "staff"),
    "approve_staff": _a("staff_approved", "staff", "staffId"),
    "deactivate_staff": _a("staff_deactivated", "staff", "staffId"),
    "list_staff": _a("staff.read", "tenant", "tenantId"),
    "get_staff": _a("staff_member.read", "staff", "staffId"),
    "invite_patient": _a("patient_invited", "patient"),
    "list_patients": _a("patients.read", "tenant", "tenantId"),
    "get_patient": _a("patient.read", "patient", "patientId"),
    "erase_patient": _a("patient_erased", "patient", "patientId"),
    "export_patient": _a("patient_export.read", "patient", "patientId"),
    # Care team
    "list_tenant_doctors": _a("tenant_doctors.read", "tenant"),
    "assign_patient": _a("patient_assigned", "patient"),
    "unassign_patient": _a("patient_unassigned", "patient"),
    "list_my_patients": _a("my_patients.read", "user"),
    "list_all_patients": _a("all_patients.read", "tenant"),
    # Conversations
    "list_conversations": _a("conversations.read", "user"),
    "list_messages": _a("messages.read", "conversation", "conversationId"),
    "post_message": _a("message_posted", "conversation", "conversationId"),
    # Workouts
    "start_workout": _a("workout_started", "workout"),
    "record_exercise": _a("exercise_recorded", "workout", "workoutId"),
    "finalize_workout": _a("workout_finalized", "workout", "workoutId"),
    "save_note": _a("note_saved", "workout", "workoutId"),
    "delete_note": _a("note_deleted", "workout", "workoutId"),
    "get_workout": _a("workout.read", "workout", "workoutId"),
    # The caller's own
    "register_push_token": _a("push_token_registered", "user"),
    "list_notifications": _a("notifications.read", "user"),
    "set_language": _a("language_set", "user"),
    # Operations
    "list_projections": _a("projections.read", "platform"),
    "rebuild_projection": _a("projection_rebuild_requested", "projection", "name"),
    "compare_what_if": _a("projection_what_if.read", "projection", "name"),
    "list_deliveries": _a("deliveries.read", "tenant"),
    "redeliver": _a("delivery_redelivered", "delivery", "deliveryId"),
    # Exercises and treatment plans
    "create_exercise": _a("exercise_created", "exercise"),
    "list_exercises": _a("exercises.read", "tenant"),
    "get_exercise": _a("exercise.read", "exercise", "exerciseId"),
    "edit_exercise": _a("exercise_edited", "exercise", "exerciseId"),
    "plan_library": _a("plan_library.read", "tenant"),
    "get_plan": _a("treatment_plan.read", "treatment_plan", "planId"),
    "list_plan_versions": _a("plan_versions.read", "treatment_plan", "planId"),
    "get_plan_version": _a("plan_version.read", "treatment_plan", "planId"),
    "create_plan": _a("treatment_plan_created", "treatment_plan"),
    "edit_plan": _a("treatment_plan_edited", "treatment_plan", "planId"),
    "publish_plan": _a("treatment_plan_published", "treatment_plan", "planId"),
    "clone_plan": _a("treatment_plan_cloned", "treatment_plan", "planId"),
    "promote_plan": _a("treatment_plan_promoted", "treatment_plan", "planId"),
    "assign_plan": _a("treatment_plan_assigned", "enrollment"),
    "self_assign_plan": _a("treatment_plan_self_assigned", "enrollment"),
    "approve_enrollment": _a("enrollment_approved", "enrollment", "enrollmentId"),
    "pause_enrollment": _a("enrollment_paused", "enrollment", "enrollmentId"),
    "resume_enrollment": _a("enrollment_resumed", "enrollment", "enrollmentId"),
    "get_enrollment": _a("enrollment.read", "enrollment", "enrollmentId"),
    "enrollment_progress": _a("enrollment_progress.read", "enrollment", "enrollmentId"),
    "list_patient_enrollments": _a("enrollments.read", "patient", "patientId"),
    "set_service_plan": _a("service_plan_set", "patient", "patientId"),
    "get_service_plan": _a("service_plan.read", "patient", "patientId"),
    # Webhooks
    "create_webhook": _a("webhook_created", "webhook"),
    "list_webhooks": _a("webhooks.read", "tenant"),
    "get_webhook": _a("webhook.read", "webhook", "webhookId"),
    "list_webhook_deliveries": _a("webhook_deliveries.read", "webhook", "webhookId"),
    # Surveys and the satisfaction check
    "create_survey_template": _a("survey_template_created", "survey_template"),
    "revise_survey_template": _a("survey_template_revised", "survey_template", "templateId"),
    "list_survey_templates": _a("survey_templates.read", "tenant"),
    "get_survey_template": _a("survey_template.read", "survey_template", "templateId"),
    "send_survey": _a("survey_sent", "survey"),
    "list_surveys": _a("surveys.read", "tenant"),
    "surveys_needing_action": _a("surveys_needing_action.read", "tenant"),
    "survey_stats": _a("survey_stats.read", "tenant"),
    "get_survey": _a("survey.read", "survey", "surveyId"),
    "log_contact": _a("survey_patient_contacted", "survey", "surveyId"),
    "send_satisfaction_check": _a("satisfaction_feedback_sent", "survey", "surveyId"),
    "get_feedback": _a("feedback.read", "feedback", "feedbackId"),
    "close_feedback": _a("feedback_closed", "feedback", "feedbackId"),
    "escalate_feedback": _a("feedback_escalated", "feedback", "feedbackId"),
    # A patient's one-time links: the link's patient is the actor once the link resolves
    "get_public_survey": _a("survey.read", "survey"),
    "answer_public_survey": _a("survey_answered", "survey"),
    "get_public_feedback": _a("feedback.read", "feedback"),
    "answer_public_feedback": _a("feedback_answered", "feedback"),
    "survey_page": _a("survey.read", "survey"),
    "answer_survey_page": _a("survey_answered", "survey"),
    "feedback_page": _a("feedback.read", "feedback"),
    "answer_feedback_page": _a("feedback_answered", "feedback"),
    # History, provenance, the audit trail itself
    "list_stream_events": _a("stream_events.read", "aggregate", "aggregateId"),
    "read_stream_state": _a("stream_state.read", "aggregate", "aggregateId"),
    "read_provenance": _a("provenance.read", "aggregate", "id"),
    "list_audit_entries": _a("audit.read", "tenant"),
    "verify_audit_chain": _a("audit_verify.read", "tenant"),
    # The admin pages (api/admin_pages): each page is audited as its API twin's action; a
    # page of two reads (the trail and its verification) as the one it is named for.
    "admin_login": _a("admin_signed_in", "user"),
    "admin_logout": _a("admin_signed_out", "user"),
    "admin_index": _a("admin_pages.read", "user"),
    "feature_flags_page": _a("feature_flags.read", "tenant"),
    "set_feature_flag_page": _a("feature_flag_set", "tenant", "tenantId"),
    "audit_page": _a("audit.read", "tenant"),
    "projections_page": _a("projections.read", "platform"),
    "projections_status_page": _a("projections.read", "platform"),
    "rebuild_projection_page": _a("projection_rebuild_requested", "projection", "name"),
    "deliveries_page": _a("deliveries.read", "tenant"),
    "redeliver_page": _a("delivery_redelivered", "delivery", "deliveryId"),
}

# Routes that touch no tenant's data and carry no credential: never audited.
UNAUDITED = frozenset(
    {
        "get_health",
        "get_metrics",
        "openapi",
        "swagger_ui",
        "swagger_ui_redirect",
        "redoc",
        "admin_login_form",  # the empty sign-in form: no credential yet
    }
)


def markdown(routes: dict[str, tuple[str, str]]) -> str:
    """docs/audit-actions.md: every action with its route(s) and subject, from the table
    and the app's routes (`name -> (method, path)`)."""
    lines = [
        "# Audit actions",
        "",
        "Every request that carries a valid credential leaves one audit entry; its `action`",
        "is one of these stable names (docs/decisions/0026). Commands are named for what",
        "they do, whatever their outcome; reads are `<resource>.read`. The subject is the",
        "path's id where the route names one, else what the request created or addressed.",
        "Generated from `api/audit/actions.py` (`python -m api.audit.actions`); a test",
        "keeps the two equal.",
        "",
        "| Action | Route | Subject type | Subject |",
        "|---|---|---|---|",
    ]
    for name, action in sorted(ACTIONS.items(), key=lambda item: (item[1].name, item[0])):
        method, path = routes.get(name, ("", ""))
        subject = f"`{action.subject_param}`" if action.subject_param else "noted by the route"
        if action.subject_param is None and action.subject_type in ("user", "tenant"):
            subject = "the caller" if action.subject_type == "user" else "the tenant"
        if action.subject_type == "platform":
            subject = "none"
        lines.append(f"| `{action.name}` | `{method} {path}` | {action.subject_type} | {subject} |")
    return "\n".join(lines) + "\n"


def route_table(routes: Any) -> dict[str, tuple[str, str]]:
    """`name -> (method, path)` of an app's routes (`app.routes`, routers expanded)."""
    import fastapi.routing

    table: dict[str, tuple[str, str]] = {}
    for route in fastapi.routing.iter_route_contexts(routes):
        methods = getattr(route, "methods", None)
        if methods and route.name:
            table[str(route.name)] = (sorted(methods)[0], str(route.path))
    return table


if __name__ == "__main__":  # pragma: no cover - writes docs/audit-actions.md
    import tempfile
    from pathlib import Path

    from api.main import create_app
    from bootstrap.runtime import Runtime
    from bootstrap.settings import Settings

    runtime = Runtime(Settings(data_dir=Path(tempfile.mkdtemp())))
    print(markdown(route_table(create_app(runtime).routes)), end="")
    runtime.close()
