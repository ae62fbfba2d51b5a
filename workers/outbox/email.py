"""The email channel's sender: SMTP with the standard library (`smtplib`, `email`).

One connection per attempt, configured from one URL (`CARELOOP_SMTP_URL`):

- `smtp://[user:pass@]host[:port]`: plain SMTP (port 25), or with `?starttls=true`
  upgraded by STARTTLS before anything else is said (port 587);
- `smtps://[user:pass@]host[:port]`: TLS from the first byte (port 465).

What a failure means is decided here; how often and when to retry is the Delivery
aggregate's backoff (domain/outbox/delivery.py):

- reaching and entering the server (refused or timed-out connections, disconnects,
  TLS, greeting, STARTTLS, login): transient, whatever the reply. These fail alike for
  every email and an operator can fix them while the retries run.
- the message itself (MAIL, RCPT, DATA): a 4xx reply is transient (greylisting, a full
  queue), a 5xx reply or recipients refused with 5xx are permanent: the same message
  would be refused again. Except 530 (authentication or STARTTLS required): that is
  about the session, a configuration an operator can fix, so it is transient too.

Error texts and receipts go into the log, so the recipient's address is blanked out of
whatever the server says.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from domain.outbox.application import Claim, SendResult

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_FROM = "CareLoop <no-reply@careloop.invalid>"
DELIVERY_HEADER = "X-CareLoop-Delivery"

_PORTS = {("smtp", False): 25, ("smtp", True): 587, ("smtps", False): 465}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_MAX_LOGGED = 200
# "Authentication required" / "Must issue a STARTTLS command first": about the session.
_SESSION_REFUSED = 530


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to reach the mail server, as `CARELOOP_SMTP_URL` says."""

    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """Parses `smtp://[user:pass@]host[:port][?starttls=true]` or
        `smtps://[user:pass@]host[:port]`; ValueError names what is wrong (never the
        password)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps"):
            raise ValueError(f"CARELOOP_SMTP_URL: scheme must be smtp or smtps, not {scheme!r}")
        if not parts.hostname:
            raise ValueError("CARELOOP_SMTP_URL: no host")
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(query) - {"starttls"})
        if unknown:
            raise ValueError(f"CARELOOP_SMTP_URL: unknown option(s) {', '.join(unknown)}")
        starttls = _flag(query.get("starttls", ["false"])[-1])
        if starttls and scheme == "smtps":
            raise ValueError("CARELOOP_SMTP_URL: smtps is TLS already; starttls is for smtp")
        port = parts.port  # raises ValueError for a port out of range
        return cls(
            host=parts.hostname,
            port=port or _PORTS[(scheme, starttls)],
            implicit_tls=scheme == "smtps",
            starttls=starttls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )


def _flag(value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError(f"CARELOOP_SMTP_URL: starttls must be true or false, not {value!r}")


class _SMTP(smtplib.SMTP):
    """Keeps the server's answer to DATA: the receipt of an accepted message (often with
    the server's queue id), which `send_message` does not return."""

    data_reply: tuple[int, bytes] | None = None

    def data(self, msg: Any) -> tuple[int, bytes]:
        reply = super().data(msg)
        self.data_reply = reply
        return reply


class _SMTPS(_SMTP, smtplib.SMTP_SSL):
    pass


class _Failed(Exception):
    def __init__(self, error: str, permanent: bool) -> None:
        super().__init__(error)
        self.error = error
        self.permanent = permanent


