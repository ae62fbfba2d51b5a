"""A local HTTP server that speaks Expo's push API, for testing the real SDK end to end.

`POST /--/api/v2/push/send` takes a JSON list of messages and answers one ticket per
message: `{"status": "ok", "id": ...}`, or the error ticket Expo sends for a token listed
in `device_errors` (`{"status": "error", "message": ..., "details": {"error": code}}`).
Whole-request failures are scripted with `fail_next(status, body)`: the next requests
answer that status and body (a dict is sent as JSON, a str as text/plain), as Expo does
for an outage (500) or throttling (429 with an `errors` list).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SEND_PATH = "/--/api/v2/push/send"
RECEIPTS_PATH = "/--/api/v2/push/getReceipts"

ERROR_MESSAGES = {
    "DeviceNotRegistered": '"{token}" is not a registered push notification recipient',
    "MessageRateExceeded": "Too many messages sent to {token} too quickly",
    "MessageTooBig": "The message was too big",
    "InvalidCredentials": "Unable to retrieve the FCM server key for the recipient's app",
}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeExpo:
    device_errors: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    _failures: deque[tuple[int, Any]] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _tickets: int = 0
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, status: int, body: Any = "Internal Server Error", times: int = 1) -> None:
        with self._lock:
            self._failures.extend([(status, body)] * times)

    def sent_messages(self) -> list[dict[str, Any]]:
        """Every message of every send request, in order."""
        with self._lock:
            return [m for r in self.received if r.path == SEND_PATH for m in r.body]

    def answer(self, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        with self._lock:
            self.received.append(Received(path, headers, body))
            if self._failures:
                return self._failures.popleft()
            if path == RECEIPTS_PATH:
                return 200, {"data": {i: {"status": "ok"} for i in body.get("ids", [])}}
            if path != SEND_PATH:
                return 404, {"errors": [{"code": "NOT_FOUND", "message": path}]}
            tickets = []
            for message in body:
                token = message["to"]
                code = self.device_errors.get(token)
                if code is None:
                    self._tickets += 1
                    tickets.append({"status": "ok", "id": f"ticket-{self._tickets:04d}"})
                else:
                    tickets.append(
                        {
                            "status": "error",
                            "message": ERROR_MESSAGES.get(code, code).format(token=token),
                            "details": {"error": code},
                        }
                    )
            return 200, {"data": tickets}


def _handler(fake: FakeExpo) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                body = raw.decode(errors="replace")
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = fake.answer(self.path.split("?")[0], headers, body)
            if isinstance(answer, str):
                payload, kind = answer.encode(), "text/plain"
            else:
                payload, kind = json.dumps(answer).encode(), "application/json"
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    return Handler


@contextmanager
def fake_expo() -> Iterator[FakeExpo]:
    """A FakeExpo serving on 127.0.0.1 at a free port, in a background thread."""
    fake = FakeExpo()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.port = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="fake-expo", daemon=True
    )
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
