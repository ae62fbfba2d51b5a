"""Queries of the treatment-plan read models. A row is read by its key; a list is an
index range of a sorted table (one partition: a tenant, `global` or a patient), never a
whole table read and sorted here. Visibility (who may see which row) is the caller's
check: these return any tenant's rows."""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Callable, Iterable

from domain.plans.service_plan import service_plan_id
from projections.plans.evolve import GLOBAL, KEY, VERSIONS, key_range, public
from projections.plans.projection import (
    ENROLLMENTS,
    EXERCISES,
    LIBRARY,
    PLANS,
    SERVICE_PLANS,
    PlanProjection,
)
from projections.plans.projection import VERSIONS as VERSION_TABLE
from projections.platform.store import Doc, ReadStore

PAGE = 500
_SEP = "|"


def _after_partition(row: Doc) -> str:
    """A sort key without its partition: rows of two partitions merge in one order."""
    return str(row[KEY]).split(_SEP, 1)[1]


class PlanView:
    name = PlanProjection.name

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def _range(
        self, table: str, prefix: str, keep: Callable[[Doc], bool] | None = None
    ) -> list[Doc]:
        """Every row whose key starts with `prefix`, in key order, read a page at a time;
        `keep` filters them while the range is read."""
        after, below = key_range(prefix)
        rows: list[Doc] = []
        while True:
            page = self.store.page(table, None, after, below, PAGE)
            rows.extend(r for r in page if keep is None or keep(r))
            if len(page) < PAGE:
                return rows
            after = page[-1][KEY]

    def _global_and_own(
        self, table: str, tenant_id: str | None, keep: Callable[[Doc], bool] | None = None
    ) -> list[Doc]:
        """The global partition's rows and the tenant's, merged by name (or title)."""
        parts: list[Iterable[Doc]] = [self._range(table, f"{GLOBAL}{_SEP}", keep)]
        if tenant_id is not None:
            parts.append(self._range(table, f"{tenant_id}{_SEP}", keep))
        return [public(r) for r in heapq.merge(*parts, key=_after_partition)]

    # -- the exercise library -----------------------------------------------------------

    def exercise(self, exercise_id: str) -> Doc | None:
        """`{id, tenantId (None for global), scope: global|org, name, bodyRegion,
        description, videoUrl, createdAt, updatedAt}`, of any tenant."""
        row = self.store.get(EXERCISES, exercise_id)
        return None if row is None else public(row)

    def exercises(self, tenant_id: str | None) -> list[Doc]:
        """The global exercises and the tenant's (only the global ones for None), by name
        (case-insensitive), then id: two index ranges."""
        return self._global_and_own(EXERCISES, tenant_id)

    # -- plans and their versions -------------------------------------------------------

    def plan(self, plan_id: str) -> Doc | None:
        """`{id, tenantId, scope, patientId, createdBy, clonedFrom, status: draft |
        published | published_with_draft, latestVersion, draft, current, createdAt,
        updatedAt, promotedAt}`, of any tenant."""
        row = self.store.get(PLANS, plan_id)
        return None if row is None else public(row)

    def versions(self, plan_id: str) -> list[Doc]:
        """`[{version, publishedAt}]`, oldest first; empty for a plan never published and
        for an unknown one (ask `plan` to tell them apart)."""
        row = self.store.get(PLANS, plan_id)
        return [] if row is None else [dict(v) for v in row[VERSIONS]]

    def version(self, plan_id: str, number: int) -> Doc | None:
        """`{version, publishedAt, snapshot}`: the plan's whole structure as published,
        which never changes; None for an unknown version."""
        row = self.store.get(VERSION_TABLE, f"{plan_id}:{number}")
        if row is None:
            return None
        return {k: row[k] for k in ("version", "publishedAt", "snapshot")}

    def library(
        self,
        tenant_id: str | None,
        condition: str | None = None,
        difficulty: str | None = None,
        body_region: str | None = None,
    ) -> list[Doc]:
        """Published plans whose latest version is in the library: the global ones and
        the tenant's org plans (only the global ones for None; custom plans never), by
        title, then id. Each row is `{id, scope, tenantId, latestVersion, title, type,
        condition, difficulty, bodyRegion, frequencyPerWeek, durationWeeks}`.

        The global partition and the tenant's are each one index range; the filters
        (exact matches, None for any) are applied while those ranges are read, so a
        filtered listing reads the whole of both (a library is a clinic's curated plans:
        hundreds, not millions)."""
        wanted = {
            field: value
            for field, value in (
                ("condition", condition),
                ("difficulty", difficulty),
                ("bodyRegion", body_region),
            )
            if value is not None
        }

        def keep(row: Doc) -> bool:
            return all(row.get(field) == value for field, value in wanted.items())

        return self._global_and_own(LIBRARY, tenant_id, keep if wanted else None)

    # -- enrollments and service plans --------------------------------------------------

    def enrollment(self, enrollment_id: str) -> Doc | None:
        """`{id, tenantId, patientId, planId, version, planType, status, selfAssigned,
        assignedBy, approvedBy, enrolledAt, startedAt, endsAt, pausedAt, frequencyPerWeek,
        durationWeeks, completions}`, of any tenant."""
        row = self.store.get(ENROLLMENTS, enrollment_id)
        return None if row is None else public(row)

    def enrollments_of(self, patient_id: str) -> list[Doc]:
        """The patient's enrollments, oldest first: one index range."""
        return [public(r) for r in self._range(ENROLLMENTS, f"{patient_id}{_SEP}")]

    def service_plan(self, patient_id: str) -> Doc | None:
        """`{patientId, tenantId, telerehabAccess, libraryAccess, active, updatedAt}`, or
        None when the patient's service plan was never set (or the id is no uuid)."""
        try:
            key = str(service_plan_id(uuid.UUID(patient_id)))
        except ValueError:
            return None
        row = self.store.get(SERVICE_PLANS, key)
        return None if row is None else public(row)
