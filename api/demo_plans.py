"""The demo clinic's treatment plans: the exercise library, two global plans and an org
plan in the library, and Sam's custom plan (cloned from the global Post-ACL protocol) with
two versions. Sam was enrolled in version 1 two weeks ago and has done three sessions in
each of the last two weeks: a two-week streak, mid-plan.

Sam's last weeks are history the demo makes up, so those commands run with a clock
stopped at the moment each happened (a bus of their own; the runtime's clock is never
touched). Every command carries a fixed Idempotency-Key, as in `api.demo`: loading twice
replays the first responses and writes nothing new.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console

from api import demo_audit
from api.commands import to_json
from bootstrap.runtime import Runtime
from domain.plans.content import ExerciseParams, PlanContent, PlanExercise, PlanSession
from domain.plans.plan import TreatmentPlan
from domain.shared.commands import CommandBus, Handler, Rendered
from domain.shared.context import Actor, CommandContext, Role

# Sam's timezone in the demo (api.demo invites him in Europe/London): his weeks start on
# Monday there.
SAM_ZONE = ZoneInfo("Europe/London")
QUESTION = "How hard was today's session?"


@dataclass(frozen=True)
class DemoPlans:
    acl_plan_id: uuid.UUID  # global, library
    back_plan_id: uuid.UUID  # global, library
    shoulder_plan_id: uuid.UUID  # Maya's org plan, library
    sam_plan_id: uuid.UUID  # custom, for Sam: versions 1 and 2
    sam_enrollment_id: uuid.UUID  # pinned to version 1, a two-week streak


@dataclass(frozen=True)
class _Stopped:
    """A clock stopped at one moment of the demo's made-up past."""

    at: datetime

    def now(self) -> datetime:
        return self.at


def _run(
    runtime: Runtime, actor: Actor, key: str, handler: Handler[Any], at: datetime | None = None
) -> dict[str, Any]:
    """One command with the key `demo:plans:<key>`, run now or as of `at`."""
    bus = runtime.commands if at is None else CommandBus(runtime.log, _Stopped(at), runtime.ids)
    ctx = CommandContext(
        actor=actor,
        correlation_id="demo",
        causation_id="careloop demo",
        idempotency_key=f"demo:plans:{key}",
        request_fingerprint=f"demo:plans:{key}",
    )
    outcome = bus.run(ctx, handler, render=lambda r: Rendered(200, to_json(r)))
    if outcome.replay is not None:
        return dict(outcome.replay.body)
    body: dict[str, Any] = to_json(outcome.result)
    demo_audit.record(runtime, actor, key, outcome.position if outcome.wrote else None, body)
    return body


def _plan(runtime: Runtime, actor: Actor, plan_id: uuid.UUID) -> TreatmentPlan:
    """A plan as it is now (a read: run without a key, it records nothing)."""
    plan = runtime.commands.run(
        CommandContext(actor=actor),
        lambda u: u.get(TreatmentPlan, plan_id, "treatment plan", shared=True),
    ).result
    assert plan is not None
    return plan


def _reps(sets: int, reps: int, rest: int = 30) -> ExerciseParams:
    return ExerciseParams("reps", sets=sets, rest_between_sets_seconds=rest, reps=reps)


def _hold(sets: int, seconds: int, rest: int = 30) -> ExerciseParams:
    return ExerciseParams(
        "duration", sets=sets, rest_between_sets_seconds=rest, hold_seconds=seconds
    )


def _session(title: str, *exercises: tuple[uuid.UUID, ExerciseParams]) -> PlanSession:
    # New sessions get random ids; a replayed load reads the stored ones back.
    return PlanSession(uuid.uuid4(), title, tuple(PlanExercise(e, p) for e, p in exercises))


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), SAM_ZONE).astimezone(UTC)


def _exercises(
    runtime: Runtime, actor: Actor, prefix: str, items: list[tuple[str, str, str]], at: datetime
) -> dict[str, uuid.UUID]:
    ids = {}
    for name, region, description in items:
        body = _run(
            runtime,
            actor,
            f"{prefix}:{name}",
            partial(
                runtime.plans.create_exercise,
                name=name,
                body_region=region,
                description=description,
                video_url=f"https://videos.careloop.example/{name.lower().replace(' ', '-')}.mp4",
            ),
            at,
        )
        ids[name] = uuid.UUID(body["id"])
    return ids


def _design_and_publish(
    runtime: Runtime, actor: Actor, key: str, scope: str, content: PlanContent, at: datetime
) -> uuid.UUID:
    design = _run(
        runtime, actor, f"{key}:design", lambda u: runtime.plans.design(u, scope, content), at
    )
    plan_id = uuid.UUID(design["id"])
    _run(runtime, actor, f"{key}:publish", lambda u: runtime.plans.publish(u, plan_id), at)
    return plan_id


