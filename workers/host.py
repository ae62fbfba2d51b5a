"""Everything a worker process runs: the outbox dispatcher, the sweep and Dramatiq workers.

`careloop worker` runs one of these against Redis; the embedded default runs one in the
API process against Dramatiq's StubBroker. The dispatcher and the sweep are elected (one
process at a time does them); the Dramatiq workers scale out.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import dramatiq

from projections.platform.runner import ProjectionRunner
from workers import context
from workers.actors import bind
from workers.dispatch import OutboxDispatch
from workers.sweep import run_sweeper

if TYPE_CHECKING:
    from bootstrap.runtime import Runtime

# Dramatiq's default 1 s consumer timeout makes delayed messages up to ~1 s late; 100 ms
# keeps a coalescing window's card within its 1 s target (docs/performance.md).
WORKER_TIMEOUT_MS = 100


class WorkerHost:
    def __init__(
        self, runtime: Runtime, broker: dramatiq.Broker, threads: int | None = None
    ) -> None:
        self.runtime = runtime
        self.broker = broker
        self.threads = threads or runtime.settings.worker_threads
        self.stop_event = threading.Event()
        self.dispatcher = ProjectionRunner(
            OutboxDispatch(runtime.clock),
            runtime.log,
            runtime.store,
            runtime.settings.projection_batch_size,
        )
        self._threads: list[threading.Thread] = []
        self.worker: dramatiq.Worker | None = None

    def start(self) -> None:
        context.use(self.runtime)
        bind(self.broker)
        self.runtime.start_listener()
        self.worker = dramatiq.Worker(
            self.broker, worker_threads=self.threads, worker_timeout=WORKER_TIMEOUT_MS
        )
        self.worker.start()
        wake = self.runtime.hub.subscribe()
        for name, target, args in (
            ("outbox-dispatch", self.dispatcher.run_forever, (wake, self.stop_event)),
            ("sweep", run_sweeper, (self.stop_event, self.runtime.settings.sweep_interval_seconds)),
        ):
            thread = threading.Thread(target=target, args=args, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.worker is not None:
            self.worker.stop(timeout=5000)
