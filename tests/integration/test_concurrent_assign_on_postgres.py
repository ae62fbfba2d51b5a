"""Two "Assign to Me" calls for the same pair at the same moment, on real PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

from domain.careteam.connection import Connection
from domain.people.flags import Flag
from domain.people.staff import StaffType
from domain.shared.commands import CommandOutcome
from domain.shared.context import Actor, CommandContext, Role
from tests.support.app import make_runtime

RACES = 8


def test_concurrent_assign_to_me_calls_produce_one_connection(tmp_path: Path) -> None:
    with make_runtime("postgresql", tmp_path) as rt:
        platform = Actor(uuid.uuid4(), Role.PLATFORM_ADMIN, None)

        def run(actor: Actor, handler) -> CommandOutcome:  # type: ignore[no-untyped-def]
            return rt.commands.run(CommandContext(actor=actor), handler)

        tenant = run(platform, lambda u: rt.people.create_tenant(u, "C")).result.id
        run(
            platform,
            lambda u: rt.people.set_flag(u, tenant, Flag.THERAPIST_PATIENT_ASSIGNMENT.value, True),
        )
        doctors = []
        for name in ("Inviter", "Racer"):
            d = run(
                platform,
                lambda u, n=name: rt.people.register_staff(
                    u, tenant, StaffType.DOCTOR, n, "Doc", f"{n}@c.example"
                ),
            ).result.id
            run(platform, lambda u, d=d: rt.people.approve_staff(u, d))
            doctors.append(d)
        inviter, racer = (Actor(d, Role.DOCTOR, tenant) for d in doctors)
        patients = [
            run(
                inviter,
                lambda u, i=i: rt.people.invite_patient(
                    u, f"P{i}", "X", f"p{i}@c.example", "UTC", []
                ),
            ).result.patient_id
            for i in range(RACES)
        ]

        outcomes: list[CommandOutcome] = []
        errors: list[BaseException] = []
        lock = threading.Lock()
        for patient in patients:
            barrier = threading.Barrier(2)

            def call(patient: uuid.UUID = patient, barrier: threading.Barrier = barrier) -> None:
                barrier.wait()
                try:
                    outcome = run(racer, lambda u: rt.care_teams.assign(u, patient, None))
                    with lock:
                        outcomes.append(outcome)
                except BaseException as e:  # surfaced below
                    errors.append(e)

            threads = [threading.Thread(target=call) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        assert errors == []
        assert len(outcomes) == 2 * RACES
        assert all(o.result.reactivated is False for o in outcomes)
        assigned = [
            (e.patient_id, e.doctor_id)
            for n in rt.log.read(0, 100_000)
            if isinstance(e := rt.log.decode(n), Connection.Assigned)
            and e.doctor_id == racer.user_id
        ]
        assert sorted(assigned) == sorted((p, racer.user_id) for p in patients)
