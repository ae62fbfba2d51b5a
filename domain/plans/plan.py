"""A treatment plan: a draft that is edited, then published as immutable versions.

Publishing snapshots the whole structure into `TreatmentPlan.Published`; the versions
already published never change. Editing a published plan starts a new draft beside them;
publishing it makes the next version. Enrollments pin a version.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.domain import event

from domain.plans.content import PlanContent, Scope, Visibility, validate
from domain.plans.errors import InvalidPlanError, PlanStateError
from domain.shared.aggregate import CareLoopAggregate
from domain.shared.payloads import payload


@payload("plan_version")
@dataclass(frozen=True)
class PlanVersion:
    version: int
    published_at: datetime
    snapshot: PlanContent


class TreatmentPlan(CareLoopAggregate):
    class Drafted(CareLoopAggregate.Created):
        """Audit and webhook: `treatment_plan.created`."""

        tenant_id: uuid.UUID | None
        scope: str
        patient_id: uuid.UUID | None
        created_by: uuid.UUID
        content: PlanContent
        cloned_from: uuid.UUID | None

    class DraftEdited(CareLoopAggregate.Event):
        content: PlanContent

    class Published(CareLoopAggregate.Event):
        """The snapshot of a new immutable version (the design card's `PlanPublished`)."""

        version: PlanVersion

    class Promoted(CareLoopAggregate.Event):
        """A published custom plan moved to the clinic's library (org scope)."""

        promoted_by: uuid.UUID

    @event(Drafted)
    def __init__(
        self,
        id: uuid.UUID,
        tenant_id: uuid.UUID | None,
        scope: str,
        patient_id: uuid.UUID | None,
        created_by: uuid.UUID,
        content: PlanContent,
        cloned_from: uuid.UUID | None,
        timestamp: datetime,
    ) -> None:
        self.tenant_id = tenant_id
        self.scope = Scope(scope)
        self.patient_id = patient_id
        self.created_by = created_by
        self.draft: PlanContent | None = content
        self.cloned_from = cloned_from
        self.versions: dict[int, PlanVersion] = {}

    @classmethod
    def design(
        cls,
        id: uuid.UUID,
        tenant_id: uuid.UUID | None,
        scope: Scope,
        patient_id: uuid.UUID | None,
        created_by: uuid.UUID,
        content: PlanContent,
        at: datetime,
        cloned_from: uuid.UUID | None = None,
    ) -> TreatmentPlan:
        validate(content)
        if (scope is Scope.GLOBAL) != (tenant_id is None):
            raise InvalidPlanError(
                "Global plans belong to no clinic; org and custom plans to one.",
                errors=[{"field": "scope", "message": "does not fit the caller"}],
            )
        if patient_id is not None and scope is not Scope.CUSTOM:
            raise InvalidPlanError(
                "Only a custom plan is for one patient.",
                errors=[{"field": "patientId", "message": "only with scope custom"}],
            )
        return cls(
            id=id,
            tenant_id=tenant_id,
            scope=scope.value,
            patient_id=patient_id,
            created_by=created_by,
            content=content,
            cloned_from=cloned_from,
            timestamp=at,
        )

    # -- queries ------------------------------------------------------------------------

    @property
    def latest(self) -> PlanVersion | None:
        return self.versions[max(self.versions)] if self.versions else None

    @property
    def is_published(self) -> bool:
        return bool(self.versions)

    @property
    def current(self) -> PlanContent:
        """What the plan looks like now: its draft, or else its latest version."""
        if self.draft is not None:
            return self.draft
        latest = self.latest
        assert latest is not None
        return latest.snapshot

    def published(self, number: int) -> PlanVersion | None:
        return self.versions.get(number)

    def in_library(self) -> bool:
        latest = self.latest
        return latest is not None and latest.snapshot.visibility == Visibility.LIBRARY

    # -- commands -----------------------------------------------------------------------

    def edit(self, content: PlanContent, at: datetime) -> None:
        """Replaces the draft; on a published plan with no draft, starts a new one. The
        published versions never change."""
        validate(content)
        if content == (self.draft if self.draft is not None else self.current):
            return  # nothing changes: a published plan starts no identical draft
        self._edited(content=content, timestamp=at)

    @event(DraftEdited)
    def _edited(self, content: PlanContent, timestamp: datetime) -> None:
        self.draft = content

    def publish(self, at: datetime) -> PlanVersion:
        """Snapshots the draft as the next version; 409 with nothing new to publish, 422
        without at least one session with one exercise."""
        if self.draft is None:
            raise PlanStateError("Already published: edit the plan to start a new draft.")
        if not self.draft.is_publishable:
            raise InvalidPlanError(
                "A plan needs at least one session with one exercise to be published.",
                errors=[{"field": "sessions", "message": "at least one session with an exercise"}],
            )
        version = PlanVersion(max(self.versions, default=0) + 1, at, self.draft)
        self._published(version=version, timestamp=at)
        return version

    @event(Published)
    def _published(self, version: PlanVersion, timestamp: datetime) -> None:
        self.versions[version.version] = version
        self.draft = None

    def promote(self, by: uuid.UUID, at: datetime) -> None:
        """A published custom plan joins the clinic's library (org scope)."""
        if self.scope is not Scope.CUSTOM:
            raise PlanStateError("Only a custom plan can be promoted.")
        if not self.is_published:
            raise PlanStateError("Publish the plan before promoting it.")
        self._promoted(promoted_by=by, timestamp=at)

    @event(Promoted)
    def _promoted(self, promoted_by: uuid.UUID, timestamp: datetime) -> None:
        self.scope = Scope.ORG
        self.patient_id = None
