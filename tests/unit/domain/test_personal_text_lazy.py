"""A PersonalText read from an event opens only when its text is read: a fold that copies
it into a row never decrypts it, and erasure still reads None
(docs/decisions/0034-catch-up-speed.md)."""

from __future__ import annotations

import copy
import json
import pickle
import uuid
from dataclasses import FrozenInstanceError

import pytest
from eventsourcing.persistence import JSONTranscoder

from domain.privacy.personal import PersonalText, PersonalTextTranscoding, Sealer, sealed_json
from tests.support.sealing import MemoryKeyStore

SAM = uuid.uuid4()


class CountingSealer(Sealer):
    def __init__(self) -> None:
        super().__init__(MemoryKeyStore())
        self.opened_count = 0

    def opened(self, subject: uuid.UUID, sealed: bytes) -> str | None:
        self.opened_count += 1
        return super().opened(subject, sealed)


def round_trip(sealer: Sealer, value: PersonalText) -> PersonalText:
    t = JSONTranscoder()
    t.register(PersonalTextTranscoding(sealer))
    back: PersonalText = t.decode(t.encode({"v": value}))["v"]
    return back


def test_reading_an_event_and_copying_its_value_into_a_row_opens_nothing() -> None:
    sealer = CountingSealer()
    value = round_trip(sealer, PersonalText(SAM, "Sharp pain in the left knee"))
    row = json.loads(json.dumps({"note": value}, default=sealed_json))
    again = round_trip(sealer, value)  # re-stored in another event: the same ciphertext
    assert sealer.opened_count == 0
    assert row["note"]["c"] == again.sealed_b64 == value.sealed_b64
    assert row["note"]["$sealed"] == str(SAM)


def test_the_text_is_opened_once_at_its_first_read() -> None:
    sealer = CountingSealer()
    value = round_trip(sealer, PersonalText(SAM, "tired"))
    assert value.text == "tired" and value.text == "tired" and not value.erased
    assert sealer.opened_count == 1
    assert value.subject == SAM and value.sealed


def test_a_value_first_read_after_its_patients_key_is_destroyed_reads_none() -> None:
    sealer = CountingSealer()
    value = round_trip(sealer, PersonalText(SAM, "my address"))
    sealer.keys.destroy(SAM)
    assert value.text is None and value.erased
    assert round_trip(sealer, value).text is None  # its ciphertext is kept, still sealed


def test_an_unopened_value_equals_hashes_and_copies_as_the_value_it_holds() -> None:
    sealer = CountingSealer()
    value = round_trip(sealer, PersonalText(SAM, "hello"))
    fresh = PersonalText(SAM, "hello")
    assert value == fresh and hash(value) == hash(fresh)
    assert value != PersonalText(SAM, "hello!") and value != PersonalText(uuid.uuid4(), "hello")
    assert copy.deepcopy(value) == fresh and pickle.loads(pickle.dumps(value)) == fresh
    assert repr(value) == f"PersonalText({SAM}, ***)"


def test_a_personal_text_is_immutable() -> None:
    value = PersonalText(SAM, "x")
    with pytest.raises(FrozenInstanceError):
        value.text = "y"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del value.subject  # type: ignore[misc]