def _perform(
    runtime: Runtime,
    sam: Actor,
    key: str,
    enrollment_id: uuid.UUID,
    session: PlanSession,
    at: datetime,
    pain_before: int,
    pain_after: int,
    names: dict[uuid.UUID, str],
) -> None:
    """Sam performs one session as a workout at `at`: its finalize completes the session
    (the session-completion process manager, once the workers run)."""
    workouts = runtime.workouts
    prescribed = [
        {
            "exerciseId": str(e.exercise_id),
            "name": names[e.exercise_id],
            "prescribed": {k: v for k, v in vars(e.params).items() if v is not None},
        }
        for e in session.exercises
    ]
    started = _run(
        runtime,
        sam,
        f"{key}:start",
        lambda u: workouts.start(u, prescribed, enrollment_id, session.id),
        at,
    )
    workout_id = uuid.UUID(started["workoutId"])
    for i, e in enumerate(session.exercises):
        params = e.params
        actual = (
            {"sets": params.sets, "reps": params.reps}
            if params.reps is not None
            else {"sets": params.sets, "durationSeconds": params.hold_seconds}
        )
        _run(
            runtime,
            sam,
            f"{key}:record:{i}",
            partial(
                workouts.record,
                workout_id=workout_id,
                exercise_id=str(e.exercise_id),
                actual=actual,
                pain=pain_after,
                exertion=5,
                patient_notes=None,
                video_watch_percent=100.0,
                pose_accuracy=82.5,
            ),
            at + timedelta(minutes=5 * (i + 1)),
        )
    _run(
        runtime,
        sam,
        f"{key}:finalize",
        lambda u: workouts.finalize(
            u, workout_id, pain_before, pain_after, {QUESTION: "Manageable"}
        ),
        at + timedelta(minutes=30),
    )


