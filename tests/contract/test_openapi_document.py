"""The document at /openapi.json, read as a client generator reads it.

What schemathesis cannot see from answers alone: names, the shape of the errors an
operation declares but the fuzzing never provoked, and the paths left out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts

from tests.support.app import Api, make_api

PROBLEM = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, dict[str, Any]]]:
    with make_api("sqlite", tmp_path_factory.mktemp("openapi")) as api:
        response = api.client.get("/openapi.json")
        assert response.status_code == 200
        yield api, response.json()


@pytest.fixture(scope="module")
def document(served: tuple[Api, dict[str, Any]]) -> dict[str, Any]:
    return served[1]


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def test_operation_ids_are_unique_camel_case_names(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, operation in operations(document)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert [i for i in ids if not re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", i)] == []
    assert {"createTenant", "listTenants", "getWorkout", "getMetrics"} <= set(ids)


def test_every_error_is_declared_as_a_problem(document: dict[str, Any]) -> None:
    not_problems = {
        (name, status): response.get("content")
        for name, operation in operations(document)
        for status, response in operation["responses"].items()
        if int(status) >= 400
        and response["content"] != {PROBLEM: {"schema": PROBLEM_REF}}
        and (name, status) != ("GET /health", "503")  # a failed check answers the report
    }
    assert not_problems == {}


def test_401_429_and_503_declare_the_header_that_says_what_to_do(document: dict[str, Any]) -> None:
    undeclared = [
        (name, status)
        for name, operation in operations(document)
        for status, header in (
            ("401", "WWW-Authenticate"),
            ("429", "Retry-After"),
            ("503", "Retry-After"),
        )
        if status in operation["responses"]
        and name != "GET /health"
        and not operation["responses"][status].get("headers", {}).get(header, {}).get("required")
    ]
    assert undeclared == []


def test_fastapis_validation_error_shapes_are_gone(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    problem = schemas["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert {"instance", "errors"} <= set(problem["properties"])
    assert problem["properties"]["errors"]["anyOf"][0]["items"] == {
        "$ref": "#/components/schemas/FieldProblem"
    }
    assert set(schemas["FieldProblem"]["required"]) == {"field", "message"}


def test_every_operation_declares_what_its_inputs_and_guards_imply(
    document: dict[str, Any],
) -> None:
    """Derived from the document itself, not from how api.openapi derives it."""
    missing: dict[str, set[str]] = {}
    for name, operation in operations(document):
        expected = {"431"}
        parameters = {p["name"] for p in operation.get("parameters", [])}
        if operation.get("security"):
            expected.add("401")
        if parameters or "requestBody" in operation:
            expected.add("422")
        if "requestBody" in operation:
            expected |= {"400", "413"}
        if "minPosition" in parameters:
            expected |= {"429", "503"}
        if "Idempotency-Key" in parameters:  # a command, which reads the body
            expected |= {"409", "413"}
        if "{" in name:
            expected.add("404")
        gaps = expected - set(operation["responses"])
        if gaps:
            missing[name] = gaps
    assert missing == {}


def test_every_success_has_a_schema(document: dict[str, Any]) -> None:
    untyped = [
        name
        for name, operation in operations(document)
        for status, response in operation["responses"].items()
        if int(status) < 400
        and not any(media.get("schema") for media in response.get("content", {}).values())
    ]
    assert untyped == []
    assert document["paths"]["/metrics"]["get"]["responses"]["200"]["content"] == {
        "text/plain": {"schema": {"type": "string"}}
    }


def test_every_path_served_is_described_or_named_as_left_out(
    served: tuple[Api, dict[str, Any]],
) -> None:
    api, document = served
    description = document["info"]["description"]
    paths = {
        context.path
        for context in iter_route_contexts(api.client.app.routes)  # type: ignore[attr-defined]
        if context.path
    }
    unaccounted = {p for p in paths if p not in document["paths"] and f"`{p}`" not in description}
    assert unaccounted == set()
    assert {"/health", "/metrics"} <= set(document["paths"])
    assert "`/openapi.json`" in description
