"""Blue/green rebuilds: refold a read model from position 0 into new tables beside the
live ones, then swap them in one transaction (docs/decisions/0032-blue-green-rebuilds.md).

A rebuild is a record in `projection_rebuilds` and a set of build tables named
`<table>__<suffix>` with their own tracking row. Whoever holds the rebuild's election
drives it (the process that runs the projections, or `careloop projections rebuild`):
it catches the build tables up page by page, committing rows and position together, so
a process killed mid-rebuild leaves a build that the next driver resumes from where it
was. When the build is within `SWAP_WITHIN` positions of the head, `ReadStore.swap` holds
the live tracking row, folds the rest, renames the tables and moves the live position, all
in one transaction: the live runner's next commit finds the position moved, rolls back,
and continues from there on the new tables, so no event is applied twice or skipped.

An analyst's what-if rebuild (`into=`) folds the same way into a scratch copy under changed
parameters and is never swapped in.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.shared.eventlog import EventLog
from projections.platform.projection import Measure, Projection
from projections.platform.runner import ProjectionRunner
from projections.platform.store import Changes, Doc, RebuildableStore, checked

log = logging.getLogger(__name__)

# The build stops catching up and swaps when it is this close to the head: the rest is
# folded inside the swap's transaction, while the live runner waits.
SWAP_WITHIN = 500
SCRATCH_NAME = re.compile(r"^[a-z][a-z0-9_]{0,19}$")
BUILD_PREFIX = "build_"


class UnknownProjectionError(LookupError):
    pass


class RebuildRunningError(RuntimeError):
    pass


class ScratchNameError(ValueError):
    pass


class BuildStore:
    """A projection's tables under other names (`<table>__<suffix>`): the new tables of a
    rebuild, or an analyst's scratch copy. The projection folds into them unchanged."""

    def __init__(self, store: RebuildableStore, suffix: str) -> None:
        self.store = store
        self.suffix = checked(suffix)

    def table(self, table: str) -> str:
        return checked(f"{table}__{self.suffix}")

    def tracking(self, name: str) -> str:
        return checked(f"{name}__{self.suffix}")

    def renamed(self, changes: Changes) -> Changes:
        return Changes({(self.table(t), key): v for (t, key), v in changes.rows.items()})

    def create(
        self, name: str, tables: Iterable[str], sorted_by: Mapping[str, str] | None = None
    ) -> None:
        self.store.create(
            self.tracking(name),
            [self.table(t) for t in tables],
            {self.table(t): f for t, f in (sorted_by or {}).items()},
        )

    def position(self, name: str) -> int:
        return self.store.position(self.tracking(name))

    def tracked(self, name: str) -> int | None:
        return self.store.tracked(self.tracking(name))

    def get(self, table: str, key: str) -> Doc | None:
        return self.store.get(self.table(table), key)

    def get_many(self, table: str, keys: Iterable[str]) -> dict[str, Doc]:
        return self.store.get_many(self.table(table), keys)

    def list(self, table: str, tenant_id: str | None = None) -> list[Doc]:
        return self.store.list(self.table(table), tenant_id)

    def commit(self, name: str, expected: int, position: int, changes: Changes) -> None:
        self.store.commit(self.tracking(name), expected, position, self.renamed(changes))

    def elect(self, name: str) -> AbstractContextManager[bool]:
        return self.store.elect(self.tracking(name))

    def drop(self, projection: Projection) -> None:
        self.store.drop(self.tracking(projection.name), [self.table(t) for t in projection.tables])


@dataclass(frozen=True)
class Progress:
    """Where a rebuild stands, for `GET /v1/admin/projections` and the CLI."""

    target: str
    projection: str
    status: str  # rebuilding | done
    swap: bool
    params: Mapping[str, Any]
    position: int
    head_position: int
    events_per_second: float
    started_at: str
    finished_at: str | None
    error: str | None

    @property
    def remaining_seconds(self) -> float | None:
        if self.events_per_second <= 0:
            return None
        return max(0, self.head_position - self.position) / self.events_per_second


