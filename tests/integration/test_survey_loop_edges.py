"""Edges of the survey loop found in review, on the domain layer (SurveyClinic)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.outbox.delivery import Delivery
from domain.surveys.feedback import Feedback, FeedbackStatus, delivery_id
from domain.surveys.survey import SurveyInstance
from tests.support.surveys import SurveyClinic


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[SurveyClinic]:
    clinic = SurveyClinic(tmp_path / "data")
    yield clinic
    clinic.close_runtime()


def test_closing_through_an_expired_check_also_closes_the_newer_check_waiting(
    clinic: SurveyClinic,
) -> None:
    survey, _ = clinic.negative_survey()
    clinic.log_contact(survey)
    first = uuid.UUID(clinic.send_check(survey)["feedbackId"])
    clinic.advance(3.01)
    clinic.fire_due()
    clinic.advance(27.1)
    clinic.fire_due()
    clinic.react()  # the first check expired: the survey needs action again
    second = uuid.UUID(clinic.send_check(survey)["feedbackId"])

    clinic.close(first)

    assert clinic.rt.log.find(second).status is FeedbackStatus.CLOSED
    assert clinic.rt.log.find(survey).open_check is None
    clinic.advance(3.01)
    assert clinic.fire_due() == 0  # no reminder about a closed loop
    assert clinic.rt.log.find(delivery_id(second, "reminder:email")) is None


def test_a_loop_closed_before_the_alert_went_out_alerts_nobody(clinic: SurveyClinic) -> None:
    survey, _ = clinic.negative_survey()
    clinic.log_contact(survey)
    check = uuid.UUID(clinic.send_check(survey)["feedbackId"])
    clinic.close(check)

    clinic.react()

    alerts = [
        e
        for e in clinic.events()
        if isinstance(e, Delivery.Queued)
        and e.payload.get("data", {}).get("type") == "NEGATIVE_SURVEY"
    ]
    assert alerts == []
    assert isinstance(clinic.rt.log.find(survey), SurveyInstance)
    assert isinstance(clinic.rt.log.find(check), Feedback)


def test_a_check_sent_while_the_follow_up_lags_an_expiry_is_a_new_one_with_a_live_link(
    clinic: SurveyClinic,
) -> None:
    survey, _ = clinic.negative_survey()
    clinic.log_contact(survey)
    first = clinic.send_check(survey)
    clinic.advance(3.01)
    clinic.fire_due()  # the reminder falls due
    clinic.advance(27.1)
    clinic.fire_due()  # the check expires; the follow-up has not run yet

    second = clinic.send_check(survey)

    assert second["created"] is True
    assert second["feedbackId"] != first["feedbackId"]
    assert clinic.rt.log.find(survey).open_check == uuid.UUID(second["feedbackId"])


def test_no_reminder_goes_out_once_the_link_has_expired(clinic: SurveyClinic) -> None:
    survey, _ = clinic.negative_survey()
    clinic.log_contact(survey)
    check = uuid.UUID(clinic.send_check(survey)["feedbackId"])
    clinic.advance(31)

    outcome = clinic.run(clinic.admin, lambda u: clinic.rt.surveys.remind(u, check))

    assert outcome == {"outcome": "not_open", "notified": []}
    assert clinic.rt.log.find(delivery_id(check, "reminder:email")) is None
