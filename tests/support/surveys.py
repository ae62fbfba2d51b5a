"""A clinic for the survey loop on the domain layer: a tenant with a hospital admin, a
PX admin, a doctor and a patient, one survey template, and every step of the loop."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path
from typing import Any

from api.commands import to_json
from bootstrap.runtime import Runtime
from bootstrap.settings import Settings
from domain.people.staff import StaffType
from domain.shared.clock import FakeClock, SequentialIds
from domain.shared.commands import Handler
from domain.shared.context import SYSTEM_ACTOR, Actor, CommandContext, Role
from domain.shared.deadlines import Deadline
from domain.surveys.feedback import SATISFACTION_CHECK, Feedback
from domain.surveys.link import LinkPurpose
from domain.surveys.template import Question
from tests.support.services import drop_schema, new_schema_name, postgres_url
from workers.deadlines import Elapse
from workers.reactions import ReactionFollower

DAY = 86_400.0
QUESTIONS = [
    Question("care", "How was your care?", {"ar": "كيف كانت رعايتك؟"}),
    Question("staff", "How helpful was the staff?", {"ar": "ما مدى مساعدة الموظفين؟"}),
]


class SurveyClinic:
    def __init__(
        self, data_dir: Path, clock: FakeClock | None = None, backend: str = "sqlite"
    ) -> None:
        self.data_dir = data_dir
        self.schema = new_schema_name() if backend == "postgresql" else None
        self.clock = clock or FakeClock()
        self.rt = self._runtime()
        self.platform = Actor(uuid.uuid4(), Role.PLATFORM_ADMIN, None)
        self.tenant = uuid.UUID(
            self.run(self.platform, lambda u: self.rt.people.create_tenant(u, "C"))["id"]
        )
        self.staff: dict[StaffType, uuid.UUID] = {}
        for kind, name in (
            (StaffType.HOSPITAL_ADMIN, "Hana"),
            (StaffType.PX_ADMIN, "Pia"),
            (StaffType.DOCTOR, "Maya"),
        ):
            self.staff[kind] = uuid.UUID(
                self.run(
                    self.platform,
                    lambda u, k=kind, n=name: self.rt.people.register_staff(
                        u, self.tenant, k, n, "Staff", f"{n.lower()}@c.example"
                    ),
                )["id"]
            )
        doctor = self.staff[StaffType.DOCTOR]
        self.run(self.platform, lambda u: self.rt.people.approve_staff(u, doctor))
        self.patient = uuid.UUID(
            self.run(
                Actor(doctor, Role.DOCTOR, self.tenant),
                lambda u: self.rt.people.invite_patient(
                    u, "Sam", "Carter", "sam@c.example", "UTC", []
                ),
            )["patientId"]
        )
        self.template = uuid.UUID(
            self.run(self.admin, lambda u: self.rt.surveys.create_template(u, "Visit", QUESTIONS))[
                "id"
            ]
        )

    def _runtime(self) -> Runtime:
        if self.schema is None:
            settings = Settings(data_dir=self.data_dir)
        else:
            settings = Settings(database_url=postgres_url(), database_schema=self.schema)
        return Runtime(
            settings,
            clock=self.clock,
            ids=SequentialIds(start=int(self.clock.now().timestamp())),
            create_tables=True,
        )

    @property
    def admin(self) -> Actor:
        return Actor(self.staff[StaffType.HOSPITAL_ADMIN], Role.HOSPITAL_ADMIN, self.tenant)

    @property
    def px_admin(self) -> Actor:
        return Actor(self.staff[StaffType.PX_ADMIN], Role.PX_ADMIN, self.tenant)

    def run(self, actor: Actor, handler: Handler[Any]) -> Any:
        return to_json(self.rt.commands.run(CommandContext(actor=actor), handler).result)

    def as_link_holder(self, token: str, purpose: LinkPurpose, handler: Handler[Any]) -> Any:
        holder = self.rt.commands.run(
            CommandContext(actor=SYSTEM_ACTOR),
            lambda u: self.rt.surveys.link_holder(u, token, purpose),
        ).result
        assert holder is not None
        return self.run(holder, handler)

    # -- the loop -----------------------------------------------------------------------

    def send(self) -> dict[str, Any]:
        nonce = secrets.token_bytes(16)
        return self.run(
            self.admin, lambda u: self.rt.surveys.send(u, self.template, self.patient, nonce)
        )

    def answer(self, token: str, *scores: int, comment: str | None = None) -> dict[str, Any]:
        answers = dict(zip([q.id for q in QUESTIONS], scores, strict=True))
        return self.as_link_holder(
            token,
            LinkPurpose.SURVEY,
            lambda u: self.rt.surveys.answer(u, token, answers, comment),
        )

    def negative_survey(self) -> tuple[uuid.UUID, str]:
        sent = self.send()
        self.answer(sent["token"], 1, 2)
        return uuid.UUID(sent["surveyId"]), sent["token"]

    def log_contact(
        self, survey: uuid.UUID, notes: str = "Called; apologised.", outcome: str = "resolved"
    ) -> dict[str, Any]:
        return self.run(
            self.admin, lambda u: self.rt.surveys.log_contact(u, survey, notes, outcome)
        )

    def send_check(self, survey: uuid.UUID) -> dict[str, Any]:
        nonce = secrets.token_bytes(16)
        return self.run(self.admin, lambda u: self.rt.surveys.send_check(u, survey, nonce))

    def answer_check(self, token: str, rating: int) -> dict[str, Any]:
        return self.as_link_holder(
            token,
            LinkPurpose.SATISFACTION_CHECK,
            lambda u: self.rt.surveys.answer_check(u, token, rating, None),
        )

    def close(self, feedback: uuid.UUID) -> dict[str, Any]:
        return self.run(self.admin, lambda u: self.rt.surveys.close(u, feedback))

    def escalate(self, feedback: uuid.UUID, reason: str = "Still unhappy") -> dict[str, Any]:
        return self.run(self.admin, lambda u: self.rt.surveys.escalate(u, feedback, reason))

    # -- time, timers and reactions ------------------------------------------------------

    def advance(self, days: float) -> None:
        self.clock.advance(days * DAY)

    def fire_due(self) -> int:
        """Fire every satisfaction-check deadline due now (as the scheduler would)."""
        self.rt.catch_up()
        due = [
            d
            for d in self.rt.views.deadlines.due(self.clock.now(), 1000)
            if d.kind == SATISFACTION_CHECK
        ]
        return Elapse(Feedback, self.rt.commands).fire(due) if due else 0

    def fire(self, feedback: uuid.UUID, scheduled_for: Any) -> int:
        return Elapse(Feedback, self.rt.commands).fire(
            [Deadline(SATISFACTION_CHECK, feedback, scheduled_for)]
        )

    def react(self) -> None:
        self.rt.catch_up()
        for reaction in self.rt.reactions:
            ReactionFollower(reaction, self.rt.log, self.rt.commands, self.rt.reached).run_once()
        self.rt.catch_up()

    def events(self) -> list[Any]:
        return [self.rt.log.decode(n) for n in self.rt.log.read(0, 1_000_000)]

    def close_runtime(self) -> None:
        self.rt.close()
        if self.schema is not None:
            drop_schema(postgres_url(), self.schema)
