"""The care team as a hypothesis state machine.

Rules: assign, self-assign, unassign, reactivate, deactivate a doctor, toggle the flag.
Invariants: the read models equal the state replayed from the events; there is never a
second connection for one pair; conversation membership equals the active care team.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from bootstrap.runtime import Runtime
from bootstrap.settings import Settings
from domain.careteam.connection import Connection, connection_id
from domain.careteam.errors import NotAssignableError
from domain.messaging.conversation import direct_conversation_id, group_conversation_id
from domain.people.errors import StaffNotActiveError
from domain.people.flags import Flag
from domain.people.staff import StaffType
from domain.shared.clock import FakeClock, SequentialIds
from domain.shared.commands import Handler
from domain.shared.context import Actor, CommandContext, Role
from domain.shared.errors import DomainError, FeatureDisabledError

R = TypeVar("R")
DOCTORS = 3
PATIENTS = 2


class CareTeamMachine(RuleBasedStateMachine):
    @initialize()
    def a_clinic_with_three_doctors_and_two_patients(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="careteam-sm-"))
        self.clock = FakeClock()
        self.rt = Runtime(Settings(data_dir=self.dir), clock=self.clock, ids=SequentialIds())
        self.platform = Actor(uuid.uuid4(), Role.PLATFORM_ADMIN, None)
        self.tenant = self.run(self.platform, lambda u: self.rt.people.create_tenant(u, "C")).id
        self.hospital = Actor(uuid.uuid4(), Role.HOSPITAL_ADMIN, self.tenant)
        self.doctors: list[uuid.UUID] = []
        for i in range(DOCTORS):
            doctor = self.run(
                self.platform,
                lambda u, i=i: self.rt.people.register_staff(
                    u, self.tenant, StaffType.DOCTOR, f"Doc{i}", "Tor", f"d{i}@c.example"
                ),
            ).id
            self.run(self.platform, lambda u, d=doctor: self.rt.people.approve_staff(u, d))
            self.doctors.append(doctor)
        self.flag = False
        self.toggle_flag()
        self.patients: list[uuid.UUID] = []
        for i in range(PATIENTS):
            invited = self.run(
                self.doctor(0),
                lambda u, i=i: self.rt.people.invite_patient(
                    u, f"Pat{i}", "Ient", f"p{i}@c.example", "UTC", []
                ),
            )
            self.patients.append(invited.patient_id)
        # The model: which pairs are connected and active, and which doctors are active.
        self.connections: dict[tuple[uuid.UUID, uuid.UUID], bool] = {
            (p, self.doctors[0]): True for p in self.patients
        }
        self.active = {d: True for d in self.doctors}

    def teardown(self) -> None:
        if hasattr(self, "rt"):
            self.rt.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------

    def doctor(self, i: int) -> Actor:
        return Actor(self.doctors[i], Role.DOCTOR, self.tenant)

    def run(self, actor: Actor, handler: Handler[R]) -> R:
        self.clock.advance(1)
        result = self.rt.commands.run(CommandContext(actor=actor), handler).result
        assert result is not None
        return result

    def expect_assign(
        self, actor_i: int, patient: uuid.UUID, target: uuid.UUID
    ) -> type[DomainError] | None:
        if not self.flag:
            return FeatureDisabledError
        if not self.active[self.doctors[actor_i]]:
            return StaffNotActiveError
        if not self.active[target]:
            return NotAssignableError
        return None

    def assign(self, actor_i: int, p: int, target: uuid.UUID | None) -> None:
        patient = self.patients[p]
        resolved = target or self.doctors[actor_i]
        expected = self.expect_assign(actor_i, patient, resolved)
        handler: Handler = lambda u: self.rt.care_teams.assign(u, patient, target)  # noqa: E731
        if expected is not None:
            with pytest.raises(expected):
                self.run(self.doctor(actor_i), handler)
            return
        was = self.connections.get((patient, resolved))
        assigned = self.run(self.doctor(actor_i), handler)
        assert assigned.reactivated is (was is False)
        self.connections[(patient, resolved)] = True

    # -- rules ---------------------------------------------------------------------

    @rule(
        actor=st.integers(0, DOCTORS - 1),
        p=st.integers(0, PATIENTS - 1),
        t=st.integers(0, DOCTORS - 1),
    )
    def assign_another_doctor(self, actor: int, p: int, t: int) -> None:
        self.assign(actor, p, self.doctors[t])

    @rule(actor=st.integers(0, DOCTORS - 1), p=st.integers(0, PATIENTS - 1))
    def assign_to_me(self, actor: int, p: int) -> None:
        self.assign(actor, p, None)

    @rule(data=st.data())
    def reactivate_an_archived_pair(self, data: st.DataObject) -> None:
        archived = sorted(pair for pair, on in self.connections.items() if not on)
        if archived:
            patient, doctor = data.draw(st.sampled_from(archived))
            self.assign(self.doctors.index(doctor), self.patients.index(patient), None)

    @rule(p=st.integers(0, PATIENTS - 1), d=st.integers(0, DOCTORS - 1))
    def unassign(self, p: int, d: int) -> None:
        patient, doctor = self.patients[p], self.doctors[d]
        handler: Handler = lambda u: self.rt.care_teams.unassign(u, patient, doctor)  # noqa: E731
        if (patient, doctor) not in self.connections:
            with pytest.raises(DomainError):
                self.run(self.hospital, handler)
            return
        self.run(self.hospital, handler)
        self.connections[(patient, doctor)] = False

    @rule(d=st.integers(0, DOCTORS - 1))
    def deactivate_a_doctor(self, d: int) -> None:
        self.run(self.platform, lambda u: self.rt.people.deactivate_staff(u, self.doctors[d]))
        self.active[self.doctors[d]] = False

    @rule()
    def toggle_flag(self) -> None:
        self.flag = not self.flag
        flag = Flag.THERAPIST_PATIENT_ASSIGNMENT.value
        self.run(self.platform, lambda u: self.rt.people.set_flag(u, self.tenant, flag, self.flag))

    # -- invariants ----------------------------------------------------------------

    def team(self, patient: uuid.UUID) -> set[str]:
        return {
            str(d)
            for (p, d), on in self.connections.items()
            if p == patient and on and self.active[d]
        }

    @invariant()
    def read_models_equal_the_state_replayed_from_events(self) -> None:
        self.rt.catch_up()
        for patient in self.patients:
            replayed = set()
            for doctor in self.doctors:
                connection = self.rt.log.find(connection_id(patient, doctor))
                staff = self.rt.log.find(doctor)
                if isinstance(connection, Connection) and connection.active and staff.active:
                    replayed.add(str(doctor))
            assert replayed == self.team(patient)
            entry = self.rt.views.care_team.team_of(str(patient))
            assert entry is not None
            assert {t["id"] for t in entry[1]} == replayed

    @invariant()
    def no_pair_is_ever_connected_twice(self) -> None:
        assigned = [
            (e.patient_id, e.doctor_id)
            for n in self.rt.log.read(0, 10_000)
            if isinstance(e := self.rt.log.decode(n), Connection.Assigned)
        ]
        assert len(assigned) == len(set(assigned))

    @invariant()
    def conversation_membership_equals_the_active_care_team(self) -> None:
        self.rt.catch_up()
        view = self.rt.views.conversations
        for patient in self.patients:
            team = self.team(patient)
            group = view.conversation(str(group_conversation_id(patient)))
            if len(team) >= 2:
                assert group is not None
            if group is not None:
                assert set(group["participants"]) == {str(patient), *team}
            for doctor in self.doctors:
                direct = view.conversation(str(direct_conversation_id(patient, doctor)))
                if (patient, doctor) in self.connections:
                    assert direct is not None
                    expected = (
                        {str(patient), str(doctor)} if str(doctor) in team else {str(patient)}
                    )
                    assert set(direct["participants"]) == expected
                else:
                    assert direct is None


CareTeamMachine.TestCase.settings = settings(
    max_examples=20,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_the_care_team_state_machine = CareTeamMachine.TestCase
