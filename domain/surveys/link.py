"""One-time links a patient answers without logging in: a survey's, a satisfaction
check's.

A link token is `HMAC-SHA256(link key, nonce)` where the nonce is 128 random bits made
outside the domain. The token itself is never stored: the link keeps its SHA-256 hash
(looked up, then compared in constant time) and the nonce, from which only the holder of
the link key (the service's configuration, never the database) can make the token again:
to answer a replayed request, and to write the link into an email when it is sent
(docs/decisions/0021-survey-loop.md). The link's id is derived from the hash, so
redeeming a token is one load from the event store, as current as any command.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import datetime
from enum import StrEnum

from eventsourcing.domain import event

from domain.shared.aggregate import CareLoopAggregate
from domain.surveys.errors import LinkGoneError, UnknownLinkError

NONCE_BYTES = 16  # 128 random bits
_NAMESPACE = uuid.UUID("5a0f3c1e-2b7d-4e89-9c46-0d1e8f7a2b53")


class LinkPurpose(StrEnum):
    SURVEY = "survey"
    SATISFACTION_CHECK = "satisfaction_check"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_id(hashed: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, hashed)


class LinkKeys:
    """Makes a link's token from its nonce with the service's link key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("a link key has at least 32 bytes")
        self._key = key

    def token(self, nonce: bytes) -> str:
        if len(nonce) < NONCE_BYTES:
            raise ValueError("a link nonce has at least 128 bits")
        digest = hmac.new(self._key, nonce, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class OneTimeLink(CareLoopAggregate):
    class Issued(CareLoopAggregate.Created):
        tenant_id: uuid.UUID
        patient_id: uuid.UUID
        purpose: str
        subject_id: uuid.UUID
        token_hash: str
        nonce: str
        expires_at: datetime

    class Used(CareLoopAggregate.Event):
        pass

    @event(Issued)
    def __init__(
        self,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        patient_id: uuid.UUID,
        purpose: str,
        subject_id: uuid.UUID,
        token_hash: str,
        nonce: str,
        expires_at: datetime,
        timestamp: datetime,
    ) -> None:
        self.tenant_id: uuid.UUID | None = tenant_id
        self.patient_id = patient_id
        self.purpose = LinkPurpose(purpose)
        self.subject_id = subject_id
        self.token_hash = token_hash
        self.nonce = nonce
        self.expires_at = expires_at
        self.used_at: datetime | None = None

    @classmethod
    def issue(
        cls,
        keys: LinkKeys,
        nonce: bytes,
        tenant_id: uuid.UUID,
        patient_id: uuid.UUID,
        purpose: LinkPurpose,
        subject_id: uuid.UUID,
        expires_at: datetime,
        at: datetime,
    ) -> tuple[OneTimeLink, str]:
        """A new link and its token (which the caller hands out and never stores)."""
        token = keys.token(nonce)
        hashed = token_hash(token)
        link = cls(
            id=link_id(hashed),
            tenant_id=tenant_id,
            patient_id=patient_id,
            purpose=purpose.value,
            subject_id=subject_id,
            token_hash=hashed,
            nonce=nonce.hex(),
            expires_at=expires_at,
            timestamp=at,
        )
        return link, token

    def token(self, keys: LinkKeys) -> str:
        return keys.token(bytes.fromhex(self.nonce))

    def matches(self, token: str) -> bool:
        return hmac.compare_digest(self.token_hash, token_hash(token))

    def is_expired_at(self, at: datetime) -> bool:
        return at >= self.expires_at

    def check(self, token: str, purpose: LinkPurpose, at: datetime) -> None:
        """404 unless this is the token's link for `purpose`; 410 once used or expired."""
        if not self.matches(token) or self.purpose is not purpose:
            raise UnknownLinkError("No such link.")
        if self.used_at is not None:
            raise LinkGoneError("This link was used already.", reason="used")
        if self.is_expired_at(at):
            raise LinkGoneError("This link has expired.", reason="expired")

    def use(self, token: str, purpose: LinkPurpose, at: datetime) -> None:
        self.check(token, purpose, at)
        self._used(timestamp=at)

    @event(Used)
    def _used(self, timestamp: datetime) -> None:
        self.used_at = timestamp
