"""Process managers: the vocabulary of reactions.

A process manager names the events it reacts to and a decision: a pure function from
one such event to the commands to run. It holds no state and reads nothing: whatever a
command needs, it loads inside its own unit of work, from aggregates (always current)
or from the read models listed in `needs`, which the platform waits for until they have
reached the triggering event, and never reads before. The platform runs the commands of
one event in one unit of work, committed with the process manager's tracking position,
so each event is reacted to exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.utils import get_topic

from domain.shared.unit_of_work import UnitOfWork

Decision = Callable[[Any], Sequence[Any]]
CommandHandler = Callable[[UnitOfWork, Any], object]
Prefetch = Callable[[UnitOfWork, Sequence[Any]], None]


@dataclass(frozen=True)
class ProcessManager:
    name: str
    reacts_to: tuple[type[Any], ...]
    decide: Decision
    needs: tuple[str, ...] = ()

    def topics(self) -> list[str]:
        return sorted(get_topic(cls) for cls in self.reacts_to)


@dataclass(frozen=True)
class Reaction:
    """A process manager bound to what runs its commands (the context's application),
    and optionally to what loads, in a few reads, what a run of its commands will use."""

    manager: ProcessManager
    handle: CommandHandler
    prefetch: Prefetch | None = None

    @property
    def name(self) -> str:
        return self.manager.name