class SmtpSender:
    """Sends one email per attempt to the claim's addresses; never raises for a delivery
    problem, it reports it."""

    def __init__(
        self,
        url: str,
        sender: str = DEFAULT_FROM,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.server = SmtpServer.from_url(url)
        self.sender = sender
        self.envelope_from = parseaddr(sender)[1]
        if "@" not in self.envelope_from:
            raise ValueError(f"CARELOOP_EMAIL_FROM: no address in {sender!r}")
        self.domain = Address(addr_spec=self.envelope_from).domain
        self.timeout = timeout
        self.tls = tls

    def __repr__(self) -> str:
        return f"SmtpSender({self.server!r}, sender={self.sender!r})"

    def send(self, claim: Claim) -> SendResult:
        try:
            message = self.message(claim)
        except (KeyError, TypeError, ValueError) as e:
            # A payload that makes no email now never will.
            error = _logged(f"invalid email: {e!r}", claim.addresses)
            return SendResult(ok=False, error=error, permanent=True)
        try:
            reply = self._deliver(message, claim.addresses)
        except _Failed as failed:
            error = _logged(failed.error, claim.addresses)
            return SendResult(ok=False, error=error, permanent=failed.permanent)
        receipt = (str(message["Message-ID"]), _logged(reply, claim.addresses))
        return SendResult(ok=True, receipt=receipt)

    def message(self, claim: Claim) -> EmailMessage:
        """The email for one claim: a text part, and an HTML alternative when the payload
        has one. Its Message-ID is the delivery's, the same on every attempt, so a mail
        client or server can drop a repeat of an attempt whose outcome was lost."""
        payload: Mapping[str, Any] = claim.payload
        message = EmailMessage()
        message["Subject"] = str(payload["subject"])
        message["From"] = self.sender
        message["To"] = ", ".join(claim.addresses)
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = f"<{claim.delivery_id}@{self.domain}>"
        message[DELIVERY_HEADER] = str(claim.delivery_id)
        message.set_content(str(payload["text"]))
        html = payload.get("html")
        if html:
            message.add_alternative(str(html), subtype="html")
        return message

    def _deliver(self, message: EmailMessage, addresses: Sequence[str]) -> str:
        smtp = self._enter()
        try:
            try:
                smtp.send_message(message, self.envelope_from, list(addresses))
            except smtplib.SMTPRecipientsRefused as e:
                answers = sorted({(code, _text(reply)) for code, reply in e.recipients.values()})
                replies = "; ".join(f"{code} {reply}" for code, reply in answers)
                permanent = all(_permanent(code) for code, _ in answers)
                raise _Failed(f"recipient refused: {replies}", permanent) from None
            except smtplib.SMTPResponseException as e:
                # MAIL (SMTPSenderRefused) or DATA (SMTPDataError) answered with an error.
                raise _Failed(_reply_error(e), _permanent(e.smtp_code)) from None
            except smtplib.SMTPNotSupportedError as e:
                # The message needs an extension the server lacks (SMTPUTF8 for a
                # non-ASCII address): it will lack it next time too.
                raise _Failed(f"not supported: {e}", permanent=True) from None
            except (smtplib.SMTPException, OSError) as e:
                raise _Failed(_exception_error(e), permanent=False) from None
            reply = smtp.data_reply
            return f"{reply[0]} {_text(reply[1])}" if reply else "accepted"
        finally:
            # The message is accepted (or refused) by now: a failing QUIT changes nothing.
            with suppress(smtplib.SMTPException, OSError):
                smtp.quit()
            smtp.close()

    def _enter(self) -> _SMTP:
        """Connected, greeted, upgraded to TLS and logged in, as the URL asks; every
        failure on the way is transient."""
        server = self.server
        smtp: _SMTP | None = None
        try:
            if server.implicit_tls:
                smtp = _SMTPS(server.host, server.port, timeout=self.timeout, context=self._tls())
            else:
                smtp = _SMTP(server.host, server.port, timeout=self.timeout)
            smtp.ehlo_or_helo_if_needed()
            if server.starttls:
                smtp.starttls(context=self._tls())
                smtp.ehlo()
            if server.username is not None:
                smtp.login(server.username, server.password or "")
            return smtp
        except smtplib.SMTPResponseException as e:
            _close(smtp)
            raise _Failed(_reply_error(e), permanent=False) from None
        except (smtplib.SMTPException, OSError) as e:
            _close(smtp)
            raise _Failed(_exception_error(e), permanent=False) from None

    def _tls(self) -> ssl.SSLContext:
        return self.tls or ssl.create_default_context()


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        smtp.close()


def _permanent(code: int) -> bool:
    """Whether a reply to the message's own commands (MAIL, RCPT, DATA) would be the same
    on a retry."""
    return code >= 500 and code != _SESSION_REFUSED


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())


def _reply_error(e: smtplib.SMTPResponseException) -> str:
    return f"SMTP {e.smtp_code}: {_text(e.smtp_error)}"


def _exception_error(e: BaseException) -> str:
    detail = str(e)
    return f"{type(e).__name__}: {detail}" if detail else type(e).__name__


def _logged(text: str, addresses: Sequence[str]) -> str:
    """The text as it may be stored in the log: without the recipient's address (servers
    often echo it; no personal data is copied into the log), then cut short."""
    for address in addresses:
        if address:
            text = re.sub(re.escape(address), "<recipient>", text, flags=re.IGNORECASE)
    return text[:_MAX_LOGGED]
