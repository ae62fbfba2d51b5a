"""The webhook channel's sender and the guard that decides which URLs CareLoop may call.

`PublicAddressGuard` resolves a URL's host and refuses it when any of its addresses is
not a public one (private, loopback, link-local, multicast, reserved, unspecified, shared,
or an IPv6 address that embeds one of these), so that a subscription cannot make CareLoop
reach into its own network (SSRF); `CARELOOP_WEBHOOK_ALLOW_PRIVATE=true` lifts that rule
for development. The domain asks it at subscription (domain/webhooks/application.py); the
sender asks it again at every attempt.

`WebhookSender` POSTs one signed request per claimed attempt with the standard library's
`http.client`, over a socket it opens itself to the address the guard vetted in that same
attempt; the `Host` header and the TLS server name (SNI, and the name the certificate
must match) stay the URL's hostname. Nothing resolves the name a second time, so a DNS
answer that changes between the check and the connection (DNS rebinding) cannot redirect
a delivery. No HTTP library is needed for one POST whose answer is only a status code,
and none could make it plainer where the socket goes (decision 0023).

What a failure means is decided here; how often and when to retry is the Delivery
aggregate's backoff (domain/outbox/delivery.py):

- 2xx: sent, the status code is the receipt;
- 408, 429, 5xx, timeouts, refused or broken connections, TLS failures, a host that does
  not resolve (DNS outages pass): transient;
- any other status (3xx included: redirects are not followed), an address the guard
  refuses, a subscription gone (no secret), a payload that makes no body: permanent.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote, urlsplit

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
# Printable ASCII stays as the URL has it; anything else in a path or query (spaces,
# control characters, non-ASCII) is percent-encoded, so it cannot break the request line.
_TARGET_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))

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
    """Where one request may go: the URL's parts, and the addresses its host resolved
    to, every one of them checked. Connect to these, never to a fresh resolution."""

    scheme: str
    hostname: str  # ASCII (IDNA), lowercase, without brackets: the TLS server name
    port: int
    target: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return host if self.port == _PORTS[self.scheme] else f"{host}:{self.port}"


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
            parts = urlsplit(url)
            port = parts.port  # ValueError for a port out of range
            hostname = (parts.hostname or "").encode("idna").decode("ascii")
        except (UnicodeError, ValueError):
            raise AddressRefusedError("not a valid URL") from None
        scheme = parts.scheme.lower()
        if scheme not in _PORTS:
            raise AddressRefusedError("only http and https URLs may be called")
        if not hostname:
            raise AddressRefusedError("the URL has no host")
        port = port or _PORTS[scheme]
        addresses = self._resolve(hostname, port)
        if not self.allow_private:
            for address in addresses:
                kind = forbidden_kind(_ip(address))
                if kind is None:
                    continue
                if address == hostname:  # a literal IP in the URL
                    raise AddressRefusedError(f"{address} is {kind}")
                raise AddressRefusedError(f"{hostname} resolves to {address}, {kind}")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return VettedAddress(scheme, hostname, port, quote(target, _TARGET_SAFE), addresses)

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


class _VettedHTTPSConnection(http.client.HTTPSConnection):
    """TCP to the vetted IP (`host`), TLS for the URL's hostname: the SNI and the name
    the certificate must match are `server_hostname`, not the IP."""

    def __init__(
        self, ip: str, port: int, server_hostname: str, timeout: float, tls: ssl.SSLContext
    ) -> None:
        super().__init__(ip, port, timeout=timeout, context=tls)
        self.server_hostname = server_hostname
        self.tls = tls

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self.tls.wrap_socket(self.sock, server_hostname=self.server_hostname)


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
            error = failed.error[:_MAX_LOGGED]
            return SendResult(ok=False, error=error, permanent=failed.permanent)
        return SendResult(ok=True, receipt=(str(status),))

    def _send(self, claim: Claim) -> int:
        if not claim.addresses:
            raise _Failed("no URL to send to", permanent=True)
        try:
            body = webhook_body(claim.payload)
        except (KeyError, TypeError, ValueError) as e:
            raise _Failed(f"invalid webhook payload: {e!r}", permanent=True) from None
        secret = self.secret_of(claim.delivery_id)
        if secret is None:
            raise _Failed("the subscription is gone: no secret to sign with", permanent=True)
        vetted = self._vet(claim.addresses[0])
        timestamp = int(self.now())
        headers = {
            # The URL's host and port as the receiver knows them, whatever IP we reach.
            "Host": vetted.host_header,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
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
            # A guard that only answers yes or no (a test's stub): ask it, then resolve
            # the name once more for the address.
            refusal = self.guard.refusal(url)
            if refusal is not None:
                raise AddressRefusedError(refusal)
            return PublicAddressGuard(allow_private=True).vet(url)
        except AddressRefusedError as refused:
            if refused.transient:
                raise _Failed(refused.reason, permanent=False) from None
            raise _Failed(f"address refused: {refused.reason}", permanent=True) from None

    def _post(self, vetted: VettedAddress, headers: Mapping[str, str], body: bytes) -> int:
        last: OSError | None = None
        for address in vetted.addresses:
            connection = self._connection(vetted, address.split("%", 1)[0])
            try:
                try:
                    connection.connect()
                except (ssl.SSLError, TimeoutError):
                    raise  # the attempt ends: below
                except OSError as e:
                    # Refused or unreachable: nothing was sent; try the next vetted
                    # address (a name with IPv6 and IPv4 addresses, one of them down).
                    last = e
                    continue
                # `Host` is in the headers, so http.client adds none of its own. A
                # redirect is a status like any other: nothing follows it.
                connection.request("POST", vetted.target, body, dict(headers))
                # Only the status matters: the body is never read, whatever its size.
                response = connection.getresponse()
                return _status(response.status, response.reason)
            except (OSError, http.client.HTTPException) as e:
                # Timeouts, TLS, resets, a malformed answer: whether it arrived is unknown.
                raise _Failed(_exception_error(e), permanent=False) from None
            finally:
                connection.close()
        assert last is not None  # vet() never returns without an address
        raise _Failed(_exception_error(last), permanent=False)

    def _connection(self, vetted: VettedAddress, ip: str) -> http.client.HTTPConnection:
        """A connection to `ip` itself: http.client connects to the host it is given, and
        an IP needs no resolving. One per attempt, never pooled."""
        if vetted.scheme == "https":
            tls = self.tls or ssl.create_default_context()
            return _VettedHTTPSConnection(ip, vetted.port, vetted.hostname, self.timeout, tls)
        return http.client.HTTPConnection(ip, vetted.port, timeout=self.timeout)


def webhook_body(payload: Mapping[str, Any]) -> bytes:
    """The request body: `{event, occurredAt, data}` as compact UTF-8 JSON, the bytes that
    are signed."""
    document = {
        "event": str(payload["event"]),
        "occurredAt": str(payload["occurredAt"]),
        "data": payload["data"],
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _status(status: int, reason: str) -> int:
    if 200 <= status < 300:
        return status
    transient = status in _TRANSIENT_STATUS or status >= 500
    error = f"HTTP {status} {reason}".rstrip()
    if 300 <= status < 400:
        error += " (redirects are not followed)"
    raise _Failed(error, permanent=not transient)


def _exception_error(e: BaseException) -> str:
    detail = str(e)
    return f"{type(e).__name__}: {detail}" if detail else type(e).__name__
