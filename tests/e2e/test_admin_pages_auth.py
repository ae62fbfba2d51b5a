"""The admin pages' rules over plain HTTP: who may open them (the roles of their API
twins, another tenant's ids 404), the session cookie's flags, the CSRF token every form
carries, and the audit entries the pages leave (their API twins' actions)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.audit.actions import ACTIONS, route_table
from domain.audit.store import AuditFilter
from domain.shared.context import Role
from tests.support.app import PLATFORM, Api, auth, make_api, token
from tests.support.http import signed, wait_until_current

PAGES = (
    "/admin",
    "/admin/feature-flags",
    "/admin/audit",
    "/admin/projections",
    "/admin/deliveries",
)
CSRF = re.compile(r'name="csrf(?:-token)?" (?:value|content)="([^"]+)"')


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with make_api("sqlite", tmp_path_factory.mktemp("admin-pages")) as api:
        yield api


@pytest.fixture(scope="module")
def clinic(api: Api) -> dict[str, str]:
    mine, theirs = api.tenant("Riverside"), api.tenant("Hillcrest")
    admin = api.staff(mine, "HOSPITAL_ADMIN", "Hana", "Okafor")
    doctor = api.staff(mine, "DOCTOR")
    wait_until_current(api.runtime)
    return {
        "tenant": mine,
        "other": theirs,
        "admin": token(Role.HOSPITAL_ADMIN, admin, mine),
        "doctor": token(Role.DOCTOR, doctor, mine),
        "auditor": token(Role.AUDITOR, uuid.uuid4(), mine),
    }


def browser(api: Api, base_url: str = "http://testserver") -> TestClient:
    """A fresh client with its own cookie jar, as a browser would be, on the same app."""
    return TestClient(api.client.app, base_url=base_url, follow_redirects=False)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, html
    return found.group(1)


def sign_in(client: TestClient, bearer: str) -> httpx.Response:
    form = client.get("/admin/login?next=/admin/feature-flags")
    assert form.status_code == 200
    return client.post(
        "/admin/login",
        data={"csrf": csrf_of(form.text), "token": bearer, "next": "/admin/feature-flags"},
    )


def set_cookie(response: httpx.Response, name: str = "careloop_admin") -> str:
    [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith(name + "=")]
    return header


def flags(api: Api, tenant: str) -> dict[str, bool]:
    wait_until_current(api.runtime)
    body = api.ok("GET", f"/v1/tenants/{tenant}/feature-flags", api.admin)
    return dict(body["flags"])


def test_a_page_without_a_credential_sends_the_browser_to_the_sign_in_form(api: Api) -> None:
    for page in PAGES:
        response = browser(api).get(page)
        assert response.status_code == 303, page
        assert response.headers["location"].startswith("/admin/login?next=")


def test_signing_in_sets_an_httponly_strict_cookie_for_the_admin_pages_only(
    api: Api, clinic: dict[str, str]
) -> None:
    client = browser(api)
    response = sign_in(client, clinic["admin"])
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/feature-flags"
    cookie = set_cookie(response).lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/admin" in cookie
    assert "max-age=" in cookie
    assert "secure" not in cookie.split(";")[1:].__str__(), "plain HTTP: not Secure"
    page = client.get("/admin/feature-flags")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "feedbackNotifications" in page.text
    assert page.headers["cache-control"] == "no-store"


def test_over_https_the_session_cookie_is_secure(api: Api, clinic: dict[str, str]) -> None:
    response = sign_in(browser(api, "https://testserver"), clinic["admin"])
    assert response.status_code == 303
    flags_of_cookie = [part.strip().lower() for part in set_cookie(response).split(";")]
    assert "secure" in flags_of_cookie


def test_every_page_accepts_the_bearer_token_too(api: Api) -> None:
    for page in PAGES:
        response = browser(api).get(page, headers=api.admin)
        assert response.status_code == 200, (page, response.text)


def test_a_form_post_without_its_csrf_token_is_refused_with_a_page_and_changes_nothing(
    api: Api, clinic: dict[str, str]
) -> None:
    client = browser(api)
    sign_in(client, token(Role.PLATFORM_ADMIN, PLATFORM))
    url = f"/admin/feature-flags/{clinic['tenant']}/feedbackNotifications"
    for sent in ({}, {"csrf": "0" * 64}):
        response = client.post(url, data={"enabled": "true", **sent})
        assert response.status_code == 403
        assert "text/html" in response.headers["content-type"]
        assert "security token" in response.text
    # Nor does the token of a page rendered for another credential.
    hospital = {"Authorization": f"Bearer {clinic['admin']}"}
    theirs = csrf_of(browser(api).get("/admin/deliveries", headers=hospital).text)
    assert client.post(url, data={"enabled": "true", "csrf": theirs}).status_code == 403
    assert flags(api, clinic["tenant"])["feedbackNotifications"] is False


def test_a_toggle_with_its_csrf_token_is_the_apis_flag_change(
    api: Api, clinic: dict[str, str]
) -> None:
    client = browser(api)
    sign_in(client, token(Role.PLATFORM_ADMIN, PLATFORM))
    page = client.get(f"/admin/feature-flags?tenantId={clinic['tenant']}")
    url = f"/admin/feature-flags/{clinic['tenant']}/therapistPatientAssignment"
    response = client.post(url, data={"enabled": "true", "csrf": csrf_of(page.text)})
    assert response.status_code == 303
    assert "minPosition=" in response.headers["location"]
    assert flags(api, clinic["tenant"])["therapistPatientAssignment"] is True
    shown = client.get(response.headers["location"])
    assert shown.status_code == 200
    assert 'aria-label="Turn therapistPatientAssignment off"' in shown.text


def test_the_login_form_carries_its_own_csrf_token(api: Api, clinic: dict[str, str]) -> None:
    client = browser(api)
    response = client.post("/admin/login", data={"token": clinic["admin"]})
    assert response.status_code == 403
    assert "careloop_admin=" not in response.headers.get("set-cookie", "")


def test_a_doctor_gets_403_pages_and_no_session(api: Api, clinic: dict[str, str]) -> None:
    doctor = {"Authorization": f"Bearer {clinic['doctor']}"}
    for page in PAGES:
        response = browser(api).get(page, headers=doctor)
        assert response.status_code == 403, page
        assert "text/html" in response.headers["content-type"]
        assert "doctor" in response.text
    refused = sign_in(browser(api), clinic["doctor"])
    assert refused.status_code == 403
    assert "careloop_admin=" not in refused.headers.get("set-cookie", "")


def test_roles_are_those_of_the_api_twins(api: Api, clinic: dict[str, str]) -> None:
    auditor = {"Authorization": f"Bearer {clinic['auditor']}"}
    assert browser(api).get("/admin/audit", headers=auditor).status_code == 200
    assert browser(api).get("/admin/deliveries", headers=auditor).status_code == 403
    hospital = {"Authorization": f"Bearer {clinic['admin']}"}
    client = browser(api)
    page = client.get("/admin/feature-flags", headers=hospital)
    assert page.status_code == 200 and "Turn " not in page.text  # read-only for them
    toggle = client.post(
        f"/admin/feature-flags/{clinic['tenant']}/feedbackNotifications",
        headers=hospital,
        data={"enabled": "true", "csrf": csrf_of(page.text)},
    )
    assert toggle.status_code == 403  # PUT .../feature-flags/{flag} is a platform admin's


def test_another_tenants_ids_are_404(api: Api, clinic: dict[str, str]) -> None:
    hospital = {"Authorization": f"Bearer {clinic['admin']}"}
    client = browser(api)
    for page in (
        f"/admin/feature-flags?tenantId={clinic['other']}",
        f"/admin/audit?tenantId={clinic['other']}",
    ):
        response = client.get(page, headers=hospital)
        assert response.status_code == 404, page
        assert "text/html" in response.headers["content-type"]
    csrf = csrf_of(client.get("/admin/deliveries", headers=hospital).text)
    missing = client.post(
        f"/admin/deliveries/{uuid.uuid4()}/redeliver", headers=hospital, data={"csrf": csrf}
    )
    assert missing.status_code == 404


def test_an_expired_cookie_goes_back_to_the_sign_in_form_and_is_dropped(api: Api) -> None:
    client = browser(api)
    expired = signed({"sub": str(PLATFORM), "role": "platform_admin", "exp": 1})
    client.cookies.set("careloop_admin", expired, path="/admin")
    response = client.get("/admin/audit?action=x")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login?next=%2Fadmin%2Faudit%3Faction%3Dx"
    assert 'careloop_admin=""' in response.headers["set-cookie"]


def test_an_invalid_bearer_token_is_a_401_page(api: Api) -> None:
    response = browser(api).get("/admin/audit", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "text/html" in response.headers["content-type"]


def test_signing_out_drops_the_cookie(api: Api, clinic: dict[str, str]) -> None:
    client = browser(api)
    sign_in(client, clinic["admin"])
    page = client.get("/admin")
    assert page.status_code == 200
    out = client.post("/admin/logout", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/admin/login"
    assert client.get("/admin").status_code == 303


def test_the_login_redirect_never_leaves_the_admin_pages(api: Api, clinic: dict[str, str]) -> None:
    client = browser(api)
    form = client.get("/admin/login")
    response = client.post(
        "/admin/login",
        data={"csrf": csrf_of(form.text), "token": clinic["admin"], "next": "//evil.example/"},
    )
    assert response.headers["location"] == "/admin"


def test_a_page_and_its_form_are_audited_as_their_api_twins(
    api: Api, clinic: dict[str, str]
) -> None:
    client = browser(api)
    sign_in(client, token(Role.PLATFORM_ADMIN, PLATFORM))
    page = client.get(
        f"/admin/feature-flags?tenantId={clinic['tenant']}",
        headers={"X-Correlation-ID": "page-read"},
    )
    client.post(
        f"/admin/feature-flags/{clinic['tenant']}/allActivePatientsDashboard",
        data={"enabled": "true", "csrf": csrf_of(page.text)},
        headers={"X-Correlation-ID": "page-toggle"},
    )
    client.post(
        f"/admin/feature-flags/{clinic['tenant']}/allActivePatientsDashboard",
        data={"enabled": "false"},
        headers={"X-Correlation-ID": "page-no-csrf"},
    )
    trail = api.runtime.audit.query(clinic["tenant"], AuditFilter(), 500)
    by_request = {e.correlation_id: e for e in trail}
    read, toggle, refused = (by_request[c] for c in ("page-read", "page-toggle", "page-no-csrf"))
    assert (read.action, read.outcome, read.actor_id) == (
        "feature_flags.read",
        "success",
        str(PLATFORM),
    )
    assert (toggle.action, toggle.outcome, toggle.subject_id) == (
        "feature_flag_set",
        "success",
        clinic["tenant"],
    )
    assert toggle.position is not None
    assert (refused.action, refused.status) == ("feature_flag_set", 403)


def test_the_pages_are_not_in_the_openapi_document(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/admin")]


def test_each_page_has_labels_for_its_fields(api: Api) -> None:
    html = browser(api).get("/admin/audit", headers=api.admin).text
    for field in ("f-actor", "f-subject", "f-action", "f-outcome", "f-from", "f-to"):
        assert f'<label for="{field}"' in html and f'id="{field}"' in html


def test_a_bad_audit_filter_is_shown_on_the_page(api: Api, clinic: dict[str, str]) -> None:
    hospital = auth(Role.HOSPITAL_ADMIN, uuid.uuid4(), clinic["tenant"])
    response = browser(api).get("/admin/audit?from=yesterday", headers=hospital)
    assert response.status_code == 422
    assert "Use a date and time" in response.text


# -- one audit entry per request, for every page route (tests/e2e/test_audit_completeness
# walks the API's routes; the pages' own cases are here) ---------------------------------

ROUTES = [
    ("GET", "/admin"),
    ("GET", "/admin/feature-flags"),
    ("POST", "/admin/feature-flags/{tenantId}/feedbackNotifications"),
    ("GET", "/admin/audit"),
    ("GET", "/admin/projections"),
    ("GET", "/admin/projections/status"),
    ("POST", "/admin/projections/tenants/rebuild"),
    ("GET", "/admin/deliveries"),
    ("POST", "/admin/deliveries/{deliveryId}/redeliver"),
    ("POST", "/admin/logout"),
    ("POST", "/admin/login"),
]


def entries_of(api: Api, correlation_id: str) -> list[Any]:
    audit = api.runtime.audit
    return [
        entry
        for chain in audit.tenants()
        for entry in audit.query(chain, AuditFilter(), 500)
        if entry.correlation_id == correlation_id
    ]


def page_call(
    api: Api, clinic: dict[str, str], method: str, path: str, bearer: str
) -> httpx.Response:
    client = browser(api)
    headers = {"Authorization": f"Bearer {bearer}", "X-Correlation-ID": str(uuid.uuid4())}
    url = path.format(tenantId=clinic["tenant"], deliveryId=uuid.uuid4())
    if method == "GET":
        return client.get(url, headers=headers)
    if path == "/admin/login":
        form = client.get("/admin/login")
        data = {"csrf": csrf_of(form.text), "token": bearer}
        del headers["Authorization"]
        return client.post(url, headers=headers, data=data)
    page = client.get("/admin", headers={"Authorization": headers["Authorization"]})
    return client.post(url, headers=headers, data={"csrf": csrf_of(page.text), "enabled": "true"})


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_page_request_leaves_one_entry_with_its_action_admitted_or_refused(
    api: Api, clinic: dict[str, str], method: str, path: str
) -> None:
    table = route_table(api.client.app.routes)  # type: ignore[attr-defined]
    route_of = {where: name for name, where in table.items()}
    template = re.sub(r"/admin/projections/\w+/", "/admin/projections/{name}/", path)
    template = template.replace("feedbackNotifications", "{flag}")
    action = ACTIONS[route_of[(method, template)]].name
    platform = token(Role.PLATFORM_ADMIN, PLATFORM)
    for bearer in (platform, clinic["doctor"]):  # admitted (a 404 at worst), then refused
        response = page_call(api, clinic, method, path, bearer)
        assert response.status_code < 500 or response.status_code == 501, response.text
        correlation = response.request.headers["X-Correlation-ID"]
        found = entries_of(api, correlation)
        assert [(e.action, e.status) for e in found] == [(action, response.status_code)]
        if bearer == clinic["doctor"] and path != "/admin/logout":  # anyone may sign out
            assert response.status_code == 403
            assert found[0].outcome == "denied"
