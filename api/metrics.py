"""Prometheus metrics: commands by type and outcome, command latency, projection lag."""

from __future__ import annotations

import time
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from bootstrap.runtime import Runtime

COMMAND_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def outcome_of(status: int) -> str:
    if status < 400:
        return "accepted"
    if status < 500:
        return "rejected"
    return "failed"


class ProjectionLagCollector(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily(
            "careloop_projection_lag_events",
            "Events in the log that a read model has not processed yet",
            labels=["projection"],
        )
        position = GaugeMetricFamily(
            "careloop_projection_position",
            "Last position a read model processed",
            labels=["projection"],
        )
        for status in self.runtime.follower_status():
            lag.add_metric([status.name], status.lag)
            position.add_metric([status.name], status.position)
        yield lag
        yield position


class Metrics:
    def __init__(self, runtime: Runtime) -> None:
        self.registry = CollectorRegistry()
        self.commands = Counter(
            "careloop_commands",
            "Commands handled, by command and outcome",
            ["command", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "careloop_command_duration_seconds",
            "Command latency, from request to response",
            ["command"],
            registry=self.registry,
        )
        self.unauthenticated = Counter(
            "careloop_unauthenticated_requests",
            "Requests answered 401: no identity, so no audit entry",
            registry=self.registry,
        )
        self.registry.register(ProjectionLagCollector(runtime))


class CommandMetricsMiddleware:
    """Times every command request (POST/PUT/PATCH/DELETE) and counts its outcome."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in COMMAND_METHODS:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def record_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            command = _command_name(scope)
            self.metrics.commands.labels(command, outcome_of(status["code"])).inc()
            self.metrics.latency.labels(command).observe(time.perf_counter() - started)


def _command_name(scope: MutableMapping[str, Any]) -> str:
    route = scope.get("route")
    name = getattr(route, "name", None)
    return str(name) if name else "unmatched"
