"""Every status code of the webhook endpoints (spec: treatment-plans, automations) on
SQLite and PostgreSQL: `POST /v1/webhooks`, `GET /v1/webhooks`, `GET /v1/webhooks/{id}`
and `GET /v1/webhooks/{id}/deliveries`.

Two worlds per backend: one that allows private addresses, so a receiver started by the
test on 127.0.0.1 gets real signed deliveries (the process managers and the outbox run in
the app); one with the default guard, which refuses loopback, private and link-local
URLs with 422. A subscription's secret never appears in any response.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from domain.shared.context import Role
from domain.webhooks.signing import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)
from tests.support.app import PLATFORM, Api, auth, make_api
from tests.support.feedback_http import eventually
from tests.support.http import assert_problem, error_fields

Headers = dict[str, str]

HOOKS = "/v1/webhooks"
SECRET = "whsec-riverside-0123456789abcdef"
ASSIGNED = "treatment_plan.assigned"
ACTIVATED = "treatment_plan.activated"
REPS = {"mode": "reps", "sets": 3, "reps": 10, "restBetweenSetsSeconds": 30}


@dataclass
class Receiver:
    """A clinic's endpoint on loopback: keeps every request that verifies, answers 200."""

    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ok = verify(
                    SECRET,
                    self.headers.get(TIMESTAMP_HEADER, ""),
                    body,
                    self.headers.get(SIGNATURE_HEADER, ""),
                    time.time(),
                )
                if ok:
                    receiver.accepted.append(
                        {"delivery": self.headers.get(DELIVERY_HEADER), "body": body}
                    )
                else:
                    receiver.refused += 1
                self.send_response(200 if ok else 401)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass(frozen=True)
class World:
    api: Api
    tenant: str
    hal: str  # hospital admin
    maya: str  # approved doctor
    sam: str  # patient
    other_tenant: str
    ida: str  # hospital admin of the other tenant
    receiver: Receiver

    @property
    def hal_h(self) -> Headers:
        return auth(Role.HOSPITAL_ADMIN, self.hal, self.tenant)

    @property
    def ida_h(self) -> Headers:
        return auth(Role.HOSPITAL_ADMIN, self.ida, self.other_tenant)

    @property
    def maya_h(self) -> Headers:
        return auth(Role.DOCTOR, self.maya, self.tenant)

    def headers(self, role: Role) -> Headers:
        if role is Role.PLATFORM_ADMIN:
            return auth(role, PLATFORM)
        user = {Role.DOCTOR: self.maya, Role.PATIENT: self.sam}.get(role, str(uuid.uuid4()))
        return auth(role, user, self.tenant)

    def send(self, method: str, path: str, headers: Headers, **kw: Any) -> httpx.Response:
        return self.api.client.request(method, path, headers=headers, **kw)

    def subscribe(self, events: list[str], url: str | None = None) -> dict[str, Any]:
        body = {"url": url or self.receiver.url, "events": events, "secret": SECRET}
        result: dict[str, Any] = self.api.ok("POST", HOOKS, self.hal_h, 201, json=body)
        return result

    def read(self, path: str, headers: Headers | None = None) -> Any:
        head = self.api.runtime.log.head()
        separator = "&" if "?" in path else "?"
        return self.api.ok("GET", f"{path}{separator}minPosition={head}", headers or self.hal_h)

    def assign_a_plan(self) -> str:
        """A published plan assigned to Sam: `treatment_plan.assigned` and `.activated`."""
        exercise = self.api.ok("POST", "/v1/exercises", self.maya_h, 201, json={"name": "Squat"})[
            "id"
        ]
        body = {
            "title": "Knee rehab",
            "scope": "org",
            "type": "in_clinic",
            "frequencyPerWeek": 2,
            "durationWeeks": 4,
            "visibility": "private",
            "sessions": [
                {"title": "Day 1", "exercises": [{"exerciseId": exercise, "params": REPS}]}
            ],
        }
        plan = self.api.ok("POST", "/v1/treatment-plans", self.maya_h, 201, json=body)["id"]
        self.api.ok("POST", f"/v1/treatment-plans/{plan}/publish", self.maya_h)
        enrolled = self.api.ok(
            "POST",
            f"/v1/treatment-plans/{plan}/assign",
            self.maya_h,
            201,
            json={"patientId": self.sam},
        )
        return str(enrolled["enrollmentId"])


