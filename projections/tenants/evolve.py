"""Pure fold: a tenant's row with its feature flags."""

from __future__ import annotations

from typing import Any

from domain.people.flags import DEFAULT_FLAGS
from domain.people.tenant import Tenant
from projections.platform.store import Doc


def evolve(row: Doc | None, event: Any) -> Doc | None:
    if isinstance(event, Tenant.Created):
        return {
            "id": str(event.originator_id),
            "name": event.name,
            "flags": dict(DEFAULT_FLAGS),
            "createdAt": event.timestamp.isoformat(),
        }
    if row is None:
        return None
    if isinstance(event, Tenant.FeatureFlagChanged):
        return {**row, "flags": {**row["flags"], event.flag: event.enabled}}
    return row
