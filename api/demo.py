"""The demo clinic. Every command carries a fixed Idempotency-Key, so loading the demo
twice replays the first responses: the same ids, and nothing written twice."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from rich.console import Console
from rich.table import Table

from api import demo_audit
from api.auth import mint_token
from api.commands import to_json
from api.demo_plans import DemoPlans, load_plans, print_plans
from bootstrap.runtime import Runtime
from domain.people.flags import Flag
from domain.people.staff import StaffType
from domain.shared.commands import Handler, Rendered
from domain.shared.context import SYSTEM_ACTOR, Actor, CommandContext, Role
from domain.shared.unit_of_work import UnitOfWork
from domain.surveys.application import PUBLIC_SURVEY_PATH
from domain.surveys.link import NONCE_BYTES, LinkPurpose
from domain.surveys.template import Question

DEMO_PLATFORM_ADMIN = uuid.UUID("00000000-0000-4000-a000-00000000d001")
# The clinic's compliance officer: an auditor is a token of the tenant, no staff record.
DEMO_AUDITOR = uuid.UUID("00000000-0000-4000-a000-00000000d0a1")

SURVEY_NAME = "After your visit"
SURVEY_QUESTIONS = [
    Question(
        "treatment",
        "How satisfied are you with your treatment?",
        {"ar": "ما مدى رضاك عن علاجك؟"},
    ),
    Question(
        "listening",
        "How well did our staff listen to you?",
        {"ar": "إلى أي مدى استمع إليك فريقنا؟"},
    ),
    Question(
        "booking",
        "How easy was it to get an appointment?",
        {"ar": "ما مدى سهولة الحصول على موعد؟"},
    ),
]


@dataclass
class DemoUser:
    name: str
    role: Role
    user_id: uuid.UUID
    tenant_id: uuid.UUID | None
    token: str = ""


@dataclass
class DemoSurveys:
    template_id: uuid.UUID
    waiting_id: uuid.UUID  # negative, answered, nobody has contacted the patient yet
    closed_id: uuid.UUID  # negative, contacted, checked (4/5) and closed
    closed_feedback_id: uuid.UUID
    fresh_id: uuid.UUID  # sent, not answered: its link is printed
    fresh_token: str
    fresh_link: str


@dataclass
class Demo:
    tenant_id: uuid.UUID
    users: list[DemoUser] = field(default_factory=list)
    workout_id: uuid.UUID | None = None
    surveys: DemoSurveys | None = None
    plans: DemoPlans | None = None

    def user(self, name: str) -> DemoUser:
        return next(u for u in self.users if u.name == name)


def _hard_workout(runtime: Runtime, sam: Actor) -> uuid.UUID:
    """A finalized workout with high pain and a comment: it earns a summary card."""
    workouts = runtime.workouts
    body = _run(
        runtime,
        sam,
        "workout",
        partial(
            workouts.start,
            exercises=[
                {"exerciseId": "squat", "name": "Squat", "prescribed": {"sets": 3, "reps": 10}},
                {"exerciseId": "bridge", "name": "Glute bridge", "prescribed": {"sets": 3}},
            ],
            enrollment_id=None,
            session_id=None,
        ),
    )
    workout_id = uuid.UUID(body["workoutId"])
    for exercise, pain, exertion, notes in (
        ("squat", 8, 7, "Sharp pain in the left knee on the last set"),
        ("bridge", 2, 4, None),
    ):
        _run(
            runtime,
            sam,
            f"record:{exercise}",
            partial(
                workouts.record,
                workout_id=workout_id,
                exercise_id=exercise,
                actual={"sets": 3, "reps": 8},
                pain=pain,
                exertion=exertion,
                patient_notes=notes,
            ),
        )
    _run(runtime, sam, "finalize", partial(workouts.finalize, workout_id=workout_id))
    return workout_id


def _run(
    runtime: Runtime,
    actor: Actor,
    key: str,
    handler: Handler,
    token_again: Callable[[UnitOfWork, dict[str, Any]], str] | None = None,
) -> dict[str, Any]:
    """One command with the key `demo:<key>`. A result with a one-time link's `token`
    (`token_again` given) is stored without it, as the API does: a replay makes it again
    from the link's nonce, so no token is ever in the log."""
    ctx = CommandContext(
        actor=actor,
        correlation_id="demo",
        causation_id="careloop demo",
        idempotency_key=f"demo:{key}",
        request_fingerprint=f"demo:{key}",
    )

    def render(result: Any) -> Rendered:
        body = to_json(result)
        if token_again is not None:
            body.pop("token", None)
        return Rendered(200, body)

    outcome = runtime.commands.run(ctx, handler, render=render)
    if outcome.replay is not None:
        replayed = dict(outcome.replay.body)
        if token_again is not None:
            replayed["token"] = _read(runtime, actor, lambda u: token_again(u, replayed))
        return replayed
    body: dict[str, Any] = to_json(outcome.result)
    demo_audit.record(runtime, actor, key, outcome.position if outcome.wrote else None, body)
    return body


