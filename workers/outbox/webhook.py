"""The webhook channel's sender and the guard that decides which URLs CareLoop may call.

`PublicAddressGuard` resolves a URL's host and refuses it when any of its addresses is
not a public one (private, loopback, link-local, multicast, reserved, unspecified, shared,
or an IPv6 address that embeds one of these), so that a subscription cannot make CareLoop
reach into its own network (SSRF); `CARELOOP_WEBHOOK_ALLOW_PRIVATE=true` lifts that rule
for development. The domain asks it at subscription (domain/webhooks/application.py); the
sender asks it again at every attempt.

`WebhookSender` POSTs one signed request per claimed attempt with httpx, to the address
the guard vetted in that same attempt: the URL's host is swapped for the vetted IP, and
the `Host` header and the TLS server name (SNI and certificate check) stay the URL's
hostname. Nothing resolves the name a second time, so a DNS answer that changes between
the check and the connection (DNS rebinding) cannot redirect a delivery.

What a failure means is decided here; how often and when to retry is the Delivery
aggregate's backoff (domain/outbox/delivery.py):

- 2xx: sent, the status code is the receipt;
- 408, 429, 5xx, timeouts, refused or broken connections, a host that does not resolve
  (DNS outages pass): transient;
- any other status (3xx included: redirects are not followed), an address the guard
  refuses, a subscription gone (no secret), a payload that makes no body: permanent.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import httpx

from domain.outbox.application import Claim, SendResult
from domain.webhooks.application import UrlGuard
from domain.webhooks.signing import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
)

DEFAULT_TIMEOUT_SECONDS = 10.0
USER_AGENT = "CareLoop-Webhooks/1"
_PORTS = {"http": 80, "https": 443}
# The receiver is busy or down for a moment: worth another attempt after the backoff.
_TRANSIENT_STATUS = frozenset({408, 429})
_MAX_LOGGED = 200

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., list[tuple[Any, ...]]]
# The NAT64 well-known prefix (RFC 6052): its last 32 bits are an IPv4 address.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class AddressRefusedError(Exception):
    """A URL CareLoop may not call now. `transient` when only the name failed to resolve
    (it may resolve later); otherwise it is refused for what it is."""

    def __init__(self, reason: str, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


@dataclass(frozen=True)
class VettedAddress:
    """Where one request may go: the URL, and the addresses its host resolved to, every
    one of them checked. Connect to these, never to a fresh resolution of the name."""

    url: httpx.URL
    hostname: str  # ASCII (IDNA), without brackets: for the TLS server name
    port: int
    addresses: tuple[str, ...]


@runtime_checkable
class AddressVetter(Protocol):
    def vet(self, url: str) -> VettedAddress: ...


class PublicAddressGuard:
    """Refuses URLs whose host resolves to an address that is not publicly routable, or
    does not resolve; with `allow_private`, only names that do not resolve."""

    def __init__(self, allow_private: bool = False, resolve: Resolver = socket.getaddrinfo):
        self.allow_private = allow_private
        self.resolve = resolve

    def refusal(self, url: str) -> str | None:
        try:
            self.vet(url)
        except AddressRefusedError as refused:
            return refused.reason
        return None

    def vet(self, url: str) -> VettedAddress:
        """Resolves the URL's host once and checks every address it resolved to; raises
        AddressRefusedError with a short reason, or returns what to connect to."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise AddressRefusedError("not a valid URL") from None
        if parsed.scheme not in _PORTS:
            raise AddressRefusedError("only http and https URLs may be called")
        hostname = parsed.raw_host.decode("ascii")
        if not hostname:
            raise AddressRefusedError("the URL has no host")
        port = parsed.port or _PORTS[parsed.scheme]
        addresses = self._resolve(hostname, port)
        if not self.allow_private:
            for address in addresses:
                kind = forbidden_kind(_ip(address))
                if kind is not None:
                    if address == hostname:  # a literal IP in the URL
                        raise AddressRefusedError(f"{address} is {kind}")
                    raise AddressRefusedError(f"{hostname} resolves to {address}, {kind}")
        return VettedAddress(parsed, hostname, port, addresses)

    def _resolve(self, hostname: str, port: int) -> tuple[str, ...]:
        try:
            answers = self.resolve(hostname, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):  # socket.gaierror is an OSError
            raise AddressRefusedError(f"{hostname} does not resolve", transient=True) from None
        # In the resolver's order (RFC 6724 preference), each address once.
        addresses = tuple(dict.fromkeys(str(answer[4][0]) for answer in answers))
        if not addresses:
            raise AddressRefusedError(f"{hostname} does not resolve", transient=True)
        return addresses


def _ip(address: str) -> IPAddress:
    # A link-local IPv6 answer may carry its zone (`fe80::1%eth0`); the zone changes nothing.
    return ipaddress.ip_address(address.split("%", 1)[0])


def forbidden_kind(ip: IPAddress) -> str | None:
    """What makes an address one CareLoop may not call ("a loopback address", ...), or
    None for a public one."""
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv6 address that carries an IPv4 one reaches that IPv4 address: judge that.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            kind = forbidden_kind(embedded)
            if kind is not None:
                return f"{kind} ({embedded})"
            if ip.ipv4_mapped is not None or ip in _NAT64:
                # Both are only a way to reach the IPv4 address, which is public.
                # (::/8, which holds them, is otherwise reserved.)
                return None
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "not a public address"
    return None


