"""Strict input over HTTP: no coercion from strings, malformed JSON named by line and column,
duplicate keys refused, and the body gate's order (auth, size, syntax)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.shared.context import Role
from tests.support.app import Api, auth, make_api

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with make_api("sqlite", tmp_path_factory.mktemp("strict"), max_body_bytes=4096) as a:
        yield a


@pytest.fixture(scope="module")
def tenant(api: Api) -> str:
    return api.tenant("Riverside")


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def flags(api: Api, tenant: str) -> dict[str, bool]:
    head = api.runtime.log.head()
    path = f"/v1/tenants/{tenant}/feature-flags?minPosition={head}"
    result: dict[str, bool] = api.ok("GET", path, api.admin)["flags"]
    return result


# -- no coercion ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", "true", "1", 1, 0, None, [], {}])
def test_a_flag_is_set_only_by_a_json_boolean(api: Api, tenant: str, value: Any) -> None:
    before = flags(api, tenant)
    response = api.client.put(
        f"/v1/tenants/{tenant}/feature-flags/feedbackNotifications",
        headers=api.admin,
        json={"enabled": value},
    )
    assert [e["field"] for e in problem(response, 422)["errors"]] == ["enabled"]
    assert flags(api, tenant) == before


def test_a_json_boolean_still_sets_a_flag(api: Api, tenant: str) -> None:
    api.flag(tenant, "feedbackNotifications", True)
    assert flags(api, tenant)["feedbackNotifications"] is True


@pytest.mark.parametrize("value", ["8", "8.0", 8.0, True])
def test_a_pain_score_is_only_a_json_integer(api: Api, tenant: str, value: Any) -> None:
    _, doctor = api.doctor(tenant)
    patient = api.invite(doctor)["patientId"]
    headers = auth(Role.PATIENT, patient, tenant)
    exercise = {"exerciseId": "squat", "name": "Squat"}
    started = api.ok("POST", "/v1/workouts", headers, 201, json={"exercises": [exercise]})
    response = api.client.put(
        f"/v1/workouts/{started['workoutId']}/exercises/squat",
        headers=headers,
        json={"pain": value},
    )
    assert [e["field"] for e in problem(response, 422)["errors"]] == ["pain"]


# -- malformed JSON -------------------------------------------------------------------


def test_malformed_json_is_one_400_problem_with_line_and_column(api: Api) -> None:
    body = b'{\n  "name": "Riverside"\n  "extra": 1\n}'
    response = api.client.post("/v1/tenants", headers={**api.admin, **JSON}, content=body)
    found = problem(response, 400)
    assert found["type"] == "urn:careloop:problem:malformed-json"
    assert (found["line"], found["column"]) == (3, 3)
    assert "line 3, column 3" in found["detail"]
    assert "errors" not in found


def test_a_truncated_body_names_where_it_ends(api: Api) -> None:
    response = api.client.post(
        "/v1/tenants", headers={**api.admin, **JSON}, content=b'{"name": "Riv'
    )
    found = problem(response, 400)
    assert (found["line"], found["column"]) == (1, 10)


def test_a_body_that_is_not_utf8_is_400_with_its_position(api: Api) -> None:
    response = api.client.post(
        "/v1/tenants", headers={**api.admin, **JSON}, content=b'{"name":\n "\xff"}'
    )
    found = problem(response, 400)
    assert (found["line"], found["column"]) == (2, 3)


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json(api: Api, tenant: str, constant: bytes) -> None:
    response = api.client.post(
        f"/v1/tenants/{tenant}/staff",
        headers={**api.admin, **JSON},
        content=b'{"type": "DOCTOR", "firstName": ' + constant + b"}",
    )
    assert "not a JSON number" in problem(response, 400)["detail"]


def test_nesting_too_deep_to_parse_is_400(tmp_path: Path) -> None:
    with make_api("sqlite", tmp_path) as api:
        body = b"[" * 100_000 + b"]" * 100_000
        response = api.client.post("/v1/tenants", headers={**api.admin, **JSON}, content=body)
        assert "nested too deeply" in problem(response, 400)["detail"]


# -- duplicate keys -------------------------------------------------------------------


def test_a_duplicate_key_is_422_naming_it_and_writes_nothing(api: Api) -> None:
    head = api.runtime.log.head()
    response = api.client.post(
        "/v1/tenants",
        headers={**api.admin, **JSON},
        content=b'{"name": "Riverside", "name": "Lakeside"}',
    )
    found = problem(response, 422)
    assert found["type"] == "urn:careloop:problem:duplicate-key"
    assert found["errors"] == [
        {"field": "name", "in": "body", "message": found["detail"], "type": "duplicate_key"}
    ]
    assert '"name"' in found["detail"]
    assert api.runtime.log.head() == head


def test_a_duplicate_key_deep_inside_a_body_is_refused_too(api: Api, tenant: str) -> None:
    _, doctor = api.doctor(tenant)
    patient = api.invite(doctor)["patientId"]
    body = b'{"exercises": [{"exerciseId": "a", "name": "Squat", "name": "Lunge"}]}'
    response = api.client.post(
        "/v1/workouts", headers={**auth(Role.PATIENT, patient, tenant), **JSON}, content=body
    )
    assert [e["field"] for e in problem(response, 422)["errors"]] == ["name"]


def test_the_same_key_in_two_objects_is_not_a_duplicate(api: Api, tenant: str) -> None:
    _, doctor = api.doctor(tenant)
    patient = api.invite(doctor)["patientId"]
    body = (
        b'{"exercises": [{"exerciseId": "a", "name": "Squat"},'
        b' {"exerciseId": "b", "name": "Lunge"}]}'
    )
    response = api.client.post(
        "/v1/workouts", headers={**auth(Role.PATIENT, patient, tenant), **JSON}, content=body
    )
    assert response.status_code == 201, response.text


# -- the gate's order -----------------------------------------------------------------


def test_without_a_token_malformed_json_is_401_not_400(api: Api) -> None:
    response = api.client.post("/v1/tenants", headers=JSON, content=b'{"name": ')
    assert problem(response, 401)["detail"] == "A bearer token is required."


def test_without_a_token_an_oversized_body_is_401_not_413(api: Api) -> None:
    response = api.client.post("/v1/tenants", headers=JSON, content=b" " * 10_000)
    problem(response, 401)


def test_an_expired_token_is_401_before_the_body_is_looked_at(api: Api) -> None:
    from api.auth import mint_token
    from tests.support.app import SECRET

    expired = mint_token(SECRET, uuid.uuid4(), Role.PLATFORM_ADMIN, None, -60)
    response = api.client.post(
        "/v1/tenants",
        headers={"Authorization": f"Bearer {expired}", **JSON},
        content=b"{not json",
    )
    assert problem(response, 401)["detail"] == "The token has expired."


def test_with_a_token_an_oversized_body_is_413(api: Api) -> None:
    response = api.client.post("/v1/tenants", headers={**api.admin, **JSON}, content=b" " * 4097)
    assert problem(response, 413)["limit"] == 4096


def test_a_command_without_a_body_model_still_has_its_body_limited(api: Api, tenant: str) -> None:
    staff = api.staff(tenant, "DOCTOR", "Rey", "Play", approve=False)
    response = api.client.post(
        f"/v1/staff/{staff}/approve", headers={**api.admin, **JSON}, content=b" " * 4097
    )
    problem(response, 413)


def test_a_command_without_a_body_model_ignores_a_body_that_is_not_json(
    api: Api, tenant: str
) -> None:
    staff = api.staff(tenant, "DOCTOR", "Rey", "Play", approve=False)
    response = api.client.post(
        f"/v1/staff/{staff}/approve", headers={**api.admin, **JSON}, content=b"{not json"
    )
    assert response.status_code == 200, response.text
