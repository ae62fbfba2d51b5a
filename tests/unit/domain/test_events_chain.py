"""The event log's keyed hash chain, as pure functions: given a log and the chain made
of it, when the log or the chain changes, then verification names every broken position
and the first."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.audit.events_chain import (
    GENESIS,
    ChainRow,
    Damage,
    LogRow,
    event_hash,
    extend,
    link,
    verify_events,
)

KEY = b"k" * 32


def log_of(n: int, gaps: frozenset[int] = frozenset()) -> list[LogRow]:
    positions = [p for p in range(1, n + len(gaps) + 1) if p not in gaps][:n]
    return [
        LogRow(
            position=p,
            originator_id=f"{p % 3:032x}",
            originator_version=p // 3 + 1,
            topic=f"domain.things.thing:Thing.Event{p % 2}",
            state=b'{"metadata":{"actorId":"a"},"n":%d}' % p,
        )
        for p in positions
    ]


def damages(log: list[LogRow], chain: list[ChainRow]) -> list[tuple[int, Damage]]:
    return [(b.position, b.damage) for b in verify_events(KEY, log, chain).breaks]


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def flip_text(text: str, index: int) -> str:
    return text[:index] + chr(ord(text[index]) ^ 0x01) + text[index + 1 :]


def test_an_untouched_log_verifies() -> None:
    log = log_of(6)
    result = verify_events(KEY, log, extend(KEY, GENESIS, log))
    assert result.verified and result.chain_intact
    assert result.chained == 6 and result.unchained == 0
    assert result.head_position == 6
    assert result.first_broken_position is None


def test_an_empty_log_with_an_empty_chain_verifies() -> None:
    assert verify_events(KEY, [], []).verified


def test_a_chain_extended_in_pieces_is_the_chain_made_at_once() -> None:
    log = log_of(9)
    first = extend(KEY, GENESIS, log[:4])
    assert first + extend(KEY, first[-1].chain_hash, log[4:]) == extend(KEY, GENESIS, log)


def test_each_link_covers_the_one_before_it() -> None:
    chain = extend(KEY, GENESIS, log_of(3))
    assert chain[1].chain_hash == link(KEY, chain[0].chain_hash, chain[1].event_hash)


def test_positions_need_not_be_contiguous() -> None:
    log = log_of(6, gaps=frozenset({3, 5}))
    assert [r.position for r in log] == [1, 2, 4, 6, 7, 8]
    assert verify_events(KEY, log, extend(KEY, GENESIS, log)).verified


def test_events_past_the_chained_head_are_counted_not_broken() -> None:
    log = log_of(8)
    result = verify_events(KEY, log, extend(KEY, GENESIS, log[:5]))
    assert result.verified
    assert (result.chained, result.unchained, result.head_position) == (5, 3, 5)


FIELDS = ["originator_id", "originator_version", "topic", "state"]


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 10), data=st.data())
def test_a_single_byte_changed_in_any_field_of_an_event_is_reported_at_its_position(
    n: int, data: st.DataObject
) -> None:
    log = log_of(n)
    chain = extend(KEY, GENESIS, log)
    index = data.draw(st.integers(0, n - 1))
    row = log[index]
    field = data.draw(st.sampled_from(FIELDS))
    if field == "state":
        changed = replace(row, state=flip(row.state, data.draw(st.integers(0, len(row.state) - 1))))
    elif field == "originator_version":
        changed = replace(row, originator_version=row.originator_version ^ 0x01)
    else:
        text = getattr(row, field)
        changed = replace(row, **{field: flip_text(text, data.draw(st.integers(0, len(text) - 1)))})
    log[index] = changed
    result = verify_events(KEY, log, chain)
    assert damages(log, chain) == [(row.position, Damage.CHANGED)]
    assert result.first_broken_position == row.position
    assert result.chain_intact  # the log changed, not the chain


def test_a_removed_event_is_reported_removed() -> None:
    log = log_of(5)
    chain = extend(KEY, GENESIS, log)
    del log[2]
    assert damages(log, chain) == [(3, Damage.REMOVED)]


def test_removing_the_newest_event_is_reported_removed() -> None:
    log = log_of(5)
    chain = extend(KEY, GENESIS, log)
    assert damages(log[:-1], chain) == [(5, Damage.REMOVED)]


def test_an_event_inserted_below_the_chained_head_is_reported_inserted() -> None:
    log = log_of(5, gaps=frozenset({3}))
    chain = extend(KEY, GENESIS, log)
    forged = replace(log[1], position=3, originator_version=99)
    tampered = sorted([*log, forged], key=lambda r: r.position)
    result = verify_events(KEY, tampered, chain)
    assert damages(tampered, chain) == [(3, Damage.INSERTED)]
    assert result.unchained == 0


@settings(max_examples=100, deadline=None)
@given(n=st.integers(2, 10), data=st.data())
def test_two_swapped_events_are_both_reported_reordered(n: int, data: st.DataObject) -> None:
    log = log_of(n)
    chain = extend(KEY, GENESIS, log)
    i, j = sorted(data.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True)))
    a, b = log[i], log[j]
    log[i], log[j] = replace(b, position=a.position), replace(a, position=b.position)
    assert damages(log, chain) == [(a.position, Damage.REORDERED), (b.position, Damage.REORDERED)]
    assert verify_events(KEY, log, chain).first_broken_position == a.position


def test_an_event_moved_into_a_gap_is_reported_where_it_went_and_where_it_was() -> None:
    log = log_of(5, gaps=frozenset({2}))  # positions 1, 3, 4, 5, 6
    chain = extend(KEY, GENESIS, log)
    moved = replace(log[3], position=2)
    tampered = sorted([*log[:3], moved, *log[4:]], key=lambda r: r.position)
    assert damages(tampered, chain) == [(2, Damage.REORDERED), (5, Damage.REMOVED)]


def test_a_rewritten_event_hash_in_the_chain_breaks_the_chain_itself() -> None:
    log = log_of(5)
    chain = extend(KEY, GENESIS, log)
    chain[1] = replace(chain[1], event_hash=flip_text(chain[1].event_hash, 0))
    result = verify_events(KEY, log, chain)
    assert damages(log, chain) == [(2, Damage.CHANGED), (2, Damage.UNLINKED)]
    assert not result.chain_intact


def test_a_rewritten_chain_hash_unlinks_its_row_and_the_next() -> None:
    log = log_of(5)
    chain = extend(KEY, GENESIS, log)
    chain[2] = replace(chain[2], chain_hash=flip_text(chain[2].chain_hash, 63))
    assert damages(log, chain) == [(3, Damage.UNLINKED), (4, Damage.UNLINKED)]


def test_a_removed_chain_row_leaves_its_event_unchained_below_the_head() -> None:
    log = log_of(5)
    chain = extend(KEY, GENESIS, log)
    del chain[1]
    assert damages(log, chain) == [(2, Damage.INSERTED), (3, Damage.UNLINKED)]


def test_a_chain_recomputed_without_the_key_does_not_verify() -> None:
    log = log_of(4)
    forged = extend(b"guess" * 8, GENESIS, log)
    result = verify_events(KEY, log, forged)
    assert result.broken_positions == [1, 2, 3, 4]
    assert not result.chain_intact


def test_every_broken_position_is_reported_and_the_lowest_is_first() -> None:
    log = log_of(8)
    chain = extend(KEY, GENESIS, log)
    log[6] = replace(log[6], topic="x")
    log[2] = replace(log[2], state=b"{}")
    del log[4]
    result = verify_events(KEY, log, chain)
    assert result.broken_positions == [3, 5, 7]
    assert result.first_broken_position == 3


def test_an_event_hash_covers_its_position() -> None:
    row = log_of(1)[0]
    assert event_hash(KEY, row) != event_hash(KEY, replace(row, position=2))
