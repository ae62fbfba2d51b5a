"""The production shape in one process: a runtime on PostgreSQL (a fresh schema), real
Dramatiq workers on Redis (a namespace of their own) and the API in front, for the tests
that check a loop end to end with real components."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dramatiq.brokers.redis import RedisBroker
from fastapi.testclient import TestClient

from api.main import create_app
from tests.support.app import Api, make_runtime
from tests.support.services import redis_url
from workers.host import WorkerHost


@contextmanager
def production_api(tmp_path: Path, **settings: Any) -> Iterator[tuple[Api, str]]:
    """The API and its workers on PostgreSQL and Redis; yields the API and the Redis URL
    (for a test that flushes it)."""
    url = redis_url()
    with make_runtime("postgresql", tmp_path, redis_url=url, **settings) as runtime:
        broker = RedisBroker(url=url, namespace=f"careloop-test-{uuid.uuid4().hex[:8]}")
        host = WorkerHost(runtime, broker, threads=4)
        app = create_app(runtime, run_workers=True, run_process_managers=False)
        with TestClient(app) as client:
            host.start()
            try:
                yield Api(client, runtime), url
            finally:
                host.stop()
                broker.close()
