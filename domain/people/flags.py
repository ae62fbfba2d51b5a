"""Per-tenant feature flags: all off until a platform admin turns them on."""

from __future__ import annotations

from enum import StrEnum


class Flag(StrEnum):
    FEEDBACK_NOTIFICATIONS = "feedbackNotifications"
    THERAPIST_PATIENT_ASSIGNMENT = "therapistPatientAssignment"
    ALL_ACTIVE_PATIENTS_DASHBOARD = "allActivePatientsDashboard"


DEFAULT_FLAGS: dict[str, bool] = {flag.value: False for flag in Flag}
