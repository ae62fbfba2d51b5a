"""The FastAPI application: routers, error mapping, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors
from api.metrics import CommandMetricsMiddleware, Metrics
from api.routers import admin, careteam, conversations, me, patients, staff, tenants, workouts
from api.runtime import Runtime


def create_app(runtime: Runtime, run_workers: bool = False) -> FastAPI:
    """An app around `runtime`. With `run_workers`, projections (and, in the embedded
    default, every other background worker) run in this process while it serves."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if run_workers:
            runtime.start_projections()
        yield

    app = FastAPI(
        title="CareLoop",
        version="0.1.0",
        description="Event-sourced CQRS backend for a telerehab clinic.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.metrics = Metrics(runtime)
    app.add_middleware(CommandMetricsMiddleware, metrics=app.state.metrics)
    errors.install(app)
    for module in (tenants, staff, patients, careteam, conversations, workouts, me, admin):
        app.include_router(module.router)
    return app
