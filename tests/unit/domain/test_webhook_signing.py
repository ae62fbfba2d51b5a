"""Webhook signing as api.md gives it: `X-CareLoop-Signature: sha256=<hex>`, the hex
HMAC-SHA256 keyed by the subscription's secret of `"<timestamp>." + body`; and what a
receiver does with it: refuse a tampered body, a stale (or far-future) timestamp, and a
signature made with another secret."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from domain.webhooks.signing import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TOLERANCE_SECONDS,
    signature,
    verify,
)

SECRET = "whsec_0123456789abcdef"
SENT = 1767603600  # 2026-01-05T09:00:00Z
BODY = b'{"event":"treatment_plan.created"}'


def signed(body: bytes = BODY, secret: str = SECRET, timestamp: int = SENT) -> str:
    return signature(secret, timestamp, body)


def test_the_signature_is_sha256_and_the_hex_hmac_of_timestamp_dot_body() -> None:
    assert signed() == "sha256=012e882c9495c433e0e401948d1eb8a29123794fada1365472991d2f30fee441"


def test_the_signature_is_what_a_receiver_computes_with_the_standard_library() -> None:
    body = json.dumps(
        {"event": "treatment_plan.assigned", "occurredAt": "2026-01-05T09:00:00+00:00", "data": {}}
    ).encode()
    expected = hmac.new(SECRET.encode(), f"{SENT}.".encode() + body, hashlib.sha256).hexdigest()
    assert signed(body) == f"sha256={expected}"


def test_the_headers_are_named_as_api_md_says() -> None:
    assert (DELIVERY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER) == (
        "X-CareLoop-Delivery",
        "X-CareLoop-Timestamp",
        "X-CareLoop-Signature",
    )


def test_the_timestamp_is_part_of_what_is_signed() -> None:
    assert signed(timestamp=SENT + 1) != signed()


@pytest.mark.parametrize("delay", [0, 1, TOLERANCE_SECONDS, -TOLERANCE_SECONDS])
def test_a_receiver_accepts_a_fresh_delivery_signed_with_its_secret(delay: int) -> None:
    assert verify(SECRET, str(SENT), BODY, signed(), now=SENT + delay)


def test_a_receiver_refuses_a_tampered_body() -> None:
    tampered = BODY.replace(b"created", b"expired")
    assert not verify(SECRET, str(SENT), tampered, signed(), now=SENT)


def test_a_receiver_refuses_a_body_with_a_byte_added() -> None:
    assert not verify(SECRET, str(SENT), BODY + b" ", signed(), now=SENT)


@pytest.mark.parametrize(
    "now",
    [SENT + TOLERANCE_SECONDS + 1, SENT + 86_400, SENT - TOLERANCE_SECONDS - 1],
    ids=["just stale", "a day old", "from the future"],
)
def test_a_receiver_refuses_a_stale_replay_even_with_a_valid_signature(now: int) -> None:
    assert not verify(SECRET, str(SENT), BODY, signed(), now=now)


def test_a_receiver_refuses_a_replay_whose_timestamp_was_moved_forward() -> None:
    """Freshening the timestamp of a captured delivery breaks its signature."""
    later = SENT + 3600
    assert not verify(SECRET, str(later), BODY, signed(), now=later)


def test_a_receiver_refuses_a_signature_made_with_another_secret() -> None:
    forged = signed(secret="whsec_not-the-subscriptions")
    assert not verify(SECRET, str(SENT), BODY, forged, now=SENT)


@pytest.mark.parametrize(
    "header",
    [
        signed().removeprefix("sha256="),
        signed().upper(),
        "sha1=" + signed().removeprefix("sha256="),
        "",
    ],
    ids=["no prefix", "upper case", "another algorithm", "empty"],
)
def test_a_receiver_refuses_a_signature_header_not_in_the_format(header: str) -> None:
    assert not verify(SECRET, str(SENT), BODY, header, now=SENT)


@pytest.mark.parametrize("timestamp", ["", "soon", "1767603600.5", "1e9"])
def test_a_receiver_refuses_a_timestamp_that_is_not_unix_seconds(timestamp: str) -> None:
    assert not verify(SECRET, timestamp, BODY, signed(), now=SENT)


def test_a_receiver_may_choose_a_tighter_tolerance() -> None:
    assert verify(SECRET, str(SENT), BODY, signed(), now=SENT + 30, tolerance=60)
    assert not verify(SECRET, str(SENT), BODY, signed(), now=SENT + 61, tolerance=60)
