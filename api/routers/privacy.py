"""A patient's erasure (crypto-shredding) and export (GDPR Art. 15, 17, 20): for their
clinic's hospital admins. docs/privacy.md says what each guarantees."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.commands import execute
from api.deps import CommandDep, RuntimeDep, require
from api.openapi import errors
from api.schemas.privacy import EraseRequest, PatientErasedOut, PatientExport
from domain.people.patient import Patient
from domain.privacy.export import patient_export
from domain.privacy.personal import reveal
from domain.shared.context import Actor, Role
from domain.shared.errors import NotFoundError

router = APIRouter(prefix="/v1/patients", tags=["privacy"])

HospitalAdmin = Annotated[Actor, Depends(require(Role.HOSPITAL_ADMIN))]


@router.post(
    "/{patientId}/erase",
    status_code=202,
    response_model=PatientErasedOut,
    responses=errors(404),
)
def erase_patient(
    patientId: uuid.UUID,
    body: EraseRequest,
    _: HospitalAdmin,
    runtime: RuntimeDep,
    ctx: CommandDep,
) -> Any:
    """Erases a patient of the caller's clinic: records who erased whom and on which
    ground, then destroys the patient's data key. From then on every answer shows their
    personal fields as null with `erased: true`, their token is refused, and they leave
    every care team. Idempotent and irreversible: a second call records nothing."""
    response = execute(
        runtime, ctx, lambda uow: runtime.privacy.erase(uow, patientId, body.reason), 202
    )
    # The record is committed: the key goes now, so the reads after this answer are
    # erased already (the erasure policy destroys it again after a crash, and ends the
    # care-team connections).
    runtime.privacy.destroy_key(patientId)
    return response


@router.get("/{patientId}/export", response_model=PatientExport, responses=errors(404))
def export_patient(patientId: uuid.UUID, actor: HospitalAdmin, runtime: RuntimeDep) -> Any:
    """Everything CareLoop holds about a patient, decrypted, as one document (GDPR Art. 15
    and 20): every aggregate whose events name the patient, with its current state and
    every event. It reads the whole log: seconds for a large one."""
    patient = runtime.log.find(patientId)
    if not isinstance(patient, Patient) or not actor.can_see_tenant(patient.tenant_id):
        raise NotFoundError(f"No patient with id {patientId}.")
    # Opened on the way out: the document holds the sealed values, as the log does.
    body: dict[str, Any] = reveal(
        patient_export(runtime.log, patientId, runtime.clock.now()), runtime.sealer
    )
    if any(a["state"].get("erased") for a in body["aggregates"]):
        body["erased"] = True
    return body
