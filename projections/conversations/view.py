"""Queries of the conversations read model: each list is one index range of a sorted
table (docs/decisions/0033-indexed-reads.md); nothing reads a tenant's or a
conversation's rows to filter or sort them here."""

from __future__ import annotations

from projections.conversations.evolve import KEY, partition
from projections.conversations.projection import (
    CONVERSATIONS,
    INBOX,
    MESSAGES,
    ConversationProjection,
)
from projections.platform.store import Doc, ReadStore

PAGE = 500


class ConversationView:
    name = ConversationProjection.name

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def of_participant(self, tenant_id: str, user_id: str) -> list[Doc]:
        """The user's conversations (in their tenant), most recently active first, those
        without a message last: the user's range of the inbox index, a page at a time.
        A user takes part in their care team's conversations only, so the list is
        bounded by their caseload rather than growing with time."""
        after, below = partition(user_id)
        rows: list[Doc] = []
        while True:
            page = self.store.page(INBOX, None, after, below, PAGE)
            rows.extend(
                r["conversation"] for r in page if r["conversation"]["tenantId"] == tenant_id
            )
            if len(page) < PAGE:
                return rows
            after = page[-1][KEY]

    def conversation(self, conversation_id: str) -> Doc | None:
        """Any tenant's row: the caller checks visibility and participation."""
        return self.store.get(CONVERSATIONS, conversation_id)

    def messages(self, conversation_id: str, after: str | None, limit: int) -> list[Doc] | None:
        """Up to `limit` messages oldest first, after the message `after` if given (None
        if it is not one of this conversation's): one index range (keyset pagination on
        the message's key, so messages arriving meanwhile never shift a page)."""
        start, below = partition(conversation_id)
        if after is not None:
            row = self.store.get(MESSAGES, after)
            if row is None or row["conversationId"] != conversation_id or KEY not in row:
                return None
            start = row[KEY]
        return self.store.page(MESSAGES, None, start, below, limit)
