"""The generic history rendering and replay cache (domain/shared/history.py), without a
database: a tiny aggregate of the library's own kind stands in for every CareLoop one."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, event

from domain.shared.history import History, NotYetError, data_of, state_of, to_json, type_name

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class Colour(enum.Enum):
    RED = "red"


@dataclass(frozen=True)
class Dose:
    sets_per_day: int
    started_on: datetime


class Counter(Aggregate):
    @event("Opened")
    def __init__(self, tenant_id: uuid.UUID | None, colour: Colour, timestamp: datetime) -> None:
        self.tenant_id = tenant_id
        self.colour = colour
        self.total = 0
        self.doses: list[Dose] = []
        self.tags: set[str] = set()
        self.by_key: dict[uuid.UUID, int] = {}

    @event("Added")
    def add(self, amount: int, dose: Dose, timestamp: datetime) -> None:
        self.total += amount
        self.doses.append(dose)
        self.tags.add(f"t{amount % 3}")


def counter(additions: int, tenant: uuid.UUID | None = None) -> Counter:
    c = Counter(tenant, Colour.RED, timestamp=T0)
    for n in range(additions):
        c.add(n, Dose(n, T0), timestamp=T0 + timedelta(minutes=n + 1))
    return c


class Log:
    """A source of (position, event) after a version, counting how often it is asked."""

    def __init__(self, aggregate: Counter) -> None:
        self.events: list[Any] = list(aggregate.collect_events())
        self.reads: list[int] = []
        self.replayed = 0  # events handed out

    def __call__(
        self, aggregate_id: uuid.UUID, after: int, until: int | None = None
    ) -> list[tuple[int, Any]]:
        self.reads.append(after)
        found = [
            (i + 100, e)
            for i, e in enumerate(self.events)
            if e.originator_id == aggregate_id
            and after < e.originator_version <= (until or e.originator_version)
        ]
        self.replayed += len(found)
        return found


def test_values_render_as_json_with_camel_case_field_names() -> None:
    some = uuid.uuid4()
    rendered = to_json(
        {
            "dose": Dose(3, T0),
            "colour": Colour.RED,
            "ids": {some},
            "span": timedelta(seconds=90),
            "blob": b"\x00\x01",
            some: (1, 2),
        }
    )
    assert rendered == {
        "dose": {"setsPerDay": 3, "startedOn": T0.isoformat()},
        "colour": "red",
        "ids": [str(some)],
        "span": 90.0,
        "blob": "AAE=",
        str(some): [1, 2],
    }


def test_state_is_the_public_attributes_and_data_leaves_the_envelope_out() -> None:
    tenant = uuid.uuid4()
    c = counter(2, tenant)
    state = state_of(c)
    assert state == {
        "tenantId": str(tenant),
        "colour": "red",
        "total": 1,
        "doses": [
            {"setsPerDay": 0, "startedOn": T0.isoformat()},
            {"setsPerDay": 1, "startedOn": T0.isoformat()},
        ],
        "tags": ["t0", "t1"],
        "byKey": {},
    }
    added = c.collect_events()[-1]
    assert type_name(added) == "Counter.Added"
    assert data_of(added) == {"amount": 1, "dose": {"setsPerDay": 1, "startedOn": T0.isoformat()}}


def test_a_version_or_a_time_replays_to_that_point() -> None:
    c = counter(5)
    history = History(Log(c))
    assert history.current(c.id).version == 6
    third = history.at_version(c.id, 3)
    assert (third.version, third.state["total"], third.recorded_at) == (
        3,
        1,
        T0 + timedelta(minutes=2),
    )
    assert history.as_of(c.id, T0 + timedelta(minutes=2, seconds=30)).version == 3
    assert history.as_of(c.id, T0).version == 1
    assert history.as_of(c.id, T0 + timedelta(days=1)).version == 6


def test_before_it_existed_beyond_its_last_version_or_unknown_is_not_yet() -> None:
    c = counter(2)
    history = History(Log(c))
    for read in (
        lambda: history.as_of(c.id, T0 - timedelta(microseconds=1)),
        lambda: history.at_version(c.id, 4),
        lambda: history.at_version(c.id, 0),
        lambda: history.current(uuid.uuid4()),
    ):
        with pytest.raises(NotYetError):
            read()


def test_a_warm_read_asks_only_for_new_events_and_sees_them() -> None:
    c = counter(3)
    log = Log(c)
    history = History(log)
    assert history.at_version(c.id, 2).state["total"] == 0
    assert history.at_version(c.id, 2).state["total"] == 0
    assert log.reads == [0, 0, 4]  # the timeline, the replay to 2, then only what is new
    c.add(10, Dose(1, T0), timestamp=T0 + timedelta(hours=1))
    log.events += c.collect_events()
    assert history.current(c.id).state["total"] == 13
    assert history.at_version(c.id, 4).state["total"] == 3  # an earlier state, unchanged


def test_a_cleared_cache_reads_the_log_again() -> None:
    c = counter(1)
    log = Log(c)
    history = History(log)
    history.current(c.id)
    history.clear()
    history.current(c.id)
    assert log.reads == [0, 0]


class Snapshots:
    """A snapshot store standing in for the log's: the aggregate replayed to the last
    multiple of `interval` at or below a version, as `EventLog.nearest_snapshot` gives."""

    def __init__(self, log: Log, interval: int) -> None:
        self.log = log
        self.interval = interval

    def __call__(self, aggregate_id: uuid.UUID, version: int | None) -> Any | None:
        last = max(e.originator_version for e in self.log.events)
        at = (min(version or last, last) // self.interval) * self.interval
        aggregate = None
        for e in self.log.events[:at]:
            aggregate = e.mutate(aggregate)
        return aggregate


def test_a_cold_read_replays_only_from_the_nearest_snapshot_below_it() -> None:
    c = counter(99)  # versions 1..100
    log = Log(c)
    for version in (1, 9, 10, 11, 55, 99, 100):
        replayed = History(log).at_version(c.id, version)
        history = History(log, snapshots=Snapshots(log, 10))
        log.replayed = 0
        assert history.at_version(c.id, version) == replayed
        # The current state from snapshot 100, then the version from its own snapshot.
        assert log.replayed <= 9, version


def test_as_of_bisects_the_timestamps_reading_each_once_and_keeps_the_last_of_equal_ones() -> None:
    c = Counter(None, Colour.RED, timestamp=T0)
    minutes = [1, 1, 2, 2, 2, 5, 9, 9]  # versions 2..9
    for n, minute in enumerate(minutes):
        c.add(n, Dose(n, T0), timestamp=T0 + timedelta(minutes=minute))
    log = Log(c)
    history = History(log, snapshots=Snapshots(log, 4))
    expected = {0: 1, 1: 3, 2: 6, 3: 6, 4: 6, 5: 7, 8: 7, 9: 9, 60: 9}
    for minute, version in expected.items():
        assert history.as_of(c.id, T0 + timedelta(minutes=minute)).version == version
    reads = len(log.reads)
    for minute, version in expected.items():
        assert history.as_of(c.id, T0 + timedelta(minutes=minute)).version == version
    assert len(log.reads) - reads == len(expected)  # warm: only "anything new?" each time
