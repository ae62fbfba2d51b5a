"""Erasing a patient: the record, then the key. The record commits first; destroying the
key (idempotent) follows it twice over: at once, by the caller, so the answer's reads are
already erased, and by the erasure policy, which also takes the patient off every care
team, so a crash between the two never leaves a recorded erasure undone."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.utils import get_topic

from domain.careteam.connection import Connection, connection_id
from domain.people.patient import Patient
from domain.privacy.erasure import Erasure, ErasureGround, erasure_id
from domain.privacy.keys import KeyStore
from domain.shared.eventlog import EventLog
from domain.shared.reactions import ProcessManager
from domain.shared.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class PatientErased:
    patient_id: uuid.UUID
    erased_at: datetime
    already: bool  # erased before: nothing new was recorded


@dataclass(frozen=True)
class CompleteErasure:
    """Destroy the patient's key (again) and end every care-team connection."""

    patient_id: uuid.UUID


def decide_erasure(event: Erasure.Recorded) -> list[CompleteErasure]:
    return [CompleteErasure(event.patient_id)]


ERASURE_POLICY = ProcessManager(
    name="erasure_policy",
    reacts_to=(Erasure.Recorded,),
    decide=decide_erasure,
    needs=("care_team",),
)


class Privacy:
    def __init__(
        self, keys: KeyStore, therapists_of: Callable[[uuid.UUID], Sequence[uuid.UUID]]
    ) -> None:
        self.keys = keys
        self.therapists_of = therapists_of

    def erase(self, uow: UnitOfWork, patient_id: uuid.UUID, ground: ErasureGround) -> PatientErased:
        """Record the erasure of a patient of the caller's tenant (404 otherwise); a second
        erasure records nothing and answers the first one's time."""
        patient = uow.get(Patient, patient_id, "patient")
        done = uow.find(Erasure, erasure_id(patient_id))
        if isinstance(done, Erasure):
            return PatientErased(patient_id, done.erased_at, already=True)
        assert patient.tenant_id is not None
        uow.add(
            Erasure(
                id=erasure_id(patient_id),
                tenant_id=patient.tenant_id,
                patient_id=patient_id,
                erased_by=uow.actor.user_id,
                reason=ground.value,
                timestamp=uow.now,
            )
        )
        return PatientErased(patient_id, uow.now, already=False)

    def destroy_key(self, patient_id: uuid.UUID) -> None:
        self.keys.destroy(patient_id)

    def handle(self, uow: UnitOfWork, command: object) -> object:
        assert isinstance(command, CompleteErasure)
        self.keys.destroy(command.patient_id)
        ended = []
        for doctor in self.therapists_of(command.patient_id):
            connection = uow.find(Connection, connection_id(command.patient_id, doctor))
            if isinstance(connection, Connection) and connection.active:
                uow.add(connection)
                connection.archive(uow.actor.user_id, uow.now)
                ended.append(doctor)
        return tuple(ended)


def reapply_erasures(log: EventLog, keys: KeyStore) -> int:
    """Destroy the key of every patient whose erasure the log records (after a key store
    was restored from a backup older than some erasures). Returns how many keys this
    destroyed."""
    destroyed = 0
    after = 0
    topics = [get_topic(Erasure.Recorded)]
    while True:
        chunk = log.read(after, 1000, topics=topics)
        for notification in chunk:
            event = log.decode(notification)
            if isinstance(event, Erasure.Recorded) and keys.destroy(event.patient_id):
                destroyed += 1
        if len(chunk) < 1000:
            return destroyed
        after = chunk[-1].id
