"""Progress in the patient's timezone, with weeks starting on Monday: this week's sessions
against the plan's frequency (the first week included), the completion rate, the streak
of weeks that met the frequency, and the pain trend. Pure: the completions, the zone and
`now` come in.

The zones are far from UTC, so that a patient's local week and the UTC week disagree for
hours at each end: Pacific/Kiritimati (UTC+14, no DST), America/St_Johns (UTC-3:30, and
-2:30 in summer) and Australia/Lord_Howe (UTC+10:30, with a 30-minute DST to +11).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.plans.progress import Done, progress, week_of

KIRITIMATI = "Pacific/Kiritimati"
ST_JOHNS = "America/St_Johns"
LORD_HOWE = "Australia/Lord_Howe"


def local(zone: str, y: int, m: int, d: int, h: int = 12, mi: int = 0, fold: int = 0) -> datetime:
    """A local wall-clock time, as the UTC instant the app records."""
    return datetime(y, m, d, h, mi, tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)


def done(*times: datetime) -> list[Done]:
    return [Done(at) for at in times]


# -- which week a session counts in -------------------------------------------------------


def test_a_late_sunday_session_in_st_johns_counts_in_that_week_though_monday_in_utc() -> None:
    # The night DST starts: Sunday 8 March 2026, 23:30 NDT (UTC-2:30) is Monday 02:00 UTC.
    sunday_night = local(ST_JOHNS, 2026, 3, 8, 23, 30)
    assert sunday_night == datetime(2026, 3, 9, 2, 0, tzinfo=UTC)
    assert week_of(sunday_night, ZoneInfo(ST_JOHNS)) == date(2026, 3, 2)
    assert week_of(sunday_night, ZoneInfo("UTC")) == date(2026, 3, 9)

    monday = local(ST_JOHNS, 2026, 3, 9, 10)
    before = progress(done(sunday_night), ST_JOHNS, 2, local(ST_JOHNS, 2026, 3, 2, 9), monday)
    assert before.completed_this_week == 0
    on_sunday = progress(
        done(sunday_night), ST_JOHNS, 2, local(ST_JOHNS, 2026, 3, 2, 9), sunday_night
    )
    assert on_sunday.completed_this_week == 1


def test_an_early_monday_session_in_kiritimati_counts_in_the_new_week_though_sunday_in_utc() -> (
    None
):
    # Monday 9 March 2026, 08:00 at UTC+14 is Sunday 18:00 UTC.
    monday_morning = local(KIRITIMATI, 2026, 3, 9, 8)
    assert monday_morning == datetime(2026, 3, 8, 18, 0, tzinfo=UTC)
    assert week_of(monday_morning, ZoneInfo(KIRITIMATI)) == date(2026, 3, 9)
    assert week_of(monday_morning, ZoneInfo("UTC")) == date(2026, 3, 2)

    result = progress(
        done(monday_morning),
        KIRITIMATI,
        3,
        local(KIRITIMATI, 2026, 3, 2, 9),
        local(KIRITIMATI, 2026, 3, 9, 20),
    )
    assert result.completed_this_week == 1


def test_a_session_late_on_sunday_in_kiritimati_stays_in_that_week() -> None:
    sunday_night = local(KIRITIMATI, 2026, 3, 8, 23, 59)
    assert week_of(sunday_night, ZoneInfo(KIRITIMATI)) == date(2026, 3, 2)


@pytest.mark.parametrize("zone", [KIRITIMATI, ST_JOHNS, LORD_HOWE])
def test_weeks_start_at_midnight_between_sunday_and_monday_local_time(zone: str) -> None:
    last_minute = local(zone, 2026, 3, 15, 23, 59)
    first_minute = local(zone, 2026, 3, 16, 0, 0)
    assert week_of(last_minute, ZoneInfo(zone)) == date(2026, 3, 9)
    assert week_of(first_minute, ZoneInfo(zone)) == date(2026, 3, 16)
    assert date(2026, 3, 16).weekday() == 0  # a Monday


def test_the_night_st_johns_falls_back_a_late_sunday_session_stays_in_that_week() -> None:
    # Sunday 1 November 2026: 01:30 happens twice; 23:30 NST (UTC-3:30) is Monday 03:00 UTC.
    twice_first = local(ST_JOHNS, 2026, 11, 1, 1, 30, fold=0)
    twice_second = local(ST_JOHNS, 2026, 11, 1, 1, 30, fold=1)
    late = local(ST_JOHNS, 2026, 11, 1, 23, 30)
    assert twice_second - twice_first == timedelta(hours=1)
    assert late == datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
    zone = ZoneInfo(ST_JOHNS)
    assert {week_of(t, zone) for t in (twice_first, twice_second, late)} == {date(2026, 10, 26)}


def test_lord_howes_half_hour_dst_change_moves_no_session_into_another_week() -> None:
    # Sunday 5 April 2026, 02:00 LHDT (+11) becomes 01:30 LHST (+10:30): 01:45 happens twice.
    zone = ZoneInfo(LORD_HOWE)
    first = local(LORD_HOWE, 2026, 4, 5, 1, 45, fold=0)
    second = local(LORD_HOWE, 2026, 4, 5, 1, 45, fold=1)
    assert second - first == timedelta(minutes=30)
    monday = local(LORD_HOWE, 2026, 4, 6, 0, 15)
    assert monday == datetime(2026, 4, 5, 13, 45, tzinfo=UTC)  # Sunday in UTC
    assert [week_of(t, zone) for t in (first, second, monday)] == [
        date(2026, 3, 30),
        date(2026, 3, 30),
        date(2026, 4, 6),
    ]
    # And the spring change (4 October: 02:00 LHST becomes 02:30 LHDT).
    assert week_of(local(LORD_HOWE, 2026, 10, 4, 23, 45), zone) == date(2026, 9, 28)
    assert week_of(local(LORD_HOWE, 2026, 10, 5, 0, 5), zone) == date(2026, 10, 5)


# -- this week against the frequency ------------------------------------------------------


@pytest.mark.parametrize("zone", [KIRITIMATI, ST_JOHNS])
def test_the_first_week_expects_the_full_frequency_even_when_it_starts_late(zone: str) -> None:
    started = local(zone, 2026, 3, 5, 18)  # a Thursday evening
    result = progress(done(local(zone, 2026, 3, 6)), zone, 3, started, local(zone, 2026, 3, 7))
    assert (result.completed_this_week, result.expected_this_week) == (1, 3)


def test_an_enrollment_not_started_yet_expects_its_frequency_and_has_no_rate() -> None:
    result = progress([], ST_JOHNS, 3, None, local(ST_JOHNS, 2026, 3, 4))
    assert (result.completed_this_week, result.expected_this_week) == (0, 3)
    assert (result.completion_rate, result.current_streak_weeks) == (None, 0)


# -- the streak ---------------------------------------------------------------------------


def two_weeks_met_across_the_dst_change() -> list[Done]:
    """Frequency 2 in St John's: two sessions in the week of 2 March (the second one late
    on the Sunday DST starts, Monday in UTC) and two in the week of 9 March."""
    return done(
        local(ST_JOHNS, 2026, 3, 3, 8),
        local(ST_JOHNS, 2026, 3, 8, 23, 30),
        local(ST_JOHNS, 2026, 3, 10, 18),
        local(ST_JOHNS, 2026, 3, 15, 23, 50),
    )


STARTED = local(ST_JOHNS, 2026, 3, 2, 9)


def test_two_weeks_that_met_the_frequency_are_a_streak_of_two() -> None:
    result = progress(
        two_weeks_met_across_the_dst_change(), ST_JOHNS, 2, STARTED, local(ST_JOHNS, 2026, 3, 17)
    )
    assert result.current_streak_weeks == 2
    assert (result.completed_this_week, result.expected_this_week) == (0, 2)


def test_the_week_in_progress_does_not_break_the_streak_until_it_meets_the_frequency() -> None:
    history = [*two_weeks_met_across_the_dst_change(), Done(local(ST_JOHNS, 2026, 3, 16, 0, 5))]
    under_way = progress(history, ST_JOHNS, 2, STARTED, local(ST_JOHNS, 2026, 3, 18))
    assert (under_way.completed_this_week, under_way.current_streak_weeks) == (1, 2)
    met = [*history, Done(local(ST_JOHNS, 2026, 3, 18, 7))]
    assert (
        progress(met, ST_JOHNS, 2, STARTED, local(ST_JOHNS, 2026, 3, 18, 8)).current_streak_weeks
        == 3
    )


def test_the_streak_counted_in_utc_weeks_would_differ() -> None:
    """The late Sunday session is Monday in UTC: counted in UTC weeks, the first week falls
    short and the streak is one. In the patient's zone it is two."""
    history = two_weeks_met_across_the_dst_change()
    now = local(ST_JOHNS, 2026, 3, 17)
    assert progress(history, ST_JOHNS, 2, STARTED, now).current_streak_weeks == 2
    assert progress(history, "UTC", 2, STARTED, now).current_streak_weeks == 1


