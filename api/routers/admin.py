"""Operations: read-model status for admins, health and metrics for the platform."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import RuntimeDep, require
from api.errors import ProblemError
from api.openapi import errors
from api.schemas.operations import Health, ProjectionStatus, RebuildStarted
from domain.shared.context import Actor, Role
from projections.platform.rebuild import Progress, RebuildRunningError, UnknownProjectionError

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


def start_rebuild(runtime: Any, name: str) -> dict[str, Any]:
    """Record a blue/green rebuild of read model `name`; the process that runs the
    projections drives it. Raises the API's 404 and 409 problems."""
    try:
        runtime.rebuilds.start(name)
    except UnknownProjectionError:
        raise ProblemError(404, f"There is no read model named {name!r}.") from None
    except RebuildRunningError:
        raise ProblemError(
            409, f"A rebuild of {name} is running already.", slug="rebuild-running"
        ) from None
    return {"name": name, "status": "rebuilding"}


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
        (409, "A rebuild of that read model is running already."),
    ),
)
def rebuild_projection(name: str, _: PlatformAdmin, runtime: RuntimeDep) -> dict[str, Any]:
    """Refold the read model from position 0 into new tables beside the live ones, which
    keep answering and following the log; when the new tables have caught up they replace
    the live ones in one transaction. Progress: `GET /v1/admin/projections`."""
    return start_rebuild(runtime, name)


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
