"""Queries of the care-team read model. Every query is within one tenant.

A doctor's patients are one range of the caseload index; the therapists of a list of
patients are read by id. Two lists are a tenant's whole partition because that is their
answer: the tenant's active, approved doctors and the "all active patients" dashboard.
Lists of patients are ordered here, after they are read, because the order is by name and
a patient's name is sealed in the store (no index can hold it)."""

from __future__ import annotations

from collections.abc import Iterable

from projections.careteam.evolve import KEY, caseload_range, connected_therapists
from projections.careteam.projection import CASELOAD, DOCTORS, PATIENTS, CareTeamProjection
from projections.platform.store import Doc, ReadStore

PAGE = 500


def _by_name(name: object) -> tuple[bool, str]:
    """A name's place in a listing: opened names by their text, erased ones (None) after
    every name. Over the domain's store a name is still sealed, and sorts as erased."""
    return (False, name) if isinstance(name, str) else (True, "")


class CareTeamView:
    name = CareTeamProjection.name

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def _doctors(self, tenant_id: str) -> dict[str, Doc]:
        return {d["id"]: d for d in self.store.list(DOCTORS, tenant_id)}

    def _therapists_of(self, patients: Iterable[Doc]) -> dict[str, Doc]:
        """The doctor rows of every therapist connected to one of `patients`, by id."""
        ids = sorted({d for p in patients for d in p["therapistIds"]})
        return self.store.get_many(DOCTORS, ids)

    def _caseload(self, tenant_id: str, doctor_id: str) -> list[Doc]:
        """The patients a doctor is connected to: their caseload range, then their rows."""
        after, below = caseload_range(doctor_id)
        ids: list[str] = []
        while True:
            page = self.store.page(CASELOAD, None, after, below, PAGE)
            ids.extend(r["patientId"] for r in page)
            if len(page) < PAGE:
                break
            after = page[-1][KEY]
        found = self.store.get_many(PATIENTS, ids)
        return [found[i] for i in ids if i in found and found[i]["tenantId"] == tenant_id]

    def tenant_doctors(self, tenant_id: str, excluding: str | None = None) -> list[Doc]:
        """Active, approved doctors of the tenant, by name."""
        rows = [
            d
            for d in self._doctors(tenant_id).values()
            if d["active"] and d["approved"] and d["id"] != excluding
        ]
        rows.sort(key=lambda d: (d["lastName"], d["firstName"], d["id"]))
        return [
            {"id": d["id"], "firstName": d["firstName"], "lastName": d["lastName"]} for d in rows
        ]

    def patients(self, tenant_id: str, viewer_id: str, only_mine: bool) -> list[Doc]:
        """Active patients with `connectedTherapists` and `isConnectedToMe`; with
        `only_mine`, just those connected to the viewer. By name when read through the
        API's (opening) store."""
        patients = (
            self._caseload(tenant_id, viewer_id)
            if only_mine
            else self.store.list(PATIENTS, tenant_id)
        )
        doctors = self._therapists_of(patients)
        rows = []
        for patient in patients:
            if not patient["active"]:
                continue
            team = connected_therapists(patient, doctors)
            mine = any(t["id"] == viewer_id for t in team)
            if only_mine and not mine:
                continue
            row = {
                "id": patient["id"],
                "firstName": patient["firstName"],
                "lastName": patient["lastName"],
                "email": patient["email"],
                "timezone": patient["timezone"],
                "connectedTherapists": team,
                "isConnectedToMe": mine,
            }
            if patient.get("erased"):
                row["erased"] = True
            rows.append(row)
        rows.sort(key=lambda p: (_by_name(p["lastName"]), _by_name(p["firstName"]), p["id"]))
        return rows

    def therapist_ids(self, patient_id: str) -> list[str]:
        """The ids of the therapists connected to a patient (one row read), unchecked:
        for callers that check each against its aggregates."""
        patient = self.store.get(PATIENTS, patient_id)
        return list(patient["therapistIds"]) if patient is not None else []

    def team_of(self, patient_id: str) -> tuple[str, list[Doc]] | None:
        """(tenant id, connected therapists) of one patient, or None if unknown."""
        patient = self.store.get(PATIENTS, patient_id)
        if patient is None:
            return None
        return patient["tenantId"], connected_therapists(patient, self._therapists_of([patient]))
