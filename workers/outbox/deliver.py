"""Delivers outbox entries: the deadline handler of kind `delivery`.

For each due delivery: claim the attempt (a command: only one process can commit the
claim of a given attempt), send it through its channel's sender (outside any
transaction), record the outcome (a command). A crash between claim and record leaves
the lease to expire; the attempt then counts as failed and the next one starts, so an
attempt is sent at most once, and a delivery is never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from domain.outbox.application import Claim, Outbox, SendResult
from domain.shared.commands import CommandBus
from domain.shared.deadlines import Deadline
from workers.deadlines import deadline_context
from workers.outbox.senders import ChannelSender

log = logging.getLogger(__name__)


class DeliverDue:
    queue = "outbox"
    chunk_size = 1

    def __init__(
        self,
        outbox: Outbox,
        senders: Mapping[str, ChannelSender],
        commands: CommandBus,
        render: Callable[[Claim], Claim] | None = None,
    ) -> None:
        self.outbox = outbox
        self.senders = senders
        self.commands = commands
        # What the sender sees: the claim with anything only the worker may know written
        # in (a one-time link, workers/outbox/links.py).
        self.render = render or (lambda claim: claim)

    def fire(self, deadlines: Sequence[Deadline]) -> int:
        return sum(self.deliver(deadline) for deadline in deadlines)

    def deliver(self, deadline: Deadline) -> bool:
        """One attempt at one due delivery; False when this wake-up was not current."""
        ctx = deadline_context(deadline)
        claim = self.commands.run(
            ctx, lambda uow: self.outbox.claim(uow, deadline.id, deadline.due_at)
        ).result
        if claim is None:
            return False
        sender = self.senders.get(claim.channel)
        if sender is None:
            result = SendResult(ok=False, error=f"no sender for {claim.channel}", permanent=True)
        else:
            try:
                result = sender.send(self.render(claim))
            except Exception as e:  # a sender bug must not leave the attempt to its lease
                log.exception("%s sender failed", claim.channel)
                result = SendResult(ok=False, error=f"{type(e).__name__}: {e}"[:200])
        self.commands.run(ctx, lambda uow: self.outbox.record(uow, claim, result))
        return True
