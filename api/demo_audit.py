"""The demo clinic's commands in the audit trail. The demo loads through the application
services, not over HTTP, so it records what the API's middleware would: one entry per
command it runs (a replayed one ran nothing and gets none), named with the route's action,
the demo user as the actor, `careloop demo` as the correlation id."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from api.audit.actions import ACTIONS, created_subject
from api.audit.note import result_ids
from bootstrap.runtime import Runtime
from domain.audit.entry import PLATFORM, Draft, Outcome
from domain.shared.context import Actor

# A demo command's key (`demo:<key>`, `demo:plans:<key>`) -> the action of the route that
# does the same over HTTP. First match wins.
_BY_KEY = [
    (r"check:answer$", "feedback_answered"),
    (r":answer$", "survey_answered"),
    (r":contact$", "survey_patient_contacted"),
    (r":check$", "satisfaction_feedback_sent"),
    (r":close$", "feedback_closed"),
    (r"^survey-template$", "survey_template_created"),
    (r"^survey:", "survey_sent"),
    (r":publish$", "treatment_plan_published"),
    (r":design$", "treatment_plan_created"),
    (r":clone$", "treatment_plan_cloned"),
    (r":assign$", "treatment_plan_assigned"),
    (r"^plan:[^:]+:v\d+$", "treatment_plan_edited"),
    (r"(^workout|:start)$", "workout_started"),
    (r"(^|:)record:", "exercise_recorded"),
    (r"finalize$", "workout_finalized"),
    (r"^exercise:", "exercise_created"),
    (r"^service-plan:", "service_plan_set"),
    (r"^tenant$", "tenant_created"),
    (r"^flag:", "feature_flag_set"),
    (r"^staff:", "staff_registered"),
    (r"^approve:", "staff_approved"),
    (r"^patient:", "patient_invited"),
    (r"^note:", "note_saved"),
    (r"^language:", "language_set"),
]
_ACTIONS = {action.name: action for action in ACTIONS.values()}


def action_of(key: str) -> str:
    for pattern, action in _BY_KEY:
        if re.search(pattern, key):
            return action
    raise KeyError(f"no audit action for the demo step {key!r}")


def record(
    runtime: Runtime, actor: Actor, key: str, position: int | None, body: Mapping[str, Any]
) -> None:
    """Store the entry of a demo command that ran (and wrote at `position`, if it did)."""
    action = _ACTIONS[action_of(key)]
    subject = created_subject(action, result_ids(body))
    tenant = str(actor.tenant_id) if actor.tenant_id else None
    if tenant is None and position is not None:
        tenant = runtime.tenant_at(position)
    draft = Draft(
        tenant=tenant or PLATFORM,
        actor_id=str(actor.user_id),
        role=actor.role.value,
        action=action.name,
        subject_type=action.subject_type,
        subject_id=subject,
        outcome=Outcome.SUCCESS,
        status=200,
        correlation_id="careloop demo",
        request_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"careloop-demo/{key}")),
        position=position,
    )
    runtime.audit_writer.submit(draft).result()
