"""GET /metrics and GET /health: what an operator scrapes and what a load balancer probes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.app import Api, make_api
from tests.support.http import sample, scrape, wait_until_current
from tests.support.services import redis_url


@pytest.fixture(scope="module")
def ops_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with make_api("sqlite", tmp_path_factory.mktemp("ops")) as api:
        yield api


def test_metrics_count_commands_by_command_and_outcome(ops_api: Api) -> None:
    api = ops_api
    before = scrape(api.client)
    tenant = api.tenant()
    api.tenant()
    rejected = api.client.post("/v1/tenants", headers=api.admin, json={"name": ""})
    assert rejected.status_code == 422
    api.ok(
        "PUT",
        f"/v1/tenants/{tenant}/feature-flags/noSuchFlag",
        api.admin,
        404,
        json={"enabled": True},
    )
    after = scrape(api.client)

    def delta(command: str, outcome: str) -> float:
        labels = {"command": command, "outcome": outcome}
        name = "careloop_commands_total"
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("create_tenant", "accepted") == 2
    assert delta("create_tenant", "rejected") == 1
    assert delta("set_feature_flag", "rejected") == 1


def test_reads_are_not_counted_as_commands(ops_api: Api) -> None:
    before = scrape(ops_api.client)
    ops_api.ok("GET", "/v1/tenants", ops_api.admin)
    after = scrape(ops_api.client)
    commands = {k: v for k, v in after.items() if k[0] == "careloop_commands_total"}
    assert commands == {k: v for k, v in before.items() if k[0] == "careloop_commands_total"}


def test_metrics_time_every_command(ops_api: Api) -> None:
    name = "careloop_command_duration_seconds_count"
    before = sample(scrape(ops_api.client), name, command="create_tenant")
    ops_api.tenant()
    after = scrape(ops_api.client)
    assert sample(after, name, command="create_tenant") == before + 1
    assert sample(after, "careloop_command_duration_seconds_sum", command="create_tenant") > 0
    buckets = [k for k in after if k[0] == "careloop_command_duration_seconds_bucket"]
    assert any(("le", "+Inf") in labels for _, labels in buckets)


def test_metrics_expose_each_read_models_lag_which_is_zero_once_caught_up(ops_api: Api) -> None:
    ops_api.tenant()
    wait_until_current(ops_api.runtime)
    samples = scrape(ops_api.client)
    lags = {
        dict(labels)["projection"]: value
        for (name, labels), value in samples.items()
        if name == "careloop_projection_lag_events"
    }
    managers = {r.name for r in ops_api.runtime.reactions}
    assert set(lags) == {*ops_api.runtime.runners, *managers}
    assert {lags[name] for name in ops_api.runtime.runners} == {0}
    # No worker runs in this app, and the metric says so rather than hiding the process
    # managers it would run.
    assert all(lags[name] > 0 for name in managers)


def test_metrics_are_prometheus_text(ops_api: Api) -> None:
    response = ops_api.client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE careloop_commands_total counter" in response.text
    assert "# TYPE careloop_command_duration_seconds histogram" in response.text
    assert "# TYPE careloop_projection_lag_events gauge" in response.text


def test_health_reports_the_store_and_the_broker(ops_api: Api) -> None:
    health = ops_api.ok("GET", "/health", {})
    assert health["status"] == "ok"
    assert health["checks"]["store"]["ok"] is True
    assert health["checks"]["store"]["backend"] == "sqlite"
    assert health["checks"]["broker"]["ok"] is True


def test_health_checks_a_configured_redis_broker(tmp_path: Path) -> None:
    with make_api("sqlite", tmp_path, redis_url=redis_url()) as api:
        health = api.ok("GET", "/health", {})
    assert health["checks"]["broker"] == {"ok": True, "backend": "redis"}


def test_health_is_503_and_degraded_when_the_broker_does_not_answer(tmp_path: Path) -> None:
    with make_api("sqlite", tmp_path, redis_url="redis://127.0.0.1:1/0") as api:
        response = api.client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["store"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is False