class Rebuilds:
    """Starts, drives, resumes and reports rebuilds of the read models of one store."""

    def __init__(
        self,
        projections: Iterable[Projection],
        event_log: EventLog,
        store: RebuildableStore,
        now: Callable[[], datetime],
        batch_size: int = 500,
    ) -> None:
        self.projections = {p.name: p for p in projections}
        self.log = event_log
        self.store = store
        self.now = now
        self.batch_size = batch_size
        # Set when this process records a rebuild, so its supervisor starts at once.
        self.requested = threading.Event()
        # Events read per page while catching up (None: the runner's own default).
        self.page_size: int | None = None

    # -- recording ----------------------------------------------------------------------

    def projection(self, name: str) -> Projection:
        try:
            return self.projections[name]
        except KeyError:
            raise UnknownProjectionError(name) from None

    def start(
        self, name: str, into: str | None = None, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Record a rebuild of read model `name` (swapped in when done), or a what-if
        rebuild of it into scratch copy `into` under `params`. Raises if one of the same
        target is running."""
        projection = self.projection(name).with_params(params or {})
        if into is not None:
            self._check_scratch(into)
        target = into or name
        suffix = into or f"{BUILD_PREFIX}{secrets.token_hex(3)}"
        build = BuildStore(self.store, suffix)
        for table in projection.tables:
            build.table(table)  # every name fits PostgreSQL's 63 bytes, with its indexes
            checked(f"{build.table(table)}_tenant")
        if self._running(target):
            raise RebuildRunningError(target)
        # A new build starts empty: a scratch copy of an earlier what-if is replaced.
        build.drop(projection)
        now = self.now().isoformat()
        record = {
            "target": target,
            "projection": name,
            "suffix": suffix,
            "params": projection.overrides,
            "swap": into is None,
            "status": "rebuilding",
            "started_at": now,
            "resumed_at": now,
            "resumed_position": 0,
            "finished_at": None,
            "position": 0,
            "error": None,
        }
        if not self.store.begin_rebuild(record):
            raise RebuildRunningError(target)
        self.requested.set()
        return record

    def _check_scratch(self, into: str) -> None:
        if not SCRATCH_NAME.match(into) or into.startswith(BUILD_PREFIX):
            raise ScratchNameError(
                f"{into!r}: a scratch name is 1-20 lowercase letters, digits and _, "
                f"starting with a letter and not with {BUILD_PREFIX!r}"
            )
        if into in self.projections:
            raise ScratchNameError(f"{into!r} is a live read model's name")

    def _running(self, target: str) -> bool:
        record = self.record(target)
        return record is not None and record["status"] == "rebuilding"

    def record(self, target: str) -> dict[str, Any] | None:
        return next((r for r in self.store.rebuilds() if r["target"] == target), None)

    def progress(self, target: str) -> Progress | None:
        record = self.record(target)
        return None if record is None else self._progress(record, self.log.head())

    def running(self) -> dict[str, Progress]:
        """Every rebuild in progress, by target."""
        head = self.log.head()
        return {
            r["target"]: self._progress(r, head)
            for r in self.store.rebuilds()
            if r["status"] == "rebuilding"
        }

    def _progress(self, record: Mapping[str, Any], head: int) -> Progress:
        finished = record["status"] != "rebuilding"
        position = record["position"] or 0
        if not finished:
            build = BuildStore(self.store, record["suffix"])
            position = build.tracked(record["projection"]) or 0
        rate = 0.0
        if record["resumed_at"]:
            end = datetime.fromisoformat(record["finished_at"]) if finished else self.now()
            seconds = (end - datetime.fromisoformat(record["resumed_at"])).total_seconds()
            done = position - (record["resumed_position"] or 0)
            rate = done / seconds if seconds > 0 and done > 0 else 0.0
        return Progress(
            target=record["target"],
            projection=record["projection"],
            status=record["status"],
            swap=record["swap"],
            params=record["params"],
            position=position,
            head_position=position if finished else head,
            events_per_second=round(rate, 1),
            started_at=record["started_at"],
            finished_at=record["finished_at"],
            error=record["error"],
        )

    # -- driving ------------------------------------------------------------------------

    def drive(
        self,
        target: str,
        stop: threading.Event,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> str:
        """Drive the rebuild of `target` to its end, resuming it where it was. Returns
        `done`, `stopped` (by `stop`), or `busy` (another process drives it)."""
        with self.store.elect_rebuild(target) as elected:
            if not elected:
                return "busy"
            record = self.record(target)
            if record is None or record["status"] != "rebuilding":
                return "done"
            projection = self.projection(record["projection"]).with_params(
                {k: str(v) for k, v in record["params"].items()}
            )
            build = BuildStore(self.store, record["suffix"])
            runner = ProjectionRunner(projection, self.log, build, self.batch_size)
            if self.page_size is not None:
                runner.catch_up_batch_size = self.page_size
            try:
                self.store.update_rebuild(
                    target,
                    {
                        "resumed_at": self.now().isoformat(),
                        "resumed_position": build.position(projection.name),
                        "error": None,
                    },
                )
                return self._run(record, projection, build, runner, stop, on_progress)
            finally:
                runner.close()

    def _run(
        self,
        record: Mapping[str, Any],
        projection: Projection,
        build: BuildStore,
        runner: ProjectionRunner,
        stop: threading.Event,
        on_progress: Callable[[int, int], None] | None,
    ) -> str:
        target = record["target"]
        while not stop.is_set():
            runner.catch_up(stop, on_progress)
            at = build.position(projection.name)
            if self.log.head() - at > SWAP_WITHIN:
                continue
            if not record["swap"]:
                self._finish(target, at)
                return "done"
            self._swap(target, projection, build, runner)
            if on_progress is not None:
                on_progress(self.store.position(projection.name), self.log.head())
            return "done"
        return "stopped"

    def _finish(self, target: str, position: int) -> None:
        self.store.update_rebuild(target, self._finished(target, position))

    def _finished(self, target: str, position: int) -> dict[str, Any]:
        return {
            "target": target,
            "status": "done",
            "finished_at": self.now().isoformat(),
            "position": position,
        }

    def _swap(
        self, target: str, projection: Projection, build: BuildStore, runner: ProjectionRunner
    ) -> int:
        def fold_rest(at: int, live: int) -> tuple[int, Changes]:
            end, changes = runner.fold_range(at, max(at, live))
            return end, build.renamed(changes)

        position = self.store.swap(
            projection.name,
            projection.tables,
            build.tracking(projection.name),
            [build.table(t) for t in projection.tables],
            fold_rest,
            lambda end: self._finished(target, end),
        )
        log.info("%s: rebuilt and swapped in at position %d", projection.name, position)
        return position

    def supervise(self, stop: threading.Event, poll_seconds: float = 1.0) -> None:
        """Drive every recorded rebuild that no other process drives, until `stop`: the
        loop of the process that runs the projections, which resumes a rebuild whose
        driver died."""
        while not stop.is_set():
            self.requested.clear()
            try:
                for target in list(self.running()):
                    if stop.is_set():
                        break
                    self.drive(target, stop)
            except Exception as e:
                log.exception("rebuilds: %s; retrying", type(e).__name__)
                self._note_error(e)
            self.requested.wait(poll_seconds)

    def _note_error(self, error: Exception) -> None:
        for target in self.running():
            try:
                self.store.update_rebuild(target, {"error": f"{type(error).__name__}: {error}"})
            except Exception:
                log.debug("could not record the error of %s", target, exc_info=True)

    # -- what-if comparison -----------------------------------------------------------

    def compare(
        self, name: str, scratch: str, since: str | None = None, until: str | None = None
    ) -> Iterator[tuple[str, str, int, int]]:
        """(figure, help, live value, scratch value) for each measure the read model
        declares, then its tables' row counts. `since`/`until` (ISO) bound the rows of a
        measure that has a time field."""
        projection = self.projection(name)
        record = self.record(scratch)
        if record is None or record["projection"] != name:
            raise UnknownProjectionError(f"{scratch} (no what-if rebuild of {name})")
        build = BuildStore(self.store, scratch)
        for figure, measure in projection.measures.items():
            live = _measure(self.store.list(measure.table), measure, since, until)
            what_if = _measure(build.list(measure.table), measure, since, until)
            yield figure, measure.help, live, what_if
        for table in projection.tables:
            live_rows = len(self.store.list(table))
            yield f"rows of {table}", "rows in the table", live_rows, len(build.list(table))


def _measure(rows: list[Doc], measure: Measure, since: str | None, until: str | None) -> int:
    total = 0
    for row in rows:
        if measure.when is not None and (since or until):
            at = row.get(measure.when)
            if at is None or (since and at < since) or (until and at >= until):
                continue
        total += measure.value(row)
    return total
