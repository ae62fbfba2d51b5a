"""Pure folds of the survey read models: templates, surveys (with the follow-up of a
negative one), satisfaction checks, and the one-time links' public forms.

A survey row is the staff's survey detail. From it, without reading anything else, come
the rows of the sorted tables that the queries range over: the tenant's listings (newest
first, by status, by negativity, by both), the "needs action" list (oldest answer first,
only the surveys that need action) and the stats row of an answered survey (by answer
time). Sort keys start with the tenant id, so one tenant's rows are one index range.

Fields whose names start with `_` are the projection's own (sort keys); the view drops
them from what it returns.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from domain.surveys.feedback import Feedback, FeedbackStatus
from domain.surveys.link import OneTimeLink
from domain.surveys.messages import satisfaction_question
from domain.surveys.survey import Contact, Escalation, SurveyInstance, SurveyStatus
from domain.surveys.template import SurveyTemplate, TemplateVersion
from projections.deadlines.evolve import sort_key
from projections.platform.store import Doc

KEY = "_key"  # the sorted tables' indexed field
ACTION_REQUIRED = "Action Required: Contact patient to discuss negative feedback"
# Listing shapes: each is a key prefix of the listing table.
BY_STATUS, BY_NEGATIVE, BY_NEGATIVE_STATUS = "s", "n", "ns"
SURVEY_LINK = "/v1/surveys/{}"

_DESCENDING = str.maketrans("0123456789", "9876543210")


def iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def newest_first(at: datetime) -> str:
    """A time as fixed-width text that sorts latest first (each digit complemented)."""
    return sort_key(at).translate(_DESCENDING)


def public(doc: Doc) -> Doc:
    """A row without the projection's own fields."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


# -- templates ------------------------------------------------------------------------------


def _template_fields(content: TemplateVersion) -> Doc:
    return {
        "name": content.name,
        "version": content.version,
        "negativeThreshold": content.negative_threshold,
        "defaultLanguage": content.default_language,
        "questions": [
            {"id": q.id, "text": q.text, "translations": dict(q.translations)}
            for q in content.questions
        ],
    }


def evolve_template(row: Doc | None, event: Any) -> Doc | None:
    """A template as it is now (its latest version)."""
    if isinstance(event, SurveyTemplate.Created):
        return {
            "id": str(event.originator_id),
            "tenantId": str(event.tenant_id),
            **_template_fields(event.content),
            "createdAt": iso(event.timestamp),
            "updatedAt": iso(event.timestamp),
        }
    if row is None:
        return None
    if isinstance(event, SurveyTemplate.Revised):
        return {**row, **_template_fields(event.content), "updatedAt": iso(event.timestamp)}
    return row


# -- surveys --------------------------------------------------------------------------------


def _contact(contact: Contact) -> Doc:
    return {
        "by": str(contact.by),
        "at": iso(contact.at),
        "notes": contact.notes,
        "outcome": contact.outcome,
    }


def _escalation(escalation: Escalation) -> Doc:
    return {
        "by": str(escalation.by),
        "at": iso(escalation.at),
        "reason": escalation.reason,
        "feedbackId": str(escalation.feedback_id),
    }


def _with_entry(row: Doc, feedback_id: str, **fields: Any) -> Doc:
    """The row with its follow-up entry of `feedback_id` updated (appended if new)."""
    entries = list(row["followUpFeedbacks"])
    for i, entry in enumerate(entries):
        if entry["id"] == feedback_id:
            entries[i] = {**entry, **fields}
            break
    else:
        entries.append(
            {
                "id": feedback_id,
                "status": FeedbackStatus.OPEN.value,
                "sentAt": None,
                "rating": None,
                "answeredAt": None,
                **fields,
            }
        )
    return {**row, "followUpFeedbacks": entries}


def warning(row: Doc) -> Doc | None:
    """What the survey detail tells staff to do next, while the survey needs action."""
    if not row["needsAction"]:
        return None
    if not row["contacts"]:
        return {"level": "action_required", "message": ACTION_REQUIRED}
    latest = row["followUpFeedbacks"][-1] if row["followUpFeedbacks"] else None
    if row["status"] == SurveyStatus.ESCALATED.value and row["escalation"]:
        return {
            "level": "escalated",
            # The reason is the patient's personal text: shown (sealed) in `escalation`
            # beside this, never quoted here.
            "message": "Escalated: see the escalation's reason. "
            "Follow up with the patient and close the loop when it is resolved.",
        }
    if row["flaggedForEscalation"]:
        rating = latest["rating"] if latest else None
        return {
            "level": "flagged_for_escalation",
            "message": f"Flagged for escalation: the patient rated the follow-up {rating}/5. "
            "Escalate or close the loop.",
        }
    if latest is not None and latest["status"] == FeedbackStatus.EXPIRED.value:
        return {
            "level": "check_expired",
            "message": "The satisfaction check expired unanswered: contact the patient "
            "again, send a new check, or close the loop.",
        }
    if latest is not None and latest["answeredAt"] is not None:
        return {
            "level": "awaiting_decision",
            "message": f"The patient answered the satisfaction check ({latest['rating']}/5): "
            "close the loop or escalate.",
        }
    return {
        "level": "send_check",
        "message": "Patient contacted: send a satisfaction check to hear whether the "
        "concerns were addressed.",
    }


