"""An enrollment's progress is computed as of now while it runs, and as of its end once
it ended: a finished plan viewed weeks later keeps its figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.routers.enrollments import _as_of

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)
LAST = NOW - timedelta(weeks=10)


def row(status: str, **extra: object) -> dict[str, object]:
    return {"status": status, "completions": [{"completedAt": LAST.isoformat()}], **extra}


def test_a_running_enrollment_is_measured_as_of_now() -> None:
    assert _as_of(row("active"), NOW) == NOW


def test_a_completed_enrollment_is_measured_as_of_its_last_session() -> None:
    assert _as_of(row("completed"), NOW) == LAST


def test_an_expired_enrollment_is_measured_as_of_its_end_date() -> None:
    ends = NOW - timedelta(weeks=2)
    assert _as_of(row("expired", endsAt=ends.isoformat()), NOW) == ends
