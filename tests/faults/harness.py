"""Real CareLoop processes for the fault tests: start them, kill them with SIGKILL, drive
bursts of work at them over HTTP, and check the feedback loop's invariants afterwards by
reading the event store itself.

Rounds: `CARELOOP_FAULT_ROUNDS` (CI default below); a longer local run sets it higher.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from api.auth import mint_token
from bootstrap.runtime import Runtime
from bootstrap.settings import Settings
from domain.messaging.message import Message
from domain.outbox.delivery import Delivery
from domain.shared.context import Role
from domain.workouts.feedback import note_card_id, summary_card_id
from domain.workouts.window import FeedbackWindow, window_id
from domain.workouts.workout import Workout
from projections.platform.revealing import RevealingStore
from projections.platform.runner import ProjectionRunner
from projections.platform.store import SQLiteReadStore

CARELOOP = str(Path(sys.executable).with_name("careloop"))
SECRET = "careloop-fault-tests-secret-of-more-than-32-bytes"
ROUNDS = int(os.environ.get("CARELOOP_FAULT_ROUNDS", "0") or 0)
WINDOW_SECONDS = 1.0
SWEEP_SECONDS = 0.5
LEASE_SECONDS = 2.0
PLATFORM = uuid.UUID("00000000-0000-4000-a000-0000000000aa")


def rounds(ci_default: int) -> int:
    return ROUNDS or ci_default


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bearer(role: Role, user: Any, tenant: Any = None) -> dict[str, str]:
    tenant_id = uuid.UUID(str(tenant)) if tenant else None
    token = mint_token(SECRET, uuid.UUID(str(user)), role, tenant_id, 3600)
    return {"Authorization": f"Bearer {token}"}


def fault_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARELOOP_")}
    env.update(
        CARELOOP_JWT_SECRET=SECRET,
        CARELOOP_FEEDBACK_WINDOW_SECONDS=str(WINDOW_SECONDS),
        CARELOOP_SWEEP_INTERVAL_SECONDS=str(SWEEP_SECONDS),
        CARELOOP_DELIVERY_LEASE_SECONDS=str(LEASE_SECONDS),
        PYTHONUNBUFFERED="1",
    )
    env.update(settings)
    return env


@dataclass
class Proc:
    """One `careloop` process, restartable after a SIGKILL."""

    args: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    kills: int = 0

    def start(self) -> None:
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            [CARELOOP, *self.args],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()

    def kill9(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.kills += 1

    def stop(self) -> None:
        """A graceful stop (SIGINT), so the final state is whatever the code commits on
        the way out; SIGKILL if it does not stop in time."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


