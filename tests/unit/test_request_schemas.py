"""Every request body declares its booleans and numbers strict, so a string is never coerced
to one (`"yes"` is not `true`, `"8"` is not `8`), in every model present and future."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest

import api.schemas
from api.schemas.people import CamelModel

SCALARS = {"bool", "int", "float"}


def request_models() -> list[type[CamelModel]]:
    for module in pkgutil.iter_modules(api.schemas.__path__):
        importlib.import_module(f"api.schemas.{module.name}")
    found: list[type[CamelModel]] = []
    pending = list(CamelModel.__subclasses__())
    while pending:
        model = pending.pop()
        found.append(model)
        pending.extend(model.__subclasses__())
    return sorted(found, key=lambda m: m.__name__)


def lax_scalars(schema: Any, path: str = "") -> Iterator[str]:
    """Where in a pydantic core schema a bool, int or float accepts a coerced value."""
    if isinstance(schema, dict):
        kind = schema.get("type")
        if isinstance(kind, str) and kind in SCALARS and not schema.get("strict"):
            yield f"{path} ({kind})"
        for key, value in schema.items():
            yield from lax_scalars(value, f"{path}.{key}" if path else str(key))
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            yield from lax_scalars(value, f"{path}[{i}]")


def test_there_are_request_models_to_check() -> None:
    assert len(request_models()) > 5


@pytest.mark.parametrize("model", request_models(), ids=lambda m: m.__name__)
def test_no_request_model_coerces_a_boolean_or_a_number(model: type[CamelModel]) -> None:
    assert list(lax_scalars(model.__pydantic_core_schema__)) == []
