"""The audit trail's keyed hash chain, verified as a pure function of the entries and the
store's head: given a chain, when something in it changes, then verification names the
first entry that no longer follows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.audit.chain import verify
from domain.audit.chain_store import StoredEntry, stored_entry, verify_stored
from domain.audit.entry import AuditEntry, Draft, Outcome
from domain.audit.store import chained, row_of

KEY = b"k" * 32
T0 = datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=UTC)
TENANT = "7c1e6a52-1f0e-4d7e-9a51-0f6c2d1b9e01"


def drafts(n: int) -> list[Draft]:
    return [
        Draft(
            tenant=TENANT,
            actor_id=f"actor-{i}",
            role="doctor",
            action="patient.read",
            subject_type="patient",
            subject_id=f"patient-{i}",
            outcome=Outcome.SUCCESS,
            status=200,
            correlation_id=f"c-{i}",
            request_id=f"r-{i}",
            position=i if i % 2 else None,
        )
        for i in range(n)
    ]


def chain_of(n: int) -> list[AuditEntry]:
    return chained(KEY, drafts(n), (0, ""), T0)


def head_of(entries: list[AuditEntry]) -> tuple[int, str]:
    return entries[-1].seq, entries[-1].hash


# Every column the chain covers, and a way to change it that a reader still reads.
CHANGES: dict[str, Any] = {
    "tenant": lambda e: replace(e, tenant=e.tenant + "x"),
    "recorded_at": lambda e: replace(e, recorded_at=e.recorded_at.replace(microsecond=1)),
    "actor_id": lambda e: replace(e, actor_id=e.actor_id + "x"),
    "role": lambda e: replace(e, role="hospital_admin"),
    "action": lambda e: replace(e, action="patient_invited"),
    "subject_type": lambda e: replace(e, subject_type="staff"),
    "subject_id": lambda e: replace(e, subject_id=None),
    "outcome": lambda e: replace(e, outcome="denied"),
    "status": lambda e: replace(e, status=403),
    "correlation_id": lambda e: replace(e, correlation_id="other"),
    "request_id": lambda e: replace(e, request_id="other"),
    "position": lambda e: replace(e, position=(e.position or 0) + 1),
    "hash": lambda e: replace(e, hash="0" * 64),
}


def test_an_untouched_chain_verifies_and_counts_every_entry() -> None:
    entries = chain_of(5)
    result = verify(KEY, entries, head_of(entries))
    assert result.verified
    assert result.entries == 5
    assert result.head_hash == entries[-1].hash
    assert result.first_broken_seq is None


def test_an_empty_chain_without_a_head_verifies() -> None:
    assert verify(KEY, [], None).verified


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 8), data=st.data())
def test_changing_any_column_of_an_entry_breaks_the_chain_at_that_entry(
    n: int, data: st.DataObject
) -> None:
    entries = chain_of(n)
    head = head_of(entries)
    index = data.draw(st.integers(0, n - 1))
    column = data.draw(st.sampled_from(sorted(CHANGES)))
    entries[index] = CHANGES[column](entries[index])
    result = verify(KEY, entries, head)
    assert not result.verified
    assert result.first_broken_seq == index + 1
    assert result.entries == n  # every entry is read, even after the break


def test_another_key_breaks_the_chain_at_its_first_entry() -> None:
    entries = chain_of(3)
    assert verify(b"x" * 32, entries, head_of(entries)).first_broken_seq == 1


def test_removing_an_entry_breaks_the_chain_at_the_first_entry_that_no_longer_follows() -> None:
    entries = chain_of(5)
    head = head_of(entries)
    del entries[2]  # seq 3
    assert verify(KEY, entries, head).first_broken_seq == 4


def test_removing_the_first_entry_breaks_the_chain_at_the_second() -> None:
    entries = chain_of(3)
    head = head_of(entries)
    assert verify(KEY, entries[1:], head).first_broken_seq == 2


def test_removing_the_newest_entry_is_caught_by_the_head() -> None:
    entries = chain_of(4)
    head = head_of(entries)
    result = verify(KEY, entries[:-1], head)
    assert not result.verified
    assert result.first_broken_seq == 4  # the one past the last entry that still follows


def test_removing_every_entry_is_caught_by_the_head() -> None:
    entries = chain_of(2)
    assert verify(KEY, [], head_of(entries)).first_broken_seq == 1


def test_a_head_that_records_another_hash_is_a_break_after_the_last_entry() -> None:
    entries = chain_of(3)
    result = verify(KEY, entries, (3, "f" * 64))
    assert not result.verified
    assert result.first_broken_seq == 4


def test_a_head_that_records_another_seq_is_a_break() -> None:
    entries = chain_of(3)
    assert not verify(KEY, entries, (5, entries[-1].hash)).verified


def test_a_head_that_is_missing_does_not_hide_a_changed_entry() -> None:
    entries = chain_of(3)
    entries[1] = replace(entries[1], action="other")
    assert verify(KEY, entries, None).first_broken_seq == 2


@settings(max_examples=100, deadline=None)
@given(n=st.integers(2, 8), data=st.data())
def test_swapping_two_entries_contents_breaks_the_chain_at_the_earlier(
    n: int, data: st.DataObject
) -> None:
    entries = chain_of(n)
    head = head_of(entries)
    i, j = sorted(data.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True)))
    a, b = entries[i], entries[j]
    entries[i] = replace(b, seq=a.seq, tenant=a.tenant)
    entries[j] = replace(a, seq=b.seq, tenant=b.tenant)
    assert verify(KEY, entries, head).first_broken_seq == i + 1


def test_an_entry_inserted_past_the_head_breaks_the_chain_there() -> None:
    entries = chain_of(3)
    head = head_of(entries)
    forged = replace(entries[-1], seq=4, hash="a" * 64)
    assert verify(KEY, [*entries, forged], head).first_broken_seq == 4


def test_an_entry_inserted_in_the_middle_breaks_the_chain_where_it_stands() -> None:
    entries = chain_of(4)
    head = head_of(entries)
    # The store keys entries by seq: room for one means renumbering those after it.
    forged = replace(entries[1], seq=3, actor_id="mallory")
    after = [replace(e, seq=e.seq + 1) for e in entries[2:]]
    assert verify(KEY, [*entries[:2], forged, *after], head).first_broken_seq == 3


# -- entries as stored --------------------------------------------------------------------


def stored(entries: list[AuditEntry]) -> list[StoredEntry]:
    return [stored_entry(row_of(e)) for e in entries]


def with_recorded_at(row: StoredEntry, text: str) -> StoredEntry:
    values = list(row.values)
    values[2] = text
    return stored_entry(values)


def test_stored_entries_as_the_store_writes_them_verify() -> None:
    entries = chain_of(4)
    assert verify_stored(KEY, stored(entries), head_of(entries)).verified


def test_a_recorded_at_whose_separator_changed_is_a_break_though_it_parses_to_the_same_time() -> (
    None
):
    entries = chain_of(4)
    rows = stored(entries)
    text = rows[1].values[2]
    changed = text.replace("T", "U")  # fromisoformat reads any separator as the T
    assert datetime.fromisoformat(changed) == datetime.fromisoformat(text)
    rows[1] = with_recorded_at(rows[1], changed)
    result = verify_stored(KEY, rows, head_of(entries))
    assert not result.verified
    assert result.first_broken_seq == 2


def test_a_recorded_at_that_no_longer_parses_is_a_break_and_the_rest_is_still_read() -> None:
    entries = chain_of(4)
    rows = stored(entries)
    rows[2] = with_recorded_at(rows[2], rows[2].values[2].replace(":", ";", 1))
    result = verify_stored(KEY, rows, head_of(entries))
    assert result.first_broken_seq == 3
    assert result.entries == 4


def test_an_unreadable_entry_after_a_changed_one_leaves_the_changed_one_first() -> None:
    entries = chain_of(4)
    entries[0] = replace(entries[0], action="other")
    rows = stored(entries)
    rows[3] = with_recorded_at(rows[3], "not a time")
    assert verify_stored(KEY, rows, head_of(chain_of(4))).first_broken_seq == 1
