"""SSRF: a webhook URL may not make CareLoop call into its own network.

`PublicAddressGuard` refuses a URL whose host is, or resolves to, a loopback, private,
link-local, multicast, reserved or unspecified address (IPv4-mapped and other IPv6 forms
of these included), at subscription (422 naming `url`) and again at every delivery,
where the request then goes to the address vetted in that attempt, so a DNS answer that
changes in between (DNS rebinding) cannot redirect it. Nothing here connects anywhere
but 127.0.0.1: other names are answered by a fake resolver.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bootstrap.contexts import SubscriptionSecrets
from bootstrap.runtime import Runtime
from domain.outbox.delivery import Delivery, DeliveryStatus
from domain.shared.errors import InvalidInputError
from domain.webhooks.subscription import Trigger
from tests.integration.test_webhook_delivery import (
    SECRET,
    TENANT,
    Receiver,
    Rig,
    claim_to,
    events_of,
    handler_for,
    serve,
)
from tests.support.app import make_runtime
from tests.support.push import status_of
from workers.outbox.webhook import (
    AddressRefusedError,
    PublicAddressGuard,
    WebhookSender,
    forbidden_kind,
)

REFUSED = [
    ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
    ("http://[::1]/", "::1 is a loopback address"),
    ("http://10.0.0.5/", "10.0.0.5 is a private address"),
    ("http://192.168.1.1/", "192.168.1.1 is a private address"),
    ("http://172.16.0.1/", "172.16.0.1 is a private address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("http://[fe80::1]/", "fe80::1 is a link-local address"),
    ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 is a loopback address (127.0.0.1)"),
    ("http://localhost:9/", "localhost resolves to "),
    # Other spellings and neighbours of the same places.
    ("https://127.1.2.3:8443/hook", "127.1.2.3 is a loopback address"),
    ("http://2130706433/", "2130706433 resolves to 127.0.0.1, a loopback address"),
    ("http://0.0.0.0/", "0.0.0.0 is an unspecified address"),
    ("http://[::]/", ":: is an unspecified address"),
    ("http://100.64.0.1/", "100.64.0.1 is not a public address"),  # carrier-grade NAT
    ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
    ("http://240.0.0.1/", "240.0.0.1 is a private address"),
    ("http://[fd12:3456:789a::1]/", "fd12:3456:789a::1 is a private address"),  # ULA
    ("http://[::ffff:10.0.0.5]/", "::ffff:10.0.0.5 is a private address (10.0.0.5)"),
    ("http://[::ffff:169.254.169.254]/", "a link-local address (169.254.169.254)"),
    ("http://[2002:7f00:1::]/", "2002:7f00:1:: is a loopback address (127.0.0.1)"),  # 6to4
    ("http://[64:ff9b::a00:5]/", "64:ff9b::a00:5 is a private address (10.0.0.5)"),  # NAT64
]
PUBLIC = [
    "http://93.184.215.14/",
    "https://93.184.215.14:8443/hooks?x=1",
    "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/",
    "http://[::ffff:93.184.215.14]/",
    "http://[64:ff9b::5db8:d70e]/",  # NAT64 of 93.184.215.14
]


def resolver(answers: dict[str, list[str]]) -> Callable[..., list[tuple[Any, ...]]]:
    """A getaddrinfo that knows a few names; anything else does not resolve."""

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        rows: list[tuple[Any, ...]] = []
        for address in answers[host]:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            rows.append((family, socket.SOCK_STREAM, 6, "", (address, port)))
        return rows

    return getaddrinfo


class Rebinding:
    """A name whose DNS answer changes after it was checked: public first, then loopback."""

    def __init__(self, first: str, then: str) -> None:
        self.answers = [first, then]
        self.calls = 0

    def __call__(self, host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        address = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(fail_first=0)
    stop = serve(receiver)
    try:
        yield receiver
    finally:
        stop()


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime as deployed: private addresses refused."""
    with make_runtime("sqlite", tmp_path / "strict") as runtime:
        assert runtime.settings.webhook_allow_private is False
        yield runtime


@pytest.fixture
def lenient(tmp_path: Path) -> Iterator[Runtime]:
    """A development runtime: CARELOOP_WEBHOOK_ALLOW_PRIVATE=true."""
    with make_runtime("sqlite", tmp_path / "lenient", webhook_allow_private=True) as runtime:
        yield runtime


