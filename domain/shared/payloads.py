"""Typed event payloads: small frozen dataclasses stored as JSON objects.

An event field typed as one of these value objects is written by the library's JSON
transcoder as `{"_type_": name, "_data_": {...fields}}` and read back as the same
dataclass, so mypy checks every read of a payload field. A payload class registers itself
with `@payload("name")`; the name is what is stored, so it never changes once events
carry it (a new shape is a new name, or an upcast).
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from eventsourcing.persistence import JSONTranscoder, Transcoding

T = TypeVar("T")

_REGISTRY: dict[str, type[Any]] = {}
# Transcoders built before a payload module was imported learn its types when it is.
_TRANSCODERS: weakref.WeakSet[JSONTranscoder] = weakref.WeakSet()


def payload(name: str) -> Callable[[type[T]], type[T]]:
    """Registers a frozen dataclass as a stored payload type under `name`."""

    def register(cls: type[T]) -> type[T]:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__} is not a dataclass")
        if _REGISTRY.get(name, cls) is not cls:
            raise ValueError(f"payload name {name!r} is taken")
        _REGISTRY[name] = cls
        for transcoder in list(_TRANSCODERS):
            transcoder.register(DataclassAsDict(cls, name))
        return cls

    return register


class DataclassAsDict(Transcoding):
    def __init__(self, cls: type[Any], name: str) -> None:
        self.type = cls
        self.name = name
        self._fields = [f.name for f in dataclasses.fields(cls)]

    def encode(self, obj: Any) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in self._fields}

    def decode(self, data: Any) -> Any:
        # JSON has no tuples: a tuple field comes back as a list, and the dataclass's own
        # __post_init__ (if any) normalises it.
        return self.type(**data)


def register_payloads(transcoder: JSONTranscoder) -> None:
    _TRANSCODERS.add(transcoder)
    for name, cls in sorted(_REGISTRY.items()):
        transcoder.register(DataclassAsDict(cls, name))
