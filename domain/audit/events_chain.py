"""The keyed hash chain over the event log, and its verification. Pure: the key comes in,
the log's rows and the chain's rows come in, each in position order.

For each stored event at position p:

    h(p) = HMAC-SHA256(key, canonical(p, originator id, originator version, topic,
                                      sha256(state)))
    c(p) = HMAC-SHA256(key, c(previous position) | h(p)), with c before the first "".

The audit follower (workers/audit.py) appends (p, h(p), c(p)) for every event, in log
order, to an append-only table beside the audit entries. Verification recomputes both:
an event whose bytes changed no longer hashes to h(p); an event removed leaves a chained
position the log no longer holds; an event inserted below the chained head holds a
position nobody chained; two events swapped each hash to the other's h. A chain row that
was rewritten no longer links to the row before it. Positions need not be contiguous (a
rolled-back insert can leave a gap in PostgreSQL's sequence): the chain holds exactly the
positions the log held when it was extended.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

GENESIS = ""
# Changed and inserted events are matched against each other's chained hashes to tell a
# reordering from a change; past this many, the rest are reported as changed.
REORDER_LIMIT = 256


@dataclass(frozen=True)
class LogRow:
    """One stored event as the event table holds it. `originator_id` is the stored text
    (PostgreSQL's uuid as text; the hex SQLite stores), never a parsed value, so that
    whatever is stored is what is hashed."""

    position: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes


@dataclass(frozen=True)
class ChainRow:
    position: int
    event_hash: str
    chain_hash: str


def canonical(
    position: int, originator_id: str, originator_version: int, topic: str, state_digest: str
) -> bytes:
    """One event as bytes: a JSON array in a fixed order, no whitespace, ASCII only."""
    fields = [position, originator_id, originator_version, topic, state_digest]
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=True).encode()


def event_hash(key: bytes, row: LogRow) -> str:
    encoded = canonical(
        row.position,
        row.originator_id,
        row.originator_version,
        row.topic,
        hashlib.sha256(row.state).hexdigest(),
    )
    return hmac.new(key, encoded, hashlib.sha256).hexdigest()


def link(key: bytes, previous: str, hashed: str) -> str:
    return hmac.new(key, (previous + hashed).encode(), hashlib.sha256).hexdigest()


def extend(key: bytes, previous: str, rows: Iterable[LogRow]) -> list[ChainRow]:
    """The chain rows of `rows` (in position order) after the chain hash `previous`."""
    chained = []
    for row in rows:
        hashed = event_hash(key, row)
        previous = link(key, previous, hashed)
        chained.append(ChainRow(row.position, hashed, previous))
    return chained


class Damage(StrEnum):
    CHANGED = "changed"  # the event at this position is not the one chained here
    REORDERED = "reordered"  # ... it is the one chained at another position
    REMOVED = "removed"  # chained, and the log no longer holds it
    INSERTED = "inserted"  # in the log below the chained head, and never chained
    UNLINKED = "unlinked"  # the chain row itself does not follow from the one before


@dataclass(frozen=True)
class Break:
    position: int
    damage: Damage


@dataclass(frozen=True)
class EventsVerification:
    chained: int  # chain rows read
    head_position: int | None  # the newest chain row
    head_hash: str | None
    unchained: int  # events past the chained head: not chained yet, not checked
    breaks: tuple[Break, ...]  # in position order; a position may have two damages

    @property
    def verified(self) -> bool:
        return not self.breaks

    @property
    def chain_intact(self) -> bool:
        """Every chain row follows from the one before it (whatever the log holds)."""
        return all(b.damage is not Damage.UNLINKED for b in self.breaks)

    @property
    def broken_positions(self) -> list[int]:
        return sorted({b.position for b in self.breaks})

    @property
    def first_broken_position(self) -> int | None:
        return self.breaks[0].position if self.breaks else None


def verify_events(
    key: bytes, log_rows: Iterable[LogRow], chain_rows: Iterable[ChainRow]
) -> EventsVerification:
    """Recompute every chained event's hash and every chain link, walking both in position
    order at once. Every row is read, even after a break, so every broken position is
    reported; log rows past the last chain row are counted as unchained."""
    logs = iter(log_rows)
    chains = iter(chain_rows)
    log_row = next(logs, None)
    chain_row = next(chains, None)
    previous = GENESIS
    chained = unchained = 0
    head: ChainRow | None = None
    breaks: list[Break] = []
    # For telling reorderings from changes: the suspects' rows, and the hashes chained
    # where something is wrong.
    suspects: dict[int, LogRow] = {}
    chained_there: dict[int, str] = {}

    def follow(row: ChainRow) -> None:
        nonlocal previous, chained, head
        chained += 1
        head = row
        if not hmac.compare_digest(link(key, previous, row.event_hash), row.chain_hash):
            breaks.append(Break(row.position, Damage.UNLINKED))
        previous = row.chain_hash

    while log_row is not None or chain_row is not None:
        if chain_row is not None and (log_row is None or chain_row.position < log_row.position):
            breaks.append(Break(chain_row.position, Damage.REMOVED))
            if len(chained_there) < REORDER_LIMIT:
                chained_there[chain_row.position] = chain_row.event_hash
            follow(chain_row)
            chain_row = next(chains, None)
        elif log_row is not None and (chain_row is None or log_row.position < chain_row.position):
            if chain_row is None:
                unchained += 1
            else:
                breaks.append(Break(log_row.position, Damage.INSERTED))
                if len(suspects) < REORDER_LIMIT:
                    suspects[log_row.position] = log_row
            log_row = next(logs, None)
        else:
            assert log_row is not None and chain_row is not None
            if not hmac.compare_digest(event_hash(key, log_row), chain_row.event_hash):
                breaks.append(Break(log_row.position, Damage.CHANGED))
                if len(suspects) < REORDER_LIMIT:
                    suspects[log_row.position] = log_row
                    chained_there[chain_row.position] = chain_row.event_hash
            follow(chain_row)
            log_row = next(logs, None)
            chain_row = next(chains, None)

    moved = _moved(key, suspects, chained_there)
    breaks = [
        Break(b.position, Damage.REORDERED)
        if b.position in moved and b.damage in (Damage.CHANGED, Damage.INSERTED)
        else b
        for b in breaks
    ]
    breaks.sort(key=lambda b: b.position)  # stable: a position's damages keep their order
    return EventsVerification(
        chained=chained,
        head_position=head.position if head is not None else None,
        head_hash=head.chain_hash if head is not None else None,
        unchained=unchained,
        breaks=tuple(breaks),
    )


def _moved(key: bytes, suspects: dict[int, LogRow], chained_there: dict[int, str]) -> set[int]:
    """Positions whose event is one that was chained at another position."""
    moved = set()
    for position, row in suspects.items():
        for elsewhere, hashed in chained_there.items():
            if elsewhere == position:
                continue
            if hmac.compare_digest(event_hash(key, replace(row, position=elsewhere)), hashed):
                moved.add(position)
                break
    return moved
