"""An enrollment's progress, computed in the patient's timezone with weeks starting on
Monday: this week's sessions against the plan's frequency, the completion rate, the
streak of weeks that met the frequency, and the pain trend.

Pure: completions, the time zone and `now` come in. Weeks are calendar weeks of local
dates, so a DST change (a 23- or 25-hour day) never moves a session into another week.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import fmean
from zoneinfo import ZoneInfo

# A change of at least this much in mean pain (0-10) between the first and the last
# sessions is a trend; less is stable.
TREND_STEP = 1.0
TREND_WINDOW = 3


@dataclass(frozen=True)
class Done:
    """One completed session, as progress needs it."""

    at: datetime
    pain_before: int | None = None
    pain_after: int | None = None


@dataclass(frozen=True)
class PainPoint:
    at: datetime
    before: int | None
    after: int | None


@dataclass(frozen=True)
class PainTrend:
    direction: str | None  # improving, stable, worsening; None with fewer than 2 points
    points: tuple[PainPoint, ...]


@dataclass(frozen=True)
class Progress:
    completed_this_week: int
    expected_this_week: int
    completed_total: int
    completion_rate: float | None
    current_streak_weeks: int
    pain_trend: PainTrend


def week_of(at: datetime, zone: ZoneInfo) -> date:
    """The Monday of the local week `at` falls in."""
    local = at.astimezone(zone).date()
    return local - timedelta(days=local.weekday())


def _trend(done: Sequence[Done]) -> PainTrend:
    points = tuple(
        PainPoint(d.at, d.pain_before, d.pain_after)
        for d in sorted(done, key=lambda d: d.at)
        if d.pain_before is not None or d.pain_after is not None
    )
    scores = [float(p.after if p.after is not None else p.before) for p in points]  # type: ignore[arg-type]
    if len(scores) < 2:
        return PainTrend(None, points)
    window = min(TREND_WINDOW, len(scores) // 2 or 1)
    change = fmean(scores[-window:]) - fmean(scores[:window])
    if change <= -TREND_STEP:
        direction = "improving"
    elif change >= TREND_STEP:
        direction = "worsening"
    else:
        direction = "stable"
    return PainTrend(direction, points)


def progress(
    done: Sequence[Done],
    timezone: str,
    frequency_per_week: int,
    started_at: datetime | None,
    now: datetime,
) -> Progress:
    zone = ZoneInfo(timezone)
    this_week = week_of(now, zone)
    per_week = Counter(week_of(d.at, zone) for d in done)
    trend = _trend(done)
    if started_at is None:
        return Progress(0, frequency_per_week, len(done), None, 0, trend)
    first_week = week_of(started_at, zone)
    weeks = max(1, (this_week - first_week).days // 7 + 1)
    rate = min(1.0, len(done) / (frequency_per_week * weeks))

    streak = 0
    week = this_week
    if per_week[week] < frequency_per_week:
        # The week under way has not met the frequency yet: it does not break the streak.
        week -= timedelta(weeks=1)
    while week >= first_week and per_week[week] >= frequency_per_week:
        streak += 1
        week -= timedelta(weeks=1)
    return Progress(
        completed_this_week=per_week[this_week],
        expected_this_week=frequency_per_week,
        completed_total=len(done),
        completion_rate=round(rate, 4),
        current_streak_weeks=streak,
        pain_trend=trend,
    )