def build_world(api: Api, receiver: Receiver) -> World:
    tenant, other = api.tenant("Riverside"), api.tenant("Lakeside")
    maya, maya_h = api.doctor(tenant, "Maya", "Lind")
    return World(
        api=api,
        tenant=tenant,
        hal=api.staff(tenant, "HOSPITAL_ADMIN", "Hal", "Moss"),
        maya=maya,
        sam=api.invite(maya_h, "Sam")["patientId"],
        other_tenant=other,
        ida=api.staff(other, "HOSPITAL_ADMIN", "Ida", "Holm"),
        receiver=receiver,
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    receiver = Receiver()
    receiver.start()
    try:
        with make_api(
            request.param,
            tmp_path_factory.mktemp("webhooks"),
            process_managers=True,
            webhook_allow_private=True,
        ) as api:
            yield build_world(api, receiver)
    finally:
        receiver.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def guarded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """CareLoop's default: no private address may be subscribed."""
    with make_api(request.param, tmp_path_factory.mktemp("guarded")) as api:
        yield build_world(api, Receiver())


# -- POST /v1/webhooks ---------------------------------------------------------------------


def test_a_hospital_admin_subscribes_201_and_the_secret_never_comes_back(world: World) -> None:
    body = {"url": world.receiver.url, "events": [ASSIGNED, ACTIVATED], "secret": SECRET}
    key = {"Idempotency-Key": f"subscribe-{uuid.uuid4()}"}
    response = world.send("POST", HOOKS, {**world.hal_h, **key}, json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {"id", "url", "events", "position"}
    assert (created["url"], sorted(created["events"])) == (
        world.receiver.url,
        [ACTIVATED, ASSIGNED],
    )
    replayed = world.send("POST", HOOKS, {**world.hal_h, **key}, json=body)
    assert replayed.status_code == 201 and replayed.json() == created

    subscription = created["id"]
    one = world.read(f"{HOOKS}/{subscription}")
    assert (one["id"], one["tenantId"], one["active"]) == (subscription, world.tenant, True)
    listed = world.read(HOOKS)
    assert subscription in {s["id"] for s in listed}
    deliveries = world.read(f"{HOOKS}/{subscription}/deliveries")
    for text in (response.text, replayed.text, str(one), str(listed), str(deliveries)):
        assert SECRET not in text
        assert "secret" not in text.lower()


def test_every_event_is_delivered_signed_and_logged_with_its_attempts(world: World) -> None:
    subscription = world.subscribe([ASSIGNED, ACTIVATED])["id"]
    enrollment = world.assign_a_plan()

    def both_sent() -> Any:
        page = world.read(f"{HOOKS}/{subscription}/deliveries")
        statuses = {d["event"]: d["status"] for d in page["items"]}
        return page if statuses == {ASSIGNED: "sent", ACTIVATED: "sent"} else None

    page = eventually(both_sent, what="both deliveries sent")
    assert page["nextCursor"] is None
    for delivery in page["items"]:
        assert [a["outcome"] for a in delivery["attempts"]] == ["started", "sent"]
    ids = {d["id"] for d in page["items"]}
    received = [a for a in world.receiver.accepted if a["delivery"] in ids]
    assert {a["delivery"] for a in received} == ids
    assert any(enrollment.encode() in a["body"] for a in received)
    assert world.receiver.refused == 0


def test_the_delivery_log_pages_with_a_cursor(world: World) -> None:
    subscription = world.subscribe([ASSIGNED, ACTIVATED])["id"]
    world.assign_a_plan()
    path = f"{HOOKS}/{subscription}/deliveries"
    eventually(lambda: len(world.read(path)["items"]) == 2, what="two deliveries")
    first = world.read(f"{path}?limit=1")
    assert len(first["items"]) == 1 and first["nextCursor"]
    second = world.read(f"{path}?limit=1&cursor={first['nextCursor']}")
    assert len(second["items"]) == 1 and second["nextCursor"] is None
    assert {first["items"][0]["event"], second["items"][0]["event"]} == {ASSIGNED, ACTIVATED}
    for query in ("limit=0", "limit=201", "cursor="):
        assert_problem(world.send("GET", f"{path}?{query}", world.hal_h), 422)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": "ftp://hooks.example/in"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"events": []}, "events"),
        ({"events": ["treatment_plan.deleted"]}, "events.0"),
        ({"secret": "short"}, "secret"),
        ({"secret": "s" * 257}, "secret"),
        ({"retries": 3}, "retries"),
    ],
)
def test_an_invalid_subscription_is_422_naming_the_field(
    world: World, change: dict[str, Any], field: str
) -> None:
    body = {"url": world.receiver.url, "events": [ASSIGNED], "secret": SECRET, **change}
    problem = assert_problem(world.send("POST", HOOKS, world.hal_h, json=body), 422)
    assert field in error_fields(problem)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://localhost/hooks",
        "http://[::1]/hooks",
        "https://10.0.0.5/hooks",
        "https://192.168.1.20/hooks",
        "http://169.254.169.254/latest/meta-data",
    ],
)
def test_a_url_on_a_loopback_private_or_link_local_address_is_refused_422(
    guarded: World, url: str
) -> None:
    before = guarded.api.runtime.log.head()
    body = {"url": url, "events": [ASSIGNED], "secret": SECRET}
    problem = assert_problem(guarded.send("POST", HOOKS, guarded.hal_h, json=body), 422)
    assert error_fields(problem) == {"url"}
    assert SECRET not in str(problem)
    assert guarded.api.runtime.log.head() == before, "a refused subscription writes nothing"