# -- the guard -------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "reason"), REFUSED, ids=[u for u, _ in REFUSED])
def test_the_guard_refuses_urls_that_reach_loopback_private_or_link_local_addresses(
    url: str, reason: str
) -> None:
    refusal = PublicAddressGuard(allow_private=False).refusal(url)

    assert refusal is not None and reason in refusal


def test_a_hostname_resolving_to_loopback_is_refused_whichever_address_it_names() -> None:
    guard = PublicAddressGuard(resolve=resolver({"hooks.clinic.example": ["127.0.0.1"]}))

    assert guard.refusal("https://hooks.clinic.example/in") == (
        "hooks.clinic.example resolves to 127.0.0.1, a loopback address"
    )
    refusal = PublicAddressGuard().refusal("http://localhost:9/")  # the real resolver
    assert refusal is not None and "a loopback address" in refusal


def test_a_hostname_with_one_private_address_among_public_ones_is_refused() -> None:
    answers = {"hooks.clinic.example": ["93.184.215.14", "2606:2800:21f::1", "10.1.2.3"]}
    guard = PublicAddressGuard(resolve=resolver(answers))

    assert guard.refusal("https://hooks.clinic.example/") == (
        "hooks.clinic.example resolves to 10.1.2.3, a private address"
    )


@pytest.mark.parametrize("url", PUBLIC)
def test_a_public_address_is_not_refused(url: str) -> None:
    # Only checked: nothing connects anywhere public.
    assert PublicAddressGuard(allow_private=False).refusal(url) is None


def test_a_hostname_resolving_only_to_public_addresses_is_vetted_with_all_of_them() -> None:
    answers = {"hooks.clinic.example": ["2606:2800:21f::1", "93.184.215.14", "93.184.215.14"]}
    guard = PublicAddressGuard(resolve=resolver(answers))

    vetted = guard.vet("https://hooks.clinic.example:8443/in")

    assert guard.refusal("https://hooks.clinic.example:8443/in") is None
    assert (vetted.hostname, vetted.port) == ("hooks.clinic.example", 8443)
    assert vetted.addresses == ("2606:2800:21f::1", "93.184.215.14")


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080/", "http://[::1]/", "http://localhost:9/", "http://10.0.0.5/"],
)
def test_with_allow_private_loopback_and_private_addresses_are_allowed(url: str) -> None:
    assert PublicAddressGuard(allow_private=True).refusal(url) is None


def test_a_name_that_does_not_resolve_is_refused_even_with_allow_private() -> None:
    for allow_private in (False, True):
        guard = PublicAddressGuard(allow_private, resolve=resolver({}))
        assert guard.refusal("https://nowhere.clinic.example/") == (
            "nowhere.clinic.example does not resolve"
        )
        with pytest.raises(AddressRefusedError) as refused:
            guard.vet("https://nowhere.clinic.example/")
        assert refused.value.transient  # at delivery time: DNS may be back next attempt


@pytest.mark.parametrize("url", ["ftp://93.184.215.14/", "file:///etc/passwd", "gopher://x/"])
def test_only_http_and_https_urls_may_be_called(url: str) -> None:
    for allow_private in (False, True):
        assert PublicAddressGuard(allow_private).refusal(url) == (
            "only http and https URLs may be called"
        )


def test_an_ipv6_address_with_a_zone_is_judged_without_it() -> None:
    guard = PublicAddressGuard(resolve=resolver({"printer.local": ["fe80::1%eth0"]}))

    assert guard.refusal("http://printer.local/") == (
        "printer.local resolves to fe80::1%eth0, a link-local address"
    )


def test_every_kind_of_address_is_named() -> None:
    assert forbidden_kind(ipaddress.ip_address("93.184.215.14")) is None
    assert forbidden_kind(ipaddress.ip_address("192.0.2.1")) == "a private address"  # TEST-NET
    assert forbidden_kind(ipaddress.ip_address("ff02::1")) == "a multicast address"
    assert forbidden_kind(ipaddress.ip_address("::127.0.0.1")) == "a reserved address"


# -- at subscription: 422 ----------------------------------------------------------------


@pytest.mark.parametrize(("url", "reason"), REFUSED[:9], ids=[u for u, _ in REFUSED[:9]])
def test_subscribing_to_such_a_url_is_refused_naming_the_url_and_nothing_is_saved(
    strict: Runtime, url: str, reason: str
) -> None:
    rig = Rig(strict)

    with pytest.raises(InvalidInputError) as refused:
        rig.subscribe(url, [Trigger.CREATED])

    [error] = refused.value.errors
    assert error["field"] == "url" and reason in error["message"]
    assert reason in refused.value.detail
    strict.catch_up()
    assert strict.views.webhooks.subscriptions(str(TENANT)) == []


