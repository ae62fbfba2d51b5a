"""Uvicorn as CareLoop runs it: h11 with a bounded request head, and problem+json for the
requests that never reach the app (a head over the limit is 431, a broken one 400).

Uvicorn's h11 protocol answers both with a plain-text 400 and drops h11's own hint that a
head over `h11_max_incomplete_event_size` is a 431; this subclass keeps the hint and
writes the same problem document the app writes (docs/decisions/0015)."""

from __future__ import annotations

import json
import sys
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.errors import PROBLEM, problem_document


class ProblemH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        # Uvicorn calls this from inside `except h11.RemoteProtocolError`, so the error
        # it caught (and its status hint) is the one being handled right now.
        error = sys.exc_info()[1]
        if isinstance(error, h11.RemoteProtocolError) and error.error_status_hint == 431:
            status = 431
            limit = self.config.h11_max_incomplete_event_size
            detail = f"The request line and headers are larger than {limit} bytes."
            document = problem_document(status, detail, "request-header-fields-too-large")
        else:
            status = 400
            document = problem_document(status, "Invalid HTTP request.", "invalid-http")
        body = json.dumps(document).encode()
        headers = [
            (b"content-type", PROBLEM.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=status, headers=headers),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()


def run(app: Any, host: str, port: int, max_header_bytes: int) -> None:
    uvicorn.run(
        app,
        host=host,
        port=port,
        http=ProblemH11Protocol,
        h11_max_incomplete_event_size=max_header_bytes,
    )
