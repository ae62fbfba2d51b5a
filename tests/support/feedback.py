"""A clinic on the domain layer, for the feedback-loop state machines and tests."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from api.commands import to_json
from bootstrap.runtime import Runtime
from bootstrap.settings import Settings
from domain.people.flags import Flag
from domain.people.staff import StaffType
from domain.shared.clock import FakeClock, SequentialIds
from domain.shared.commands import Handler
from domain.shared.context import SYSTEM_ACTOR, Actor, CommandContext, Role
from domain.shared.deadlines import Deadline
from domain.workouts.window import FEEDBACK_WINDOW, FeedbackWindow
from tests.support.services import drop_schema, new_schema_name, postgres_url
from workers.deadlines import Elapse
from workers.reactions import ReactionFollower

WINDOW = 300.0


class Clinic:
    """One tenant with feedbackNotifications on, two doctors and a patient of the first."""

    def __init__(
        self,
        data_dir: Path,
        clock: FakeClock | None = None,
        window: float = WINDOW,
        backend: str = "sqlite",
    ) -> None:
        self.data_dir = data_dir
        self.backend = backend
        self.schema = new_schema_name() if backend == "postgresql" else None
        self.clock = clock or FakeClock()
        self.window = window
        self.rt = self._runtime()
        platform = Actor(uuid.uuid4(), Role.PLATFORM_ADMIN, None)
        self.tenant = uuid.UUID(
            self.run(platform, lambda u: self.rt.people.create_tenant(u, "C"))["id"]
        )
        self.run(
            platform,
            lambda u: self.rt.people.set_flag(
                u, self.tenant, Flag.FEEDBACK_NOTIFICATIONS.value, True
            ),
        )
        self.doctors = []
        for name in ("Maya", "Tomas"):
            doctor = uuid.UUID(
                self.run(
                    platform,
                    lambda u, n=name: self.rt.people.register_staff(
                        u, self.tenant, StaffType.DOCTOR, n, "Doc", f"{n}@c.example"
                    ),
                )["id"]
            )
            self.run(platform, lambda u, d=doctor: self.rt.people.approve_staff(u, d))
            self.doctors.append(doctor)
        self.platform = platform
        self.patient = uuid.UUID(
            self.run(
                self.doctor(0),
                lambda u: self.rt.people.invite_patient(
                    u, "Sam", "Carter", "sam@c.example", "UTC", []
                ),
            )["patientId"]
        )

    def _runtime(self) -> Runtime:
        if self.schema is None:
            settings = Settings(data_dir=self.data_dir, feedback_window_seconds=self.window)
        else:
            settings = Settings(
                database_url=postgres_url(),
                database_schema=self.schema,
                feedback_window_seconds=self.window,
            )
        return Runtime(
            settings,
            clock=self.clock,
            ids=SequentialIds(start=int(self.clock.now().timestamp())),
            create_tables=True,
        )

    def restart(self) -> None:
        """A crash and a restart: everything in memory is gone, the store remains."""
        self.rt.close()
        self.rt = self._runtime()

    def doctor(self, i: int) -> Actor:
        return Actor(self.doctors[i], Role.DOCTOR, self.tenant)

    @property
    def patient_actor(self) -> Actor:
        return Actor(self.patient, Role.PATIENT, self.tenant)

    def run(self, actor: Actor, handler: Handler[Any]) -> Any:
        result = self.rt.commands.run(CommandContext(actor=actor), handler).result
        return to_json(result)

    def system(self, handler: Handler[Any]) -> Any:
        return self.run(SYSTEM_ACTOR, handler)

    def workout(self, exercises: list[dict[str, Any]]) -> uuid.UUID:
        """Start a workout with `exercises` ({id, pain, exertion, notes}) recorded."""
        workout = uuid.UUID(
            self.run(
                self.patient_actor,
                lambda u: self.rt.workouts.start(
                    u,
                    [
                        {"exerciseId": e["id"], "name": f"Exercise {e['id']}", "prescribed": {}}
                        for e in exercises
                    ],
                    None,
                    None,
                ),
            )["workoutId"]
        )
        for e in exercises:
            self.run(
                self.patient_actor,
                lambda u, e=e: self.rt.workouts.record(
                    u,
                    workout,
                    e["id"],
                    {"sets": 3},
                    e.get("pain"),
                    e.get("exertion"),
                    e.get("notes"),
                ),
            )
        return workout

    def finalize(self, workout: uuid.UUID) -> dict[str, Any]:
        return self.run(self.patient_actor, lambda u: self.rt.workouts.finalize(u, workout))

    def summarize(self, workout: uuid.UUID) -> dict[str, Any]:
        return self.system(lambda u: self.rt.feedback.summarize(u, workout, list(self.doctors)))

    def elapse(self, window: uuid.UUID, deadline: Any) -> bool:
        """A wake-up scheduled for `deadline` reaches the window: True if it elapsed."""
        return (
            Elapse(FeedbackWindow, self.rt.commands).fire(
                [Deadline(FEEDBACK_WINDOW, window, deadline)]
            )
            == 1
        )

    def react(self) -> None:
        """Every process manager reacts to everything new (the read models first)."""
        self.rt.catch_up()
        for reaction in self.rt.reactions:
            ReactionFollower(reaction, self.rt.log, self.rt.commands, self.rt.reached).run_once()

    def fire(self, window: uuid.UUID, deadline: Any) -> dict[str, Any]:
        """A wake-up scheduled for `deadline`: the deadline fires (the window elapses, if
        that deadline is current and due), then the note-card policy reacts."""
        Elapse(FeedbackWindow, self.rt.commands).fire([Deadline(FEEDBACK_WINDOW, window, deadline)])
        return self.system(
            lambda u: self.rt.feedback.post_note_card(u, window, deadline, list(self.doctors))
        )

    def events(self) -> list[Any]:
        return [self.rt.log.decode(n) for n in self.rt.log.read(0, 1_000_000)]

    def close(self) -> None:
        self.rt.close()
        if self.schema is not None:
            drop_schema(postgres_url(), self.schema)