def _read(runtime: Runtime, actor: Actor, handler: Handler) -> Any:
    """A handler that only reads: run without a key, it records nothing."""
    return runtime.commands.run(CommandContext(actor=actor), handler).result


def _survey_token(runtime: Runtime) -> Callable[[UnitOfWork, dict[str, Any]], str]:
    return lambda u, body: runtime.surveys.survey_token(u, uuid.UUID(body["surveyId"]))


def _check_token(runtime: Runtime) -> Callable[[UnitOfWork, dict[str, Any]], str]:
    return lambda u, body: runtime.surveys.check_token(u, uuid.UUID(body["feedbackId"]))


def _send_survey(
    runtime: Runtime, staff: Actor, key: str, template_id: uuid.UUID, patient_id: uuid.UUID
) -> tuple[uuid.UUID, str]:
    nonce = secrets.token_bytes(NONCE_BYTES)
    body = _run(
        runtime,
        staff,
        key,
        lambda u: runtime.surveys.send(u, template_id, patient_id, nonce),
        _survey_token(runtime),
    )
    return uuid.UUID(body["surveyId"]), str(body["token"])


def _as_link_holder(
    runtime: Runtime, token: str, purpose: LinkPurpose, key: str, handler: Handler
) -> dict[str, Any]:
    """What the public pages do: the token names its patient, who then answers."""
    patient = _read(runtime, SYSTEM_ACTOR, lambda u: runtime.surveys.link_holder(u, token, purpose))
    return _run(runtime, patient, key, handler)


def _answers(*scores: int) -> dict[str, int]:
    return dict(zip([q.id for q in SURVEY_QUESTIONS], scores, strict=True))


def _survey_loop(runtime: Runtime, demo: Demo) -> DemoSurveys:
    """A template with Arabic translations; Lena (who reads Arabic) has a negative survey
    that waits for action; Sam has one whose loop was closed after a satisfaction check,
    and a fresh one, unanswered."""
    surveys = runtime.surveys
    tenant = demo.tenant_id
    hana = Actor(demo.user("Hana Okafor").user_id, Role.HOSPITAL_ADMIN, tenant)
    priya = Actor(demo.user("Priya Shah").user_id, Role.PX_ADMIN, tenant)
    sam = demo.user("Sam Carter").user_id
    lena = demo.user("Lena Novak").user_id
    # Lena reads forms in Arabic (she chose it herself: PUT /v1/me/language).
    _run(
        runtime,
        Actor(lena, Role.PATIENT, tenant),
        "language:Lena",
        lambda u: runtime.people.set_language(u, lena, "ar"),
    )
    template_id = uuid.UUID(
        _run(
            runtime,
            priya,
            "survey-template",
            lambda u: surveys.create_template(u, SURVEY_NAME, SURVEY_QUESTIONS),
        )["id"]
    )

    waiting_id, token = _send_survey(runtime, priya, "survey:Lena", template_id, lena)
    _as_link_holder(
        runtime,
        token,
        LinkPurpose.SURVEY,
        "survey:Lena:answer",
        lambda u: surveys.answer(
            u, token, _answers(2, 1, 2), "I waited 40 minutes and nobody told me why."
        ),
    )

    closed_id, token = _send_survey(runtime, priya, "survey:Sam:1", template_id, sam)
    _as_link_holder(
        runtime,
        token,
        LinkPurpose.SURVEY,
        "survey:Sam:1:answer",
        lambda u: surveys.answer(
            u, token, _answers(2, 3, 2), "The exercises hurt and I could not reach anyone."
        ),
    )
    _run(
        runtime,
        hana,
        "survey:Sam:1:contact",
        lambda u: surveys.log_contact(
            u,
            closed_id,
            "Called Sam. Maya will lower the squat load; he now has the clinic's direct line.",
            "resolved",
        ),
    )
    nonce = secrets.token_bytes(NONCE_BYTES)
    check = _run(
        runtime,
        priya,
        "survey:Sam:1:check",
        lambda u: surveys.send_check(u, closed_id, nonce),
        _check_token(runtime),
    )
    feedback_id = uuid.UUID(check["feedbackId"])
    check_token = str(check["token"])
    _as_link_holder(
        runtime,
        check_token,
        LinkPurpose.SATISFACTION_CHECK,
        "survey:Sam:1:check:answer",
        lambda u: surveys.answer_check(u, check_token, 4, "Much better, thank you."),
    )
    _run(runtime, priya, "survey:Sam:1:close", lambda u: surveys.close(u, feedback_id))

    fresh_id, fresh_token = _send_survey(runtime, priya, "survey:Sam:2", template_id, sam)
    base = runtime.settings.public_base_url.rstrip("/")
    return DemoSurveys(
        template_id=template_id,
        waiting_id=waiting_id,
        closed_id=closed_id,
        closed_feedback_id=feedback_id,
        fresh_id=fresh_id,
        fresh_token=fresh_token,
        fresh_link=f"{base}{PUBLIC_SURVEY_PATH}{fresh_token}",
    )