def _derived(row: Doc) -> Doc:
    """The fields that follow from the others: needs action, warning, contact summary."""
    needs_action = (
        row["isNegative"]
        and row["status"] != SurveyStatus.CLOSED.value
        and row["openFeedbackId"] is None
    )
    contacts = row["contacts"]
    derived = {
        **row,
        "needsAction": bool(needs_action),
        "contactSummary": {**contacts[-1], "count": len(contacts)} if contacts else None,
    }
    return {**derived, "warning": warning(derived)}


def evolve_survey(row: Doc | None, event: Any) -> Doc | None:
    """A survey as staff see it, from its own events."""
    if isinstance(event, SurveyInstance.Sent):
        tenant, survey_id = str(event.tenant_id), str(event.originator_id)
        template: TemplateVersion = event.template
        return _derived(
            {
                "id": survey_id,
                "tenantId": tenant,
                "templateId": str(template.template_id),
                "templateVersion": template.version,
                "templateName": template.name,
                "questions": [{"id": q.id, "text": q.text} for q in template.questions],
                "patientId": str(event.patient_id),
                "sentBy": str(event.sent_by),
                "sentAt": iso(event.timestamp),
                "expiresAt": iso(event.expires_at),
                "language": event.language,
                "status": SurveyStatus.SENT.value,
                "score": None,
                "isNegative": False,
                "negativeThreshold": template.negative_threshold,
                "answeredAt": None,
                "answers": None,
                "comment": None,
                "contacts": [],
                "followUpFeedbacks": [],
                "openFeedbackId": None,
                "flaggedForEscalation": False,
                "escalation": None,
                "closedAt": None,
                "closedBy": None,
                KEY: f"{tenant}|{newest_first(event.timestamp)}|{survey_id}",
            }
        )
    if row is None:
        return None
    if isinstance(event, SurveyInstance.Answered):
        changed = {
            **row,
            "status": SurveyStatus.ANSWERED.value,
            "score": event.score,
            "isNegative": event.is_negative,
            "negativeThreshold": event.negative_threshold,
            "answeredAt": iso(event.timestamp),
            "answers": dict(event.answers),
            "comment": event.comment,
        }
    elif isinstance(event, SurveyInstance.PatientContacted):
        status = row["status"]
        if status == SurveyStatus.ANSWERED.value:
            status = SurveyStatus.CONTACTED.value
        changed = {**row, "status": status, "contacts": [*row["contacts"], _contact(event.contact)]}
    elif isinstance(event, SurveyInstance.SatisfactionFeedbackSent):
        feedback_id = str(event.feedback_id)
        known = any(e["id"] == feedback_id for e in row["followUpFeedbacks"])
        sent = row if known else _with_entry(row, feedback_id, sentAt=iso(event.timestamp))
        changed = {
            **sent,
            "status": SurveyStatus.FEEDBACK_SENT.value,
            "openFeedbackId": feedback_id,
            "flaggedForEscalation": False,
        }
    elif isinstance(event, SurveyInstance.SatisfactionAnswered):
        answered = _with_entry(
            row, str(event.feedback_id), rating=event.rating, answeredAt=iso(event.timestamp)
        )
        changed = {
            **answered,
            "openFeedbackId": None,
            "flaggedForEscalation": event.flagged_for_escalation,
        }
    elif isinstance(event, SurveyInstance.SatisfactionExpired):
        status = row["status"]
        if status == SurveyStatus.FEEDBACK_SENT.value:
            status = SurveyStatus.CONTACTED.value
        changed = {**row, "status": status, "openFeedbackId": None}
    elif isinstance(event, SurveyInstance.Closed):
        changed = {
            **row,
            "status": SurveyStatus.CLOSED.value,
            "openFeedbackId": None,
            "closedAt": iso(event.timestamp),
            "closedBy": str(event.closed_by),
        }
    elif isinstance(event, SurveyInstance.Escalated):
        escalation = _escalation(event.escalation)
        open_check = row["openFeedbackId"]
        if open_check == escalation["feedbackId"]:
            open_check = None
        changed = {
            **row,
            "status": SurveyStatus.ESCALATED.value,
            "escalation": escalation,
            "openFeedbackId": open_check,
        }
    else:
        return row
    return _derived(changed)