def load_plans(runtime: Runtime, tenant_id: uuid.UUID, users: dict[str, uuid.UUID]) -> DemoPlans:
    """`users` maps the demo's names to ids: the platform admin, Hana, Maya, Sam and Lena."""
    plans = runtime.plans
    platform = Actor(users["Platform admin"], Role.PLATFORM_ADMIN, None)
    hana = Actor(users["Hana Okafor"], Role.HOSPITAL_ADMIN, tenant_id)
    maya = Actor(users["Maya Lindqvist"], Role.DOCTOR, tenant_id)
    sam = Actor(users["Sam Carter"], Role.PATIENT, tenant_id)

    now = runtime.clock.now()
    today = now.astimezone(SAM_ZONE).date()
    this_monday = today - timedelta(days=today.weekday())

    def monday(weeks_ago: int) -> date:
        return this_monday - timedelta(weeks=weeks_ago)

    designed_at = _local(monday(3), 9)

    # The library: global exercises and plans by the platform admin; Maya's own.
    ex = _exercises(
        runtime,
        platform,
        "exercise",
        [
            ("Heel slide", "knee", "Lying down, slide the heel towards you and back."),
            ("Straight-leg raise", "knee", "Lift the straight leg to the other knee's height."),
            ("Wall squat", "knee", "Back against the wall, slide down and hold."),
            ("Cat-cow", "back", "On all fours, round then arch the back slowly."),
            ("Bird dog", "back", "On all fours, reach one arm and the opposite leg."),
        ],
        designed_at,
    )
    ex |= _exercises(
        runtime,
        maya,
        "exercise:Maya",
        [
            ("Wall slide", "shoulder", "Forearms on the wall, slide up and down."),
            ("Band external rotation", "shoulder", "Elbow at your side, rotate out."),
        ],
        designed_at,
    )
    acl = PlanContent(
        title="Post-ACL Standard Protocol",
        plan_type="telerehab",
        frequency_per_week=3,
        duration_weeks=6,
        visibility="library",
        requires_approval=False,
        condition="ACL reconstruction",
        difficulty="beginner",
        body_region="knee",
        questionnaire=(QUESTION,),
        sessions=(
            _session("Mobility", (ex["Heel slide"], _reps(3, 15)), (ex["Cat-cow"], _reps(2, 10))),
            _session(
                "Strength",
                (ex["Straight-leg raise"], _reps(3, 10)),
                (ex["Wall squat"], _hold(3, 30, rest=45)),
            ),
        ),
    )
    acl_id = _design_and_publish(runtime, platform, "plan:acl", "global", acl, designed_at)
    back_id = _design_and_publish(
        runtime,
        platform,
        "plan:back",
        "global",
        PlanContent(
            title="Lower Back Relief 4 Weeks",
            plan_type="telerehab",
            frequency_per_week=2,
            duration_weeks=4,
            visibility="library",
            requires_approval=False,
            condition="Low back pain",
            difficulty="beginner",
            body_region="back",
            sessions=(
                _session("Gentle", (ex["Cat-cow"], _reps(2, 10)), (ex["Bird dog"], _reps(2, 8))),
            ),
        ),
        designed_at,
    )
    shoulder_id = _design_and_publish(
        runtime,
        maya,
        "plan:shoulder",
        "org",
        PlanContent(
            title="Dr. Lindqvist's Shoulder Program",
            plan_type="telerehab",
            frequency_per_week=3,
            duration_weeks=8,
            visibility="library",
            requires_approval=True,
            condition="Rotator cuff tendinopathy",
            difficulty="intermediate",
            body_region="shoulder",
            sessions=(
                _session(
                    "Range",
                    (ex["Wall slide"], _reps(3, 12)),
                    (ex["Band external rotation"], _reps(3, 15, rest=45)),
                ),
            ),
        ),
        designed_at,
    )

    # Sam's subscription allows telerehab and the library; Lena's the library only.
    for name, telerehab in (("Sam Carter", True), ("Lena Novak", False)):
        _run(
            runtime,
            hana,
            f"service-plan:{name}",
            partial(
                plans.set_service_plan,
                patient_id=users[name],
                telerehab_access=telerehab,
                library_access=True,
                active=True,
            ),
            designed_at,
        )

    # Maya clones the global protocol for Sam, eases it, publishes version 1 and assigns
    # it on Monday two weeks ago.
    sam_plan_id = uuid.UUID(
        _run(
            runtime,
            maya,
            "plan:sam:clone",
            lambda u: plans.clone(u, acl_id, sam.user_id),
            designed_at,
        )["id"]
    )
    cloned = _plan(runtime, maya, sam_plan_id).current
    mobility, strength = cloned.sessions
    v1 = replace(
        cloned,
        title="Sam Carter - Post-ACL weeks 1-6",
        visibility="private",
        sessions=(
            mobility,
            replace(
                strength,
                exercises=(strength.exercises[0], PlanExercise(ex["Wall squat"], _hold(2, 20))),
            ),
        ),
    )
    _run(runtime, maya, "plan:sam:v1", lambda u: plans.edit(u, sam_plan_id, v1), designed_at)
    _run(runtime, maya, "plan:sam:v1:publish", lambda u: plans.publish(u, sam_plan_id), designed_at)
    enrollment_id = uuid.UUID(
        _run(
            runtime,
            maya,
            "plan:sam:assign",
            lambda u: plans.assign(u, sam_plan_id, sam.user_id, 1),
            _local(monday(2), 8),
        )["enrollmentId"]
    )

    # Three sessions in each of the last two weeks (his frequency), pain easing.
    pinned = _plan(runtime, maya, sam_plan_id).published(1)
    assert pinned is not None
    names = {v: k for k, v in ex.items()}
    sessions = pinned.snapshot.sessions
    history = [
        (monday(2) + timedelta(days=1), 5, 4),
        (monday(2) + timedelta(days=3), 5, 4),
        (monday(2) + timedelta(days=5), 4, 4),
        (monday(1), 4, 3),
        (monday(1) + timedelta(days=2), 4, 3),
        (monday(1) + timedelta(days=4), 3, 2),
    ]
    for n, (day, before, after) in enumerate(history):
        _perform(
            runtime,
            sam,
            f"plan:sam:session:{n}",
            enrollment_id,
            sessions[n % len(sessions)],
            _local(day, 18),
            before,
            after,
            names,
        )

    # Last Sunday Maya made the strength session harder: version 2. Sam stays on version 1
    # until he is assigned version 2.
    sunday = _local(monday(0) - timedelta(days=1), 10)
    harder = replace(
        v1,
        sessions=(mobility, replace(strength, exercises=cloned.sessions[1].exercises)),
    )
    _run(runtime, maya, "plan:sam:v2", lambda u: plans.edit(u, sam_plan_id, harder), sunday)
    _run(runtime, maya, "plan:sam:v2:publish", lambda u: plans.publish(u, sam_plan_id), sunday)

    return DemoPlans(acl_id, back_id, shoulder_id, sam_plan_id, enrollment_id)


def print_plans(console: Console, plans: DemoPlans) -> None:
    console.print(
        f'Treatment plans: global "Post-ACL Standard Protocol" {plans.acl_plan_id} and '
        f'"Lower Back Relief 4 Weeks" {plans.back_plan_id}, Maya\'s org plan "Dr. '
        f"Lindqvist's Shoulder Program\" {plans.shoulder_plan_id} (approval required), all in "
        f"the library; Sam's custom plan {plans.sam_plan_id} has versions 1 and 2. Sam's "
        f"enrollment {plans.sam_enrollment_id} pins version 1: three sessions in each of the "
        "last two weeks, a two-week streak."
    )