def load_demo(runtime: Runtime) -> Demo:
    people = runtime.people
    admin = Actor(DEMO_PLATFORM_ADMIN, Role.PLATFORM_ADMIN, None)
    tenant_id = uuid.UUID(
        _run(runtime, admin, "tenant", lambda u: people.create_tenant(u, "Riverside Physio"))["id"]
    )
    for flag in Flag:
        _run(
            runtime,
            admin,
            f"flag:{flag.value}",
            partial(people.set_flag, tenant_id=tenant_id, flag_name=flag.value, enabled=True),
        )
    demo = Demo(
        tenant_id=tenant_id,
        users=[DemoUser("Platform admin", Role.PLATFORM_ADMIN, DEMO_PLATFORM_ADMIN, None)],
    )

    staff = [
        ("Hana", "Okafor", StaffType.HOSPITAL_ADMIN, Role.HOSPITAL_ADMIN),
        ("Priya", "Shah", StaffType.PX_ADMIN, Role.PX_ADMIN),
        ("Maya", "Lindqvist", StaffType.DOCTOR, Role.DOCTOR),
        ("Tomas", "Reyes", StaffType.DOCTOR, Role.DOCTOR),
        ("Aiko", "Tanaka", StaffType.DOCTOR, Role.DOCTOR),
    ]
    doctors: list[uuid.UUID] = []
    for first, last, staff_type, role in staff:
        body = _run(
            runtime,
            admin,
            f"staff:{first}",
            partial(
                people.register_staff,
                tenant_id=tenant_id,
                staff_type=staff_type,
                first_name=first,
                last_name=last,
                email=f"{first.lower()}.{last.lower()}@riverside.example",
            ),
        )
        staff_id = uuid.UUID(body["id"])
        if staff_type is StaffType.DOCTOR:
            _run(
                runtime, admin, f"approve:{first}", partial(people.approve_staff, staff_id=staff_id)
            )
            doctors.append(staff_id)
        demo.users.append(DemoUser(f"{first} {last}", role, staff_id, tenant_id))

    maya, tomas, _aiko = doctors
    patients = [
        ("Sam", "Carter", maya, [tomas]),  # two therapists: a group conversation
        ("Lena", "Novak", tomas, []),  # one therapist: one-to-one
    ]
    for first, last, inviter, extra in patients:
        body = _run(
            runtime,
            Actor(inviter, Role.DOCTOR, tenant_id),
            f"patient:{first}",
            partial(
                people.invite_patient,
                first_name=first,
                last_name=last,
                email=f"{first.lower()}@patients.example",
                timezone="Europe/London",
                additional_therapist_ids=extra,
            ),
        )
        demo.users.append(
            DemoUser(f"{first} {last}", Role.PATIENT, uuid.UUID(body["patientId"]), tenant_id)
        )

    sam = next(u.user_id for u in demo.users if u.name == "Sam Carter")
    demo.workout_id = _hard_workout(runtime, Actor(sam, Role.PATIENT, tenant_id))
    # Maya's note opens a coalescing window: her card reaches Sam once it has passed.
    _run(
        runtime,
        Actor(maya, Role.DOCTOR, tenant_id),
        "note:squat",
        partial(
            runtime.workouts.save_note,
            workout_id=demo.workout_id,
            exercise_id="squat",
            text="Drop to 6 reps next time and keep the knee over the toes.",
        ),
    )

    demo.users.append(DemoUser("Ines Ortega", Role.AUDITOR, DEMO_AUDITOR, tenant_id))
    demo.surveys = _survey_loop(runtime, demo)
    demo.plans = load_plans(runtime, tenant_id, {u.name: u.user_id for u in demo.users})

    settings = runtime.settings
    for user in demo.users:
        user.token = mint_token(
            settings.jwt_secret, user.user_id, user.role, user.tenant_id, settings.jwt_ttl_seconds
        )
    return demo


def print_demo(console: Console, demo: Demo) -> None:
    table = Table("user", "role", "id", title=f"Demo clinic (tenant {demo.tenant_id})")
    for user in demo.users:
        table.add_row(user.name, user.role.value, str(user.user_id))
    console.print(table)
    if demo.workout_id:
        console.print(
            f"Sam's finalized workout {demo.workout_id} posts a summary card to his care team; "
            "Maya's note on it reaches Sam once the feedback window has passed."
        )
    if demo.surveys:
        s = demo.surveys
        console.print(
            f'Survey template "{SURVEY_NAME}" {s.template_id} (English, Arabic). '
            f"Lena's negative survey {s.waiting_id} waits for action; Sam's negative "
            f"survey {s.closed_id} was closed after a satisfaction check ({s.closed_feedback_id}) "
            "that he rated 4/5."
        )
        print(f"Survey link (Sam, unanswered): {s.fresh_link}")
    if demo.plans:
        print_plans(console, demo.plans)
    console.print('Tokens (use as: curl -H "Authorization: Bearer $TOKEN" ...):')
    for user in demo.users:
        # Plain print: a token must never be wrapped or cut to fit the terminal.
        print(f"{user.role.value:<15} {user.name:<16} {user.token}")
