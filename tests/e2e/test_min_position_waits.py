"""`?minPosition=` waits hold no thread: hundreds of callers waiting on a read model that
is behind leave the API answering everyone else at once; one caller may hold only a few
waits; a position beyond the head is refused at once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.main import create_app
from bootstrap.runtime import Runtime
from tests.support.app import PLATFORM, auth, make_runtime

WAIT_SECONDS = 2.0


@pytest.fixture
def behind(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime whose read models do not run: every wait for a new position times out."""
    with make_runtime(
        "sqlite",
        tmp_path,
        min_position_timeout_seconds=WAIT_SECONDS,
        min_position_waits_per_caller=4,
    ) as runtime:
        yield runtime


async def a_tenant(client: httpx.AsyncClient) -> tuple[str, int]:
    response = await client.post(
        "/v1/tenants", headers=auth("platform_admin", PLATFORM), json={"name": "Riverside"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return body["id"], body["position"]


def test_two_hundred_waiting_callers_leave_the_api_answering_everyone_else(
    behind: Runtime,
) -> None:
    app = create_app(behind)

    async def scenario() -> tuple[list[int], float, float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            tenant, position = await a_tenant(client)
            waits = [
                client.get(
                    f"/v1/tenants/{tenant}?minPosition={position}",
                    headers=auth("platform_admin", uuid.uuid4()),
                )
                for _ in range(200)
            ]
            pending = asyncio.gather(*waits)
            while app.state.waits.open < 200:  # every wait is under way
                await asyncio.sleep(0.01)
            started = time.monotonic()
            health = await client.get("/health")
            status = await client.get(
                "/v1/admin/projections", headers=auth("platform_admin", PLATFORM)
            )
            answered = time.monotonic() - started
            print(f"answered beside 200 waits in {answered * 1000:.0f} ms")
            assert health.status_code == 200 and status.status_code == 200
            statuses = [r.status_code for r in await pending]
            return statuses, answered, time.monotonic() - started

    statuses, answered, total = asyncio.run(scenario())
    assert answered < 0.5, answered  # not queued behind 200 waits for threads
    assert statuses == [503] * 200  # each waited its full timeout, then said so
    assert total < WAIT_SECONDS + 2  # and they waited side by side, not in turns


def test_one_caller_may_hold_only_a_few_waits_at_once(behind: Runtime) -> None:
    app = create_app(behind)

    async def scenario() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            tenant, position = await a_tenant(client)
            same_caller = auth("platform_admin", uuid.uuid4())
            responses = await asyncio.gather(
                *[
                    client.get(f"/v1/tenants/{tenant}?minPosition={position}", headers=same_caller)
                    for _ in range(6)
                ]
            )
            for response in responses:
                if response.status_code == 429:
                    assert response.headers["content-type"] == "application/problem+json"
                    assert response.headers["retry-after"] == "1"
            return sorted(r.status_code for r in responses)

    assert asyncio.run(scenario()) == [429, 429, 503, 503, 503, 503]


def test_a_position_beyond_the_head_is_refused_at_once(behind: Runtime) -> None:
    app = create_app(behind)

    async def scenario() -> tuple[int, float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            tenant, position = await a_tenant(client)
            started = time.monotonic()
            response = await client.get(
                f"/v1/tenants/{tenant}?minPosition={position + 1000}",
                headers=auth("platform_admin", PLATFORM),
            )
            return response.status_code, time.monotonic() - started

    status, took = asyncio.run(scenario())
    assert status == 422 and took < 0.5


def test_a_wait_ends_as_soon_as_the_read_model_reaches_the_position(tmp_path: Path) -> None:
    with make_runtime("sqlite", tmp_path, min_position_timeout_seconds=10) as runtime:
        app = create_app(runtime)

        async def scenario() -> tuple[int, float]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                tenant, position = await a_tenant(client)
                wait = asyncio.ensure_future(
                    client.get(
                        f"/v1/tenants/{tenant}?minPosition={position}",
                        headers=auth("platform_admin", PLATFORM),
                    )
                )
                await asyncio.sleep(0.2)
                assert not wait.done()
                started = time.monotonic()
                runtime.start_projections()  # the read models catch up; the wait is woken
                response = await wait
                return response.status_code, time.monotonic() - started

        status, took = asyncio.run(scenario())
        assert status == 200 and took < 1.0
