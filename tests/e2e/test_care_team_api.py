"""The Care team section of api.md, over HTTP, on both backends."""

from __future__ import annotations

from typing import Any

from tests.support.app import Api, auth

ASSIGN = "/v2/doctor/patients/assign"
UNASSIGN = "/v2/doctor/patients/unassign"


def clinic(api: Api, flags: tuple[str, ...] = ("therapistPatientAssignment",)) -> dict[str, Any]:
    tenant = api.tenant()
    for flag in flags:
        api.flag(tenant, flag)
    maya, maya_h = api.doctor(tenant, "Maya", "Lind")
    tomas, tomas_h = api.doctor(tenant, "Tomas", "Reyes")
    patient = api.invite(maya_h)["patientId"]
    return {
        "tenant": tenant,
        "maya": maya,
        "maya_h": maya_h,
        "tomas": tomas,
        "tomas_h": tomas_h,
        "patient": patient,
    }


def test_self_assign_connects_the_caller_and_a_second_call_is_a_no_op(api: Api) -> None:
    c = clinic(api)
    first = api.ok("POST", ASSIGN, c["tomas_h"], json={"patientId": c["patient"]})
    assert first["doctorId"] == c["tomas"] and first["reactivated"] is False
    again = api.ok("POST", ASSIGN, c["tomas_h"], json={"patientId": c["patient"]})
    assert again["reactivated"] is False

    rows = api.ok("GET", f"/v2/doctor/patients?minPosition={again['position']}", c["tomas_h"])
    assert [r["id"] for r in rows] == [c["patient"]]
    assert {t["id"] for t in rows[0]["connectedTherapists"]} == {c["maya"], c["tomas"]}
    assert rows[0]["isConnectedToMe"] is True


def test_assigning_an_archived_pair_reactivates_it(api: Api) -> None:
    c = clinic(api)
    api.ok(
        "POST", ASSIGN, c["maya_h"], json={"patientId": c["patient"], "targetDoctorId": c["tomas"]}
    )
    api.ok("POST", UNASSIGN, c["tomas_h"], json={"patientId": c["patient"], "doctorId": c["tomas"]})
    again = api.ok(
        "POST", ASSIGN, c["maya_h"], json={"patientId": c["patient"], "targetDoctorId": c["tomas"]}
    )
    assert again["reactivated"] is True


def test_tenant_doctors_lists_active_approved_doctors_without_the_caller(api: Api) -> None:
    c = clinic(api)
    api.staff(c["tenant"], "DOCTOR", "Una", "Approved", approve=False)
    aiko, _ = api.doctor(c["tenant"], "Aiko", "Tanaka")
    api.ok("POST", f"/v1/staff/{aiko}/deactivate", api.admin)
    head = api.runtime.log.head()
    rows = api.ok("GET", f"/v2/doctor/patients/tenant-doctors?minPosition={head}", c["maya_h"])
    assert rows == [{"id": c["tomas"], "firstName": "Tomas", "lastName": "Reyes"}]


def test_with_the_assignment_flag_off_tenant_doctors_and_assign_are_403_naming_the_flag(
    api: Api,
) -> None:
    c = clinic(api, flags=())
    for method, path, body in [
        ("GET", "/v2/doctor/patients/tenant-doctors", None),
        ("POST", ASSIGN, {"patientId": c["patient"]}),
    ]:
        response = api.client.request(method, path, headers=c["tomas_h"], json=body)
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["flag"] == "therapistPatientAssignment"


def test_my_patients_hides_the_care_team_fields_while_the_flag_is_off(api: Api) -> None:
    c = clinic(api, flags=())
    rows = api.ok("GET", f"/v2/doctor/patients?minPosition={api.runtime.log.head()}", c["maya_h"])
    assert [r["id"] for r in rows] == [c["patient"]]
    assert "connectedTherapists" not in rows[0] and "isConnectedToMe" not in rows[0]


def test_all_active_patients_needs_its_flag_and_shows_unconnected_patients(api: Api) -> None:
    c = clinic(api)
    assert api.client.get("/v2/doctor/patients/all", headers=c["tomas_h"]).status_code == 403
    api.flag(c["tenant"], "allActivePatientsDashboard")
    rows = api.ok(
        "GET", f"/v2/doctor/patients/all?minPosition={api.runtime.log.head()}", c["tomas_h"]
    )
    assert [(r["id"], r["isConnectedToMe"]) for r in rows] == [(c["patient"], False)]


def test_another_tenants_patient_or_doctor_is_404(api: Api) -> None:
    c = clinic(api)
    other = clinic(api)
    for body in (
        {"patientId": other["patient"]},
        {"patientId": c["patient"], "targetDoctorId": other["maya"]},
    ):
        response = api.client.post(ASSIGN, headers=c["maya_h"], json=body)
        assert response.status_code == 404, body


