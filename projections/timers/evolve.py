"""Pure fold: a coalescing window's identity, deadline and whether it is open."""

from __future__ import annotations

from typing import Any

from domain.workouts.window import FeedbackWindow
from projections.platform.store import Doc


def evolve(row: Doc | None, event: Any) -> Doc | None:
    if isinstance(event, FeedbackWindow.Opened):
        return {
            "id": str(event.originator_id),
            "tenantId": str(event.tenant_id),
            "workoutId": str(event.workout_id),
            "doctorId": str(event.doctor_id),
            "patientId": str(event.patient_id),
            "deadline": event.deadline.isoformat(),
            "open": True,
        }
    if row is None:
        return None
    if isinstance(event, FeedbackWindow.Extended | FeedbackWindow.Reopened):
        return {**row, "deadline": event.deadline.isoformat(), "open": True}
    if isinstance(event, FeedbackWindow.Closed):
        return {**row, "open": False}
    return row
