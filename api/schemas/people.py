"""Request and response bodies of the people, tenants and flags endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints
from pydantic.alias_generators import to_camel

from domain.people.staff import StaffType

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class NewTenant(CamelModel):
    name: Name


class Created(CamelModel):
    id: uuid.UUID
    position: int


class FlagChange(CamelModel):
    enabled: bool


class FlagChanged(CamelModel):
    tenant_id: uuid.UUID
    flag: str
    enabled: bool
    position: int


class Flags(CamelModel):
    feedback_notifications: bool
    therapist_patient_assignment: bool
    all_active_patients_dashboard: bool


class TenantFlags(CamelModel):
    flags: Flags


class TenantOut(CamelModel):
    id: uuid.UUID
    name: str
    flags: Flags
    created_at: str


class NewStaff(CamelModel):
    type: StaffType
    first_name: Name
    last_name: Name
    email: EmailStr


class StaffOut(CamelModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    type: StaffType
    first_name: str
    last_name: str
    email: str
    active: bool
    approved: bool
    created_at: str


class StaffState(CamelModel):
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


class PatientInvited(CamelModel):
    patient_id: uuid.UUID
    therapist_ids: list[uuid.UUID]
    position: int


class PatientOut(CamelModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    first_name: str
    last_name: str
    email: str
    timezone: str
    invited_by: uuid.UUID
    active: bool
    therapist_ids: list[uuid.UUID]
    created_at: str
