"""`PersonalText`: one typed value for every piece of a patient's personal data, sealed
with that patient's key wherever it is written, and opened only when it is read.

- In events: the transcoder seals it (`PersonalTextTranscoding`) and opens it again on
  the way back; an erased patient's values come back with `text` None.
- In read models: a projection copies the value it got from an event into its row, and
  the row is stored with the event's own ciphertext (`sealed_json`): the same bytes as in
  the log, never plaintext.
- Answering: the API's views open rows (`reveal`): each sealed value becomes its text, or
  null with `erased: true` on the object that held it.

A context gets all of this by typing a field `PersonalText`; nothing per event or per
read model.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import Transcoding

from domain.privacy.cipher import NONCE_BYTES, UnreadableError, open_sealed, seal
from domain.privacy.keys import KeyStore

SEALED = "$sealed"  # a read-model row's sealed value: {"$sealed": subject, "c": base64}


@dataclass(frozen=True)
class PersonalText:
    """A patient's personal text. `subject` is the patient whose key seals it; `text` is
    None once that key is destroyed. `sealed` is the ciphertext it was read from."""

    subject: uuid.UUID
    text: str | None
    sealed: bytes | None = field(default=None, compare=False, repr=False)

    def __repr__(self) -> str:  # never the text, in a log or a traceback
        return f"PersonalText({self.subject}, {'erased' if self.text is None else '***'})"

    @property
    def erased(self) -> bool:
        return self.text is None


def personal(subject: uuid.UUID, text: str | None) -> PersonalText | None:
    return None if text is None else PersonalText(subject, text)


class Sealer:
    """Seals and opens values with the key store's keys."""

    def __init__(self, keys: KeyStore, random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        self.keys = keys
        self.random_bytes = random_bytes

    def sealed(self, value: PersonalText) -> bytes:
        if value.sealed is not None:
            return value.sealed
        if value.text is None:
            raise ValueError("an erased value has nothing to seal")
        key = self.keys.ensure_key(value.subject)
        return seal(key, value.subject, value.text, self.random_bytes(NONCE_BYTES))

    def opened(self, subject: uuid.UUID, sealed: bytes) -> str | None:
        key = self.keys.key_for(subject)
        if key is None:
            return None
        try:
            return open_sealed(key, subject, sealed)
        except UnreadableError:
            return None


class PersonalTextTranscoding(Transcoding):
    type = PersonalText
    name = "personal_text"

    def __init__(self, sealer: Sealer) -> None:
        self.sealer = sealer

    def encode(self, obj: PersonalText) -> dict[str, str]:
        sealed = self.sealer.sealed(obj)
        return {"s": str(obj.subject), "c": base64.b64encode(sealed).decode()}

    def decode(self, data: dict[str, str]) -> PersonalText:
        subject = uuid.UUID(data["s"])
        sealed = base64.b64decode(data["c"])
        return PersonalText(subject, self.sealer.opened(subject, sealed), sealed)


def sealed_json(obj: Any) -> Any:
    """`json.dumps(default=...)` for read-model rows: a value from an event is stored as
    the event's ciphertext. A value that was never sealed is refused, never written."""
    if isinstance(obj, PersonalText):
        if obj.sealed is None:
            raise TypeError("a PersonalText that was never sealed cannot be stored")
        return {SEALED: str(obj.subject), "c": base64.b64encode(obj.sealed).decode()}
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def reveal(value: Any, sealer: Sealer) -> Any:
    """A row as the API answers it: every sealed value opened, or None with `erased: true`
    on the object holding it. Returns the same object when nothing in it was sealed."""
    if isinstance(value, dict):
        if SEALED in value:
            return _Opened(sealer.opened(uuid.UUID(value[SEALED]), base64.b64decode(value["c"])))
        out: dict[str, Any] = {}
        erased = False
        for k, v in value.items():
            opened = reveal(v, sealer)
            if isinstance(opened, _Opened):
                erased = erased or opened.text is None
                opened = opened.text
            elif isinstance(opened, list) and any(o is _ERASED_ITEM for o in opened):
                erased = True
                opened = [None if o is _ERASED_ITEM else o for o in opened]
            out[k] = opened
        if erased:
            out["erased"] = True
        return out
    if isinstance(value, list):
        items = []
        for v in value:
            opened = reveal(v, sealer)
            if isinstance(opened, _Opened):
                opened = opened.text if opened.text is not None else _ERASED_ITEM
            items.append(opened)
        return items
    return value


@dataclass(frozen=True)
class _Opened:
    text: str | None


_ERASED_ITEM = object()
