"""A patient's export (GDPR Art. 15, 20): every aggregate whose events name the patient,
its current state and every event, rendered like the history endpoints (personal text
opened, or null with `erased: true` once the patient was erased)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.privacy.personal import PersonalText
from domain.shared.eventlog import EventLog
from domain.shared.history import data_of, state_of, to_json, type_name

CHUNK = 1000


def mentions(value: object, patient_id: uuid.UUID, depth: int = 0) -> bool:
    """The patient's id, or personal text sealed with their key, anywhere in `value`."""
    if value == patient_id:
        return True
    if isinstance(value, PersonalText):
        return value.subject == patient_id
    if depth > 4:
        return False
    if isinstance(value, Mapping):
        return any(mentions(v, patient_id, depth + 1) for v in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(mentions(v, patient_id, depth + 1) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return any(
            mentions(getattr(value, f.name), patient_id, depth + 1)
            for f in dataclasses.fields(value)
        )
    return False


def related(log: EventLog, patient_id: uuid.UUID) -> list[uuid.UUID]:
    """The aggregates with an event that names the patient, in log order."""
    found: dict[uuid.UUID, None] = {patient_id: None}
    after = 0
    while True:
        chunk = log.read(after, CHUNK)
        for notification in chunk:
            event = log.decode(notification)
            if event.originator_id not in found and mentions(vars(event), patient_id):
                found[event.originator_id] = None
        if len(chunk) < CHUNK:
            return list(found)
        after = chunk[-1].id


def patient_export(log: EventLog, patient_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    aggregates = []
    for aggregate_id in related(log, patient_id):
        aggregate = log.find(aggregate_id)
        if aggregate is None:
            continue
        events = log.stream(aggregate_id)
        state = state_of(aggregate)
        aggregates.append(
            {
                "aggregateId": str(aggregate_id),
                "aggregateType": type(aggregate).__name__,
                "version": aggregate.version,
                "state": state,
                "events": [
                    {
                        "version": event.originator_version,
                        "type": type_name(event),
                        "recordedAt": to_json(getattr(event, "timestamp", None)),
                        "data": data_of(event),
                    }
                    for event in events
                ],
            }
        )
    return {
        "patientId": str(patient_id),
        "exportedAt": now.isoformat(),
        "aggregates": aggregates,
    }