def with_follow_up(row: Doc, feedback: Doc) -> Doc:
    """The survey with its follow-up entry for `feedback` as that record now is."""
    entry = {
        "status": feedback["status"],
        "sentAt": feedback["sentAt"],
        "rating": feedback["rating"],
        "answeredAt": feedback["answeredAt"],
    }
    return _derived(_with_entry(row, feedback["id"], **entry))


# -- rows derived from a survey, for the sorted tables --------------------------------------


def listing_rows(survey: Doc) -> dict[str, Doc]:
    """The survey in each filtered listing, newest first: by status, by negativity, and by
    both. Keyed `<survey id>|<shape>`."""
    tenant, survey_id = survey["tenantId"], survey["id"]
    newest = newest_first(datetime.fromisoformat(survey["sentAt"]))
    negative = "y" if survey["isNegative"] else "n"
    status = survey["status"]
    prefixes = {
        BY_STATUS: f"{tenant}|{BY_STATUS}|{status}",
        BY_NEGATIVE: f"{tenant}|{BY_NEGATIVE}|{negative}",
        BY_NEGATIVE_STATUS: f"{tenant}|{BY_NEGATIVE_STATUS}|{negative}|{status}",
    }
    return {
        f"{survey_id}|{shape}": {**survey, KEY: f"{prefix}|{newest}|{survey_id}"}
        for shape, prefix in prefixes.items()
    }


def needs_action_row(survey: Doc) -> Doc | None:
    """The survey in the "needs action" list (oldest answer first), or None when it has
    nothing to do there."""
    if not survey["needsAction"]:
        return None
    answered = sort_key(datetime.fromisoformat(survey["answeredAt"]))
    return {**survey, KEY: f"{survey['tenantId']}|{answered}|{survey['id']}"}


def stats_row(survey: Doc) -> Doc | None:
    """An answered survey's figures for the tenant stats, keyed by answer time."""
    if survey["answeredAt"] is None:
        return None
    answered = sort_key(datetime.fromisoformat(survey["answeredAt"]))
    contacts = survey["contacts"]
    entries = survey["followUpFeedbacks"]
    ratings = [e["rating"] for e in entries if e["rating"] is not None]
    return {
        "id": survey["id"],
        "tenantId": survey["tenantId"],
        "answeredAt": survey["answeredAt"],
        "isNegative": survey["isNegative"],
        "contactCount": len(contacts),
        "firstContactAt": contacts[0]["at"] if contacts else None,
        "checksSent": len(entries),
        "checksAnswered": sum(1 for e in entries if e["answeredAt"] is not None),
        "latestRating": ratings[-1] if ratings else None,
        KEY: f"{survey['tenantId']}|{answered}|{survey['id']}",
    }


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def summarize(rows: Iterable[Doc], start: datetime | None, end: datetime | None) -> Doc:
    """The tenant stats over the stats rows of the surveys answered in [start, end)."""
    answered = list(rows)
    negative = [r for r in answered if r["isNegative"]]
    contacted = [r for r in negative if r["contactCount"] > 0]
    waits = [
        (
            datetime.fromisoformat(r["firstContactAt"]) - datetime.fromisoformat(r["answeredAt"])
        ).total_seconds()
        for r in contacted
    ]
    improved = [r for r in negative if r["latestRating"] is not None and r["latestRating"] >= 4]
    return {
        "from": iso(start),
        "to": iso(end),
        "surveysAnswered": len(answered),
        "negativeSurveys": len(negative),
        "contacted": len(contacted),
        "contactedShare": _share(len(contacted), len(negative)),
        "medianTimeToContactSeconds": statistics.median(waits) if waits else None,
        "checksSent": sum(r["checksSent"] for r in negative),
        "checksAnswered": sum(r["checksAnswered"] for r in negative),
        "satisfactionImprovementRate": _share(len(improved), len(negative)),
    }


# -- satisfaction checks --------------------------------------------------------------------


def survey_card(survey: Doc) -> Doc:
    """The related survey card of a feedback's detail page."""
    contacts = survey["contacts"]
    return {
        "id": survey["id"],
        "name": survey["templateName"],
        "score": survey["score"],
        "isNegative": survey["isNegative"],
        "completedAt": survey["answeredAt"],
        "patientContact": contacts[-1] if contacts else None,
        "contactCount": len(contacts),
        "link": SURVEY_LINK.format(survey["id"]),
    }


