"""How a webhook delivery is signed, and how a receiver checks it (api.md):
`X-CareLoop-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`."""

from __future__ import annotations

import hashlib
import hmac

DELIVERY_HEADER = "X-CareLoop-Delivery"
TIMESTAMP_HEADER = "X-CareLoop-Timestamp"
SIGNATURE_HEADER = "X-CareLoop-Signature"
# A receiver refuses a delivery whose timestamp is further than this from its clock.
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    header: str,
    now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does: a fresh timestamp and a matching signature, compared in
    constant time."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, sent, body), header)
