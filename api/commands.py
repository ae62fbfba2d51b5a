"""Turns a command's typed result into the HTTP response: the body plus `position`.

This is the one place a result becomes JSON: a dataclass result is rendered field by
field in camelCase, a mapping as it is. The same rendering is what a replayed
Idempotency-Key returns.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from fastapi.responses import JSONResponse

from api.audit.note import note_ids, note_write
from bootstrap.runtime import Runtime
from domain.privacy.personal import PersonalText
from domain.shared.commands import CommandOutcome, Handler, Rendered
from domain.shared.context import CommandContext
from domain.shared.history import camel


class CommandResponse(JSONResponse):
    """A command's answer, rendered by orjson: the bytes Starlette's JSONResponse would
    write for these bodies (compact, UTF-8 unescaped; `to_json` leaves only strings,
    numbers, booleans, null, lists and string-keyed objects), in a fifth of the time
    (docs/decisions/0035-http-throughput.md)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def to_json(value: Any) -> Any:
    """A result as JSON values, except that a patient's personal text stays PersonalText:
    so an Idempotency-Key's stored rendering is sealed like any event (`opened` turns it
    into the text for the response)."""
    if isinstance(value, PersonalText):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            camel(f.name): to_json(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not (f.metadata.get("omit_none") and getattr(value, f.name) is None)
        }
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def opened(value: Any) -> Any:
    """A rendering as it is sent: personal text as its text, or null with `erased: true`
    on the object that held it."""
    if isinstance(value, PersonalText):
        return value.text
    if isinstance(value, Mapping):
        out = {k: opened(v) for k, v in value.items()}
        if any(isinstance(v, PersonalText) and v.text is None for v in value.values()):
            out["erased"] = True
        return out
    if isinstance(value, list):
        return [opened(v) for v in value]
    return value


def note_outcome(outcome: CommandOutcome[Any], body: Mapping[str, Any]) -> None:
    """Tell the request's audit entry where the command wrote, and the ids its result
    named (a created subject's)."""
    if outcome.wrote:
        note_write(outcome.position)
    note_ids(body)


def execute(
    runtime: Runtime, ctx: CommandContext, handler: Handler[Any], status_code: int = 200
) -> CommandResponse:
    def render(result: Any) -> Rendered:
        return Rendered(status_code, to_json(result))

    outcome = runtime.commands.run(ctx, handler, render=render)
    if outcome.replay is not None:
        note_outcome(outcome, outcome.replay.body)
        return CommandResponse(
            opened({**outcome.replay.body, "position": outcome.position}),
            status_code=outcome.replay.status_code,
            headers={"Idempotent-Replayed": "true"},
        )
    body = render(outcome.result).body
    note_outcome(outcome, body)
    return CommandResponse(opened({**body, "position": outcome.position}), status_code=status_code)
