"""Operations: read-model status for admins, health and metrics for the platform."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import RuntimeDep, require
from api.errors import ProblemError
from api.openapi import errors
from api.schemas.operations import (
    Health,
    ProjectionStatus,
    RebuildStarted,
    WhatIf,
    WhatIfComparison,
)
from domain.shared.context import Actor, Role
from projections.platform.projection import UnknownParameterError
from projections.platform.rebuild import (
    Progress,
    RebuildRunningError,
    ScratchNameError,
    UnknownProjectionError,
)

router = APIRouter(tags=["operations"])

Admin = Annotated[Actor, Depends(require(Role.PLATFORM_ADMIN, Role.HOSPITAL_ADMIN))]
PlatformAdmin = Annotated[Actor, Depends(require(Role.PLATFORM_ADMIN))]


def _rebuild(progress: Progress) -> dict[str, Any]:
    return {
        "position": progress.position,
        "headPosition": progress.head_position,
        "eventsPerSecond": progress.events_per_second,
        "startedAt": progress.started_at,
    }


def projection_rows(runtime: Any) -> list[dict[str, Any]]:
    """Every read model, then every process manager: position, head, lag, and whether a
    rebuild of it is running (with its progress)."""
    rebuilding = runtime.rebuilds.running()
    rows = []
    for kind, statuses in (
        ("read_model", runtime.projection_status()),
        ("process_manager", runtime.reaction_status()),
    ):
        for status in statuses:
            row = {
                "name": status.name,
                "kind": kind,
                "position": status.position,
                "headPosition": status.head_position,
                "lag": status.lag,
                "status": "live",
            }
            progress = rebuilding.get(status.name)
            if kind == "read_model" and progress is not None and progress.swap:
                row["status"] = "rebuilding"
                row["rebuild"] = _rebuild(progress)
            rows.append(row)
    return rows


def start_rebuild(runtime: Any, name: str, what_if: WhatIf | None = None) -> dict[str, Any]:
    """Record a blue/green rebuild of read model `name`, or a what-if rebuild of it into a
    scratch copy; the process that runs the projections drives it. Raises the API's 404,
    409 and 422 problems."""
    into = what_if.into if what_if else None
    params = {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in (what_if.parameters.items() if what_if else ())
    }
    try:
        runtime.rebuilds.start(name, into, params)
    except UnknownProjectionError:
        raise ProblemError(404, f"There is no read model named {name!r}.") from None
    except RebuildRunningError:
        raise ProblemError(
            409, f"A rebuild of {into or name} is running already.", slug="rebuild-running"
        ) from None
    except (UnknownParameterError, ScratchNameError, ValueError) as e:
        raise ProblemError(422, str(e), slug="invalid-input") from None
    started: dict[str, Any] = {"name": name, "status": "rebuilding"}
    if into is not None:
        started["into"] = into
    return started


@router.get("/v1/admin/projections", response_model=list[ProjectionStatus])
def list_projections(_: Admin, runtime: RuntimeDep) -> list[dict[str, Any]]:
    """Each read model's position, the log's head, the lag between them, and the progress
    of a rebuild of it if one runs; then the process managers'."""
    return projection_rows(runtime)


@router.post(
    "/v1/admin/projections/{name}/rebuild",
    status_code=202,
    response_model=RebuildStarted,
    responses=errors(
        (404, "There is no read model of that name."),
        (409, "A rebuild of that read model (or that scratch copy) is running already."),
        (
            422,
            "A what-if with an unknown parameter, a value of the wrong kind, or an unfit "
            "scratch name.",
        ),
    ),
)
def rebuild_projection(
    name: str, _: PlatformAdmin, runtime: RuntimeDep, body: WhatIf | None = None
) -> dict[str, Any]:
    """Refold the read model from position 0 into new tables beside the live ones, which
    keep answering and following the log; when the new tables have caught up they replace
    the live ones in one transaction. Progress: `GET /v1/admin/projections`.

    With a body, a what-if rebuild instead: a scratch copy folded under changed
    parameters, never swapped in; compare it with `GET .../what-if/{into}`."""
    return start_rebuild(runtime, name, body)


@router.get(
    "/v1/admin/projections/{name}/what-if/{into}",
    response_model=WhatIfComparison,
    responses=errors((404, "No such read model, or no what-if rebuild of it by that name.")),
)
def compare_what_if(
    name: str,
    into: str,
    _: PlatformAdmin,
    runtime: RuntimeDep,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """A what-if rebuild against the live read model: each figure the read model declares
    (e.g. `flagged_workouts`, the finalized workouts that get a summary card), live and
    what-if, counting rows whose time falls in [`since`, `until`) when given."""
    record = runtime.rebuilds.record(into)
    if record is None or record["projection"] != name or record["swap"]:
        raise ProblemError(404, f"There is no what-if rebuild of {name} named {into!r}.")
    progress = runtime.rebuilds.progress(into)
    assert progress is not None
    figures = runtime.rebuilds.compare(
        name, into, since.isoformat() if since else None, until.isoformat() if until else None
    )
    return {
        "name": name,
        "into": into,
        "parameters": record["params"],
        "status": progress.status,
        "position": progress.position,
        "figures": [
            {"figure": f, "help": h, "live": live, "whatIf": w, "difference": w - live}
            for f, h, live, w in figures
        ],
    }


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "A check failed: the body says which."}},
)
def get_health(runtime: RuntimeDep) -> JSONResponse:
    """Liveness with a check of the event store and of the message broker."""
    checks: dict[str, Any] = {}
    try:
        checks["store"] = runtime.check_store()
    except Exception as e:
        checks["store"] = {"ok": False, "error": type(e).__name__}
    checks["broker"] = runtime.check_broker()
    ok = all(c.get("ok") for c in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "checks": checks}, status_code=200 if ok else 503
    )


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={
        200: {"description": "Prometheus text exposition format."},
        **errors((503, "The database cannot be reached to read the projections' positions.")),
    },
)
def get_metrics(request: Request) -> Response:
    """Prometheus metrics: commands by type and outcome, command latency, read-model lag."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
