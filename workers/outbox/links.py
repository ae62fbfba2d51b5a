"""Writes a one-time link into a message as it is sent.

A message that carries a link holds only the link's nonce and the public path
(domain/surveys/application.py); here, outside the log, the link key makes the token
again and every `$link` in the payload's texts becomes the full URL. Nothing with the
token in it is ever stored.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from domain.outbox.application import Claim
from domain.surveys.link import LinkKeys
from domain.surveys.messages import LINK


class LinkWriter:
    def __init__(self, keys: LinkKeys, base_url: str) -> None:
        self.keys = keys
        self.base_url = base_url.rstrip("/")

    def url(self, nonce: str, path: str) -> str:
        return f"{self.base_url}{path}{self.keys.token(bytes.fromhex(nonce))}"

    def __call__(self, claim: Claim) -> Claim:
        link = claim.payload.get("link")
        if not isinstance(link, dict):
            return claim
        url = self.url(str(link["nonce"]), str(link["path"]))
        payload = {k: _fill(v, url) for k, v in claim.payload.items() if k != "link"}
        return dataclasses.replace(claim, payload=payload)


def _fill(value: Any, url: str) -> Any:
    if isinstance(value, str):
        return value.replace(LINK, url)
    if isinstance(value, dict):
        return {k: _fill(v, url) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, url) for v in value]
    return value
