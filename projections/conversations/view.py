"""Queries of the conversations read model."""

from __future__ import annotations

from projections.conversations.projection import (
    CONVERSATIONS,
    MESSAGES,
    ConversationProjection,
)
from projections.platform.store import Doc, ReadStore


class ConversationView:
    name = ConversationProjection.name

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def of_participant(self, tenant_id: str, user_id: str) -> list[Doc]:
        rows = [
            c for c in self.store.list(CONVERSATIONS, tenant_id) if user_id in c["participants"]
        ]
        rows.sort(key=lambda c: (c["lastMessageAt"] or "", c["id"]), reverse=True)
        return rows

    def conversation(self, conversation_id: str) -> Doc | None:
        """Any tenant's row: the caller checks visibility and participation."""
        return self.store.get(CONVERSATIONS, conversation_id)

    def messages(self, conversation_id: str, after: str | None, limit: int) -> list[Doc] | None:
        """Messages oldest first; after the message `after` if given (None if unknown)."""
        rows = sorted(self.store.list(MESSAGES, conversation_id), key=lambda m: m["seq"])
        if after is not None:
            ids = [m["id"] for m in rows]
            if after not in ids:
                return None
            rows = rows[ids.index(after) + 1 :]
        return rows[:limit]
