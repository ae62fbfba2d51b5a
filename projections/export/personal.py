"""What a patient's personal text becomes in an export.

Erased (the patient's key destroyed): null, whatever the mode. Otherwise, by default, the
constant `REDACTED`, so an analyst can still count which rows had a note without reading
it; with `PersonalMode.REVEAL`, the text itself (docs/decisions/0029-analyst-export.md).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from domain.privacy.personal import SEALED, PersonalText, Sealer
from projections.export.options import PersonalMode

REDACTED = "[redacted]"


def shown(text: str | None, mode: PersonalMode) -> str | None:
    """An opened personal text as the export shows it: None (erased), or redacted, or itself."""
    if text is None:
        return None
    return text if mode is PersonalMode.REVEAL else REDACTED


def shown_value(value: PersonalText, mode: PersonalMode) -> str | None:
    """A value decoded from an event (already opened by the log's transcoder)."""
    return shown(value.text, mode)


class RowOpener:
    """Opens the sealed values of read-model documents (`{"$sealed": subject, "c": ...}`,
    domain/privacy/personal.py) with the patients' keys, as the API's views do."""

    def __init__(self, sealer: Sealer, mode: PersonalMode) -> None:
        self.sealer = sealer
        self.mode = mode

    def open(self, value: Any) -> Any:
        if isinstance(value, dict):
            if SEALED in value:
                subject = uuid.UUID(value[SEALED])
                text = self.sealer.opened(subject, base64.b64decode(value["c"]))
                return shown(text, self.mode)
            return {k: self.open(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.open(v) for v in value]
        return value
