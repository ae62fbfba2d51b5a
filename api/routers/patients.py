"""Patients: invitation by a doctor, and the patient directory."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.commands import execute
from api.deps import CommandDep, RuntimeDep, read_model, require, tenant_scope, visible
from api.openapi import errors
from api.schemas.people import NewPatient, PatientInvited, PatientOut
from domain.shared.context import Actor, Role
from domain.shared.errors import NotFoundError
from projections.directory.projection import DirectoryProjection

router = APIRouter(tags=["patients"])

Doctor = Annotated[Actor, Depends(require(Role.DOCTOR))]
PatientAdmin = Annotated[
    Actor, Depends(require(Role.PLATFORM_ADMIN, Role.HOSPITAL_ADMIN, Role.PX_ADMIN))
]
DirectoryCurrent = Depends(read_model(DirectoryProjection.name))
# Who may read a patient's record: every role but the auditor (history and audit only).
PatientReader = Annotated[
    Actor,
    Depends(
        require(Role.PATIENT, Role.DOCTOR, Role.HOSPITAL_ADMIN, Role.PX_ADMIN, Role.PLATFORM_ADMIN)
    ),
]


@router.post("/v1/patients/invite", status_code=201, response_model=PatientInvited)
def invite_patient(body: NewPatient, _: Doctor, runtime: RuntimeDep, ctx: CommandDep) -> Any:
    return execute(
        runtime,
        ctx,
        lambda uow: runtime.people.invite_patient(
            uow,
            body.first_name,
            body.last_name,
            str(body.email),
            body.timezone,
            body.additional_therapist_ids,
        ),
        201,
    )


@router.get(
    "/v1/tenants/{tenantId}/patients",
    response_model=list[PatientOut],
    dependencies=[DirectoryCurrent],
    responses=errors((404, "No such tenant.")),
)
def list_patients(tenantId: uuid.UUID, actor: PatientAdmin, runtime: RuntimeDep) -> Any:
    return runtime.views.directory.patients(tenant_scope(runtime, actor, tenantId))


@router.get(
    "/v1/patients/{patientId}",
    response_model=PatientOut,
    dependencies=[DirectoryCurrent],
    responses=errors(404),
)
def get_patient(patientId: uuid.UUID, actor: PatientReader, runtime: RuntimeDep) -> Any:
    row = visible(actor, runtime.views.directory.patient(str(patientId)), "patient", patientId)
    # Within the tenant: a patient sees only themself, a doctor only connected patients.
    uid = str(actor.user_id)
    if (actor.role is Role.PATIENT and row["id"] != uid) or (
        actor.role is Role.DOCTOR and uid not in row["therapistIds"]
    ):
        raise NotFoundError(f"No patient with id {patientId}.")
    return row
