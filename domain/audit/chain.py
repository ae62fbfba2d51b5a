"""The keyed hash chain over one tenant's entries, and its verification. Pure: the key
comes in, the entries come in, in the order they were stored.

hash(n) = HMAC-SHA256(key, hash(n-1) | canonical(entry n)), with hash(0) the empty string.
`canonical` covers every stored column but the hash itself, so changing any of them,
removing, inserting or reordering entries breaks the chain from there on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from domain.audit.entry import AuditEntry

GENESIS = ""


def canonical(
    tenant: str,
    seq: int,
    recorded_at: datetime,
    actor_id: str,
    role: str,
    action: str,
    subject_type: str,
    subject_id: str | None,
    outcome: str,
    status: int,
    correlation_id: str | None,
    request_id: str,
    position: int | None,
) -> bytes:
    """One entry as bytes: a JSON array in a fixed order, no whitespace, ASCII only."""
    fields = [
        tenant,
        seq,
        recorded_at.isoformat(),
        actor_id,
        role,
        action,
        subject_type,
        subject_id,
        outcome,
        status,
        correlation_id,
        request_id,
        position,
    ]
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=True).encode()


def entry_bytes(entry: AuditEntry) -> bytes:
    return canonical(
        entry.tenant,
        entry.seq,
        entry.recorded_at,
        entry.actor_id,
        entry.role,
        entry.action,
        entry.subject_type,
        entry.subject_id,
        entry.outcome,
        entry.status,
        entry.correlation_id,
        entry.request_id,
        entry.position,
    )


def link(key: bytes, previous: str, encoded: bytes) -> str:
    return hmac.new(key, previous.encode() + b"\n" + encoded, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Verification:
    verified: bool
    entries: int
    head_hash: str | None
    first_broken_seq: int | None


def verify(
    key: bytes, entries: Iterable[AuditEntry], head: tuple[int, str] | None = None
) -> Verification:
    """Recompute the chain over `entries` (one tenant's, in stored order). The first entry
    whose hash does not follow, or whose `seq` is not the next one, is the first broken;
    `head` (the store's record of the last seq and hash) catches a removed or rewritten
    newest entry. Every entry is read, even after a break, so `entries` counts them all."""
    previous = GENESIS
    expected_seq = 1
    count = 0
    first_broken: int | None = None
    last: AuditEntry | None = None
    for entry in entries:
        count += 1
        last = entry
        if first_broken is None:
            computed = link(key, previous, entry_bytes(entry))
            if entry.seq != expected_seq or not hmac.compare_digest(computed, entry.hash):
                first_broken = entry.seq if entry.seq >= 1 else expected_seq
        previous = entry.hash
        expected_seq += 1
    if first_broken is None and head is not None:
        head_seq, head_hash = head
        if last is None or head_seq != last.seq or head_hash != last.hash:
            # The newest entries were removed or replaced: the break is after the last
            # entry that still matches the chain.
            first_broken = (last.seq + 1) if last is not None else 1
    return Verification(
        verified=first_broken is None,
        entries=count,
        head_hash=last.hash if last is not None else None,
        first_broken_seq=first_broken,
    )
