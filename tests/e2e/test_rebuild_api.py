"""`POST /v1/admin/projections/{name}/rebuild` and the rebuild's progress in
`GET /v1/admin/projections`, over HTTP on both backends."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from domain.audit.store import AuditFilter
from domain.shared.context import Role
from tests.support.app import PLATFORM, Api, auth, make_runtime

ADMIN = auth(Role.PLATFORM_ADMIN, PLATFORM)


def statuses(client: TestClient) -> dict[str, dict[str, object]]:
    response = client.get("/v1/admin/projections", headers=ADMIN)
    assert response.status_code == 200, response.text
    return {row["name"]: row for row in response.json()}


def test_a_platform_admin_starts_a_rebuild_and_sees_it_finish(api: Api) -> None:
    tenant = api.tenant()
    api.staff(tenant)

    started = api.ok("POST", "/v1/admin/projections/directory/rebuild", api.admin, 202)
    assert started == {"name": "directory", "status": "rebuilding"}

    deadline = time.monotonic() + 30
    while statuses(api.client)["directory"]["status"] != "live":
        assert time.monotonic() < deadline, "the rebuild never finished"
        time.sleep(0.05)
    row = statuses(api.client)["directory"]
    assert row["position"] == row["headPosition"] and "rebuild" not in row
    listed = api.ok("GET", f"/v1/tenants/{tenant}/staff", api.admin)
    assert [s["firstName"] for s in listed] == ["Maya"]


@pytest.fixture
def unsupervised(backend: str, tmp_path: Path) -> Iterator[TestClient]:
    """An API process alone, as in production: it records rebuilds, and the process that
    runs the projections (here: none) drives them."""
    with make_runtime(backend, tmp_path) as runtime:
        app = create_app(runtime, run_workers=False)
        with TestClient(app) as client:
            client.app.state.test_runtime = runtime  # type: ignore[attr-defined]
            yield client


def test_a_running_rebuild_shows_its_progress_and_a_second_one_is_409(
    unsupervised: TestClient,
) -> None:
    first = unsupervised.post("/v1/admin/projections/tenants/rebuild", headers=ADMIN)
    assert first.status_code == 202

    second = unsupervised.post("/v1/admin/projections/tenants/rebuild", headers=ADMIN)
    assert second.status_code == 409
    assert second.headers["content-type"] == "application/problem+json"
    assert "running already" in second.json()["detail"]

    row = statuses(unsupervised)["tenants"]
    assert row["status"] == "rebuilding"
    assert set(row["rebuild"]) == {"position", "headPosition", "eventsPerSecond", "startedAt"}
    assert statuses(unsupervised)["directory"]["status"] == "live"

    runtime = unsupervised.app.state.test_runtime  # type: ignore[attr-defined]
    assert runtime.rebuilds.drive("tenants", threading.Event()) == "done"
    assert statuses(unsupervised)["tenants"]["status"] == "live"


def test_rebuilding_an_unknown_read_model_is_404(unsupervised: TestClient) -> None:
    response = unsupervised.post("/v1/admin/projections/nothing_here/rebuild", headers=ADMIN)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_only_a_platform_admin_may_rebuild(unsupervised: TestClient) -> None:
    hospital_admin = auth(Role.HOSPITAL_ADMIN, tenant=PLATFORM)
    response = unsupervised.post("/v1/admin/projections/tenants/rebuild", headers=hospital_admin)
    assert response.status_code == 403
    assert statuses(unsupervised)["tenants"]["status"] == "live"


def test_process_managers_are_listed_but_are_not_read_models(unsupervised: TestClient) -> None:
    kinds = {row["kind"] for row in statuses(unsupervised).values()}
    assert kinds == {"read_model", "process_manager"}


def test_a_what_if_rebuild_over_http_folds_a_scratch_copy_and_compares_it(
    unsupervised: TestClient,
) -> None:
    body = {"into": "pain6", "parameters": {"high_pain": 6}}
    started = unsupervised.post(
        "/v1/admin/projections/workout_session/rebuild", headers=ADMIN, json=body
    )
    assert started.status_code == 202
    assert started.json() == {"name": "workout_session", "status": "rebuilding", "into": "pain6"}
    again = unsupervised.post(
        "/v1/admin/projections/workout_session/rebuild", headers=ADMIN, json=body
    )
    assert again.status_code == 409
    assert statuses(unsupervised)["workout_session"]["status"] == "live", "never swapped in"

    runtime = unsupervised.app.state.test_runtime  # type: ignore[attr-defined]
    assert runtime.rebuilds.drive("pain6", threading.Event()) == "done"
    compared = unsupervised.get(
        "/v1/admin/projections/workout_session/what-if/pain6",
        headers=ADMIN,
        params={"since": "2026-11-01T00:00:00Z"},
    )
    assert compared.status_code == 200, compared.text
    found = compared.json()
    assert found["parameters"] == {"high_pain": 6} and found["status"] == "done"
    figures = {f["figure"]: f for f in found["figures"]}
    assert set(figures["flagged_workouts"]) == {"figure", "help", "live", "whatIf", "difference"}


@pytest.mark.parametrize(
    "body",
    [
        {"into": "pain6", "parameters": {"pain": 6}},  # no such parameter
        {"into": "pain6", "parameters": {"high_pain": "six"}},  # not a number
        {"into": "Pain 6"},  # not a scratch name
        {"into": "directory"},  # a live read model's name
        {"into": "pain6", "extra": 1},  # unknown field
    ],
)
def test_an_unfit_what_if_is_422_and_records_nothing(
    unsupervised: TestClient, body: dict[str, object]
) -> None:
    response = unsupervised.post(
        "/v1/admin/projections/workout_session/rebuild", headers=ADMIN, json=body
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    runtime = unsupervised.app.state.test_runtime  # type: ignore[attr-defined]
    assert runtime.rebuilds.running() == {}


def test_comparing_a_what_if_that_was_never_made_is_404(unsupervised: TestClient) -> None:
    response = unsupervised.get(
        "/v1/admin/projections/workout_session/what-if/never_made", headers=ADMIN
    )
    assert response.status_code == 404


def test_only_a_platform_admin_reads_a_what_if_and_each_read_is_audited(
    unsupervised: TestClient,
) -> None:
    runtime = unsupervised.app.state.test_runtime  # type: ignore[attr-defined]
    runtime.rebuilds.start("workout_session", into="pain6", params={"high_pain": "6"})
    runtime.rebuilds.drive("pain6", threading.Event())
    path = "/v1/admin/projections/workout_session/what-if/pain6"
    hospital_admin = auth(Role.HOSPITAL_ADMIN, tenant=PLATFORM)

    refused = unsupervised.get(path, headers={**hospital_admin, "X-Correlation-ID": "refused"})
    read = unsupervised.get(path, headers={**ADMIN, "X-Correlation-ID": "read"})

    assert (refused.status_code, read.status_code) == (403, 200)
    entries = [
        e
        for tenant in runtime.audit.tenants()
        for e in runtime.audit.query(tenant, AuditFilter(), 200)
        if e.correlation_id in {"refused", "read"}
    ]
    assert sorted((e.correlation_id, e.action, e.status) for e in entries) == [
        ("read", "projection_what_if.read", 200),
        ("refused", "projection_what_if.read", 403),
    ]
