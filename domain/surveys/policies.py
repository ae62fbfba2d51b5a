"""The survey loop's follow-up process manager, as a pure decision.

- A negative answer alerts the tenant's admins (hospital and PX admins).
- A satisfaction check's reminder fell due: remind the patient, by email and push.
- A satisfaction check expired unanswered: the survey needs action again.

Sending the survey and the check, and flagging an unsatisfied answer for escalation,
happen in the commands themselves: they need nothing a read model knows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from domain.shared.reactions import ProcessManager
from domain.surveys.feedback import Feedback
from domain.surveys.survey import SurveyInstance

DIRECTORY = "directory"


@dataclass(frozen=True)
class AlertStaff:
    survey_id: uuid.UUID


@dataclass(frozen=True)
class RemindPatient:
    feedback_id: uuid.UUID


@dataclass(frozen=True)
class ReturnToNeedsAction:
    feedback_id: uuid.UUID


FollowUpCommand = AlertStaff | RemindPatient | ReturnToNeedsAction


def decide_follow_up(
    event: SurveyInstance.Answered | Feedback.ReminderDue | Feedback.Expired,
) -> list[FollowUpCommand]:
    if isinstance(event, SurveyInstance.Answered):
        return [AlertStaff(event.originator_id)] if event.is_negative else []
    if isinstance(event, Feedback.ReminderDue):
        return [RemindPatient(event.originator_id)]
    return [ReturnToNeedsAction(event.originator_id)]


FOLLOW_UP = ProcessManager(
    name="survey_follow_up",
    reacts_to=(SurveyInstance.Answered, Feedback.ReminderDue, Feedback.Expired),
    decide=decide_follow_up,
    needs=(DIRECTORY,),
)

PROCESS_MANAGERS = (FOLLOW_UP,)
