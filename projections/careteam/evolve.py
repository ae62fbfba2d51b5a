"""Pure folds of the care-team read model: each patient's active connections (the
directory's patient fold), each doctor's status.

Who is *connected* (an active connection to a doctor who is still active) is worked out
when the rows are read, so deactivating a doctor changes one row, not one per patient.
"""

from __future__ import annotations

from typing import Any

from domain.people.staff import Staff
from projections.directory.evolve import evolve_patient
from projections.platform.store import Doc

# A patient's row is the directory's: who they are and which connections are active.
__all__ = [
    "KEY",
    "caseload_changes",
    "caseload_range",
    "connected_therapists",
    "evolve_doctor",
    "evolve_patient",
]

KEY = "_key"  # the caseload's indexed field
_SEP = "|"


def caseload_range(doctor_id: str) -> tuple[str, str]:
    """The (after, below) bounds of one doctor's caseload keys (`}` follows `|`)."""
    return f"{doctor_id}{_SEP}", f"{doctor_id}}}"


def caseload_changes(before: Doc | None, after: Doc) -> tuple[list[str], list[tuple[str, Doc]]]:
    """The caseload rows (one per active connection, keyed doctor then patient) that a
    patient's change removes and adds: "My Patients" is then one index range."""
    patient = after["id"]
    old = set((before or {}).get("therapistIds", []))
    new = set(after["therapistIds"])
    gone = [f"{doctor}:{patient}" for doctor in sorted(old - new)]
    added = [
        (
            f"{doctor}:{patient}",
            {
                "id": f"{doctor}:{patient}",
                "tenantId": after["tenantId"],
                "doctorId": doctor,
                "patientId": patient,
                KEY: f"{doctor}{_SEP}{patient}",
            },
        )
        for doctor in sorted(new - old)
    ]
    return gone, added


def evolve_doctor(row: Doc | None, event: Any) -> Doc | None:
    if isinstance(event, Staff.Registered):
        if event.staff_type != "DOCTOR":
            return None
        return {
            "id": str(event.originator_id),
            "tenantId": str(event.tenant_id),
            "firstName": event.first_name,
            "lastName": event.last_name,
            "active": True,
            "approved": False,
        }
    if row is None:
        return None
    if isinstance(event, Staff.Approved):
        return {**row, "approved": True}
    if isinstance(event, Staff.Deactivated):
        return {**row, "active": False}
    return row


def connected_therapists(patient: Doc, doctors: dict[str, Doc]) -> list[Doc]:
    """The patient's care team: active connections to active doctors, by name."""
    team = [doctors[d] for d in patient["therapistIds"] if d in doctors and doctors[d]["active"]]
    team.sort(key=lambda d: (d["lastName"], d["firstName"], d["id"]))
    return [{"id": d["id"], "firstName": d["firstName"], "lastName": d["lastName"]} for d in team]
