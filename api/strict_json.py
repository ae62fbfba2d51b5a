"""Strict JSON for request bodies: UTF-8 only, no duplicate keys, no NaN or Infinity, and
a syntax error that says where it is. See docs/decisions/0016."""

from __future__ import annotations

import json
from typing import Any


class JsonBodyError(Exception):
    """A request body that is not acceptable JSON; `status` is what the API answers."""

    status = 400
    slug = "malformed-json"
    title = "Malformed JSON"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class DuplicateKeyError(JsonBodyError):
    """Well-formed JSON whose object names one key twice: RFC 8259 leaves the meaning open,
    so CareLoop refuses to guess which one the client meant."""

    status = 422
    slug = "duplicate-key"
    title = "Duplicate key"

    def __init__(self, key: str) -> None:
        super().__init__(f'The key "{key}" appears more than once in one JSON object.')
        self.key = key


def _line_and_column(body: bytes, offset: int) -> tuple[int, int]:
    line = body.count(b"\n", 0, offset) + 1
    column = offset - (body.rfind(b"\n", 0, offset) + 1) + 1
    return line, column


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKeyError(key)
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise JsonBodyError(f"The body is not valid JSON: {name} is not a JSON number.")


def loads(body: bytes) -> Any:
    """The parsed body, or a `JsonBodyError` naming the first problem."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        line, column = _line_and_column(body, e.start)
        raise JsonBodyError(
            f"The body is not valid JSON: it is not UTF-8 (line {line}, column {column}).",
            line=line,
            column=column,
        ) from None
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise JsonBodyError(
            f"The body is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}.",
            line=e.lineno,
            column=e.colno,
        ) from None
    except RecursionError:
        raise JsonBodyError("The body is not valid JSON here: it is nested too deeply.") from None