@pytest.mark.parametrize("role", [Role.DOCTOR, Role.PX_ADMIN, Role.PATIENT, Role.PLATFORM_ADMIN])
def test_only_a_hospital_admin_manages_webhooks_403(world: World, role: Role) -> None:
    headers = world.headers(role)
    body = {"url": world.receiver.url, "events": [ASSIGNED], "secret": SECRET}
    assert_problem(world.send("POST", HOOKS, headers, json=body), 403)
    assert_problem(world.send("GET", HOOKS, headers), 403)
    some = str(uuid.uuid4())
    assert_problem(world.send("GET", f"{HOOKS}/{some}", headers), 403)
    assert_problem(world.send("GET", f"{HOOKS}/{some}/deliveries", headers), 403)


def test_webhooks_need_a_token_401(world: World) -> None:
    body = {"url": world.receiver.url, "events": [ASSIGNED], "secret": SECRET}
    assert_problem(world.send("POST", HOOKS, {}, json=body), 401)
    assert_problem(world.send("GET", HOOKS, {}), 401)
    assert_problem(world.send("GET", f"{HOOKS}/{uuid.uuid4()}/deliveries", {}), 401)


def test_another_clinics_subscription_is_404_and_never_listed(world: World) -> None:
    subscription = world.subscribe([ASSIGNED])["id"]
    world.read(f"{HOOKS}/{subscription}")
    for path in (f"{HOOKS}/{subscription}", f"{HOOKS}/{subscription}/deliveries"):
        theirs = assert_problem(world.send("GET", path, world.ida_h), 404)
        never = assert_problem(
            world.send("GET", path.replace(subscription, str(uuid.uuid4())), world.ida_h), 404
        )
        assert theirs["title"] == never["title"]
    assert subscription not in {s["id"] for s in world.read(HOOKS, world.ida_h)}
