"""One-time links: given / when / then, without a database. The token is 256 bits made
from a 128-bit nonce with the link key; only its hash (and the nonce) are recorded; a
token is compared in constant time; a used or expired link is 410, any other token 404."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest

from domain.surveys.errors import LinkGoneError, UnknownLinkError
from domain.surveys.link import (
    NONCE_BYTES,
    LinkKeys,
    LinkPurpose,
    OneTimeLink,
    link_id,
    token_hash,
)
from tests.support.given import given, names, new_events

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
EXPIRES = T0 + timedelta(days=30)
TENANT = uuid.UUID("00000000-0000-4000-a000-00000000c001")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
SURVEY = uuid.UUID("00000000-0000-4000-a000-00000000f001")
KEYS = LinkKeys(b"k" * 32)
NONCE = bytes(range(NONCE_BYTES))
OTHER_NONCE = bytes(range(1, NONCE_BYTES + 1))
SURVEY_LINK = LinkPurpose.SURVEY
CHECK_LINK = LinkPurpose.SATISFACTION_CHECK


def issued(nonce: bytes = NONCE, purpose: LinkPurpose = SURVEY_LINK) -> tuple[OneTimeLink, str]:
    return OneTimeLink.issue(KEYS, nonce, TENANT, PATIENT, purpose, SURVEY, EXPIRES, T0)


def a_link(*steps: Any) -> tuple[OneTimeLink, str]:
    """The link as the store loads it after `steps` (each takes the link and its token)."""
    link, token = issued()
    return given(link, *(lambda lk, step=step: step(lk, token) for step in steps)), token


def used_at(at: datetime) -> Any:
    return lambda link, token: link.use(token, SURVEY_LINK, at)


def values(obj: Any) -> list[Any]:
    """Every value an event or aggregate holds, nested payloads included."""
    found: list[Any] = []
    for value in vars(obj).values():
        found.append(value)
        if is_dataclass(value):
            found += [getattr(value, f.name) for f in fields(value)]
    return found


def is_gone(error: pytest.ExceptionInfo[LinkGoneError], reason: str) -> bool:
    return error.value.extra == {"reason": reason}


# -- the token ----------------------------------------------------------------------------


def test_a_token_carries_at_least_128_random_bits() -> None:
    _, token = issued()
    decoded = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert len(decoded) * 8 >= 128
    assert NONCE_BYTES * 8 >= 128


def test_a_nonce_shorter_than_128_bits_makes_no_token() -> None:
    with pytest.raises(ValueError, match="128 bits"):
        issued(nonce=b"x" * (NONCE_BYTES - 1))


def test_a_link_key_shorter_than_32_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        LinkKeys(b"k" * 31)


def test_a_token_is_made_from_the_nonce_with_the_key_and_only_with_the_key() -> None:
    _, token = issued()
    assert KEYS.token(NONCE) == token
    assert LinkKeys(b"q" * 32).token(NONCE) != token
    assert KEYS.token(OTHER_NONCE) != token


def test_only_the_tokens_hash_and_the_nonce_are_recorded_never_the_token() -> None:
    link, token = issued()
    (event,) = new_events(link)
    assert names([event]) == ["OneTimeLink.Issued"]
    assert event.token_hash == hashlib.sha256(token.encode()).hexdigest() == token_hash(token)
    assert event.nonce == NONCE.hex()
    recorded = values(event)
    assert token not in recorded
    assert not any(isinstance(v, str) and token in v for v in recorded)
    assert not any(isinstance(v, str) and token in v for v in values(a_link()[0]))


def test_the_links_id_is_derived_from_the_hash_so_a_token_finds_its_link() -> None:
    link, token = issued()
    assert link.id == link_id(token_hash(token))
    assert issued(OTHER_NONCE)[0].id != link.id


def test_the_link_makes_its_token_again_from_the_recorded_nonce() -> None:
    link, token = a_link()
    assert link.token(KEYS) == token


def test_a_token_is_compared_in_constant_time() -> None:
    link, token = a_link()
    with mock.patch("hmac.compare_digest", wraps=hmac.compare_digest) as compare:
        assert link.matches(token)
        assert not link.matches(token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert compare.call_count == 2
    assert compare.call_args_list[0].args == (link.token_hash, token_hash(token))


# -- checking and using -------------------------------------------------------------------


def test_a_fresh_link_passes_its_check_and_records_nothing() -> None:
    link, token = a_link()
    link.check(token, SURVEY_LINK, EXPIRES - timedelta(seconds=1))
    assert new_events(link) == []


def test_using_a_fresh_link_records_its_use() -> None:
    link, token = a_link()
    link.use(token, SURVEY_LINK, T0 + timedelta(days=1))
    assert names(new_events(link)) == ["OneTimeLink.Used"]
    assert link.used_at == T0 + timedelta(days=1)


def test_a_used_link_is_410_used() -> None:
    link, token = a_link(used_at(T0))
    with pytest.raises(LinkGoneError) as error:
        link.use(token, SURVEY_LINK, T0 + timedelta(minutes=1))
    assert is_gone(error, "used")
    assert new_events(link) == []


def test_a_link_is_410_expired_from_its_expiry_on() -> None:
    link, token = a_link()
    for at in (EXPIRES, EXPIRES + timedelta(days=1)):
        with pytest.raises(LinkGoneError) as error:
            link.use(token, SURVEY_LINK, at)
        assert is_gone(error, "expired")
    assert new_events(link) == []


def test_a_used_link_that_has_also_expired_is_410_used() -> None:
    link, token = a_link(used_at(T0))
    with pytest.raises(LinkGoneError) as error:
        link.check(token, SURVEY_LINK, EXPIRES + timedelta(days=1))
    assert is_gone(error, "used")


def test_a_wrong_token_is_404() -> None:
    link, _ = a_link()
    _, other = issued(OTHER_NONCE)
    with pytest.raises(UnknownLinkError):
        link.use(other, SURVEY_LINK, T0)
    assert new_events(link) == []


def test_a_wrong_token_is_404_even_for_a_used_or_expired_link() -> None:
    link, _ = a_link(used_at(T0))
    _, other = issued(OTHER_NONCE)
    with pytest.raises(UnknownLinkError):
        link.check(other, SURVEY_LINK, EXPIRES + timedelta(days=1))


def test_a_token_for_another_purpose_is_404() -> None:
    survey_link, survey_token = a_link()
    check_link, check_token = issued(OTHER_NONCE, CHECK_LINK)
    with pytest.raises(UnknownLinkError):
        survey_link.use(survey_token, CHECK_LINK, T0)
    with pytest.raises(UnknownLinkError):
        given(check_link).use(check_token, SURVEY_LINK, T0)
    assert new_events(survey_link) == []
