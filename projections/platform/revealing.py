"""The read store as the API sees it: every row opened on the way out (sealed personal
text becomes its text, or null with `erased: true`; domain/privacy/personal.py). The
projections and the process managers use the store itself and never see plaintext rows,
so nothing they write back can hold it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from domain.privacy.personal import Sealer, reveal
from projections.platform.store import Changes, Doc, ReadStore


class RevealingStore(ReadStore):
    def __init__(self, store: ReadStore, sealer: Sealer) -> None:
        super().__init__()
        self.store = store
        self.sealer = sealer

    def _open(self, doc: Doc | None) -> Any:
        return None if doc is None else reveal(doc, self.sealer)

    def create(
        self, name: str, tables: Iterable[str], sorted_by: Mapping[str, str] | None = None
    ) -> None:
        self.store.create(name, tables, sorted_by)

    def upto(self, table: str, sort_key: str, limit: int) -> list[Doc]:
        return [self._open(d) for d in self.store.upto(table, sort_key, limit)]

    def first(self, table: str) -> Doc | None:
        opened: Doc | None = self._open(self.store.first(table))
        return opened

    def page(
        self, table: str, tenant_id: str | None, after: str, below: str, limit: int
    ) -> list[Doc]:
        return [self._open(d) for d in self.store.page(table, tenant_id, after, below, limit)]

    def position(self, name: str) -> int:
        return self.store.position(name)

    def get(self, table: str, key: str) -> Doc | None:
        opened: Doc | None = self._open(self.store.get(table, key))
        return opened

    def get_many(self, table: str, keys: Iterable[str]) -> dict[str, Doc]:
        return {k: self._open(d) for k, d in self.store.get_many(table, keys).items()}

    def list(self, table: str, tenant_id: str | None = None) -> list[Doc]:
        return [self._open(d) for d in self.store.list(table, tenant_id)]

    def commit(self, name: str, expected: int, position: int, changes: Changes) -> None:
        raise TypeError("the API's view of the read store is read-only")

    def reset(self, name: str, tables: Iterable[str]) -> None:
        raise TypeError("the API's view of the read store is read-only")

    def elect(self, name: str) -> AbstractContextManager[bool]:
        return self.store.elect(name)

    def close(self) -> None:
        return None  # the store itself is closed by its owner
