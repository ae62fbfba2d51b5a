"""Request and response bodies of the people, tenants and flags endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictBool, StringConstraints
from pydantic.alias_generators import to_camel

from domain.people.staff import StaffType

# No control characters: PostgreSQL cannot store U+0000 in JSONB, so one such name would
# stop a read model at that event for good.
Name = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$"
    ),
]


class CamelModel(BaseModel):
    """A request body: camelCase on the wire, unknown fields rejected. Booleans and numbers
    are declared strict (`StrictBool`, `Field(strict=True)`): a string is never coerced to
    one. The models are not strict as a whole because FastAPI validates the parsed JSON in
    Python mode, where a strict UUID or enum would refuse its JSON string form."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class CamelOut(BaseModel):
    """A response body: keys of a read-model row beyond the model are dropped, never a 500.
    Any object that held an erased patient's personal text says so (`erased: true`), with
    those fields null (docs/privacy.md); otherwise `erased` is left out."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    erased: bool | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="Present and true when this object's patient was erased: their "
        "personal fields are null.",
    )


def omitted_if_none(description: str | None = None) -> Any:
    """A field left out of the answer when it is None. For models whose answers keep the
    nulls of an erased patient's fields (`response_model_exclude_none` would drop
    those too)."""
    return Field(default=None, exclude_if=lambda value: value is None, description=description)


class NewTenant(CamelModel):
    name: Name


class Created(CamelOut):
    id: uuid.UUID
    position: int


class FlagChange(CamelModel):
    enabled: StrictBool  # "yes" or 1 is not a boolean


class FlagChanged(CamelOut):
    tenant_id: uuid.UUID
    flag: str
    enabled: bool
    position: int


class Flags(CamelOut):
    feedback_notifications: bool
    therapist_patient_assignment: bool
    all_active_patients_dashboard: bool


class TenantFlags(CamelOut):
    flags: Flags


class TenantOut(CamelOut):
    id: uuid.UUID
    name: str
    flags: Flags
    created_at: str


class NewStaff(CamelModel):
    type: StaffType
    first_name: Name
    last_name: Name
    email: EmailStr


class StaffOut(CamelOut):
    id: uuid.UUID
    tenant_id: uuid.UUID
    type: StaffType
    first_name: str
    last_name: str
    email: str
    active: bool
    approved: bool
    created_at: str


class StaffState(CamelOut):
    id: uuid.UUID
    approved: bool
    active: bool
    position: int


class NewPatient(CamelModel):
    first_name: Name
    last_name: Name
    email: EmailStr
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "UTC"
    additional_therapist_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)


class PatientInvited(CamelOut):
    patient_id: uuid.UUID
    therapist_ids: list[uuid.UUID]
    position: int


class PatientOut(CamelOut):
    """A patient's name and email are null once they are erased (`erased: true`)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    first_name: str | None
    last_name: str | None
    email: str | None
    timezone: str
    invited_by: uuid.UUID
    active: bool
    therapist_ids: list[uuid.UUID]
    created_at: str
