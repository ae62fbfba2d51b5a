"""HTTP-level helpers for contract tests: problem bodies, hand-made tokens, metrics, waits."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import jwt
from prometheus_client.parser import text_string_to_metric_families

from bootstrap.runtime import Runtime
from tests.support.app import SECRET

PROBLEM = "application/problem+json"

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status; returns its body."""
    assert response.status_code == status, (status, response.status_code, response.text)
    assert response.headers["content-type"] == PROBLEM, response.headers["content-type"]
    body: dict[str, Any] = response.json()
    for member in ("type", "title", "detail"):
        assert isinstance(body.get(member), str) and body[member], (member, body)
    assert body["status"] == status, body
    return body


def error_fields(body: dict[str, Any]) -> set[str]:
    """The fields a 422 problem names in its `errors`."""
    return {str(e["field"]) for e in body.get("errors", [])}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed(claims: dict[str, Any], secret: str = SECRET) -> str:
    """A token with exactly these claims, unlike `tests.support.app.token` which is always valid."""
    return jwt.encode(claims, secret, algorithm="HS256")


def masked(body: Any) -> str:
    """A JSON body with every UUID replaced, to compare two answers that differ only in ids."""
    return _UUID.sub("<id>", json.dumps(body, sort_keys=True))


def wait_until_current(runtime: Runtime, timeout: float = 5.0) -> None:
    """Block until every read model has processed the head of the log."""
    deadline = time.monotonic() + timeout
    while any(status.lag for status in runtime.projection_status()):
        assert time.monotonic() < deadline, runtime.projection_status()
        time.sleep(0.01)


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: Any) -> Samples:
    """Every sample `GET /metrics` exposes, keyed by (name, labels)."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when it has not been exposed yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)
