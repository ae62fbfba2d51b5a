"""Real PostgreSQL and Redis for tests: skipped locally when absent, a failure under CI=true."""

from __future__ import annotations

import os
import socket
import time
import uuid
from urllib.parse import urlsplit

import pytest

PG_URL = os.environ.get("CARELOOP_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CARELOOP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def host_and_port(url: str, default_port: int) -> tuple[str, int]:
    """Where a service URL points, so the probe asks the server the tests will use."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def require(present: bool, message: str) -> None:
    """Skip a test whose real component is missing here; under CI=true, fail it instead."""
    if present:
        return
    if in_ci():
        pytest.fail(f"{message}, and CI=true: tests of real components must run in CI")
    pytest.skip(message)


def require_service(name: str, host: str, port: int) -> None:
    require(_answers(host, port), f"{name} does not answer on {host}:{port}")


def postgres_url() -> str:
    require_service("PostgreSQL", *host_and_port(PG_URL, 5432))
    import psycopg

    deadline = time.monotonic() + 60
    for user in ("postgres", "root"):
        url = PG_URL.replace("postgres@", f"{user}@", 1) if user != "postgres" else PG_URL
        while True:
            try:
                with psycopg.connect(url, connect_timeout=3):
                    return url
            except psycopg.OperationalError as e:
                # A server busy with other clients is not a missing server: wait for it.
                if "too many clients" in str(e) and time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                break
    if in_ci():
        pytest.fail("PostgreSQL answers but refuses both users 'postgres' and 'root'")
    pytest.skip("PostgreSQL refuses both users 'postgres' and 'root'")


def redis_url() -> str:
    require_service("Redis", *host_and_port(REDIS_URL, 6379))
    return REDIS_URL


def new_schema_name() -> str:
    return f"t_{uuid.uuid4().hex[:16]}"


def drop_schema(url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
    for attempt in range(3):
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(drop)
            return
        except psycopg.errors.DeadlockDetected:
            # A session still finishing in the schema (a writer stopped a moment ago) can
            # deadlock with the DROP, and PostgreSQL aborts the DROP: drop it again.
            if attempt == 2:
                raise
            time.sleep(0.5)
