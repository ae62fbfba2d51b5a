"""The FastAPI application: routers, error mapping, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dramatiq.brokers.stub import StubBroker
from fastapi import FastAPI

from api import docs, errors, limits, openapi
from api.admin_pages import routes as admin_pages
from api.audit.middleware import AuditMiddleware
from api.heap import freeze_startup_heap
from api.metrics import CommandMetricsMiddleware, Metrics
from api.routers import (
    admin,
    audit,
    careteam,
    conversations,
    deliveries,
    enrollments,
    exercises,
    me,
    patients,
    privacy,
    provenance,
    public_pages,
    public_surveys,
    service_plans,
    staff,
    streams,
    surveys,
    tenants,
    treatment_plans,
    webhooks,
    workouts,
)
from api.waits import PositionWaits
from bootstrap.runtime import Runtime
from bootstrap.settings import get_settings
from workers.host import WorkerHost


def app_from_settings() -> FastAPI:
    """The ASGI factory `careloop serve --workers N` hands uvicorn, which calls it once in
    each worker process: the API only (PostgreSQL), over a Runtime of this process built
    from the environment's settings and closed when the process shuts down."""
    settings = get_settings()
    if settings.is_embedded:
        raise RuntimeError("several API processes need PostgreSQL (CARELOOP_DATABASE_URL)")
    app = create_app(Runtime(settings, create_tables=False), owns_runtime=True)
    freeze_startup_heap()
    return app


def create_app(
    runtime: Runtime,
    run_workers: bool = False,
    run_process_managers: bool | None = None,
    owns_runtime: bool = False,
) -> FastAPI:
    """An app around `runtime`. With `run_workers`, the projections run in this process
    while it serves; with `run_process_managers` (by default: on in the embedded default)
    so do the process managers, the deadline scheduler and Dramatiq workers (firing
    deadlines, delivering the outbox) on a StubBroker. With `owns_runtime`, the app closes
    the runtime when it shuts down."""
    if run_process_managers is None:
        run_process_managers = run_workers and runtime.settings.is_embedded

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        host = None
        runtime.start_listener()  # NOTIFYs wake `?minPosition=` waits here too
        if run_workers:
            runtime.start_projections()
        if run_process_managers:
            host = WorkerHost(runtime, StubBroker())
            host.start()
        try:
            yield
        finally:
            if host is not None:
                host.stop()
            if owns_runtime:
                runtime.close()

    app = FastAPI(
        title="CareLoop",
        version="0.1.0",
        description="Event-sourced CQRS backend for a telerehab clinic.",
        lifespan=lifespan,
        docs_url=None,  # served by api.docs from local assets
        redoc_url=None,
        generate_unique_id_function=openapi.operation_id,
    )
    app.state.runtime = runtime
    app.state.waits = PositionWaits(
        [runtime.hub, runtime.read_models_moved], runtime.settings.min_position_waits_per_caller
    )
    app.state.metrics = Metrics(runtime)
    limits.install(app, runtime.settings)  # inside the metrics, so they count its rejections
    app.add_middleware(CommandMetricsMiddleware, metrics=app.state.metrics)
    # Outermost: it sees every answer, the limits' refusals included, and sends none of
    # them before the request's audit entry is stored.
    app.add_middleware(
        AuditMiddleware,
        writer=runtime.audit_writer,
        jwt_secret=runtime.settings.jwt_secret,
        tenant_at=runtime.tenant_at,
        on_unauthenticated=app.state.metrics.unauthenticated.inc,
        audit_reads=runtime.settings.audit_reads,
    )
    errors.install(app)
    for module in (
        tenants,
        staff,
        patients,
        privacy,
        careteam,
        conversations,
        workouts,
        me,
        admin,
        deliveries,
        exercises,
        treatment_plans,
        enrollments,
        service_plans,
        webhooks,
        surveys,
        public_surveys,
        public_pages,
        streams,
        provenance,
        audit,
        admin_pages,
    ):
        app.include_router(module.router)
    openapi.install(app)
    docs.install(app)
    return app
