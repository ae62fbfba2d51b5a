"""Driving the feedback loop over HTTP: a clinic, a workout, and waiting for cards."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.support.app import Api, auth


def eventually(probe: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll `probe` until it returns something truthy (the loop is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class FeedbackClinic:
    """A tenant with both flags on, Maya and Tomas, and Sam, a patient of both."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.tenant = api.tenant("Riverside")
        api.flag(self.tenant, "feedbackNotifications")
        api.flag(self.tenant, "therapistPatientAssignment")
        self.maya, self.maya_h = api.doctor(self.tenant, "Maya", "Lind")
        self.tomas, self.tomas_h = api.doctor(self.tenant, "Tomas", "Reyes")
        invited = api.invite(self.maya_h, "Sam", extra=[self.tomas])
        self.patient = invited["patientId"]
        self.patient_h = auth("patient", self.patient, self.tenant)

    def hard_workout(self) -> str:
        body = {
            "exercises": [
                {
                    "exerciseId": "squat",
                    "name": "Squat",
                    "prescribed": {"sets": 3, "reps": 10, "painTarget": 3},
                },
                {
                    "exerciseId": "plank",
                    "name": "Plank",
                    "prescribed": {"sets": 2, "holdSeconds": 30},
                },
                {"exerciseId": "bridge", "name": "Bridge", "prescribed": {"sets": 3, "reps": 12}},
            ]
        }
        workout = self.api.ok("POST", "/v1/workouts", self.patient_h, 201, json=body)["workoutId"]
        for exercise, record in {
            "squat": {"actual": {"sets": 3, "reps": 8}, "pain": 8, "exertion": 6},
            "plank": {"actual": {"sets": 2, "durationSeconds": 25}, "pain": 2, "exertion": 9},
            "bridge": {
                "actual": {"sets": 3, "reps": 12},
                "pain": 1,
                "exertion": 3,
                "patientNotes": "  ",
            },
        }.items():
            self.api.ok(
                "PUT", f"/v1/workouts/{workout}/exercises/{exercise}", self.patient_h, json=record
            )
        return str(workout)

    def group_conversation(self) -> str:
        head = self.api.runtime.log.head()
        convs = self.api.ok("GET", f"/v1/conversations?minPosition={head}", self.patient_h)
        return str(next(c["id"] for c in convs if c["kind"] == "group"))

    def cards(self, headers: dict[str, str], conversation: str, kind: str) -> list[dict[str, Any]]:
        messages = self.api.ok("GET", f"/v1/conversations/{conversation}/messages", headers)
        return [m for m in messages if m["type"] == kind]

    def notifications(self, headers: dict[str, str]) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api.ok("GET", "/v1/me/notifications", headers)
        return result