def with_card(feedback: Doc, survey: Doc) -> Doc:
    return {**feedback, "relatedSurvey": survey_card(survey)}


def evolve_feedback(row: Doc | None, event: Any, survey: Doc | None) -> Doc | None:
    """A satisfaction check with its related survey card; `survey` is the related survey's
    row when the check is sent (its name, score, contacts, and the patient's language)."""
    if isinstance(event, Feedback.Sent):
        language = survey["language"] if survey else "en"
        language, question = satisfaction_question(language)
        sent: Doc = {
            "id": str(event.originator_id),
            "tenantId": str(event.tenant_id),
            "type": event.feedback_type,
            "status": FeedbackStatus.OPEN.value,
            "patientId": str(event.patient_id),
            "relatedSurveyId": str(event.related_survey_id),
            "linkId": str(event.link_id),
            "sentBy": str(event.sent_by),
            "sentAt": iso(event.timestamp),
            "expiresAt": iso(event.expires_at),
            "remindedAt": None,
            "expiredAt": None,
            "answeredAt": None,
            "rating": None,
            "comment": None,
            "flaggedForEscalation": False,
            "closedAt": None,
            "closedBy": None,
            "escalation": None,
            "language": language,
            "question": question,
            "relatedSurvey": None,
        }
        return sent if survey is None else with_card(sent, survey)
    if row is None:
        return None
    if isinstance(event, Feedback.ReminderDue):
        return {**row, "remindedAt": iso(event.timestamp)}
    if isinstance(event, Feedback.Expired):
        return {**row, "status": FeedbackStatus.EXPIRED.value, "expiredAt": iso(event.timestamp)}
    if isinstance(event, Feedback.Answered):
        return {
            **row,
            "status": FeedbackStatus.ANSWERED.value,
            "rating": event.rating,
            "comment": event.comment,
            "flaggedForEscalation": event.flagged_for_escalation,
            "answeredAt": iso(event.timestamp),
        }
    if isinstance(event, Feedback.Closed):
        return {
            **row,
            "status": FeedbackStatus.CLOSED.value,
            "closedAt": iso(event.timestamp),
            "closedBy": str(event.closed_by),
        }
    if isinstance(event, Feedback.Escalated):
        return {
            **row,
            "status": FeedbackStatus.ESCALATED.value,
            "escalation": {
                "by": str(event.escalated_by),
                "at": iso(event.timestamp),
                "reason": event.reason,
            },
        }
    return row


# -- one-time links: the patient's public forms ---------------------------------------------


def evolve_link(row: Doc | None, event: Any) -> Doc | None:
    """A one-time link as the public form's GET needs it. Issuing makes the row; the
    survey or check it was issued for fills in the form (`survey_form`, `check_form`)."""
    if isinstance(event, OneTimeLink.Issued):
        return {
            "id": str(event.originator_id),
            "tokenHash": event.token_hash,
            "tenantId": str(event.tenant_id),
            "kind": event.purpose,
            "subjectId": str(event.subject_id),
            "patientId": str(event.patient_id),
            "expiresAt": iso(event.expires_at),
            "usedAt": None,
            "open": True,
            "templateName": None,
            "language": None,
            "questions": None,
            "surveyName": None,
            "question": None,
        }
    if row is None:
        return None
    if isinstance(event, OneTimeLink.Used):
        return {**row, "usedAt": iso(event.timestamp), "open": False}
    return row


def survey_form(link: Doc, sent: SurveyInstance.Sent) -> Doc:
    """A survey link's form: the version sent, in the survey's language, each question
    falling back to the template's default text."""
    template: TemplateVersion = sent.template
    return {
        **link,
        "templateName": template.name,
        "language": sent.language,
        "questions": [{"id": qid, "text": text} for qid, text in template.form(sent.language)],
    }


def check_form(link: Doc, survey: Doc | None) -> Doc:
    """A satisfaction check link's form: the survey's name and the question, in the
    survey's language where there is a text in it."""
    language, question = satisfaction_question(survey["language"] if survey else "en")
    return {
        **link,
        "surveyName": survey["templateName"] if survey else None,
        "language": language,
        "question": question,
    }


def check_settled(link: Doc, feedback: Doc) -> Doc:
    """A check link takes no answer once its check is no longer open (expired, closed,
    escalated), used or not."""
    return {**link, "open": link["open"] and feedback["status"] == FeedbackStatus.OPEN.value}