def test_with_allow_private_a_loopback_url_may_be_subscribed(
    lenient: Runtime, receiver: Receiver
) -> None:
    subscription = Rig(lenient).subscribe(receiver.url, [Trigger.CREATED])

    lenient.catch_up()
    row = lenient.views.webhooks.subscription(str(subscription))
    assert row is not None and row["url"] == receiver.url


# -- at delivery: refused again, and nothing is sent -------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_delivery_to_a_private_address_is_refused_at_send_time_and_nothing_is_sent(
    lenient: Runtime, receiver: Receiver, host: str
) -> None:
    """Subscribed while private addresses were allowed, delivered by a sender whose guard
    refuses them (the setting changed, or the name now resolves elsewhere)."""
    rig = Rig(lenient)
    rig.subscribe(f"http://{host}:{receiver.port}/hooks/careloop", [Trigger.ASSIGNED])
    [delivery] = rig.fire(Trigger.ASSIGNED)
    strict_sender = WebhookSender(SubscriptionSecrets(lenient.log), PublicAddressGuard(False))

    assert Rig(lenient, strict_sender).deliver_due() == 1

    assert receiver.requests == []
    assert status_of(lenient, delivery) is DeliveryStatus.DEAD  # permanent: no retry
    failed, died = events_of(lenient, delivery)[-2:]
    assert isinstance(failed, Delivery.AttemptFailed) and isinstance(died, Delivery.Died)
    assert (failed.attempt, failed.retry_at) == (1, None)
    assert failed.error.startswith("address refused: ")
    assert "a loopback address" in failed.error

    # The same delivery, redelivered through the runtime's lenient sender, arrives.
    rig.redeliver(delivery)
    assert rig.deliver_due() == 1
    [seen] = receiver.accepted
    assert seen.delivery == str(delivery)


def test_a_name_rebound_to_loopback_after_subscription_is_refused_at_delivery(
    receiver: Receiver,
) -> None:
    url = f"http://hooks.clinic.example:{receiver.port}/hooks/careloop"
    dns = Rebinding(first="93.184.215.14", then="127.0.0.1")
    guard = PublicAddressGuard(allow_private=False, resolve=dns)
    assert guard.refusal(url) is None  # at subscription: a public address

    result = WebhookSender(lambda _: SECRET, guard).send(claim_to(url))

    assert (result.ok, result.permanent) == (False, True)
    assert result.error == (
        "address refused: hooks.clinic.example resolves to 127.0.0.1, a loopback address"
    )
    assert receiver.requests == []


def test_the_request_goes_to_the_vetted_address_and_keeps_the_urls_host(
    receiver: Receiver,
) -> None:
    """The name is resolved once per attempt, by the guard, and the connection goes to
    that address: a second answer could not redirect it."""
    dns = Rebinding(first="127.0.0.1", then="93.184.215.14")
    guard = PublicAddressGuard(allow_private=True, resolve=dns)
    url = f"http://hooks.clinic.example:{receiver.port}/hooks/careloop"

    result = WebhookSender(lambda _: SECRET, guard).send(claim_to(url))

    assert result.ok, result.error
    assert dns.calls == 1
    [seen] = receiver.accepted
    assert seen.headers["Host"] == f"hooks.clinic.example:{receiver.port}"
    assert seen.verified


def test_the_next_vetted_address_is_tried_when_the_first_refuses_the_connection(
    receiver: Receiver,
) -> None:
    answers = {"hooks.clinic.example": ["::1", "127.0.0.1"]}
    guard = PublicAddressGuard(allow_private=True, resolve=resolver(answers))
    url = f"http://hooks.clinic.example:{receiver.port}/hooks/careloop"

    # The receiver listens on 127.0.0.1 only: ::1 refuses, 127.0.0.1 answers.
    result = WebhookSender(lambda _: SECRET, guard).send(claim_to(url))

    assert result.ok, result.error
    assert len(receiver.accepted) == 1


# -- TLS: the certificate is checked against the URL's hostname, not the IP -------------

