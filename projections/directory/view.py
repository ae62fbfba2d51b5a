from __future__ import annotations

from projections.directory.projection import PATIENTS, STAFF, DirectoryProjection
from projections.platform.store import Doc, ReadStore


class DirectoryView:
    """Staff and patients, always read within one tenant."""

    name = DirectoryProjection.name

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def staff(self, tenant_id: str) -> list[Doc]:
        return self.store.list(STAFF, tenant_id)

    def staff_member(self, staff_id: str) -> Doc | None:
        """Any tenant's row: the caller checks it is visible."""
        return self.store.get(STAFF, staff_id)

    def admins(self, tenant_id: str) -> list[Doc]:
        """The tenant's active hospital and PX admins."""
        return [
            row
            for row in self.store.list(STAFF, tenant_id)
            if row["active"] and row["type"] in ("HOSPITAL_ADMIN", "PX_ADMIN")
        ]

    def patients(self, tenant_id: str) -> list[Doc]:
        return self.store.list(PATIENTS, tenant_id)

    def patient(self, patient_id: str) -> Doc | None:
        """Any tenant's row: the caller checks it is visible."""
        return self.store.get(PATIENTS, patient_id)
