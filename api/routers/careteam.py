"""Care teams (spec: therapist-patient-assignment)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.commands import execute
from api.deps import CommandDep, RuntimeDep, read_model, require
from api.openapi import errors
from api.schemas.careteam import (
    Assigned,
    AssignRequest,
    PatientSummary,
    TherapistInfo,
    Unassigned,
    UnassignRequest,
)
from domain.shared.context import Actor, Role
from projections.careteam.projection import CareTeamProjection

router = APIRouter(prefix="/v2/doctor/patients", tags=["care team"])

Doctor = Annotated[Actor, Depends(require(Role.DOCTOR))]
Assigner = Annotated[Actor, Depends(require(Role.DOCTOR, Role.HOSPITAL_ADMIN))]
CareTeamCurrent = Depends(read_model(CareTeamProjection.name))


@router.get("/tenant-doctors", response_model=list[TherapistInfo], dependencies=[CareTeamCurrent])
def list_tenant_doctors(actor: Doctor, runtime: RuntimeDep) -> Any:
    """Active, approved doctors of the caller's tenant, the caller excluded."""
    return runtime.care_team_queries.tenant_doctors(actor)


@router.post(
    "/assign",
    response_model=Assigned,
    responses=errors((404, "No such patient or doctor in the caller's tenant.")),
)
def assign_patient(body: AssignRequest, _: Assigner, runtime: RuntimeDep, ctx: CommandDep) -> Any:
    """Assign a doctor (yourself when targetDoctorId is absent) to a patient."""
    return execute(
        runtime,
        ctx,
        lambda uow: runtime.care_teams.assign(uow, body.patient_id, body.target_doctor_id),
    )


@router.post(
    "/unassign",
    response_model=Unassigned,
    responses=errors((404, "No such patient, or the doctor is not connected to them.")),
)
def unassign_patient(
    body: UnassignRequest, _: Assigner, runtime: RuntimeDep, ctx: CommandDep
) -> Any:
    """Archive a connection (a hospital admin, or the doctor themself)."""
    return execute(
        runtime, ctx, lambda uow: runtime.care_teams.unassign(uow, body.patient_id, body.doctor_id)
    )


@router.get(
    "",
    response_model=list[PatientSummary],
    dependencies=[CareTeamCurrent],
)
def list_my_patients(actor: Doctor, runtime: RuntimeDep) -> Any:
    """My Patients: care-team fields only while therapistPatientAssignment is on."""
    return runtime.care_team_queries.my_patients(actor)


@router.get("/all", response_model=list[PatientSummary], dependencies=[CareTeamCurrent])
def list_all_patients(actor: Doctor, runtime: RuntimeDep) -> Any:
    """All Active Patients; requires allActivePatientsDashboard."""
    return runtime.care_team_queries.all_patients(actor)