def test_an_inactive_or_unapproved_target_is_422(api: Api) -> None:
    c = clinic(api)
    una = api.staff(c["tenant"], "DOCTOR", "Una", "Pending", approve=False)
    response = api.client.post(
        ASSIGN, headers=c["maya_h"], json={"patientId": c["patient"], "targetDoctorId": una}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "targetDoctorId"


def test_only_the_doctor_themself_or_a_hospital_admin_may_unassign(api: Api) -> None:
    c = clinic(api)
    api.ok("POST", ASSIGN, c["tomas_h"], json={"patientId": c["patient"]})
    body = {"patientId": c["patient"], "doctorId": c["tomas"]}
    assert api.client.post(UNASSIGN, headers=c["maya_h"], json=body).status_code == 403
    hospital = auth("hospital_admin", tenant=c["tenant"])
    api.ok("POST", UNASSIGN, hospital, json=body)


def test_unassigning_a_doctor_who_is_not_connected_is_404(api: Api) -> None:
    c = clinic(api)
    body = {"patientId": c["patient"], "doctorId": c["tomas"]}
    assert api.client.post(UNASSIGN, headers=c["tomas_h"], json=body).status_code == 404


def test_one_therapist_means_a_direct_conversation_and_two_a_group(api: Api) -> None:
    c = clinic(api)
    patient_h = auth("patient", c["patient"], c["tenant"])
    head = api.runtime.log.head()
    convs = api.ok("GET", f"/v1/conversations?minPosition={head}", patient_h)
    assert [(x["kind"], {p["id"] for p in x["participants"]}) for x in convs] == [
        ("direct", {c["patient"], c["maya"]})
    ]
    result = api.ok("POST", ASSIGN, c["tomas_h"], json={"patientId": c["patient"]})
    convs = api.ok("GET", f"/v1/conversations?minPosition={result['position']}", patient_h)
    group = [x for x in convs if x["kind"] == "group"]
    assert len(group) == 1
    assert {p["id"] for p in group[0]["participants"]} == {c["patient"], c["maya"], c["tomas"]}


def test_participants_post_and_read_messages_and_others_get_404(api: Api) -> None:
    c = clinic(api)
    patient_h = auth("patient", c["patient"], c["tenant"])
    convs = api.ok("GET", f"/v1/conversations?minPosition={api.runtime.log.head()}", patient_h)
    conv = convs[0]["id"]
    posted = api.ok(
        "POST", f"/v1/conversations/{conv}/messages", patient_h, 201, json={"text": "Hello"}
    )
    reply = api.ok(
        "POST", f"/v1/conversations/{conv}/messages", c["maya_h"], 201, json={"text": "Hi!"}
    )
    messages = api.ok(
        "GET", f"/v1/conversations/{conv}/messages?minPosition={reply['position']}", c["maya_h"]
    )
    assert [(m["type"], m["text"], m["revision"]) for m in messages] == [
        ("TEXT", "Hello", 1),
        ("TEXT", "Hi!", 1),
    ]
    after = api.ok("GET", f"/v1/conversations/{conv}/messages?after={posted['id']}", patient_h)
    assert [m["text"] for m in after] == ["Hi!"]

    outsider = c["tomas_h"]
    assert api.client.get(f"/v1/conversations/{conv}/messages", headers=outsider).status_code == 404
    assert (
        api.client.post(
            f"/v1/conversations/{conv}/messages", headers=outsider, json={"text": "x"}
        ).status_code
        == 404
    )
    assert (
        api.client.post(
            f"/v1/conversations/{conv}/messages", headers=patient_h, json={"text": "  "}
        ).status_code
        == 422
    )


def test_every_care_team_and_conversation_endpoint_needs_a_token(api: Api) -> None:
    some = "00000000-0000-4000-8000-000000000001"
    for method, path in [
        ("GET", "/v2/doctor/patients/tenant-doctors"),
        ("POST", ASSIGN),
        ("POST", UNASSIGN),
        ("GET", "/v2/doctor/patients"),
        ("GET", "/v2/doctor/patients/all"),
        ("GET", "/v1/conversations"),
        ("GET", f"/v1/conversations/{some}/messages"),
        ("POST", f"/v1/conversations/{some}/messages"),
    ]:
        response = api.client.request(method, path, json={})
        assert response.status_code == 401, (method, path)
        assert response.headers["content-type"] == "application/problem+json"


def test_a_patient_or_an_admin_cannot_use_the_doctor_dashboard(api: Api) -> None:
    c = clinic(api)
    for headers in (
        auth("patient", c["patient"], c["tenant"]),
        auth("px_admin", tenant=c["tenant"]),
    ):
        for path in ("/v2/doctor/patients", "/v2/doctor/patients/tenant-doctors"):
            assert api.client.get(path, headers=headers).status_code == 403
