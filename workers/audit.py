"""The audit follower: keeps the event log's keyed hash chain and derives the audit entries
that requests could not store (docs/decisions/0026).

One follower per deployment, elected (one process at a time runs it). Each pass:

1. chains every event after the chain's head, in log order, in chunks: the rows
   (position, event hash, chain hash) of a chunk are appended in one transaction that
   first checks the head has not moved, so a second writer can only fail;
2. derives entries: an event written by a request (its metadata name the route's audit
   action and a `request:<id>` cause) whose request has no audit entry, once it is older
   than the grace period (the middleware may still be storing the entry), gets one
   entry made from its metadata, one per request however many events it wrote. Its
   position among the events is a tracking row of its own; the check for an existing
   entry makes a pass that crashed before recording it harmless to repeat.

Nothing here knows any context: the entry's subject is the event's aggregate, named
from the event's topic.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.persistence import Tracking

from domain.audit.chain_store import Integrity, integrity_of
from domain.audit.entry import PLATFORM, Draft, Outcome
from domain.audit.events_chain import GENESIS, extend
from domain.audit.store import AuditStore
from domain.shared.eventlog import EventLog, metadata_of

log = logging.getLogger(__name__)

CHUNK_SIZE = 500
GRACE_SECONDS = 60.0
POLL_SECONDS = 1.0
MIN_PASS_SECONDS = 0.05
# The tracking name of the derivation's position among the events.
DERIVING = "audit_derived_entries"
REQUEST_CAUSE = "request:"


def subject_type(topic: str) -> str:
    """The aggregate of an event topic, in snake case:
    `domain.plans.plan:TreatmentPlan.Published` -> `treatment_plan`."""
    qualname = topic.rpartition(":")[2]
    aggregate = qualname.rpartition(".")[0] or qualname
    return re.sub(r"(?<!^)(?=[A-Z])", "_", aggregate).lower()


def derived_draft(
    position: int, topic: str, originator_id: str, meta: Mapping[str, Any]
) -> Draft | None:
    """The entry a request's event stands for, or None when no request wrote it."""
    action = meta.get("action")
    cause = meta.get("causationId") or ""
    if not action or not isinstance(cause, str) or not cause.startswith(REQUEST_CAUSE):
        return None
    status = meta.get("actionStatus")
    return Draft(
        tenant=str(meta.get("tenantId") or PLATFORM),
        actor_id=str(meta.get("actorId") or ""),
        role=str(meta.get("role") or ""),
        action=str(action),
        subject_type=subject_type(topic),
        subject_id=originator_id,
        outcome=Outcome.SUCCESS,
        status=int(status) if isinstance(status, int) else 200,
        correlation_id=meta.get("correlationId"),
        request_id=cause.removeprefix(REQUEST_CAUSE),
        position=position,
    )


@dataclass(frozen=True)
class Pass:
    chained: int
    derived: int