def test_a_past_week_below_the_frequency_breaks_the_streak() -> None:
    history = done(
        local(KIRITIMATI, 2026, 3, 2, 8),
        local(KIRITIMATI, 2026, 3, 3, 8),
        local(KIRITIMATI, 2026, 3, 10, 8),  # one of two: breaks it
        local(KIRITIMATI, 2026, 3, 16, 0, 30),
        local(KIRITIMATI, 2026, 3, 22, 23, 30),
    )
    result = progress(
        history, KIRITIMATI, 2, local(KIRITIMATI, 2026, 3, 2), local(KIRITIMATI, 2026, 3, 24)
    )
    assert result.current_streak_weeks == 1


def test_a_week_with_no_session_at_all_ends_the_streak() -> None:
    history = [*two_weeks_met_across_the_dst_change()]
    result = progress(history, ST_JOHNS, 2, STARTED, local(ST_JOHNS, 2026, 3, 24))
    assert result.current_streak_weeks == 0


def test_more_sessions_than_the_frequency_count_as_one_week_met() -> None:
    history = done(*(local(ST_JOHNS, 2026, 3, 3, h) for h in (8, 12, 16, 20)))
    result = progress(history, ST_JOHNS, 2, STARTED, local(ST_JOHNS, 2026, 3, 10))
    assert result.current_streak_weeks == 1


