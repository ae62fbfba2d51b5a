"""Turns a command outcome into the HTTP response: the body plus `position`."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from bootstrap.runtime import Runtime
from domain.shared.commands import Handler
from domain.shared.context import CommandContext


def execute(
    runtime: Runtime, ctx: CommandContext, handler: Handler, status_code: int = 200
) -> JSONResponse:
    outcome = runtime.commands.run(ctx, handler, status_code)
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return JSONResponse(
        {**outcome.body, "position": outcome.position},
        status_code=outcome.status_code,
        headers=headers,
    )