class Api:
    """An HTTP client of a served CareLoop, which waits out restarts."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.client = httpx.Client(base_url=self.base, timeout=30)
        self.admin = bearer(Role.PLATFORM_ADMIN, PLATFORM)

    def wait_healthy(self, proc: Proc, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.process is not None and proc.process.poll() is not None:
                raise AssertionError(f"server exited:\n{proc.tail()}")
            try:
                if self.client.get("/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not healthy:\n{proc.tail()}")

    def ok(
        self, method: str, path: str, headers: Mapping[str, str], expect: int = 200, **kw: Any
    ) -> Any:
        response = self.client.request(method, path, headers=dict(headers), **kw)
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        return response.json()

    def close(self) -> None:
        self.client.close()


@dataclass
class Clinic:
    """A tenant with the feedback flags on, Maya and Tomas, and patients of both."""

    tenant: str
    doctors: dict[str, dict[str, str]]  # id -> headers
    patients: dict[str, dict[str, str]]

    @classmethod
    def create(cls, api: Api, patients: int = 2) -> Clinic:
        tenant = api.ok("POST", "/v1/tenants", api.admin, 201, json={"name": "Faults"})["id"]
        for flag in ("feedbackNotifications", "therapistPatientAssignment"):
            api.ok(
                "PUT",
                f"/v1/tenants/{tenant}/feature-flags/{flag}",
                api.admin,
                json={"enabled": True},
            )
        doctors = {}
        for first in ("Maya", "Tomas"):
            body = {
                "type": "DOCTOR",
                "firstName": first,
                "lastName": "Lind",
                "email": f"{first.lower()}.{uuid.uuid4().hex[:6]}@clinic.example",
            }
            doctor = api.ok("POST", f"/v1/tenants/{tenant}/staff", api.admin, 201, json=body)["id"]
            api.ok("POST", f"/v1/staff/{doctor}/approve", api.admin)
            doctors[doctor] = bearer(Role.DOCTOR, doctor, tenant)
        first_doctor, second_doctor = list(doctors)
        people = {}
        for i in range(patients):
            invited = api.ok(
                "POST",
                "/v1/patients/invite",
                doctors[first_doctor],
                201,
                json={
                    "firstName": f"Pat{i}",
                    "lastName": "Ient",
                    "email": f"p{i}.{uuid.uuid4().hex[:6]}@patients.example",
                    "additionalTherapistIds": [second_doctor],
                },
            )
            people[invited["patientId"]] = bearer(Role.PATIENT, invited["patientId"], tenant)
        for headers in [*doctors.values(), *people.values()]:  # everyone has a device
            device = {"token": f"ExponentPushToken[{uuid.uuid4().hex}]", "platform": "ios"}
            api.ok("PUT", "/v1/me/push-tokens", headers, json=device)
        return cls(tenant, doctors, people)


@dataclass
class Ledger:
    """What the service acknowledged: the invariants are checked against this."""

    finalized: set[str] = field(default_factory=set)  # workout ids
    notes: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    commands: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def note(self, workout: str, doctor: str, exercise: str, text: str) -> None:
        self.notes.setdefault((workout, doctor), {})[exercise] = text


EXERCISES = ["squat", "plank"]


def started_workout(api: Api, headers: Mapping[str, str]) -> str:
    body = {
        "exercises": [
            {"exerciseId": e, "name": e.title(), "prescribed": {"sets": 3}} for e in EXERCISES
        ]
    }
    workout = str(api.ok("POST", "/v1/workouts", headers, 201, json=body)["workoutId"])
    api.ok(
        "PUT",
        f"/v1/workouts/{workout}/exercises/squat",
        headers,
        json={"actual": {"sets": 3}, "pain": 9, "exertion": 5},
    )
    return workout


def burst(
    api: Api,
    clinic: Clinic,
    ledger: Ledger,
    finalizes: int,
    notes: int,
    during: Callable[[], None] | None = None,
) -> None:
    """Concurrent finalizes of hard workouts and note saves on workouts finalized before;
    `during` runs in the middle of the burst (a kill, a flush). Returns when every request
    has answered; acknowledged ones go into the ledger."""
    patients = list(clinic.patients.values())
    chosen = [random.choice(patients) for _ in range(finalizes)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        started = list(pool.map(lambda h: started_workout(api, h), chosen))
    owner = dict(zip(started, chosen, strict=True))
    ready = list(owner)
    noted = random.sample(sorted(ledger.finalized), min(notes, len(ledger.finalized)))
    jobs: list[Callable[[], None]] = []
    for workout in ready:
        jobs.append(lambda w=workout: _finalize(api, ledger, w, owner[w]))
    for workout in noted:
        doctor = random.choice(list(clinic.doctors))
        text = random.choice(["Fewer reps", "Good form", "Ice afterwards", "Rest a day"])
        exercise = random.choice(EXERCISES)
        jobs.append(
            lambda w=workout, d=doctor, e=exercise, t=text: _note(api, clinic, ledger, w, d, e, t)
        )
    random.shuffle(jobs)
    if during is not None:
        jobs.insert(len(jobs) // 2, during)
    with ThreadPoolExecutor(max_workers=16) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def _finalize(api: Api, ledger: Ledger, workout: str, headers: Mapping[str, str]) -> None:
    try:
        response = api.client.post(f"/v1/workouts/{workout}/finalize", headers=dict(headers))
    except httpx.HTTPError as e:
        ledger.errors[type(e).__name__] += 1
        return
    if response.status_code == 200:
        ledger.finalized.add(workout)
        ledger.commands += 1
    else:
        ledger.errors[f"finalize {response.status_code}"] += 1


def _note(
    api: Api, clinic: Clinic, ledger: Ledger, workout: str, doctor: str, exercise: str, text: str
) -> None:
    try:
        response = api.client.put(
            f"/v1/workouts/{workout}/exercises/{exercise}/note",
            headers=clinic.doctors[doctor],
            json={"text": text},
        )
    except httpx.HTTPError as e:
        ledger.errors[type(e).__name__] += 1
        return
    if response.status_code == 200:
        ledger.note(workout, doctor, exercise, text)
        ledger.commands += 1
    else:
        ledger.errors[f"note {response.status_code}"] += 1


# -- the invariants ---------------------------------------------------------------------------


@dataclass
class Findings:
    problems: list[str]
    summary_cards: int = 0
    note_cards: int = 0
    pushes: int = 0
    duplicates: int = 0
    lost: int = 0


def check(runtime: Runtime, clinic: Clinic, ledger: Ledger) -> Findings:
    """Every acknowledged finalize: one summary card and one push per therapist, sent;
    every noted window: closed into exactly one card revision per closing, the card
    showing the last acknowledged notes, and one push to the patient."""
    log = runtime.log
    events = [log.decode(n) for n in _all(runtime)]
    problems: list[str] = []
    findings = Findings(problems)
    doctors = {uuid.UUID(d) for d in clinic.doctors}
    summaries: Counter[str] = Counter()
    cards: dict[uuid.UUID, int] = Counter()
    queued: dict[uuid.UUID, Delivery.Queued] = {}
    sent: Counter[uuid.UUID] = Counter()
    closings: dict[uuid.UUID, list[str]] = defaultdict(list)
    finalized: set[str] = set()
    for event in events:
        if isinstance(event, Message.Posted) and event.message_type == "PATIENT_FEEDBACK_SUMMARY":
            summaries[str(event.card["workoutId"])] += 1
        if isinstance(event, Message.Posted | Message.Revised):
            cards[event.originator_id] += 1
        if isinstance(event, Delivery.Queued):
            queued[event.originator_id] = event
        if isinstance(event, Delivery.Sent):
            sent[event.originator_id] += 1
        if isinstance(event, FeedbackWindow.Closed):
            closings[event.originator_id].append(event.outcome)
        if isinstance(event, Workout.Finalized):
            finalized.add(str(event.originator_id))
    pushes_by_message: dict[str, list[uuid.UUID]] = defaultdict(list)
    for delivery in queued.values():
        pushes_by_message[delivery.payload["data"]["messageId"]].append(delivery.recipient_id)
        if sent[delivery.originator_id] != 1:
            problems.append(
                f"delivery {delivery.originator_id} sent {sent[delivery.originator_id]}x"
            )
    findings.pushes = sum(sent.values())

    for workout in sorted(ledger.finalized):
        if workout not in finalized:
            problems.append(f"acknowledged finalize of {workout} is not in the log")
            findings.lost += 1
        count = summaries[workout]
        findings.summary_cards += count
        if count != 1:
            problems.append(f"workout {workout}: {count} summary cards")
            findings.duplicates += max(0, count - 1)
            findings.lost += count == 0
        card = str(summary_card_id(uuid.UUID(workout)))
        recipients = pushes_by_message.get(card, [])
        if sorted(recipients) != sorted(doctors):
            problems.append(f"workout {workout}: summary pushes to {recipients}")
    for (workout, doctor), notes in sorted(ledger.notes.items()):
        window = log.find(window_id(uuid.UUID(workout), uuid.UUID(doctor)))
        if window is None or window.is_open:
            problems.append(f"window {workout}/{doctor} is not closed")
            continue
        card_id = note_card_id(uuid.UUID(workout), uuid.UUID(doctor))
        card = log.find(card_id)
        changed = [o for o in closings[window.id] if o in ("posted", "revised", "withdrawn")]
        if cards[card_id] != len(changed):
            problems.append(f"card {card_id}: {cards[card_id]} revisions for {changed}")
            findings.duplicates += 1
        shown = {e["exerciseId"]: e["note"].text for e in card.card["exercises"]} if card else {}
        saved = log.find(uuid.UUID(workout)).notes.get(doctor, {})
        stored = {exercise: note.text for exercise, note in saved.items()}
        if shown != stored or not set(notes.items()) <= set(stored.items()) | set(shown.items()):
            problems.append(f"card {card_id} shows {shown}, the workout has {stored}")
        findings.note_cards += cards[card_id]
        if len(pushes_by_message.get(str(card_id), [])) != 1:
            problems.append(f"card {card_id}: pushes {pushes_by_message.get(str(card_id))}")
    return findings


def _all(runtime: Runtime) -> Iterator[Any]:
    position = 0
    while True:
        page = runtime.log.read(position, 5000)
        if not page:
            return
        yield from page
        position = page[-1].id


def eventually_consistent(
    make_runtime: Callable[[], Runtime], clinic: Clinic, ledger: Ledger, timeout: float = 60
) -> Findings:
    deadline = time.monotonic() + timeout
    while True:
        runtime = make_runtime()
        try:
            findings = check(runtime, clinic, ledger)
        finally:
            runtime.close()
        if not findings.problems or time.monotonic() > deadline:
            return findings
        time.sleep(0.5)


def read_models_skipped(runtime: Runtime, scratch: Path) -> list[str]:
    """Each read model at the head and equal, row for row, to one folded afresh from the
    log into a scratch store: a skipped (or doubly applied) event shows as a difference."""
    problems = []
    head = runtime.log.head()
    fresh = SQLiteReadStore(scratch / "rebuilt.sqlite3")
    try:
        for projection in runtime.projections:
            live = runtime.store.position(projection.name)
            if live != head:
                problems.append(f"{projection.name} at {live}, head {head}")
            ProjectionRunner(projection, runtime.log, fresh, 2000).catch_up()
            for table in projection.tables:
                # Compared opened: two folds may keep the ciphertexts of two events that
                # hold the same personal text.
                live_rows = RevealingStore(runtime.store, runtime.sealer).list(table)
                if live_rows != RevealingStore(fresh, runtime.sealer).list(table):
                    problems.append(f"{projection.name}.{table} differs from a rebuild")
    finally:
        fresh.close()
    return problems


def embedded_runtime(data_dir: Path) -> Runtime:
    return Runtime(Settings(data_dir=data_dir, jwt_secret=SECRET))


def report(tmp: Path, name: str, kills: int, ledger: Ledger, findings: Findings, t0: float) -> None:
    """The figures docs/reliability.md quotes: printed (pytest -s shows them) and appended
    to the file named by CARELOOP_FAULT_FIGURES, if set."""
    figures = {
        "fault": name,
        "kills": kills,
        "acknowledged_commands": ledger.commands,
        "acknowledged_finalizes": len(ledger.finalized),
        "noted_windows": len(ledger.notes),
        "summary_cards": findings.summary_cards,
        "note_card_revisions": findings.note_cards,
        "pushes_sent": findings.pushes,
        "duplicates": findings.duplicates,
        "lost": findings.lost,
        "seconds": round(time.monotonic() - t0, 1),
    }
    publish(figures)


def publish(figures: Mapping[str, Any]) -> None:
    """Print a fault test's figures and append them to CARELOOP_FAULT_FIGURES, if set."""
    print(json.dumps(figures))
    out = os.environ.get("CARELOOP_FAULT_FIGURES")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps(figures) + "\n")
