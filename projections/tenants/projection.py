from __future__ import annotations

from typing import Any

from domain.people.tenant import Tenant
from projections.platform.projection import Batch, Projection
from projections.tenants.evolve import evolve

TABLE = "tenant"


class TenantProjection(Projection):
    """Tenants and their feature flags."""

    name = "tenants"
    tables = (TABLE,)
    handles = (Tenant.Created, Tenant.FeatureFlagChanged)

    def apply(self, batch: Batch, event: Any, position: int) -> None:
        key = str(event.originator_id)
        row = evolve(batch.get(TABLE, key), event)
        if row is not None:
            batch.put(TABLE, key, key, row)
