"""`PUT /v1/me/push-tokens` and `GET /v1/me/notifications` over HTTP, on both backends."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.outbox.delivery import DeliveryStatus
from domain.shared.context import Role
from tests.support.app import Api, auth, make_api
from tests.support.fake_expo import FakeExpo, fake_expo
from tests.support.http import assert_problem, error_fields
from tests.support.push import deliver_due, queue_notification, status_of, tokens_of

TOKENS = "/v1/me/push-tokens"
NOTIFICATIONS = "/v1/me/notifications"
PHONE = "ExponentPushToken[phone-aaaaaaaaaaaa]"


def patient(api: Api) -> tuple[str, str, dict[str, str]]:
    tenant = api.tenant()
    _, doctor_h = api.doctor(tenant)
    patient_id = api.invite(doctor_h)["patientId"]
    return tenant, patient_id, auth(Role.PATIENT, patient_id, tenant)


# -- PUT /v1/me/push-tokens --------------------------------------------------------------


def test_registering_a_push_token_answers_it_with_a_position_and_stores_it(api: Api) -> None:
    _, patient_id, headers = patient(api)
    body = api.ok("PUT", TOKENS, headers, json={"token": PHONE, "platform": "ios"})
    assert body["token"] == PHONE and body["platform"] == "ios"
    assert body["position"] == api.runtime.log.head()
    assert tokens_of(api.runtime, uuid.UUID(patient_id)) == {PHONE: "ios"}


def test_registering_the_same_token_again_is_a_no_op_200(api: Api) -> None:
    _, _, headers = patient(api)
    api.ok("PUT", TOKENS, headers, json={"token": PHONE, "platform": "ios"})
    head = api.runtime.log.head()
    again = api.ok("PUT", TOKENS, headers, json={"token": PHONE, "platform": "ios"})
    assert again["position"] == head == api.runtime.log.head()


def test_staff_of_a_tenant_register_tokens_too_and_the_newer_spelling_is_accepted(
    api: Api,
) -> None:
    tenant = api.tenant()
    _, doctor_h = api.doctor(tenant)
    token = "ExpoPushToken[doctor-device-123]"
    assert api.ok("PUT", TOKENS, doctor_h, json={"token": token, "platform": "android"})
    admin_h = auth(Role.HOSPITAL_ADMIN, uuid.uuid4(), tenant)
    assert api.ok("PUT", TOKENS, admin_h, json={"token": token, "platform": "web"})


def test_a_token_that_is_not_expos_is_422_naming_token(api: Api) -> None:
    _, _, headers = patient(api)
    response = api.client.put(
        TOKENS, headers=headers, json={"token": "fcm:abcdef", "platform": "android"}
    )
    assert error_fields(assert_problem(response, 422)) == {"token"}


def test_an_unknown_platform_a_missing_field_or_an_extra_field_is_422(api: Api) -> None:
    _, _, headers = patient(api)
    for body, field in [
        ({"token": PHONE, "platform": "symbian"}, "platform"),
        ({"platform": "ios"}, "token"),
        ({"token": PHONE, "platform": "ios", "deviceName": "x"}, "deviceName"),
    ]:
        response = api.client.put(TOKENS, headers=headers, json=body)
        assert field in error_fields(assert_problem(response, 422)), body


def test_push_tokens_need_a_bearer_token_and_platform_admins_have_none(api: Api) -> None:
    body = {"token": PHONE, "platform": "ios"}
    assert_problem(api.client.put(TOKENS, json=body), 401)
    assert_problem(api.client.put(TOKENS, headers=api.admin, json=body), 403)


def test_the_same_idempotency_key_replays_the_first_answer(api: Api) -> None:
    _, _, headers = patient(api)
    keyed = {**headers, "Idempotency-Key": "device-1"}
    first = api.client.put(TOKENS, headers=keyed, json={"token": PHONE, "platform": "ios"})
    again = api.client.put(TOKENS, headers=keyed, json={"token": PHONE, "platform": "ios"})
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["token"] == first.json()["token"]
    other = api.client.put(TOKENS, headers=keyed, json={"token": PHONE, "platform": "web"})
    assert_problem(other, 422)


# -- GET /v1/me/notifications ------------------------------------------------------------


@pytest.fixture
def api_with_expo(backend: str, tmp_path: Path) -> Iterator[tuple[Api, FakeExpo]]:
    """An API whose pushes go to a fake Expo server. Its projections run, its deadlines
    worker does not: the tests deliver what is due as that worker would."""
    with fake_expo() as expo, make_api(backend, tmp_path, expo_base_url=expo.base_url) as api:
        yield api, expo


def test_the_callers_notifications_come_newest_first_with_their_status(
    api_with_expo: tuple[Api, FakeExpo],
) -> None:
    api, expo = api_with_expo
    tenant, patient_id, headers = patient(api)
    runtime = api.runtime
    recipient, clinic = uuid.UUID(patient_id), uuid.UUID(tenant)
    api.ok("PUT", TOKENS, headers, json={"token": PHONE, "platform": "ios"})
    older = queue_notification(runtime, recipient, clinic, title="first")
    newer = queue_notification(runtime, recipient, clinic, title="second")
    queue_notification(runtime, uuid.uuid4(), clinic, title="someone else's")
    for push in (older, newer):
        assert deliver_due(runtime, push) == 1
        assert status_of(runtime, push) is DeliveryStatus.SENT

    rows = api.ok("GET", f"{NOTIFICATIONS}?minPosition={runtime.log.head()}", headers)

    assert [(r["id"], r["title"], r["status"]) for r in rows] == [
        (str(newer), "second", "delivered"),
        (str(older), "first", "delivered"),
    ]
    first = rows[1]
    assert first["deliveredAt"] >= first["createdAt"]
    assert set(first) == {"id", "title", "body", "data", "createdAt", "deliveredAt", "status"}
    assert set(first["data"]) == {"type", "workoutId", "conversationId", "messageId"}
    assert first["data"]["type"] == "DOCTOR_FEEDBACK_NOTE"
    assert {m["to"] for m in expo.sent_messages()} == {PHONE}
    assert len(expo.sent_messages()) == 2


def test_the_notifications_page_on_by_the_next_cursor_header(api: Api) -> None:
    tenant, patient_id, headers = patient(api)
    pushes = [
        queue_notification(api.runtime, uuid.UUID(patient_id), uuid.UUID(tenant), title=f"n{i}")
        for i in range(3)
    ]
    head = api.runtime.log.head()
    first = api.client.get(f"{NOTIFICATIONS}?minPosition={head}&limit=2", headers=headers)
    assert first.status_code == 200
    cursor = first.headers["Next-Cursor"]
    second = api.client.get(f"{NOTIFICATIONS}?limit=2&cursor={cursor}", headers=headers)
    assert second.status_code == 200
    assert "Next-Cursor" not in second.headers
    listed = [r["id"] for r in [*first.json(), *second.json()]]
    assert listed == [r["id"] for r in api.ok("GET", NOTIFICATIONS, headers)]
    assert sorted(listed) == sorted(str(p) for p in pushes)


def test_a_notification_that_reached_no_device_has_no_delivered_at(
    api_with_expo: tuple[Api, FakeExpo],
) -> None:
    api, expo = api_with_expo
    tenant, patient_id, headers = patient(api)
    push = queue_notification(api.runtime, uuid.UUID(patient_id), uuid.UUID(tenant))
    assert deliver_due(api.runtime, push) == 0
    assert status_of(api.runtime, push) is DeliveryStatus.SKIPPED

    [row] = api.ok("GET", f"{NOTIFICATIONS}?minPosition={api.runtime.log.head()}", headers)

    assert (row["id"], row["status"]) == (str(push), "no_device")
    assert "deliveredAt" not in row
    assert expo.received == []


def test_in_the_embedded_default_notifications_are_recorded_and_listed(api: Api) -> None:
    tenant, patient_id, headers = patient(api)
    api.ok("PUT", TOKENS, headers, json={"token": PHONE, "platform": "ios"})
    push = queue_notification(api.runtime, uuid.UUID(patient_id), uuid.UUID(tenant))
    assert deliver_due(api.runtime, push) == 1
    assert status_of(api.runtime, push) is DeliveryStatus.SENT

    [row] = api.ok("GET", f"{NOTIFICATIONS}?minPosition={api.runtime.log.head()}", headers)

    assert (row["id"], row["status"]) == (str(push), "recorded")
    assert "deliveredAt" not in row


def test_with_the_apps_own_workers_a_queued_push_is_delivered_by_itself(tmp_path: Path) -> None:
    with (
        fake_expo() as expo,
        make_api("sqlite", tmp_path, process_managers=True, expo_base_url=expo.base_url) as api,
    ):
        tenant, patient_id, headers = patient(api)
        api.ok("PUT", TOKENS, headers, json={"token": PHONE, "platform": "ios"})
        push = queue_notification(api.runtime, uuid.UUID(patient_id), uuid.UUID(tenant))

        deadline = time.monotonic() + 15
        while status_of(api.runtime, push) is not DeliveryStatus.SENT:
            assert time.monotonic() < deadline, status_of(api.runtime, push)
            time.sleep(0.05)
        [row] = api.ok("GET", f"{NOTIFICATIONS}?minPosition={api.runtime.log.head()}", headers)

        assert (row["id"], row["status"]) == (str(push), "delivered")
        assert [m["to"] for m in expo.sent_messages()] == [PHONE]


def test_a_user_without_notifications_gets_an_empty_list(api: Api) -> None:
    _, _, headers = patient(api)
    assert api.ok("GET", NOTIFICATIONS, headers) == []


def test_notifications_need_a_bearer_token_and_platform_admins_have_none(api: Api) -> None:
    assert_problem(api.client.get(NOTIFICATIONS), 401)
    assert_problem(api.client.get(NOTIFICATIONS, headers=api.admin), 403)


def test_a_negative_min_position_is_422(api: Api) -> None:
    _, _, headers = patient(api)
    assert_problem(api.client.get(f"{NOTIFICATIONS}?minPosition=-1", headers=headers), 422)


def test_a_min_position_beyond_the_head_is_422_at_once(tmp_path: Path) -> None:
    # A read model that is behind a reachable position answers 503 with Retry-After
    # (tests/e2e/test_people_api_contract.py); one beyond the head can never be reached.
    with make_api("sqlite", tmp_path, min_position_timeout_seconds=5) as api:
        _, _, headers = patient(api)
        response = api.client.get(
            f"{NOTIFICATIONS}?minPosition={api.runtime.log.head() + 100}", headers=headers
        )
        assert error_fields(assert_problem(response, 422)) == {"minPosition"}
