"""The care-team queries, with their feature-flag rules applied here, below the routes,
so that no caller (HTTP or internal) can read around a disabled flag."""

from __future__ import annotations

from domain.people.flags import Flag
from domain.people.tenant import Tenant
from domain.shared.context import Actor
from domain.shared.errors import FeatureDisabledError
from domain.shared.eventlog import EventLog
from projections.careteam.view import CareTeamView
from projections.platform.store import Doc


class CareTeamQueries:
    def __init__(self, log: EventLog, view: CareTeamView) -> None:
        self.log = log
        self.view = view

    def enabled(self, actor: Actor, flag: Flag) -> bool:
        """Read from the tenant aggregate, so a flag just turned off is off at once."""
        tenant = self.log.find(actor.tenant_id) if actor.tenant_id else None
        return isinstance(tenant, Tenant) and tenant.is_enabled(flag)

    def require(self, actor: Actor, flag: Flag) -> str:
        if not self.enabled(actor, flag):
            raise FeatureDisabledError(flag.value)
        return str(actor.tenant_id)

    def tenant_doctors(self, actor: Actor) -> list[Doc]:
        tenant = self.require(actor, Flag.THERAPIST_PATIENT_ASSIGNMENT)
        return self.view.tenant_doctors(tenant, excluding=str(actor.user_id))

    def my_patients(self, actor: Actor) -> list[Doc]:
        """The caller's patients; the care-team fields only while assignment is on."""
        rows = self.view.patients(str(actor.tenant_id), str(actor.user_id), only_mine=True)
        if not self.enabled(actor, Flag.THERAPIST_PATIENT_ASSIGNMENT):
            for row in rows:
                del row["connectedTherapists"], row["isConnectedToMe"]
        return rows

    def all_patients(self, actor: Actor) -> list[Doc]:
        tenant = self.require(actor, Flag.ALL_ACTIVE_PATIENTS_DASHBOARD)
        return self.view.patients(tenant, str(actor.user_id), only_mine=False)
