"""What the HTTP throughput work (docs/decisions/0035-http-throughput.md) must not change:
a command's answer renders to the bytes Starlette's JSONResponse wrote, problem+json is
untouched, and a cached token names its caller exactly as long as PyJWT would."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.responses import JSONResponse

from api.auth import TokenCache, mint_token
from api.commands import CommandResponse
from domain.shared.context import Role
from tests.support.app import auth, make_api
from tests.support.tokens import counting_decodes

SECRET = "careloop-test-secret-of-at-least-32-bytes"

BODIES: list[Any] = [
    {"workoutId": str(uuid.uuid4()), "finalizedAt": "2026-12-03T12:00:00+00:00", "position": 7},
    {"flagged": True, "erased": False, "note": None, "pain": 8, "score": 0.25, "ratio": 2.5},
    {"text": "Genou gauche — ça tire ✓ 痛い 🦵", "quote": 'a "b" \\ c', "ctl": "\t\n\x01"},
    {"exercises": [{"exerciseId": "squat", "actual": {"sets": 3, "reps": [10, 8, 6]}}]},
    {"nested": {"empty": {}, "list": [], "deep": [[{"k": "v"}]]}, "big": 2**53 + 1},
    {},
]


@pytest.mark.parametrize("body", BODIES)
def test_a_command_answer_renders_to_the_bytes_of_starlettes_json_response(body: Any) -> None:
    assert CommandResponse(body).body == JSONResponse(body).body


def test_answers_and_problems_over_http_are_the_stdlib_json_of_their_documents(
    tmp_path: Path,
) -> None:
    with make_api("sqlite", tmp_path) as api:
        created = api.client.post("/v1/tenants", headers=api.admin, json={"name": "Clinique ✓"})
        assert created.status_code == 201
        document = created.json()
        assert isinstance(document["position"], int)
        assert created.headers["content-type"] == "application/json"
        assert created.content == _stdlib(document)

        patient = auth(Role.PATIENT, uuid.uuid4(), uuid.UUID(document["id"]))
        missing = api.client.post(f"/v1/workouts/{uuid.uuid4()}/finalize", headers=patient)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        problem = missing.json()
        assert problem["status"] == 404 and problem["type"].startswith("urn:careloop:problem:")
        assert missing.content == _stdlib(problem)


def _stdlib(document: Any) -> bytes:
    """Starlette's JSONResponse rendering, as every answer was rendered before."""
    return json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def test_a_token_is_verified_once_and_names_its_caller_until_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = counting_decodes(monkeypatch)
    user, tenant = uuid.uuid4(), uuid.uuid4()
    # Issued 59 s ago for 60 s: it expires within the next second.
    issued = datetime.fromtimestamp(int(time.time()) - 59, UTC)
    token = mint_token(SECRET, user, Role.PATIENT, tenant, 60, now=issued)
    cache = TokenCache(SECRET)
    first, second = cache.caller(token), cache.caller(token)
    assert first == second and first is not None
    assert (first.user_id, first.role, first.tenant_id) == (user, Role.PATIENT, tenant)
    assert len(calls) == 1

    time.sleep(max(0.0, issued.timestamp() + 60 - time.time()) + 0.05)
    assert cache.caller(token) is None  # expired: verified again, and PyJWT refuses it
    assert len(calls) == 2


def test_a_refused_token_is_not_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting_decodes(monkeypatch)
    forged = mint_token(
        "another-secret-of-at-least-32-bytes!!", uuid.uuid4(), Role.PATIENT, uuid.uuid4(), 60
    )
    cache = TokenCache(SECRET)
    assert cache.caller(forged) is None
    assert cache.caller(forged) is None
    assert len(calls) == 2
