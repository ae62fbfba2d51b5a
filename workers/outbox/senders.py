"""A channel's sender: the side effect of one claimed attempt, and nothing else.

`PushSender` sends through Expo; `RecordingSender` is the embedded default's channel,
where nothing leaves the machine and the attempt is recorded as sent with the receipt
`recorded`. A sender never raises for a delivery problem: it reports it.
"""

from __future__ import annotations

from typing import Protocol

from domain.notifications.application import RECORDED_RECEIPT, Sender, push_outcome
from domain.outbox.application import Claim, SendResult


class ChannelSender(Protocol):
    def send(self, claim: Claim) -> SendResult: ...


class PushSender:
    def __init__(self, sender: Sender) -> None:
        self.sender = sender

    def send(self, claim: Claim) -> SendResult:
        payload = claim.payload
        results = self.sender.send(
            claim.addresses, payload["title"], payload["body"], payload.get("data", {})
        )
        return push_outcome(claim.addresses, results)


class RecordingSender:
    """Keeps every attempt it was handed (for the embedded default and tests to read)
    and reports it sent as `recorded`."""

    def __init__(self) -> None:
        self.sent: list[Claim] = []

    def send(self, claim: Claim) -> SendResult:
        self.sent.append(claim)
        return SendResult(ok=True, receipt=(RECORDED_RECEIPT,))
