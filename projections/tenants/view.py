from __future__ import annotations

from projections.platform.store import Doc, ReadStore
from projections.tenants.projection import TABLE, TenantProjection


class TenantView:
    name = TenantProjection.name

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def get(self, tenant_id: str) -> Doc | None:
        return self.store.get(TABLE, tenant_id)

    def all(self) -> list[Doc]:
        return self.store.list(TABLE)