# A self-signed certificate for hooks.clinic.example (P-256, valid 2000 to 2099), for
# tests only.
TEST_CERT = """\
-----BEGIN CERTIFICATE-----
MIIBkjCCATigAwIBAgIBATAKBggqhkjOPQQDAjAfMR0wGwYDVQQDDBRob29rcy5j
bGluaWMuZXhhbXBsZTAgFw0wMDAxMDEwMDAwMDBaGA8yMDk5MTIzMTIzNTk1OVow
HzEdMBsGA1UEAwwUaG9va3MuY2xpbmljLmV4YW1wbGUwWTATBgcqhkjOPQIBBggq
hkjOPQMBBwNCAARukofg+AHRVgNHau/rGZ2y6tZxs7GSjJhGATHeByetaSAyFpzL
QwDNDKPllsiH0y2F4AjTox7pZP3FqQVMTExzo2MwYTAfBgNVHREEGDAWghRob29r
cy5jbGluaWMuZXhhbXBsZTAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIC
hDAdBgNVHQ4EFgQUeojQDsbv06Z4Ys63v0ImiAXpsiswCgYIKoZIzj0EAwIDSAAw
RQIhAJuHlMPHExwge7PcS6QDi3Btfj0Rzk/YyzNhZtNJ0warAiBV9WNyqUvRIvQB
YR03x0Nw+W5A1Cf8xm3xgHqfLfd6tA==
-----END CERTIFICATE-----
"""
TEST_KEY = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgduuJlRNsyv+7KDHN
VkbFpOu7l0ExaiPHHlkv40ZBIcShRANCAARukofg+AHRVgNHau/rGZ2y6tZxs7GS
jJhGATHeByetaSAyFpzLQwDNDKPllsiH0y2F4AjTox7pZP3FqQVMTExz
-----END PRIVATE KEY-----
"""


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, list[str], ssl.SSLContext]]:
    """An HTTPS receiver on 127.0.0.1 serving the hooks.clinic.example certificate: the
    receiver, the server names clients asked for (SNI), and a client context trusting it."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text(TEST_CERT)
    key.write_text(TEST_KEY)
    names: list[str] = []
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)

    def server_name(_socket: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        names.append(name or "")

    server_tls.sni_callback = server_name  # type: ignore[assignment]
    receiver = Receiver(fail_first=0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(receiver))
    server.socket = server_tls.wrap_socket(server.socket, server_side=True)
    receiver.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver, names, ssl.create_default_context(cafile=str(cert))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_https_to_the_vetted_ip_sends_the_hostname_as_sni_and_checks_the_certificate(
    tls_receiver: tuple[Receiver, list[str], ssl.SSLContext],
) -> None:
    receiver, names, client_tls = tls_receiver
    answers = {"hooks.clinic.example": ["127.0.0.1"], "other.clinic.example": ["127.0.0.1"]}
    guard = PublicAddressGuard(allow_private=True, resolve=resolver(answers))
    sender = WebhookSender(lambda _: SECRET, guard, tls=client_tls)

    sent = sender.send(claim_to(f"https://hooks.clinic.example:{receiver.port}/hooks/careloop"))
    # Same IP, another name: the certificate does not name it, so nothing is sent.
    mismatch = sender.send(claim_to(f"https://other.clinic.example:{receiver.port}/hooks"))

    assert sent.ok, sent.error
    [seen] = receiver.accepted
    assert seen.headers["Host"] == f"hooks.clinic.example:{receiver.port}"
    assert names[0] == "hooks.clinic.example"
    assert (mismatch.ok, mismatch.permanent) == (False, False)
    assert mismatch.error is not None and "CERTIFICATE_VERIFY_FAILED" in mismatch.error
    assert len(receiver.requests) == 1


class Stub:
    """A guard that only answers yes or no, as the domain's `UrlGuard` protocol asks."""

    def __init__(self, refusal: str | None) -> None:
        self.answer = refusal

    def refusal(self, url: str) -> str | None:
        return self.answer


def test_a_guard_that_only_answers_refusal_is_still_asked_at_every_attempt(
    receiver: Receiver,
) -> None:
    refused = WebhookSender(lambda _: SECRET, Stub("not on the allow list")).send(
        claim_to(receiver.url)
    )
    allowed = WebhookSender(lambda _: SECRET, Stub(None)).send(claim_to(receiver.url))

    assert (refused.ok, refused.permanent) == (False, True)
    assert refused.error == "address refused: not on the allow list"
    assert allowed.ok, allowed.error
    assert len(receiver.requests) == 1
