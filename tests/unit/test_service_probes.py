"""The probes that decide whether a test of PostgreSQL or Redis runs, skips or fails ask the
server named by CARELOOP_TEST_DATABASE_URL and CARELOOP_TEST_REDIS_URL, not a fixed port."""

from __future__ import annotations

import pytest

from tests.support import services
from tests.support.processes import free_port


@pytest.fixture
def nobody_listens() -> int:
    return free_port()


def test_the_postgres_probe_asks_the_host_and_port_of_the_test_database_url(
    monkeypatch: pytest.MonkeyPatch, nobody_listens: int
) -> None:
    monkeypatch.setattr(services, "PG_URL", f"postgresql://postgres@127.0.0.2:{nobody_listens}/x")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"127.0.0.2:{nobody_listens}"):
        services.postgres_url()


def test_the_redis_probe_asks_the_host_and_port_of_the_test_redis_url(
    monkeypatch: pytest.MonkeyPatch, nobody_listens: int
) -> None:
    monkeypatch.setattr(services, "REDIS_URL", f"redis://127.0.0.3:{nobody_listens}/0")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"127.0.0.3:{nobody_listens}"):
        services.redis_url()


def test_a_missing_service_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, nobody_listens: int
) -> None:
    monkeypatch.setattr(services, "REDIS_URL", f"redis://127.0.0.1:{nobody_listens}/0")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        services.redis_url()


def test_a_url_without_a_port_probes_the_default_port() -> None:
    assert services.host_and_port("postgresql://postgres@db.internal/test", 5432) == (
        "db.internal",
        5432,
    )
    assert services.host_and_port("redis://cache:6380/0", 6379) == ("cache", 6380)
