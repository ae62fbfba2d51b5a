"""The orjson reader keeps the stored format: events written before it are read by it, and
events written with it are read by the library's own `JSONTranscoder`, value for value
(docs/decisions/0034-catch-up-speed.md). Checked on real events, sealed personal text
included, through a real log on SQLite, and on arbitrary values."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from eventsourcing.persistence import JSONTranscoder, StoredEvent
from hypothesis import given
from hypothesis import strategies as st

from domain.people.patient import Patient
from domain.people.staff import Staff
from domain.privacy.personal import PersonalText, PersonalTextTranscoding, Sealer
from domain.shared.context import Actor, CommandContext, Role
from domain.shared.eventlog import EventLog, FastJSONTranscoder, pack, same, unpack
from tests.support.sealing import MemoryKeyStore

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
CTX = CommandContext(
    actor=Actor(user_id=uuid.uuid4(), role=Role.PLATFORM_ADMIN, tenant_id=None),
    causation_id="compat",
)


def old_transcoder(log: EventLog, sealer: Sealer) -> JSONTranscoder:
    """The library's transcoder with CareLoop's transcodings: the code before this change."""
    old = JSONTranscoder()
    EventLog.register_transcodings(log, old)
    old.register(PersonalTextTranscoding(sealer))
    return old


def sqlite_log(tmp_path: Path, sealer: Sealer) -> EventLog:
    log = EventLog(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "e.db")}
    )
    transcoder = log.mapper.transcoder
    assert isinstance(transcoder, FastJSONTranscoder)
    transcoder.register(PersonalTextTranscoding(sealer))
    return log


def some_aggregates() -> list[Any]:
    tenant, pid = uuid.uuid4(), uuid.uuid4()
    staff = Staff(
        id=uuid.uuid4(),
        tenant_id=tenant,
        staff_type="DOCTOR",
        first_name="Ada",
        last_name="Lovelace",
        email="ada@clinic.example",
        timestamp=NOW,
    )
    patient = Patient(
        id=pid,
        tenant_id=tenant,
        first_name=PersonalText(pid, "Sam"),
        last_name=PersonalText(pid, "Okafor ✓"),
        email=PersonalText(pid, "sam@mail.example"),
        timezone="Europe/Berlin",
        invited_by=staff.id,
        timestamp=NOW,
    )
    return [staff, patient]


def test_events_written_by_the_library_transcoder_are_read_the_same_by_the_new_one(
    tmp_path: Path,
) -> None:
    sealer = Sealer(MemoryKeyStore())
    log = sqlite_log(tmp_path, sealer)
    old = old_transcoder(log, sealer)
    aggregates = some_aggregates()
    for aggregate in aggregates:
        log.stamp(aggregate, CTX, NOW, only_new=True)
    events = [e for a in aggregates for e in a.collect_events()]
    # Stored as the old code stores them: the library's transcoder writes the state.
    stored = [
        StoredEvent(
            originator_id=e.originator_id,
            originator_version=e.originator_version,
            topic=s.topic,
            state=old.encode(old_state),
        )
        for e in events
        for s in [log.mapper.to_stored_event(e)]
        for old_state in [old.decode(s.state)]
    ]
    log.recorder.insert_events(stored)
    read: list[Any] = [log.decode(n) for n in log.read(0, 10)]
    assert [vars(e) for e in read] == [vars(e) for e in events]
    assert read[1].first_name.text == "Sam" and read[1].last_name.text == "Okafor ✓"


def test_events_written_by_the_new_transcoder_are_read_the_same_by_the_library_one(
    tmp_path: Path,
) -> None:
    sealer = Sealer(MemoryKeyStore())
    log = sqlite_log(tmp_path, sealer)
    old = old_transcoder(log, sealer)
    aggregates = some_aggregates()
    log.record(aggregates, CTX, NOW)
    for notification in log.read(0, 10):
        new_state = log.mapper.transcoder.decode(notification.state)
        old_state = old.decode(notification.state)
        assert old_state == new_state
        # ...and the bytes are exactly what the library would have written.
        assert old.encode(old_state) == notification.state


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too: orjson reads those as floats, json as ints
    | st.floats(allow_nan=True)
    | st.text(max_size=8)
    | st.uuids()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.datetimes(timezones=st.just(UTC)),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=4), inner, max_size=3)
        | st.fixed_dictionaries({"_type_": st.just("uuid_hex"), "_data_": st.uuids().map(str)})
        | st.fixed_dictionaries({"_type_": inner, "_data_": inner, "x": inner})
    ),
    max_leaves=10,
)


@given(value=values)
def test_any_value_reads_back_the_same_through_either_transcoder(value: Any) -> None:
    log_transcoder = EventLog.construct_transcoder.__get__(_bare_log())()
    old = JSONTranscoder()
    EventLog.register_transcodings(_bare_log(), old)
    try:
        data = old.encode(pack(value))
    except (TypeError, ValueError):
        return  # a value neither can store
    assert log_transcoder.encode(pack(value)) == data
    assert same(unpack(log_transcoder.decode(data)), unpack(old.decode(data)))


_LOG: list[EventLog] = []


def _bare_log() -> EventLog:
    """An EventLog object for its transcodings only (no recorder is needed)."""
    if not _LOG:
        _LOG.append(object.__new__(EventLog))
    return _LOG[0]


def test_uuids_and_decimals_decode_to_their_exact_types() -> None:
    t = FastJSONTranscoder()
    EventLog.register_transcodings(_bare_log(), t)
    u = uuid.uuid4()
    back = t.decode(t.encode({"u": u, "d": Decimal("1.10"), "n": -(2**70)}))
    assert type(back["u"]) is uuid.UUID and back["u"] == u and hash(back["u"]) == hash(u)
    assert str(back["u"]) == str(u) and back["u"].version == 4
    assert back["d"] == Decimal("1.10") and str(back["d"]) == "1.10"
    assert back["n"] == -(2**70) and type(back["n"]) is int
