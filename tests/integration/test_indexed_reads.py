"""The lists behind `GET /v1/conversations/{id}/messages`, `GET /v1/conversations` and
`GET /v1/me/notifications` are index ranges with keyset pagination, on both backends, and
each backend's plan shows it (docs/decisions/0033-indexed-reads.md)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from projections.conversations.evolve import KEY, inbox_changes, message_key
from projections.conversations.projection import (
    CONVERSATIONS,
    INBOX,
    MESSAGES,
    ConversationProjection,
)
from projections.conversations.view import ConversationView
from projections.notifications.evolve import listing_key
from projections.notifications.projection import NOTIFICATIONS, NotificationProjection
from projections.notifications.view import NotificationView
from projections.platform.store import (
    Changes,
    Doc,
    PostgresReadStore,
    ReadStore,
    SQLiteReadStore,
)
from tests.support.services import drop_schema, new_schema_name, postgres_url

TENANT = "00000000-0000-4000-a000-0000000000a1"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReadStore]:
    opened: ReadStore
    if request.param == "sqlite":
        opened = SQLiteReadStore(tmp_path / "readmodels.sqlite3")
        schema = None
    else:
        url = postgres_url()
        schema = new_schema_name()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        opened = PostgresReadStore(url, schema, max_size=4)
    for projection in (ConversationProjection, NotificationProjection):
        opened.create(projection.name, projection.tables, projection.sorted_by)
    try:
        yield opened
    finally:
        opened.close()
        if schema is not None:
            drop_schema(postgres_url(), schema)


class Positions:
    """The log positions the rows are folded at, one commit per call."""

    def __init__(self) -> None:
        self.conversations = 0
        self.notifications = 0


def message(conversation: str, position: int) -> Doc:
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{conversation}/{position}")),
        "tenantId": TENANT,
        "conversationId": conversation,
        "type": "TEXT",
        "sentAt": (T0 + timedelta(seconds=position)).isoformat(),
        "senderId": conversation,
        "text": f"message at {position}",
        "card": None,
        "revision": 1,
        "seq": position,
        KEY: message_key(conversation, position),
    }


def post(store: ReadStore, at: Positions, docs: list[Doc]) -> None:
    c = Changes()
    for doc in docs:
        c.rows[(MESSAGES, doc["id"])] = (TENANT, doc)
    end = max([at.conversations, *(d["seq"] for d in docs)]) + 1
    store.commit(ConversationProjection.name, at.conversations, end, c)
    at.conversations = end


def notification(recipient: str, created: datetime, key: str | None = None) -> Doc:
    key = key or str(uuid.uuid4())
    return {
        "id": key,
        "tenantId": TENANT,
        "recipientId": recipient,
        "createdAt": created.isoformat(),
        KEY: listing_key(recipient, created, key),
    }


def notify(store: ReadStore, at: Positions, docs: list[Doc]) -> None:
    c = Changes()
    for doc in docs:
        c.rows[(NOTIFICATIONS, doc["id"])] = (TENANT, doc)
    store.commit(NotificationProjection.name, at.notifications, at.notifications + 1, c)
    at.notifications += 1


def seqs(rows: list[Doc] | None) -> list[int]:
    assert rows is not None
    return [r["seq"] for r in rows]


# -- messages ------------------------------------------------------------------------------


def test_a_conversations_messages_are_paged_oldest_first_after_a_message_id(
    store: ReadStore,
) -> None:
    at, one, other = Positions(), str(uuid.uuid4()), str(uuid.uuid4())
    # Interleaved with another conversation's, and committed out of order.
    post(store, at, [message(one, p) for p in (9, 3, 5, 1, 7)])
    post(store, at, [message(other, p) for p in (2, 4, 6, 8, 10)])
    view = ConversationView(store)

    first = view.messages(one, None, 2)
    assert seqs(first) == [1, 3]
    assert first is not None
    assert seqs(view.messages(one, first[-1]["id"], 2)) == [5, 7]
    assert seqs(view.messages(one, message(one, 7)["id"], 50)) == [9]
    assert seqs(view.messages(one, message(one, 9)["id"], 50)) == []
    assert seqs(view.messages(other, None, 50)) == [2, 4, 6, 8, 10]


def test_after_an_unknown_message_or_one_of_another_conversation_there_is_no_page(
    store: ReadStore,
) -> None:
    at, one, other = Positions(), str(uuid.uuid4()), str(uuid.uuid4())
    post(store, at, [message(one, 1), message(other, 2)])
    view = ConversationView(store)
    assert view.messages(one, str(uuid.uuid4()), 10) is None
    assert view.messages(one, message(other, 2)["id"], 10) is None


def test_messages_posted_while_a_client_pages_come_after_every_page_it_read(
    store: ReadStore,
) -> None:
    at, one = Positions(), str(uuid.uuid4())
    post(store, at, [message(one, p) for p in range(1, 7)])
    view = ConversationView(store)
    page = view.messages(one, None, 3)
    assert seqs(page) == [1, 2, 3]
    assert page is not None
    post(store, at, [message(one, p) for p in (7, 8)])
    rest = view.messages(one, page[-1]["id"], 10)
    assert seqs(rest) == [4, 5, 6, 7, 8]


# -- a participant's conversations -------------------------------------------------------------


def conversation(key: str, participants: list[str], last: datetime | None) -> Doc:
    return {
        "id": key,
        "tenantId": TENANT,
        "patientId": participants[0],
        "kind": "direct",
        "doctorIds": participants[1:],
        "participants": participants,
        "lastMessageAt": None if last is None else last.isoformat(),
    }


def save_conversation(store: ReadStore, at: Positions, before: Doc | None, after: Doc) -> None:
    c = Changes()
    c.rows[(CONVERSATIONS, after["id"])] = (TENANT, after)
    gone, rows = inbox_changes(before, after)
    for key in gone:
        c.rows[(INBOX, key)] = None
    for key, doc in rows:
        c.rows[(INBOX, key)] = (TENANT, doc)
    store.commit(ConversationProjection.name, at.conversations, at.conversations + 1, c)
    at.conversations += 1


def test_a_users_conversations_are_their_inbox_range_most_recent_first(
    store: ReadStore,
) -> None:
    at = Positions()
    patient, doctor, other = (str(uuid.uuid4()) for _ in range(3))
    quiet = conversation("00000000-0000-4000-a000-000000000001", [patient, doctor], None)
    older = conversation("00000000-0000-4000-a000-000000000002", [patient], T0)
    newer = conversation("00000000-0000-4000-a000-000000000003", [patient, other], T0)
    for row in (quiet, older, newer):
        save_conversation(store, at, None, row)
    view = ConversationView(store)
    assert [c["id"] for c in view.of_participant(TENANT, patient)] == [
        newer["id"],  # ties by id, descending
        older["id"],
        quiet["id"],  # no message yet: last
    ]

    # A message moves a conversation up; a doctor who leaves it no longer lists it.
    moved = {**quiet, "lastMessageAt": (T0 + timedelta(hours=1)).isoformat()}
    save_conversation(store, at, quiet, moved)
    left = {**moved, "participants": [patient]}
    save_conversation(store, at, moved, left)
    assert [c["id"] for c in view.of_participant(TENANT, patient)] == [
        quiet["id"],
        newer["id"],
        older["id"],
    ]
    assert view.of_participant(TENANT, doctor) == []
    assert view.of_participant(TENANT, other) == [newer]
    assert view.of_participant(str(uuid.uuid4()), other) == []


# -- notifications ---------------------------------------------------------------------------


def test_a_recipients_notifications_are_paged_newest_first_by_cursor(store: ReadStore) -> None:
    at, me, someone = Positions(), str(uuid.uuid4()), str(uuid.uuid4())
    mine = [notification(me, T0 + timedelta(minutes=m)) for m in range(5)]
    notify(store, at, [*mine, notification(someone, T0 + timedelta(minutes=9))])
    view = NotificationView(store)

    first, cursor = view.page(me, None, 2)
    assert [n["id"] for n in first] == [mine[4]["id"], mine[3]["id"]]
    assert cursor is not None
    # A notification created meanwhile sorts before the pages already read.
    notify(store, at, [notification(me, T0 + timedelta(hours=1))])
    second, cursor = view.page(me, cursor, 2)
    assert [n["id"] for n in second] == [mine[2]["id"], mine[1]["id"]]
    last, cursor = view.page(me, cursor, 2)
    assert [n["id"] for n in last] == [mine[0]["id"]]
    assert cursor is None
    # Another user's cursor starts over at this user's newest.
    newest, _ = view.page(me, first[0][KEY].replace(me, someone), 1)
    assert newest[0]["createdAt"] == (T0 + timedelta(hours=1)).isoformat()
    assert len(view.of_recipient(me)) == 6


# -- query plans -----------------------------------------------------------------------------

CONVERSATIONS_IN_TABLE = 20
MESSAGES_PER_CONVERSATION = 2_000


def fill(store: ReadStore) -> tuple[str, Doc]:
    """40,000 messages of 20 conversations (the one asked for among them), 20,000
    notifications of 200 users: (a conversation id, a message in its middle)."""
    at = Positions()
    ids = [str(uuid.uuid4()) for _ in range(CONVERSATIONS_IN_TABLE)]
    position = 0
    for _ in range(MESSAGES_PER_CONVERSATION // 500):
        docs = []
        for _ in range(500):
            for conversation_id in ids:
                position += 1
                docs.append(message(conversation_id, position))
        post(store, at, docs)
    users = [str(uuid.uuid4()) for _ in range(200)]
    notify(
        store,
        at,
        [notification(u, T0 + timedelta(minutes=m)) for u in users for m in range(100)],
    )
    middle = ConversationView(store).messages(ids[7], None, 1_000)
    assert middle is not None and len(middle) == 1_000
    return ids[7], middle[-1]


def page_statements(store: Any, conversation_id: str, after: Doc) -> list[tuple[str, Any]]:
    """The statements behind a page of messages (the first, and after a message) and a
    page of notifications, as the store runs them."""
    below = f"{conversation_id}}}"
    recipient = after["senderId"]
    return [
        store.page_statement(MESSAGES, None, f"{conversation_id}|", below, 51),
        store.page_statement(MESSAGES, None, after[KEY], below, 51),
        store.page_statement(NOTIFICATIONS, None, f"{recipient}|", f"{recipient}}}", 101),
    ]


def test_on_sqlite_a_page_reads_one_index_range_without_sorting(tmp_path: Path) -> None:
    store = SQLiteReadStore(tmp_path / "readmodels.sqlite3")
    try:
        for projection in (ConversationProjection, NotificationProjection):
            store.create(projection.name, projection.tables, projection.sorted_by)
        conversation_id, after = fill(store)
        conn = store._conn()
        for statement, params in page_statements(store, conversation_id, after):
            plan = " ".join(
                str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}", params)
            )
            assert "_sort (sort_key>? AND sort_key<?)" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
    finally:
        store.close()


def test_on_postgresql_a_page_of_a_2000_message_conversation_is_an_index_scan() -> None:
    url, schema = postgres_url(), new_schema_name()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    store = PostgresReadStore(url, schema, max_size=2)
    try:
        for projection in (ConversationProjection, NotificationProjection):
            store.create(projection.name, projection.tables, projection.sorted_by)
        conversation_id, after = fill(store)
        with store.pool.connection() as conn:
            # What autovacuum would have done by now: the planner sees the real sizes.
            conn.execute(f"ANALYZE {MESSAGES}")
            conn.execute(f"ANALYZE {NOTIFICATIONS}")
            for statement, params in page_statements(store, conversation_id, after):
                plan = "\n".join(
                    row[0] for row in conn.execute(f"EXPLAIN {statement}", params).fetchall()
                )
                assert "Index Scan using" in plan and "_sort on" in plan, plan
                assert "Seq Scan" not in plan and "Sort Key" not in plan, plan
    finally:
        store.close()
        drop_schema(url, schema)
