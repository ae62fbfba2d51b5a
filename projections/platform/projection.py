"""What a read model declares: its name, tables, the events it folds, and how."""

from __future__ import annotations

import copy
import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from eventsourcing.utils import get_topic

from projections.platform.store import Changes, Doc, FoldStore


class Batch:
    """The rows one batch of events touches: reads go through a cache, writes are
    buffered and committed with the new tracking position in one transaction."""

    def __init__(self, store: FoldStore) -> None:
        self.store = store
        self._cache: dict[tuple[str, str], Doc | None] = {}
        self.changes = Changes()

    def get(self, table: str, key: str) -> Doc | None:
        cache_key = (table, key)
        if cache_key not in self._cache:
            self._cache[cache_key] = self.store.get(table, key)
        doc = self._cache[cache_key]
        return None if doc is None else doc

    def prefetch(self, table: str, keys: Iterable[str]) -> None:
        missing = [k for k in set(keys) if (table, k) not in self._cache]
        found = self.store.get_many(table, missing)
        for key in missing:
            self._cache[(table, key)] = found.get(key)

    def assume_absent(self, table: str, keys: Iterable[str]) -> None:
        """Rows that a creation event is about to start: known not to exist, so not read."""
        for key in keys:
            self._cache.setdefault((table, key), None)

    def put(self, table: str, key: str, tenant_id: str | None, doc: Doc) -> None:
        self._cache[(table, key)] = doc
        self.changes.rows[(table, key)] = (tenant_id, doc)

    def delete(self, table: str, key: str) -> None:
        self._cache[(table, key)] = None
        self.changes.rows[(table, key)] = None

    def list(self, table: str, tenant_id: str | None) -> list[Doc]:
        """Committed rows of a tenant overlaid with this batch's own changes."""
        rows = {d["id"]: d for d in self.store.list(table, tenant_id)}
        for (t, key), value in self.changes.rows.items():
            if t != table:
                continue
            if value is None:
                rows.pop(key, None)
            elif tenant_id is None or value[0] == tenant_id:
                rows[key] = value[1]
        return [rows[k] for k in sorted(rows)]


@dataclass(frozen=True)
class Parameter:
    """A value a fold depends on that an analyst may want to vary in a what-if rebuild
    (`careloop projections rebuild NAME --into SCRATCH --set KEY=VALUE`)."""

    default: int | float | str | bool
    help: str

    def parse(self, text: str) -> int | float | str | bool:
        kind = type(self.default)
        if kind is bool:
            if text.lower() not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError(f"{text!r} is not true or false")
            return text.lower() in {"true", "1", "yes"}
        return kind(text)


@dataclass(frozen=True)
class Measure:
    """A figure of a read model that a what-if comparison reports for both sides: the sum
    of `value` over the rows of `table`, optionally within a time range of `when`."""

    table: str
    help: str
    value: Callable[[Mapping[str, Any]], int]
    when: str | None = None  # the document field holding the row's ISO timestamp


class UnknownParameterError(ValueError):
    pass


class Projection(ABC):
    """A read model: a pure fold over some event types, stored in its own tables."""

    name: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]
    handles: tuple[type[Any], ...]
    # Tables queried by range: table -> the document field kept in an indexed column.
    sorted_by: ClassVar[Mapping[str, str]] = {}
    # The fold's parameters (name -> default) and the figures worth comparing.
    parameters: ClassVar[Mapping[str, Parameter]] = {}
    measures: ClassVar[Mapping[str, Measure]] = {}
    _overrides: Mapping[str, Any] = {}

    @property
    def overrides(self) -> dict[str, Any]:
        """The parameters changed from their defaults (for a what-if rebuild)."""
        return dict(self._overrides)

    @property
    def params(self) -> dict[str, Any]:
        """The parameters this instance folds with: the defaults, overridden."""
        return {k: self._overrides.get(k, p.default) for k, p in self.parameters.items()}

    def with_params(self, overrides: Mapping[str, str]) -> Projection:
        """A copy of this projection that folds with some parameters changed."""
        unknown = sorted(set(overrides) - set(self.parameters))
        if unknown:
            known = ", ".join(sorted(self.parameters)) or "none"
            raise UnknownParameterError(
                f"{self.name} has no parameter {', '.join(unknown)} (its parameters: {known})"
            )
        clone = copy.copy(self)
        clone._overrides = {k: self.parameters[k].parse(v) for k, v in overrides.items()}
        for cls in type(self).__mro__:  # values derived from the parameters: derive again
            for attr, value in vars(cls).items():
                if isinstance(value, functools.cached_property):
                    clone.__dict__.pop(attr, None)
        return clone

    def topics(self) -> list[str]:
        return sorted(get_topic(event_cls) for event_cls in self.handles)

    def prepare(self, batch: Batch, events: list[Any]) -> None:  # noqa: B027
        """Optionally prefetch the rows a whole batch will touch, in few queries."""

    @abstractmethod
    def apply(self, batch: Batch, event: Any, position: int) -> None:
        """Fold one event into the batch's rows."""
