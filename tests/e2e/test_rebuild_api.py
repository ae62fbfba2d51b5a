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
