"""Everything a worker process runs: the process managers, the deadline scheduler and
Dramatiq workers.

`careloop worker` runs one of these against Redis; the embedded default runs one in the
API process against Dramatiq's StubBroker. Each process manager and the scheduler are
elected (one process at a time runs each); the Dramatiq workers scale out.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from domain.shared.deadlines import Deadline
from workers.actors import Actors, declare_actors, to_wire
from workers.audit import AuditFollower
from workers.deadlines import Scheduler
from workers.reactions import ReactionFollower

if TYPE_CHECKING:
    from bootstrap.runtime import Runtime

# Dramatiq's default 1 s consumer timeout makes messages up to ~1 s late; 100 ms keeps a
# deadline's firing well within its 1 s target (docs/performance.md).
WORKER_TIMEOUT_MS = 100


class WorkerHost:
    def __init__(
        self, runtime: Runtime, broker: dramatiq.Broker, threads: int | None = None
    ) -> None:
        self.runtime = runtime
        self.broker = broker
        self.threads = threads or runtime.settings.worker_threads
        self.stop_event = threading.Event()
        self.actors: Actors = declare_actors(broker, runtime)
        self.followers = [
            ReactionFollower(
                reaction,
                runtime.log,
                runtime.commands,
                runtime.reached,
                runtime.hub.subscribe(),
                tail=runtime.tail,
            )
            for reaction in runtime.reactions
        ]
        self.scheduler = Scheduler(
            runtime.views.deadlines,
            runtime.clock,
            self.dispatch,
            runtime.settings.sweep_interval_seconds,
            behind=lambda: not runtime.reached(runtime.views.deadlines.name, runtime.log.head()),
            chunk_size=lambda kind: runtime.deadline_handlers[kind].chunk_size,
            backlog=self.backlog,
        )
        self.audit_follower = AuditFollower(
            runtime.log, runtime.audit, runtime.clock.now, wake=runtime.hub.subscribe()
        )
        self._threads: list[threading.Thread] = []
        self.worker: dramatiq.Worker | None = None

    def backlog(self, kind: str) -> int:
        """Wake-ups waiting in the broker's queue for deadlines of `kind`."""
        queue = self.runtime.deadline_handlers[kind].queue
        try:
            if isinstance(self.broker, RedisBroker):
                return int(self.broker.client.llen(f"{self.broker.namespace}:{queue}"))
            if isinstance(self.broker, StubBroker):
                return self.broker.queues[queue].qsize() if queue in self.broker.queues else 0
        except Exception:  # a broker that cannot say: resend, as if nothing waited
            return 0
        return 0

    def dispatch(self, kind: str, deadlines: Sequence[Deadline]) -> None:
        self.actors.for_kind(self.runtime, kind).send(kind, [to_wire(d) for d in deadlines])

    def start(self) -> None:
        self.runtime.start_listener()
        self.worker = dramatiq.Worker(
            self.broker, worker_threads=self.threads, worker_timeout=WORKER_TIMEOUT_MS
        )
        self.worker.start()
        for follower in self.followers:
            self._spawn(f"reaction-{follower.name}", self._follow, follower)
        self._spawn("deadline-scheduler", self._schedule)
        self._spawn(
            "audit-follower",
            self.audit_follower.run,
            self.stop_event,
            lambda: self.runtime.store.elect("audit_follower"),
        )

    def _spawn(self, name: str, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _follow(self, follower: ReactionFollower) -> None:
        store = self.runtime.store
        while not self.stop_event.is_set():
            try:
                with store.elect(f"reaction_{follower.name}") as elected:
                    if elected:
                        follower.follow(self.stop_event)
                        continue
            except Exception:
                pass
            self.stop_event.wait(1.0)

    def _schedule(self) -> None:
        wake = self.runtime.hub.subscribe()
        self.scheduler.run(
            self.stop_event, wake, lambda: self.runtime.store.elect("deadline_scheduler")
        )

    def stop(self) -> None:
        self.stop_event.set()
        self.runtime.hub.poke()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.worker is not None:
            self.worker.stop(timeout=5000)
