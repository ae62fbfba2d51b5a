"""The outbox for admins: `GET /v1/admin/deliveries` and `POST .../{id}/redeliver`.

Deliveries are queued and driven to their outcome through the outbox's own commands,
as a worker would (claim, then record what the channel answered)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.notifications.application import queue_push
from domain.outbox.application import SendResult
from domain.shared.context import SYSTEM_ACTOR, CommandContext
from tests.support.app import Api, auth, make_api
from tests.support.http import assert_problem, wait_until_current
from tests.support.push import register_token


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    with make_api(request.param, tmp_path) as api:
        yield api


def run(api: Api, handler: Any) -> Any:
    return api.runtime.commands.run(CommandContext(actor=SYSTEM_ACTOR), handler).result


def queued(api: Api, tenant: str) -> uuid.UUID:
    """A push queued for a recipient with a registered device."""
    recipient = uuid.uuid4()
    register_token(api.runtime, recipient, uuid.UUID(tenant), f"ExponentPushToken[{recipient.hex}]")
    delivery = uuid.uuid4()
    run(
        api,
        lambda uow: queue_push(
            uow, delivery, uuid.UUID(tenant), recipient, "Title", "Body", {"type": "TEST"}
        ),
    )
    return delivery


def attempted(api: Api, delivery: uuid.UUID, result: SendResult) -> None:
    """One attempt, as a worker makes it: claim what is due, record the outcome."""
    wait_until_current(api.runtime)
    now = api.runtime.clock.now()
    [due] = [d for d in api.runtime.views.deadlines.due(now) if d.id == delivery]
    outbox = api.runtime.outbox
    claim = run(api, lambda uow: outbox.claim(uow, delivery, due.due_at))
    assert claim is not None
    run(api, lambda uow: outbox.record(uow, claim, result))


REJECTED = SendResult(ok=False, error="MessageTooBig", permanent=True)
SENT = SendResult(ok=True, receipt=("ticket-1",))


def admin_of(api: Api, tenant: str) -> dict[str, str]:
    return auth("hospital_admin", api.staff(tenant, "HOSPITAL_ADMIN", "Hana", "Ito"), tenant)


def listing(api: Api, headers: dict[str, str], query: str = "") -> dict[str, Any]:
    head = api.runtime.log.head()
    body: dict[str, Any] = api.ok("GET", f"/v1/admin/deliveries?minPosition={head}{query}", headers)
    return body


def test_a_hospital_admin_sees_their_own_tenants_deliveries_with_every_attempt(api: Api) -> None:
    mine, theirs = api.tenant("Mine"), api.tenant("Theirs")
    failed_here = queued(api, mine)
    attempted(api, failed_here, REJECTED)
    sent_there = queued(api, theirs)
    attempted(api, sent_there, SENT)

    page = listing(api, admin_of(api, mine))
    assert [d["id"] for d in page["items"]] == [str(failed_here)]
    [item] = page["items"]
    assert item["channel"] == "push" and item["status"] == "dead"
    assert [(a["outcome"], a["detail"]) for a in item["attempts"]] == [
        ("started", None),
        ("failed", "MessageTooBig"),
    ]
    assert "nextCursor" not in page or page["nextCursor"] is None

    everything = listing(api, api.admin)
    assert {d["id"] for d in everything["items"]} == {str(failed_here), str(sent_there)}


def test_deliveries_are_filtered_by_status_and_channel_and_paged_by_cursor(api: Api) -> None:
    tenant = api.tenant()
    sent = [queued(api, tenant) for _ in range(3)]
    for delivery in sent:
        attempted(api, delivery, SENT)
    pending = queued(api, tenant)

    first = listing(api, api.admin, "&status=sent&limit=2")
    assert len(first["items"]) == 2 and first["nextCursor"]
    rest = listing(api, api.admin, f"&status=sent&limit=2&cursor={first['nextCursor']}")
    seen = [d["id"] for d in first["items"] + rest["items"]]
    assert sorted(seen) == sorted(str(d) for d in sent)
    assert [d["id"] for d in listing(api, api.admin, "&status=pending")["items"]] == [str(pending)]
    assert listing(api, api.admin, "&channel=webhook")["items"] == []
    assert len(listing(api, api.admin, "&channel=push")["items"]) == 4


def test_redelivering_a_dead_delivery_queues_it_again(api: Api) -> None:
    tenant = api.tenant()
    delivery = queued(api, tenant)
    attempted(api, delivery, REJECTED)
    wait_until_current(api.runtime)
    body = api.ok("POST", f"/v1/admin/deliveries/{delivery}/redeliver", admin_of(api, tenant), 202)
    assert body["status"] == "pending" and body["id"] == str(delivery)
    attempted(api, delivery, SENT)
    [item] = listing(api, api.admin, "&status=sent")["items"]
    assert [a["outcome"] for a in item["attempts"]] == ["started", "failed", "started", "sent"]


def test_redelivering_a_delivery_that_is_not_dead_is_409(api: Api) -> None:
    tenant = api.tenant()
    delivery = queued(api, tenant)
    wait_until_current(api.runtime)
    response = api.client.post(
        f"/v1/admin/deliveries/{delivery}/redeliver", headers=admin_of(api, tenant)
    )
    assert_problem(response, 409)


def test_another_tenants_delivery_cannot_be_redelivered_or_seen(api: Api) -> None:
    mine, theirs = api.tenant("Mine"), api.tenant("Theirs")
    delivery = queued(api, theirs)
    attempted(api, delivery, REJECTED)
    wait_until_current(api.runtime)
    response = api.client.post(
        f"/v1/admin/deliveries/{delivery}/redeliver", headers=admin_of(api, mine)
    )
    assert_problem(response, 404)
    unknown = api.client.post(
        f"/v1/admin/deliveries/{uuid.uuid4()}/redeliver", headers=admin_of(api, mine)
    )
    assert_problem(unknown, 404)
    assert response.json()["detail"].replace(str(delivery), "?") == unknown.json()[
        "detail"
    ].replace(unknown.request.url.path.split("/")[-2], "?")


def test_doctors_and_patients_may_not_see_the_outbox(api: Api) -> None:
    tenant = api.tenant()
    _, doctor = api.doctor(tenant)
    assert_problem(api.client.get("/v1/admin/deliveries", headers=doctor), 403)
    patient = auth("patient", uuid.uuid4(), tenant)
    assert_problem(api.client.get("/v1/admin/deliveries", headers=patient), 403)
