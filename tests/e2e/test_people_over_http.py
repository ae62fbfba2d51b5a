"""A platform admin sets up a clinic over HTTP and reads it back through the read models."""

from __future__ import annotations

from tests.support.app import Api, auth


def test_a_platform_admin_creates_a_tenant_staff_and_flags_and_reads_them_back(api: Api) -> None:
    created = api.ok("POST", "/v1/tenants", api.admin, 201, json={"name": "Riverside"})
    tenant = created["id"]

    doctor = api.ok(
        "POST",
        f"/v1/tenants/{tenant}/staff",
        api.admin,
        201,
        json={"type": "DOCTOR", "firstName": "Maya", "lastName": "Lind", "email": "maya@r.example"},
    )
    flag = api.ok(
        "PUT",
        f"/v1/tenants/{tenant}/feature-flags/feedbackNotifications",
        api.admin,
        json={"enabled": True},
    )
    assert flag["position"] > doctor["position"] > created["position"]

    flags = api.ok(
        "GET", f"/v1/tenants/{tenant}/feature-flags?minPosition={flag['position']}", api.admin
    )
    assert flags == {
        "flags": {
            "feedbackNotifications": True,
            "therapistPatientAssignment": False,
            "allActivePatientsDashboard": False,
        }
    }
    staff = api.ok("GET", f"/v1/tenants/{tenant}/staff?minPosition={flag['position']}", api.admin)
    assert [(s["id"], s["type"], s["approved"], s["active"]) for s in staff] == [
        (doctor["id"], "DOCTOR", False, True)
    ]


def test_a_hospital_admin_reads_only_their_own_tenants_flags(api: Api) -> None:
    mine, theirs = api.tenant("Mine"), api.tenant("Theirs")
    admin = auth("hospital_admin", tenant=mine)
    head = api.runtime.log.head()
    response = api.client.get(f"/v1/tenants/{mine}/feature-flags?minPosition={head}", headers=admin)
    assert response.status_code == 200
    response = api.client.get(f"/v1/tenants/{theirs}/feature-flags", headers=admin)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
