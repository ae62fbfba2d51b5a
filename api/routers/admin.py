"""Operations: read-model status for admins, health and metrics for the platform."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import RuntimeDep, require
from api.openapi import errors
from api.schemas.operations import Health, ProjectionStatus
from domain.shared.context import Actor, Role

router = APIRouter(tags=["operations"])

Admin = Annotated[Actor, Depends(require(Role.PLATFORM_ADMIN, Role.HOSPITAL_ADMIN))]


def projection_rows(runtime: Any) -> list[dict[str, Any]]:
    rows = []
    for status in runtime.follower_status():
        rows.append(
            {
                "name": status.name,
                "position": status.position,
                "headPosition": status.head_position,
                "lag": status.lag,
                "status": "current" if status.lag == 0 else "catching_up",
            }
        )
    return rows


@router.get("/v1/admin/projections", response_model=list[ProjectionStatus])
def list_projections(_: Admin, runtime: RuntimeDep) -> list[dict[str, Any]]:
    """Each read model's position, the log's head, and the lag between them."""
    return projection_rows(runtime)


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