# -- the completion rate ------------------------------------------------------------------


def test_the_completion_rate_counts_the_weeks_so_far_including_the_current_one() -> None:
    # Frequency 3; started in the week of 2 March; now in the week of 9 March: 6 expected.
    history = done(*(local(KIRITIMATI, 2026, 3, d) for d in (3, 5, 10)))
    result = progress(
        history, KIRITIMATI, 3, local(KIRITIMATI, 2026, 3, 4), local(KIRITIMATI, 2026, 3, 11)
    )
    assert result.completion_rate == 0.5
    assert result.completed_total == 3


def test_the_completion_rate_is_rounded_to_four_places() -> None:
    history = done(local(ST_JOHNS, 2026, 3, 3))
    result = progress(history, ST_JOHNS, 3, STARTED, local(ST_JOHNS, 2026, 3, 4))
    assert result.completion_rate == 0.3333


def test_the_completion_rate_is_capped_at_one() -> None:
    history = done(*(local(ST_JOHNS, 2026, 3, 3, h) for h in (8, 10, 12, 14, 16)))
    result = progress(history, ST_JOHNS, 2, STARTED, local(ST_JOHNS, 2026, 3, 4))
    assert result.completion_rate == 1.0


def test_the_completion_rate_across_the_dst_week_counts_whole_local_weeks() -> None:
    # Started Monday 2 March; now Monday 9 March 00:30 local, minutes into the second week.
    now = local(ST_JOHNS, 2026, 3, 9, 0, 30)
    result = progress(done(local(ST_JOHNS, 2026, 3, 8, 23, 30)), ST_JOHNS, 1, STARTED, now)
    assert result.completion_rate == 0.5
    assert result.completed_this_week == 0


# -- the pain trend -----------------------------------------------------------------------


def with_pain(*scores: int | None, before: int | None = None) -> list[Done]:
    return [
        Done(local(ST_JOHNS, 2026, 3, 2 + i), pain_before=before, pain_after=score)
        for i, score in enumerate(scores)
    ]


@pytest.mark.parametrize(
    ("scores", "direction"),
    [
        ((7, 6, 5, 3, 2), "improving"),
        ((2, 3, 6, 7), "worsening"),
        ((4, 5, 4, 5), "stable"),
        ((5, 5, 4, 4), "improving"),  # a drop of exactly one point is a trend
        ((5, 5, 5, 6), "stable"),  # the mean of the last two rises by half a point
        ((8, 8, 8, 2, 2, 2, 2, 2, 2), "improving"),
    ],
)
def test_the_pain_trend_compares_the_first_and_last_sessions(
    scores: tuple[int, ...], direction: str
) -> None:
    result = progress(with_pain(*scores), ST_JOHNS, 3, STARTED, local(ST_JOHNS, 2026, 3, 20))
    assert result.pain_trend.direction == direction
    assert [p.after for p in result.pain_trend.points] == list(scores)


def test_one_pain_score_is_no_trend_yet() -> None:
    result = progress(with_pain(6), ST_JOHNS, 3, STARTED, local(ST_JOHNS, 2026, 3, 20))
    assert result.pain_trend.direction is None


def test_the_pain_before_stands_in_when_there_is_no_pain_after() -> None:
    history = [
        Done(local(ST_JOHNS, 2026, 3, 3), pain_before=8),
        Done(local(ST_JOHNS, 2026, 3, 4), pain_before=9, pain_after=3),
    ]
    result = progress(history, ST_JOHNS, 3, STARTED, local(ST_JOHNS, 2026, 3, 20))
    assert result.pain_trend.direction == "improving"


def test_sessions_without_any_pain_score_are_left_out_of_the_trend() -> None:
    history = [*with_pain(2, 2), Done(local(ST_JOHNS, 2026, 3, 10))]
    result = progress(history, ST_JOHNS, 3, STARTED, local(ST_JOHNS, 2026, 3, 20))
    assert len(result.pain_trend.points) == 2
    assert result.pain_trend.direction == "stable"


def test_the_pain_trend_reads_the_sessions_in_time_order() -> None:
    history = list(reversed(with_pain(7, 6, 3, 2)))
    result = progress(history, ST_JOHNS, 3, STARTED, local(ST_JOHNS, 2026, 3, 20))
    assert result.pain_trend.direction == "improving"
    assert [p.after for p in result.pain_trend.points] == [7, 6, 3, 2]
