"""The notifications context without a database: a user's push tokens, given events /
when command / then events, and registering a device through `Notifications` over an
in-memory log. (A push itself is an outbox delivery: tests/unit/domain/test_delivery.py.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.notifications.application import (
    DEVICE_NOT_REGISTERED,
    Notifications,
    PushTokenRegistered,
)
from domain.notifications.push_tokens import PushTokens, push_tokens_id
from domain.shared.clock import FakeClock, SequentialIds
from domain.shared.commands import CommandBus
from domain.shared.context import Actor, CommandContext, Role
from domain.shared.errors import ForbiddenError, InvalidInputError
from domain.shared.eventlog import EventLog
from tests.support.given import given, names, new_events

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CLINIC = uuid.UUID("00000000-0000-4000-a000-00000000c001")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
PHONE = "ExponentPushToken[phone-aaaaaaaaaaaa]"
TABLET = "ExpoPushToken[tablet-bbbbbbbbbbbb]"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- PushTokens --------------------------------------------------------------------------


def a_token_list() -> PushTokens:
    return PushTokens.for_user(PATIENT, CLINIC, T0)


def registered(token: str, platform: str = "ios") -> Any:
    return lambda t: t.register(token, platform, T0)


def test_registering_a_token_twice_on_the_same_platform_records_nothing_new() -> None:
    tokens = given(a_token_list(), registered(PHONE))
    tokens.register(PHONE, "ios", at(5))
    assert new_events(tokens) == []


def test_a_token_moving_to_another_platform_is_registered_again() -> None:
    tokens = given(a_token_list(), registered(PHONE, "ios"))
    tokens.register(PHONE, "android", at(5))
    assert names(new_events(tokens)) == ["PushTokens.Registered"]
    assert tokens.tokens == {PHONE: "android"}


def test_unregistering_forgets_the_token_once_and_an_unknown_token_is_a_no_op() -> None:
    tokens = given(a_token_list(), registered(PHONE), registered(TABLET, "android"))
    tokens.unregister(PHONE, DEVICE_NOT_REGISTERED, at(5))
    tokens.unregister(PHONE, DEVICE_NOT_REGISTERED, at(6))
    tokens.unregister("ExponentPushToken[never-seen]", DEVICE_NOT_REGISTERED, at(6))
    [event] = new_events(tokens)
    assert isinstance(event, PushTokens.Unregistered)
    assert (event.token, event.reason) == (PHONE, DEVICE_NOT_REGISTERED)
    assert tokens.tokens == {TABLET: "android"}


def test_a_users_token_list_has_one_id_derived_from_the_user() -> None:
    assert a_token_list().id == push_tokens_id(PATIENT)
    assert push_tokens_id(PATIENT) != push_tokens_id(CLINIC)


# -- registering a device ----------------------------------------------------------------


class Devices:
    """`Notifications` over an in-memory log and a fake clock."""

    def __init__(self) -> None:
        self.log = EventLog()
        self.commands = CommandBus(self.log, FakeClock(T0), SequentialIds())
        self.app = Notifications()
        self.patient = Actor(PATIENT, Role.PATIENT, CLINIC)

    def register(self, token: str, platform: str = "ios", actor: Actor | None = None) -> Any:
        ctx = CommandContext(actor=actor or self.patient)
        return self.commands.run(
            ctx, lambda uow: self.app.register_push_token(uow, token, platform)
        ).result

    def tokens(self) -> dict[str, str]:
        found = self.log.find(push_tokens_id(PATIENT))
        return dict(found.tokens) if isinstance(found, PushTokens) else {}


@pytest.fixture
def devices() -> Iterator[Devices]:
    d = Devices()
    yield d
    d.log.close()


def test_registering_creates_the_callers_token_list_on_first_use(devices: Devices) -> None:
    assert devices.register(PHONE) == PushTokenRegistered(PHONE, "ios")
    assert devices.register(TABLET, "android") == PushTokenRegistered(TABLET, "android")
    assert devices.tokens() == {PHONE: "ios", TABLET: "android"}


def test_registering_the_same_token_again_answers_it_and_writes_nothing(devices: Devices) -> None:
    devices.register(PHONE)
    head = devices.log.head()
    assert devices.register(PHONE) == PushTokenRegistered(PHONE, "ios")
    assert devices.log.head() == head


@pytest.mark.parametrize(
    ("token", "platform", "fields"),
    [
        ("not-a-token", "ios", {"token"}),
        ("ExponentPushToken[]", "ios", {"token"}),
        (PHONE, "windows", {"platform"}),
        ("apns:abc", "blackberry", {"token", "platform"}),
    ],
)
def test_a_token_that_is_not_expos_or_an_unknown_platform_is_rejected_naming_the_field(
    devices: Devices, token: str, platform: str, fields: set[str]
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        devices.register(token, platform)
    assert {e["field"] for e in caught.value.errors} == fields
    assert devices.tokens() == {}


def test_a_platform_admin_cannot_register_a_push_token(devices: Devices) -> None:
    admin = Actor(uuid.UUID(int=0xAA), Role.PLATFORM_ADMIN, None)
    with pytest.raises(ForbiddenError):
        devices.register(PHONE, actor=admin)
    assert devices.log.head() == 0
