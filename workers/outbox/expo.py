"""Expo's push service behind the domain's `Sender` protocol, with `exponent-server-sdk`.

The SDK reports problems in three ways, and each becomes a `PushResult` per token:

- a ticket per message, `{"status": "error", "details": {"error": ...}}`: the SDK's
  `validate_response()` raises `DeviceNotRegisteredError`, `MessageTooBigError`,
  `MessageRateExceededError` or a plain `PushTicketError`;
- a whole request that failed: `PushServerError` (an `errors` body, a body without
  `data`, a mismatched ticket count) or `requests.HTTPError` (a non-JSON 4xx/5xx);
- no answer at all: `requests.ConnectionError`, `requests.Timeout`.

Which of these are worth retrying is decided here; how often and when is the
Delivery aggregate's backoff (domain/outbox/delivery.py).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from exponent_server_sdk import (
    DeviceNotRegisteredError,
    MessageRateExceededError,
    MessageTooBigError,
    PushClient,
    PushMessage,
    PushServerError,
    PushTicketError,
)

from domain.notifications.application import DEVICE_NOT_REGISTERED, PushResult

DEFAULT_TIMEOUT_SECONDS = 10.0

# A whole request answered with one of these will fail the same way next time.
_PERMANENT_HTTP = frozenset({400, 413})


class _Message(PushMessage):  # type: ignore[misc]
    """A PushMessage that also accepts the newer `ExpoPushToken[...]` spelling.

    The SDK's own check only knows `ExponentPushToken`, and would refuse the other with a
    ValueError before sending anything; both are valid recipients for Expo's service.
    """

    def get_payload(self) -> dict[str, Any]:
        legacy = "ExponentPushToken" + self.to[len("ExpoPushToken") :]
        checked = self._replace(to=legacy if self.to.startswith("ExpoPushToken") else self.to)
        payload: dict[str, Any] = PushMessage.get_payload(checked)
        payload["to"] = self.to
        return payload


def split_base_url(base_url: str) -> tuple[str, str]:
    """(host, api path) for the SDK from one URL: `https://exp.host` means the default
    API path `/--/api/v2`; `http://127.0.0.1:8080/--/api/v2` names it explicitly."""
    parts = urlsplit(base_url)
    host = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/") or PushClient.DEFAULT_BASE_API_URL
    return host, path


class ExpoSender:
    """Sends one notification to every token of its recipient in one request."""

    def __init__(
        self,
        base_url: str,
        access_token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.host, self.api_url = split_base_url(base_url)
        self.access_token = access_token
        self.timeout = timeout
        # requests.Session is not documented as thread-safe; Dramatiq runs actors in
        # several threads, so each gets its own client and connection pool.
        self._local = threading.local()

    def _client(self) -> PushClient:
        client: PushClient | None = getattr(self._local, "client", None)
        if client is None:
            session = requests.Session()
            session.headers.update(
                {
                    "accept": "application/json",
                    "accept-encoding": "gzip, deflate",
                    "content-type": "application/json",
                }
            )
            if self.access_token:
                session.headers["authorization"] = f"Bearer {self.access_token}"
            client = PushClient(
                host=self.host, api_url=self.api_url, session=session, timeout=self.timeout
            )
            self._local.client = client
        return client

    def send(
        self, tokens: Sequence[str], title: str, body: str, data: Mapping[str, Any]
    ) -> list[PushResult]:
        messages = [
            _Message(to=token, title=title, body=body, data=dict(data), sound="default")
            for token in tokens
        ]
        try:
            tickets = self._client().publish_multiple(messages)
        except PushServerError as e:
            status = getattr(e.response, "status_code", None)
            return _all_failed(tokens, _server_error(e, status), status in _PERMANENT_HTTP)
        except requests.HTTPError as e:
            status = getattr(e.response, "status_code", None)
            return _all_failed(tokens, f"HTTP {status}", status in _PERMANENT_HTTP)
        except requests.RequestException as e:
            return _all_failed(tokens, type(e).__name__, permanent=False)
        return [_result(ticket) for ticket in tickets]


def _result(ticket: Any) -> PushResult:
    token = str(ticket.push_message.to)
    try:
        ticket.validate_response()
    except DeviceNotRegisteredError:
        return PushResult(token, ok=False, error=DEVICE_NOT_REGISTERED, permanent=True)
    except MessageTooBigError:
        return PushResult(token, ok=False, error="MessageTooBig", permanent=True)
    except MessageRateExceededError:
        return PushResult(token, ok=False, error="MessageRateExceeded", permanent=False)
    except PushTicketError as e:
        code = (ticket.details or {}).get("error") or "PushTicketError"
        # InvalidCredentials and unknown codes: retry, an operator may fix it meanwhile.
        return PushResult(token, ok=False, error=f"{code}: {e.message}"[:200], permanent=False)
    return PushResult(token, ok=True, ticket_id=str(ticket.id or "") or None)


def _server_error(e: PushServerError, status: int | None) -> str:
    codes = [str(err.get("code", "")) for err in (e.errors or []) if isinstance(err, dict)]
    detail = ", ".join(c for c in codes if c) or e.message
    return f"HTTP {status}: {detail}"[:200] if status else str(detail)[:200]


def _all_failed(tokens: Sequence[str], error: str, permanent: bool) -> list[PushResult]:
    return [PushResult(token, ok=False, error=error, permanent=permanent) for token in tokens]