class _Failed(Exception):
    def __init__(self, error: str, permanent: bool) -> None:
        super().__init__(error)
        self.error = error
        self.permanent = permanent


class WebhookSender:
    """POSTs one signed request per claimed attempt to the subscription's URL; never
    raises for a delivery problem, it reports it.

    `secret_of(delivery_id)` is the signing secret of the subscription the delivery goes
    to, or None when that subscription is gone (the claim names the delivery, not its
    subscription).
    """

    def __init__(
        self,
        secret_of: Callable[[uuid.UUID], str | None],
        guard: UrlGuard,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        *,
        tls: ssl.SSLContext | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.secret_of = secret_of
        self.guard = guard
        self.timeout = timeout
        self.tls = tls
        # Wall-clock time, not the injected domain clock: the receiver compares the
        # timestamp with its own clock when the request arrives.
        self.now = now

    def send(self, claim: Claim) -> SendResult:
        try:
            status = self._send(claim)
        except _Failed as failed:
            return SendResult(
                ok=False, error=failed.error[:_MAX_LOGGED], permanent=failed.permanent
            )
        return SendResult(ok=True, receipt=(str(status),))

    def _send(self, claim: Claim) -> int:
        if not claim.addresses:
            raise _Failed("no URL to send to", permanent=True)
        url = claim.addresses[0]
        try:
            body = webhook_body(claim.payload)
        except (KeyError, TypeError, ValueError) as e:
            raise _Failed(f"invalid webhook payload: {e!r}", permanent=True) from None
        secret = self.secret_of(claim.delivery_id)
        if secret is None:
            raise _Failed("the subscription is gone: no secret to sign with", permanent=True)
        vetted = self._vet(url)
        timestamp = int(self.now())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            # The URL's host and port as the receiver knows them, whatever IP we reach.
            "Host": vetted.url.netloc.decode("ascii"),
            DELIVERY_HEADER: str(claim.delivery_id),
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(secret, timestamp, body),
        }
        return self._post(vetted, headers, body)

    def _vet(self, url: str) -> VettedAddress:
        """The address to connect to, checked now, in this attempt."""
        try:
            if isinstance(self.guard, AddressVetter):
                return self.guard.vet(url)
            # A guard that only answers yes or no (a test's stub): ask it, then let the
            # operating system resolve the name as usual.
            refusal = self.guard.refusal(url)
            if refusal is not None:
                raise AddressRefusedError(refusal)
            return PublicAddressGuard(allow_private=True).vet(url)
        except AddressRefusedError as refused:
            if refused.transient:
                raise _Failed(refused.reason, permanent=False) from None
            raise _Failed(f"address refused: {refused.reason}", permanent=True) from None

    def _post(self, vetted: VettedAddress, headers: Mapping[str, str], body: bytes) -> int:
        # One client per attempt, never pooled: a pooled connection is keyed by the IP it
        # went to, and could be reused for another hostname sharing that IP. trust_env is
        # off so that no proxy from the environment resolves the name again.
        with httpx.Client(
            timeout=self.timeout,
            follow_redirects=False,
            trust_env=False,
            verify=self.tls if self.tls is not None else True,
        ) as client:
            last: httpx.ConnectError | None = None
            for address in vetted.addresses:
                request = client.build_request(
                    "POST",
                    vetted.url.copy_with(host=address.split("%", 1)[0]),
                    headers=headers,
                    content=body,
                    # httpcore's TLS server name: SNI and the certificate's hostname check.
                    extensions={"sni_hostname": vetted.hostname},
                )
                try:
                    # Streamed and closed unread: only the status matters, whatever the
                    # size of the body.
                    response = client.send(request, stream=True)
                except httpx.ConnectError as e:
                    # Refused or unreachable: nothing was sent, try the next vetted
                    # address (a name with IPv6 and IPv4 addresses, one of them down).
                    last = e
                    continue
                except httpx.HTTPError as e:  # timeouts, broken connections, protocol
                    raise _Failed(_exception_error(e), permanent=False) from None
                response.close()
                return _status(response)
            assert last is not None  # vet() never returns without an address
            raise _Failed(_exception_error(last), permanent=False)


def webhook_body(payload: Mapping[str, Any]) -> bytes:
    """The request body: `{event, occurredAt, data}` as compact UTF-8 JSON, the bytes that
    are signed."""
    document = {
        "event": str(payload["event"]),
        "occurredAt": str(payload["occurredAt"]),
        "data": payload["data"],
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _status(response: httpx.Response) -> int:
    status = response.status_code
    if 200 <= status < 300:
        return status
    transient = status in _TRANSIENT_STATUS or status >= 500
    error = f"HTTP {status}"
    if response.reason_phrase:
        error += f" {response.reason_phrase}"
    if 300 <= status < 400:
        error += " (redirects are not followed)"
    raise _Failed(error, permanent=not transient)


def _exception_error(e: BaseException) -> str:
    detail = str(e)
    return f"{type(e).__name__}: {detail}" if detail else type(e).__name__
