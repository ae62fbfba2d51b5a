"""PersonalText: sealed in events and rows, opened when answering; null with
`erased: true` once its patient's key is destroyed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from eventsourcing.persistence import JSONTranscoder

from domain.privacy.keys import SQLiteKeyStore
from domain.privacy.personal import (
    PersonalText,
    PersonalTextTranscoding,
    Sealer,
    reveal,
    sealed_json,
)

SAM, LENA = uuid.uuid4(), uuid.uuid4()


@pytest.fixture
def sealer(tmp_path: Path) -> Iterator[Sealer]:
    keys = SQLiteKeyStore(tmp_path / "keys.sqlite3", bytes(32), cache_seconds=0)
    keys.check_master()
    yield Sealer(keys)
    keys.close()


def transcoder(sealer: Sealer) -> JSONTranscoder:
    t = JSONTranscoder()
    t.register(PersonalTextTranscoding(sealer))
    return t


def test_an_event_field_is_stored_sealed_and_read_back_as_its_text(sealer: Sealer) -> None:
    t = transcoder(sealer)
    stored = t.encode({"notes": PersonalText(SAM, "Sharp pain in the left knee")})
    assert b"knee" not in stored
    back = t.decode(stored)["notes"]
    assert back == PersonalText(SAM, "Sharp pain in the left knee") and back.sealed


def test_a_row_keeps_the_events_own_ciphertext(sealer: Sealer) -> None:
    t = transcoder(sealer)
    from_event = t.decode(t.encode({"n": PersonalText(SAM, "tired")}))["n"]
    row = json.loads(json.dumps({"notes": from_event}, default=sealed_json))
    assert b"tired" not in json.dumps(row).encode()
    assert row["notes"]["c"] in t.encode({"n": from_event}).decode()


def test_a_value_that_was_never_sealed_is_never_written_to_a_row() -> None:
    with pytest.raises(TypeError):
        json.dumps({"notes": PersonalText(SAM, "plain")}, default=sealed_json)


def test_answering_opens_every_sealed_value_and_marks_erased_ones(sealer: Sealer) -> None:
    t = transcoder(sealer)

    def row_value(subject: uuid.UUID, text: str) -> object:
        value = t.decode(t.encode({"v": PersonalText(subject, text)}))["v"]
        return json.loads(json.dumps(value, default=sealed_json))

    row = {
        "id": "w1",
        "pain": 8,
        "notes": row_value(SAM, "knee"),
        "exercises": [{"id": "e1", "note": row_value(LENA, "good form")}],
        "messages": [row_value(SAM, "hello"), "plain"],
    }
    assert reveal(row, sealer) == {
        "id": "w1",
        "pain": 8,
        "notes": "knee",
        "exercises": [{"id": "e1", "note": "good form"}],
        "messages": ["hello", "plain"],
    }
    sealer.keys.destroy(SAM)
    assert reveal(row, sealer) == {
        "id": "w1",
        "pain": 8,
        "notes": None,
        "exercises": [{"id": "e1", "note": "good form"}],
        "messages": [None, "plain"],
        "erased": True,
    }


def test_an_erased_patients_values_replay_as_none(sealer: Sealer) -> None:
    t = transcoder(sealer)
    stored = t.encode({"notes": PersonalText(SAM, "knee")})
    sealer.keys.destroy(SAM)
    back = t.decode(stored)["notes"]
    assert back.subject == SAM and back.text is None and back.erased


def test_its_repr_never_shows_the_text() -> None:
    assert "knee" not in repr(PersonalText(SAM, "knee"))
