"""Sealing one value with a patient's data key (AES-256-GCM), and wrapping data keys
with the master key (AES key wrap, RFC 3394). Pure: keys and nonces come in."""

from __future__ import annotations

import uuid
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

KEY_BYTES = 32
NONCE_BYTES = 12
VERSION = b"\x01"  # the sealed form's first byte: room for another scheme later


class UnreadableError(Exception):
    """A sealed value that does not open with the key it names (tampered, or a key
    that is not the one it was sealed with)."""


class WrongMasterKeyError(Exception):
    """The master key is not the one the key store's keys were wrapped with."""


@lru_cache(maxsize=4096)
def _aead(key: bytes) -> AESGCM:
    # Building the cipher costs as much as using it: one per key, kept as long as the
    # key is (a destroyed key is never asked for again: the key store answers None).
    return AESGCM(key)


def seal(key: bytes, subject: uuid.UUID, plaintext: str, nonce: bytes) -> bytes:
    """`version | nonce | ciphertext+tag`; the subject is authenticated (AAD), so a value
    moved to another patient's record does not open."""
    return VERSION + nonce + _aead(key).encrypt(nonce, plaintext.encode(), subject.bytes)


def open_sealed(key: bytes, subject: uuid.UUID, sealed: bytes) -> str:
    if sealed[:1] != VERSION or len(sealed) < 1 + NONCE_BYTES + 16:
        raise UnreadableError("not a sealed value")
    nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    try:
        return _aead(key).decrypt(nonce, body, subject.bytes).decode()
    except InvalidTag:
        raise UnreadableError("the sealed value does not open with this key") from None


def wrap(master: bytes, data_key: bytes) -> bytes:
    return aes_key_wrap(master, data_key)


def unwrap(master: bytes, wrapped: bytes) -> bytes:
    try:
        return aes_key_unwrap(master, wrapped)
    except InvalidUnwrap:
        raise WrongMasterKeyError(
            "a data key does not unwrap with CARELOOP_MASTER_KEY: it is not the master key "
            "the key store was written with"
        ) from None
