"""The survey read models: templates, surveys with their follow-up, satisfaction checks,
and the public forms of one-time links, with the sorted tables their lists and stats
range over (see evolve.py for the keys)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from domain.surveys.feedback import Feedback, FeedbackStatus
from domain.surveys.link import OneTimeLink
from domain.surveys.survey import SurveyInstance
from domain.surveys.template import SurveyTemplate
from projections.platform.projection import Batch, Projection
from projections.platform.store import Doc
from projections.surveys.evolve import (
    KEY,
    check_form,
    check_settled,
    evolve_feedback,
    evolve_link,
    evolve_survey,
    evolve_template,
    listing_rows,
    needs_action_row,
    stats_row,
    survey_card,
    survey_form,
    with_card,
    with_follow_up,
)

TEMPLATES = "survey_template"
SURVEYS = "survey"  # by id; sorted: the tenant's surveys, newest first
LISTING = "survey_listing"  # sorted: the filtered listings, newest first
NEEDS_ACTION = "survey_needs_action"  # sorted: oldest answer first, only those needing it
ANSWERED = "survey_answered"  # sorted: answered surveys' stats figures, by answer time
FEEDBACK = "survey_feedback"
LINKS = "survey_link"

SURVEY_EVENTS = (
    SurveyInstance.Sent,
    SurveyInstance.Answered,
    SurveyInstance.PatientContacted,
    SurveyInstance.SatisfactionFeedbackSent,
    SurveyInstance.SatisfactionAnswered,
    SurveyInstance.SatisfactionExpired,
    SurveyInstance.Closed,
    SurveyInstance.Escalated,
)
FEEDBACK_EVENTS = (
    Feedback.Sent,
    Feedback.ReminderDue,
    Feedback.Expired,
    Feedback.Answered,
    Feedback.Closed,
    Feedback.Escalated,
)
TEMPLATE_EVENTS = (SurveyTemplate.Created, SurveyTemplate.Revised)
LINK_EVENTS = (OneTimeLink.Issued, OneTimeLink.Used)


class SurveyProjection(Projection):
    name = "surveys"
    tables = (TEMPLATES, SURVEYS, LISTING, NEEDS_ACTION, ANSWERED, FEEDBACK, LINKS)
    sorted_by: ClassVar[Mapping[str, str]] = {
        SURVEYS: KEY,
        LISTING: KEY,
        NEEDS_ACTION: KEY,
        ANSWERED: KEY,
    }
    handles = (*TEMPLATE_EVENTS, *LINK_EVENTS, *SURVEY_EVENTS, *FEEDBACK_EVENTS)

    def prepare(self, batch: Batch, events: list[Any]) -> None:
        def ids(*types: type[Any]) -> list[str]:
            return [str(e.originator_id) for e in events if isinstance(e, types)]

        batch.assume_absent(TEMPLATES, ids(SurveyTemplate.Created))
        batch.assume_absent(SURVEYS, ids(SurveyInstance.Sent))
        batch.assume_absent(FEEDBACK, ids(Feedback.Sent))
        batch.assume_absent(LINKS, ids(OneTimeLink.Issued))
        batch.prefetch(TEMPLATES, ids(SurveyTemplate.Revised))
        batch.prefetch(FEEDBACK, ids(*FEEDBACK_EVENTS))
        batch.prefetch(
            LINKS,
            [
                *ids(OneTimeLink.Used),
                *(str(e.link_id) for e in events if isinstance(e, SurveyInstance.Sent)),
                *(str(e.link_id) for e in events if isinstance(e, Feedback.Sent)),
            ],
        )
        surveys = set(ids(*SURVEY_EVENTS))
        for event in events:
            if isinstance(event, Feedback.Sent):
                surveys.add(str(event.related_survey_id))
            elif isinstance(event, FEEDBACK_EVENTS):
                row = batch.get(FEEDBACK, str(event.originator_id))
                if row is not None:
                    surveys.add(row["relatedSurveyId"])
        batch.prefetch(SURVEYS, surveys)
        # A logged contact changes the card on each of the survey's checks.
        cards = [
            entry["id"]
            for key in set(ids(SurveyInstance.PatientContacted))
            for entry in (batch.get(SURVEYS, key) or {}).get("followUpFeedbacks", [])
        ]
        batch.prefetch(FEEDBACK, cards)

    def apply(self, batch: Batch, event: Any, position: int) -> None:
        key = str(event.originator_id)
        if isinstance(event, TEMPLATE_EVENTS):
            template = evolve_template(batch.get(TEMPLATES, key), event)
            if template is not None:
                batch.put(TEMPLATES, key, template["tenantId"], template)
        elif isinstance(event, LINK_EVENTS):
            self._put_link(batch, evolve_link(batch.get(LINKS, key), event))
        elif isinstance(event, SURVEY_EVENTS):
            before = batch.get(SURVEYS, key)
            after = evolve_survey(before, event)
            if after is not None:
                self._save_survey(batch, before, after)
            if isinstance(event, SurveyInstance.Sent):
                link = batch.get(LINKS, str(event.link_id))
                if link is not None:
                    self._put_link(batch, survey_form(link, event))
        else:
            self._apply_feedback(batch, key, event)

    def _apply_feedback(self, batch: Batch, key: str, event: Any) -> None:
        before = batch.get(FEEDBACK, key)
        survey_id = (
            str(event.related_survey_id)
            if isinstance(event, Feedback.Sent)
            else (before or {}).get("relatedSurveyId")
        )
        survey = batch.get(SURVEYS, survey_id) if survey_id else None
        feedback = evolve_feedback(before, event, survey)
        if feedback is None:
            return
        batch.put(FEEDBACK, key, feedback["tenantId"], feedback)
        if isinstance(event, Feedback.Sent):
            link = batch.get(LINKS, feedback["linkId"])
            if link is not None:
                self._put_link(batch, check_form(link, survey))
        elif (before or {}).get("status") == FeedbackStatus.OPEN.value != feedback["status"]:
            link = batch.get(LINKS, feedback["linkId"])
            if link is not None:
                self._put_link(batch, check_settled(link, feedback))
        if survey is not None:
            self._save_survey(batch, survey, with_follow_up(survey, feedback))

    def _put_link(self, batch: Batch, link: Doc | None) -> None:
        if link is not None:
            batch.put(LINKS, link["id"], link["tenantId"], link)

    def _save_survey(self, batch: Batch, before: Doc | None, after: Doc) -> None:
        """The survey row and every row derived from it: its listings, its place in the
        needs-action list and in the stats, and the cards of its checks."""
        if after == before:
            return
        key, tenant = after["id"], after["tenantId"]
        batch.put(SURVEYS, key, tenant, after)
        for listing_key, row in listing_rows(after).items():
            batch.put(LISTING, listing_key, tenant, row)
        action = needs_action_row(after)
        if action is not None:
            batch.put(NEEDS_ACTION, key, tenant, action)
        elif before is not None and before["needsAction"]:
            batch.delete(NEEDS_ACTION, key)
        stats = stats_row(after)
        if stats is not None and (before is None or stats != stats_row(before)):
            batch.put(ANSWERED, key, tenant, stats)
        if before is not None and survey_card(before) != survey_card(after):
            for entry in after["followUpFeedbacks"]:
                feedback = batch.get(FEEDBACK, entry["id"])
                if feedback is not None:
                    batch.put(FEEDBACK, entry["id"], tenant, with_card(feedback, after))