class AuditFollower:
    name = "audit"

    def __init__(
        self,
        event_log: EventLog,
        audit: AuditStore,
        now: Callable[[], datetime],
        grace_seconds: float = GRACE_SECONDS,
        chunk_size: int = CHUNK_SIZE,
        wake: threading.Event | None = None,
    ) -> None:
        self.log = event_log
        self.audit = audit
        self.now = now
        self.grace = timedelta(seconds=grace_seconds)
        self.chunk_size = chunk_size
        self.wake = wake or threading.Event()
        self._integrity: Integrity | None = None

    @property
    def integrity(self) -> Integrity:
        if self._integrity is None:
            self._integrity = integrity_of(self.log, self.audit, create_table=False)
        return self._integrity

    # -- one pass -----------------------------------------------------------------------

    def run_once(self, stop: threading.Event | None = None) -> Pass:
        """One pass of both; `stop` ends it between chunks (a long catch-up)."""
        return Pass(self.chain_once(stop), self.derive_once(stop))

    def chain_once(self, stop: threading.Event | None = None) -> int:
        """Chain every event stored now after the chain's head; returns how many."""
        integrity = self.integrity
        integrity.chain.create()
        head = integrity.chain.head()
        after, previous = (head.position, head.chain_hash) if head else (0, GENESIS)
        chained = 0
        while True:
            rows = integrity.events.rows(after, self.chunk_size)
            if not rows:
                return chained
            links = extend(integrity.key, previous, rows)
            integrity.chain.append(links, after)
            after, previous = links[-1].position, links[-1].chain_hash
            chained += len(links)
            if len(rows) < self.chunk_size or (stop is not None and stop.is_set()):
                return chained

    def derive_once(self, stop: threading.Event | None = None) -> int:
        """Derive the entries of requests older than the grace period that have none;
        returns how many were stored."""
        position = self.log.tracked(DERIVING)
        cutoff = self.now() - self.grace
        head = self.log.head()
        derived = 0
        while position < head:
            page = self.log.read(position, self.chunk_size, stop=head)
            if not page:
                break
            drafts: dict[str, Draft] = {}
            requests: list[tuple[int, str | None]] = []  # (position, request id) in order
            too_recent = False
            for notification in page:
                meta = metadata_of(self.log.decode(notification))
                if _recorded_at(meta) > cutoff:
                    too_recent = True
                    break
                draft = derived_draft(
                    notification.id, notification.topic, str(notification.originator_id), meta
                )
                requests.append((notification.id, draft.request_id if draft else None))
                if draft is not None:
                    first = drafts.get(draft.request_id)
                    # The request's first event names the subject; its last, the position.
                    drafts[draft.request_id] = (
                        draft if first is None else replace(first, position=draft.position)
                    )
            if not too_recent and len(page) == self.chunk_size:
                requests = _without_a_cut_request(requests, drafts)
            if requests:
                fresh = [d for d in drafts.values() if not self.audit.has_request(d.request_id)]
                if fresh:
                    self.audit.append(fresh)
                    derived += len(fresh)
                position = requests[-1][0]
                self.log.track(Tracking(DERIVING, position))
            if too_recent or not requests or (stop is not None and stop.is_set()):
                break
        return derived

    # -- following ------------------------------------------------------------------------

    def follow(self, stop: threading.Event, poll_seconds: float = POLL_SECONDS) -> None:
        while not stop.is_set():
            self.wake.clear()
            try:
                self.run_once(stop)
            except Exception:
                log.exception("audit follower failed; retrying")
                stop.wait(poll_seconds)
                continue
            # Woken by the log, or after a while: derivation waits on time, not events.
            # A busy log wakes it constantly: a short pause lets a pass take more at once.
            stop.wait(MIN_PASS_SECONDS)
            self.wake.wait(poll_seconds)

    def run(self, stop: threading.Event, elect: Callable[[], AbstractContextManager[bool]]) -> None:
        """Follow while elected, until `stop`."""
        try:
            while not stop.is_set():
                try:
                    with elect() as elected:
                        if elected:
                            self.follow(stop)
                            continue
                except Exception:
                    log.exception("audit follower: election failed; trying again")
                stop.wait(POLL_SECONDS)
        finally:
            self.close()

    def close(self) -> None:
        if self._integrity is not None:
            self._integrity.close()
            self._integrity = None


def _recorded_at(meta: Mapping[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(meta["recordedAt"]))
    except (KeyError, ValueError):
        return datetime.min.replace(tzinfo=UTC)  # no time: old enough


def _without_a_cut_request(
    requests: list[tuple[int, str | None]], drafts: dict[str, Draft]
) -> list[tuple[int, str | None]]:
    """A full page may end inside a request's events (one commit: contiguous positions):
    leave that request to the next page, so that its entry covers all of them, unless it
    fills the page (then its entry names the page's last position, not its own)."""
    last = requests[-1][1] if requests else None
    if last is None:
        return requests
    start = len(requests)
    while start > 0 and requests[start - 1][1] == last:
        start -= 1
    if start == 0:
        return requests
    del drafts[last]
    return requests[:start]
