"""`PersonalText`: one typed value for every piece of a patient's personal data, sealed
with that patient's key wherever it is written, and opened only when it is read.

- In events: the transcoder seals it (`PersonalTextTranscoding`); on the way back it is
  kept sealed and opened at the first read of its `text`; an erased patient's values
  read `text` None.
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
from dataclasses import FrozenInstanceError, dataclass
from typing import Any

from eventsourcing.persistence import Transcoding

from domain.privacy.cipher import NONCE_BYTES, UnreadableError, open_sealed, seal
from domain.privacy.keys import KeyStore

SEALED = "$sealed"  # a read-model row's sealed value: {"$sealed": subject, "c": base64}


class PersonalText:
    """A patient's personal text. `subject` is the patient whose key seals it; `text` is
    None once that key is destroyed. `sealed` is the ciphertext it was read from.

    Immutable, and compared and hashed by `(subject, text)`, as the frozen dataclass it
    was. A value read from an event is *unopened*: it keeps the stored subject and
    ciphertext as they were (text, base64) and opens them at the first read of `text`
    (`erased`, `==`, `repr` read it too), then keeps the result. A fold that only copies
    the value into a row (`sealed_json`) never decrypts, nor looks up a key, nor parses
    the subject (docs/decisions/0034-catch-up-speed.md). A value first read after its
    patient's key is destroyed reads None, as one decoded after it does.
    """

    __match_args__ = ("subject", "text")
    # `domain.shared.eventlog.same` compares values of such a class with `==`: an opened
    # and an unopened value of the same text are the same state.
    compared_by_value = True

    def __init__(self, subject: uuid.UUID, text: str | None, sealed: bytes | None = None) -> None:
        d = self.__dict__
        d["_subject"] = subject
        d["_text"] = text
        d["_sealed"] = sealed

    @classmethod
    def unopened(
        cls, subject: str, sealed_b64: str, opener: Callable[[uuid.UUID, bytes], str | None]
    ) -> PersonalText:
        """The value stored as `{"s": subject, "c": sealed_b64}`, opened by `opener` when
        its text is first read."""
        value = object.__new__(cls)
        d = value.__dict__
        d["_s"] = subject
        d["_c"] = sealed_b64
        d["_opener"] = opener
        return value

    # An unopened value parses or opens each part at its first read and keeps it: a
    # plain dict store, so racing readers at worst both compute the same value.

    @property
    def subject(self) -> uuid.UUID:
        d = self.__dict__
        try:
            subject: uuid.UUID = d["_subject"]
        except KeyError:
            subject = d["_subject"] = uuid.UUID(d["_s"])
        return subject

    @property
    def sealed(self) -> bytes | None:
        d = self.__dict__
        try:
            sealed: bytes | None = d["_sealed"]
        except KeyError:
            sealed = d["_sealed"] = base64.b64decode(d["_c"])
        return sealed

    @property
    def text(self) -> str | None:
        d = self.__dict__
        try:
            text: str | None = d["_text"]
        except KeyError:
            text = d["_text"] = d["_opener"](self.subject, self.sealed)
        return text

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, PersonalText)
        return (self.subject, self.text) == (other.subject, other.text)

    def __hash__(self) -> int:
        return hash((self.subject, self.text))

    def __reduce__(self) -> tuple[Any, ...]:
        return (PersonalText, (self.subject, self.text, self.sealed))

    def __repr__(self) -> str:  # never the text, in a log or a traceback
        return f"PersonalText({self.subject}, {'erased' if self.text is None else '***'})"

    @property
    def erased(self) -> bool:
        return self.text is None

    @property
    def sealed_b64(self) -> str | None:
        """The ciphertext as stored (base64), without decoding and encoding it again."""
        d = self.__dict__
        if "_c" in d:
            return str(d["_c"])
        sealed = d["_sealed"]
        return None if sealed is None else base64.b64encode(sealed).decode()

    @property
    def subject_text(self) -> str:
        """The subject as stored (`str(subject)`), without parsing it."""
        d = self.__dict__
        return str(d["_s"]) if "_s" in d else str(d["_subject"])


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
        stored = obj.sealed_b64
        if stored is None:
            stored = base64.b64encode(self.sealer.sealed(obj)).decode()
        return {"s": obj.subject_text, "c": stored}

    def decode(self, data: dict[str, str]) -> PersonalText:
        # Unopened: the text is decrypted when (and only if) it is read.
        return PersonalText.unopened(data["s"], data["c"], self.sealer.opened)


def sealed_json(obj: Any) -> Any:
    """`json.dumps(default=...)` for read-model rows: a value from an event is stored as
    the event's ciphertext. A value that was never sealed is refused, never written."""
    if isinstance(obj, PersonalText):
        stored = obj.sealed_b64
        if stored is None:
            raise TypeError("a PersonalText that was never sealed cannot be stored")
        return {SEALED: obj.subject_text, "c": stored}
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
