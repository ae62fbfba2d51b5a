"""Counting PyJWT verifications: how many times a token was really checked."""

from __future__ import annotations

from typing import Any

import pytest

import api.auth as token_module


def counting_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token `api.auth.decode_token` verifies from now on, in order."""
    calls: list[str] = []
    real = token_module.decode_token

    def counted(secret: str, token: str) -> Any:
        calls.append(token)
        return real(secret, token)

    monkeypatch.setattr(token_module, "decode_token", counted)
    return calls
