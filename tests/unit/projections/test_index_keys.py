"""The keys and index rows that make the conversations' and the care team's lists index
ranges (docs/decisions/0033-indexed-reads.md): pure functions, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from projections.careteam.evolve import KEY as CASELOAD_KEY
from projections.careteam.evolve import caseload_changes, caseload_range
from projections.conversations.evolve import (
    KEY,
    inbox_changes,
    inbox_key,
    message_key,
    partition,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
CONV = "00000000-0000-4000-a000-00000000c0c0"
P, D1, D2 = (f"00000000-0000-4000-a000-00000000000{n}" for n in (1, 2, 3))


def test_a_conversations_message_keys_sort_by_log_position_inside_its_partition() -> None:
    after, below = partition(CONV)
    keys = [message_key(CONV, p) for p in (10, 9, 100, 1_000_000)]
    assert sorted(keys) == [keys[1], keys[0], keys[2], keys[3]]
    assert all(after < k < below for k in keys)
    assert not after < message_key(CONV + "0", 1) < below


def conversation(last: datetime | None, participants: list[str]) -> dict[str, object]:
    return {
        "id": CONV,
        "tenantId": "t",
        "participants": participants,
        "lastMessageAt": None if last is None else last.isoformat(),
    }


def test_inbox_keys_put_the_latest_message_first_and_silent_conversations_last() -> None:
    latest = inbox_key(P, conversation(T0 + timedelta(days=30), [P]))
    earlier = inbox_key(P, conversation(T0, [P]))
    silent = inbox_key(P, conversation(None, [P]))
    assert sorted([silent, earlier, latest]) == [latest, earlier, silent]


def test_a_conversations_inbox_rows_follow_its_participants() -> None:
    before = conversation(T0, [P, D1])
    after = conversation(T0 + timedelta(minutes=1), [P, D2])
    gone, rows = inbox_changes(before, after)
    assert gone == [f"{D1}:{CONV}"]
    assert [key for key, _ in rows] == [f"{P}:{CONV}", f"{D2}:{CONV}"]
    assert all(
        doc["conversation"] == after and doc[KEY].startswith(doc["participantId"])
        for _, doc in rows
    )


def test_a_patients_caseload_rows_follow_their_active_connections() -> None:
    before = {"id": P, "tenantId": "t", "therapistIds": [D1]}
    after = {"id": P, "tenantId": "t", "therapistIds": [D2]}
    gone, added = caseload_changes(before, after)
    assert gone == [f"{D1}:{P}"]
    [(key, doc)] = added
    low, high = caseload_range(D2)
    assert key == f"{D2}:{P}" and low < doc[CASELOAD_KEY] < high
    assert caseload_changes(after, after) == ([], [])
