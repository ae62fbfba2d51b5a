"""A replayed Idempotency-Key answers the first response byte for byte, `position`
included, however far the log has moved since."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.app import Api, make_api


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    with make_api(request.param, tmp_path) as api:
        yield api


def test_a_replay_is_the_first_response_byte_for_byte(api: Api) -> None:
    headers = {**api.admin, "Idempotency-Key": "create-riverside"}
    first = api.client.post("/v1/tenants", headers=headers, json={"name": "Riverside"})
    for name in ("Lakeside", "Hillside", "Seaside"):
        api.tenant(name)  # the log moves on
    replay = api.client.post("/v1/tenants", headers=headers, json={"name": "Riverside"})
    assert first.status_code == replay.status_code == 201
    assert replay.content == first.content
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["position"] < api.runtime.log.head()


def test_a_replay_of_a_command_that_changed_nothing_keeps_its_position(api: Api) -> None:
    tenant = api.tenant()
    path = f"/v1/tenants/{tenant}/feature-flags/feedbackNotifications"
    headers = {**api.admin, "Idempotency-Key": "flag-off-again"}
    first = api.client.put(path, headers=headers, json={"enabled": False})
    api.tenant("Elsewhere")
    replay = api.client.put(path, headers=headers, json={"enabled": False})
    assert replay.content == first.content
