"""The demo clinic. Every command carries a fixed Idempotency-Key, so loading the demo
twice replays the first responses: the same ids, and nothing written twice."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from rich.console import Console
from rich.table import Table

from api.auth import mint_token
from api.commands import to_json
from bootstrap.runtime import Runtime
from domain.people.flags import Flag
from domain.people.staff import StaffType
from domain.shared.commands import Handler, Rendered
from domain.shared.context import Actor, CommandContext, Role

DEMO_PLATFORM_ADMIN = uuid.UUID("00000000-0000-4000-a000-00000000d001")


@dataclass
class DemoUser:
    name: str
    role: Role
    user_id: uuid.UUID
    tenant_id: uuid.UUID | None
    token: str = ""


@dataclass
class Demo:
    tenant_id: uuid.UUID
    users: list[DemoUser] = field(default_factory=list)
    workout_id: uuid.UUID | None = None


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


def _run(runtime: Runtime, actor: Actor, key: str, handler: Handler) -> dict[str, Any]:
    ctx = CommandContext(
        actor=actor,
        correlation_id="demo",
        causation_id="careloop demo",
        idempotency_key=f"demo:{key}",
        request_fingerprint=f"demo:{key}",
    )
    outcome = runtime.commands.run(ctx, handler, render=lambda r: Rendered(200, to_json(r)))
    if outcome.replay is not None:
        return dict(outcome.replay.body)
    body: dict[str, Any] = to_json(outcome.result)
    return body


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
    console.print('Tokens (use as: curl -H "Authorization: Bearer $TOKEN" ...):')
    for user in demo.users:
        # Plain print: a token must never be wrapped or cut to fit the terminal.
        print(f"{user.role.value:<15} {user.name:<16} {user.token}")
