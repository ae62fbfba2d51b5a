"""The whole survey loop as a hypothesis state machine, on a fake clock, through the real
runtime on SQLite: commands through the command bus, the satisfaction check's timer
through the deadlines read model and `Elapse`, the follow-up process manager in a
`ReactionFollower`.

Rules: send a survey; the patient answers it (1-5 each, so negative or not); log contact
(blank notes too); send a check (again, too); the patient answers the check (1-5); close;
escalate; time advances 0.5-10 days; the scheduler fires what is due; a stale, early or
duplicate wake-up arrives; the process managers react; the follow-up replays from the
start (a restarted worker).

Invariants: no check before contact; at most one open check per survey; closed means
both records are closed (and no check of a closed loop still waits for the patient);
no reminder after an answer; every negative survey alerted each admin once; and the read
models equal a replay: the survey read model's rows equal those of a fresh projection
replayed from position 0, and agree with the aggregates; the deadlines read model holds
each open check's timer.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings, target
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.notifications.application import PUSH
from domain.notifications.email import EMAIL
from domain.outbox.delivery import Delivery
from domain.people.staff import StaffType
from domain.shared.context import SYSTEM_ACTOR
from domain.shared.deadlines import deadline_key
from domain.shared.errors import InvalidInputError
from domain.surveys.errors import LinkGoneError, SurveyStateError
from domain.surveys.feedback import SATISFACTION_CHECK, Feedback, FeedbackStatus, delivery_id
from domain.surveys.policies import FOLLOW_UP, FollowUpCommand
from domain.surveys.survey import SurveyInstance
from projections.platform.revealing import RevealingStore
from projections.platform.runner import ProjectionRunner
from projections.platform.store import SQLiteReadStore
from projections.surveys.projection import SurveyProjection
from tests.support.surveys import SurveyClinic

MAX_SURVEYS = 4
REMINDER = timedelta(days=3)
EXPIRY = timedelta(days=30)
OPEN, ANSWERED, EXPIRED, CLOSED, ESCALATED = "open", "answered", "expired", "closed", "escalated"
# How far through the loop a survey is taken before the rules start (deepest last).
STAGES = [
    "sent",
    "answered",
    "contacted",
    "checked",
    "rated",
    "reminded",
    "expired",
    "checked_again",
]


@dataclass
class Check:
    id: uuid.UUID
    survey: uuid.UUID
    token: str
    sent_at: datetime
    status: str = OPEN
    reminded: bool = False  # ReminderDue recorded
    reminder_sent: bool = False  # the process manager queued the reminder's email and push
    decided: list[str] = field(default_factory=list)  # follow-ups the process manager owes

    @property
    def remind_at(self) -> datetime:
        return min(self.sent_at + REMINDER, self.expires_at)

    @property
    def expires_at(self) -> datetime:
        return self.sent_at + EXPIRY

    @property
    def deadline(self) -> datetime | None:
        if self.status != OPEN:
            return None
        return self.expires_at if self.reminded else self.remind_at

    def elapse(self, now: datetime) -> None:
        """What `Feedback.elapse` does with a wake-up for the current, passed deadline."""
        if not self.reminded and now < self.expires_at:
            self.reminded = True
            self.decided.append("remind")
        else:
            self.status = EXPIRED
            self.decided.append("expired")


@dataclass
class Survey:
    id: uuid.UUID
    token: str
    expires_at: datetime
    answered: bool = False
    negative: bool = False
    contacts: int = 0
    checks: list[uuid.UUID] = field(default_factory=list)
    open_check: uuid.UUID | None = None
    closed_with: uuid.UUID | None = None
    escalated: bool = False
    alert_owed: bool = False  # answered negative; the process manager has not run since
    alerted: bool = False  # the process manager ran while the loop was open


def draw(data: st.DataObject, keys: list[uuid.UUID], ready: Any) -> uuid.UUID:
    candidates = [k for k in keys if ready(k)]
    if not candidates:
        return data.draw(st.sampled_from(keys))
    return data.draw(st.one_of(st.sampled_from(candidates), st.sampled_from(keys)))


class SurveyLoopMachine(RuleBasedStateMachine):
    @initialize(
        stages=st.lists(st.sampled_from(STAGES), min_size=1, max_size=3),
        answers=st.lists(st.tuples(st.integers(1, 5), st.integers(1, 5)), min_size=3, max_size=3),
        rating=st.integers(1, 5),
    )
    def a_clinic_and_its_surveys_so_far(
        self, stages: list[str], answers: list[tuple[int, int]], rating: int
    ) -> None:
        """Two admins, a doctor and a patient; and up to three surveys part of the way
        through the loop, taken there by the rules' own steps. (Hypothesis runs each
        example with some rules switched off: a loop built by rules alone seldom got as
        far as an expired check and a second one.)"""
        self.dir = Path(tempfile.mkdtemp(prefix="survey-sm-"))
        self.clinic = SurveyClinic(self.dir)
        self.admins = {
            self.clinic.staff[StaffType.HOSPITAL_ADMIN],
            self.clinic.staff[StaffType.PX_ADMIN],
        }
        self.surveys: dict[uuid.UUID, Survey] = {}
        self.checks: dict[uuid.UUID, Check] = {}
        self._events: list[Any] = []
        self._read = 0
        # A second read store, rebuilt from position 0 to compare with the live one.
        self.replay_store = SQLiteReadStore(self.dir / "replay.sqlite3")
        self.replay = ProjectionRunner(SurveyProjection(), self.clinic.rt.log, self.replay_store)
        for stage, (care, staff) in zip(stages, answers, strict=False):
            depth = STAGES.index(stage)
            survey = self.send()
            if stage == "sent":
                continue
            if stage != "answered":
                care, staff = 1, min(staff, 4)  # negative: contact and checks follow
            self.answer(survey, care, staff)
            if stage == "answered":
                continue
            self.contact(survey, "Called; apologised.", "resolved")
            if stage == "contacted":
                continue
            self.send_check(survey)
            check = self.checks[survey.checks[-1]]
            if stage == "rated":
                self.answer_check(check, rating)
            if depth >= STAGES.index("reminded"):
                self.until(check, lambda c: c.reminded)
            if depth >= STAGES.index("expired"):
                self.until(check, lambda c: c.status == EXPIRED)
            if stage == "checked_again":
                self.send_check(survey)

    def until(self, check: Check, reached: Any) -> None:
        """Time passes from timer to timer, the scheduler firing each and the process
        managers reacting, until `check` has `reached` where it should be."""
        for _ in range(2 * MAX_SURVEYS * 2):
            if reached(check):
                return
            self.time_advances_to_the_next_timer(scheduler_looks=True)
            self.the_process_managers_react()
        raise AssertionError(f"{check.id} never got there")

    def teardown(self) -> None:
        if hasattr(self, "clinic"):
            # Steer the search towards runs that get far through the loop.
            target(float(len(self.milestones())), label="milestones of the loop reached")
            self.replay_store.close()
            self.clinic.close_runtime()
            shutil.rmtree(self.dir, ignore_errors=True)

    def milestones(self) -> set[str]:
        reached = {c.status for c in self.checks.values()}
        reached |= {"reminded"} if any(c.reminded for c in self.checks.values()) else set()
        reached |= {"again"} if any(len(s.checks) > 1 for s in self.surveys.values()) else set()
        reached |= {"alerted"} if any(s.alerted for s in self.surveys.values()) else set()
        return reached

    @property
    def now(self) -> datetime:
        return self.clinic.clock.now()

    def events(self) -> list[Any]:
        """Every event in log order (read incrementally: invariants run after each step)."""
        log = self.clinic.rt.log
        for notification in log.read(self._read, 1_000_000):
            self._events.append(log.decode(notification))
            self._read = notification.id
        return self._events

    def draw_survey(self, data: st.DataObject, ready: Any = lambda s: True) -> Survey:
        """Any survey; half the time one `ready` for the command (so that runs get far)."""
        return self.surveys[draw(data, sorted(self.surveys), lambda k: ready(self.surveys[k]))]

    def draw_check(self, data: st.DataObject, ready: Any = lambda c: True) -> Check:
        return self.checks[draw(data, sorted(self.checks), lambda k: ready(self.checks[k]))]

    # -- the patient's side and the staff's commands -------------------------------------

    def send(self) -> Survey:
        sent = self.clinic.send()
        survey_id = uuid.UUID(sent["surveyId"])
        assert datetime.fromisoformat(sent["expiresAt"]) == self.now + EXPIRY
        self.surveys[survey_id] = Survey(survey_id, sent["token"], self.now + EXPIRY)
        return self.surveys[survey_id]

    def answer(self, survey: Survey, care: int, staff: int) -> None:
        if survey.answered or self.now >= survey.expires_at:
            with pytest.raises(LinkGoneError) as gone:
                self.clinic.answer(survey.token, care, staff)
            assert gone.value.extra["reason"] == ("used" if survey.answered else "expired")
            return
        body = self.clinic.answer(survey.token, care, staff)
        negative = statistics.fmean([care, staff]) < 3.0
        assert (body["score"], body["isNegative"]) == (statistics.fmean([care, staff]), negative)
        survey.answered, survey.negative = True, negative
        survey.alert_owed = negative

    def contact(self, survey: Survey, notes: str, outcome: str) -> None:
        if not notes.strip():
            with pytest.raises(InvalidInputError):
                self.clinic.log_contact(survey.id, notes, outcome)
            return
        if not survey.negative or survey.closed_with is not None:
            with pytest.raises(SurveyStateError):
                self.clinic.log_contact(survey.id, notes, outcome)
            return
        body = self.clinic.log_contact(survey.id, notes, outcome)
        survey.contacts += 1
        assert body["contacts"] == survey.contacts
        assert body["contact"]["outcome"] == outcome

    def send_check(self, survey: Survey) -> None:
        if not survey.negative or survey.closed_with is not None or not survey.contacts:
            with pytest.raises(SurveyStateError):
                self.clinic.send_check(survey.id)
            return
        body = self.clinic.send_check(survey.id)
        check_id = uuid.UUID(body["feedbackId"])
        if survey.open_check is not None and self.checks[survey.open_check].status == EXPIRED:
            # It expired and the follow-up has not told the survey yet: the send tells it,
            # and makes a new check rather than hand out the dead link.
            survey.open_check = None
        if survey.open_check is not None:
            assert (check_id, body["created"]) == (survey.open_check, False)
            assert body["token"] == self.checks[check_id].token
            return
        assert body["created"] is True
        assert check_id not in self.checks
        self.checks[check_id] = Check(check_id, survey.id, body["token"], self.now)
        survey.checks.append(check_id)
        survey.open_check = check_id

    def answer_check(self, check: Check, rating: int) -> None:
        if check.status != OPEN or self.now >= check.expires_at:
            with pytest.raises(LinkGoneError):
                self.clinic.answer_check(check.token, rating)
            return
        body = self.clinic.answer_check(check.token, rating)
        assert body["flaggedForEscalation"] is (rating <= 2)
        check.status = ANSWERED
        survey = self.surveys[check.survey]
        if survey.open_check == check.id:
            survey.open_check = None

    @precondition(lambda self: len(self.surveys) < MAX_SURVEYS)
    @rule()
    def staff_send_a_survey(self) -> None:
        self.send()

    @precondition(lambda self: bool(self.surveys))
    @rule(data=st.data(), care=st.integers(1, 5), staff=st.integers(1, 5))
    def the_patient_answers_the_survey(self, data: st.DataObject, care: int, staff: int) -> None:
        survey = self.draw_survey(data, lambda s: not s.answered and self.now < s.expires_at)
        self.answer(survey, care, staff)

    @precondition(lambda self: bool(self.surveys))
    @rule(
        data=st.data(),
        notes=st.sampled_from(["Called; apologised.", "Left a message", "   "]),
        outcome=st.sampled_from(["resolved", "explained", "unresolved"]),
    )
    def staff_log_contact(self, data: st.DataObject, notes: str, outcome: str) -> None:
        survey = self.draw_survey(data, lambda s: s.negative and s.closed_with is None)
        self.contact(survey, notes, outcome)

    @precondition(lambda self: bool(self.surveys))
    @rule(data=st.data())
    def staff_send_a_satisfaction_check(self, data: st.DataObject) -> None:
        survey = self.draw_survey(data, lambda s: s.contacts and s.closed_with is None)
        self.send_check(survey)

    @precondition(lambda self: bool(self.checks))
    @rule(data=st.data(), rating=st.integers(1, 5))
    def the_patient_answers_the_check(self, data: st.DataObject, rating: int) -> None:
        self.answer_check(self.draw_check(data, lambda c: c.status == OPEN), rating)

    @precondition(lambda self: bool(self.checks))
    @rule(data=st.data())
    def staff_close_the_loop(self, data: st.DataObject) -> None:
        check = self.draw_check(data)
        survey = self.surveys[check.survey]
        if survey.closed_with is not None and check.status != CLOSED:
            with pytest.raises(SurveyStateError):  # closed with another check
                self.clinic.close(check.id)
            return
        body = self.clinic.close(check.id)
        assert body["status"] == CLOSED
        check.status = CLOSED
        if survey.open_check is not None:  # a newer check waiting for the patient closes too
            self.checks[survey.open_check].status = CLOSED
        survey.closed_with = check.id
        survey.open_check = None

    @precondition(lambda self: bool(self.checks))
    @rule(data=st.data())
    def staff_escalate(self, data: st.DataObject) -> None:
        check = self.draw_check(data)
        survey = self.surveys[check.survey]
        if survey.closed_with is not None:
            with pytest.raises(SurveyStateError):
                self.clinic.escalate(check.id)
            return
        body = self.clinic.escalate(check.id, "Still unhappy")
        assert body["status"] == ESCALATED
        check.status = ESCALATED
        survey.escalated = True
        if survey.open_check == check.id:
            survey.open_check = None

    # -- time, timers and the process manager --------------------------------------------

    # Time and the scheduler: the scheduler looks when time has passed, or a moment later
    # (a rule of its own), and the process managers react at once or later: each rule
    # may do the next step too, so that a run gets far even with some rules switched off.

    @rule(days=st.sampled_from([10, 3, 0.5, 1, 2.5, 5]), scheduler_looks=st.booleans())
    def time_advances(self, days: float, scheduler_looks: bool) -> None:
        self.clinic.advance(days)
        if scheduler_looks:
            self.the_scheduler_fires_what_is_due(then_react=False)

    @rule(scheduler_looks=st.booleans())
    def time_advances_to_the_next_timer(self, scheduler_looks: bool) -> None:
        """To the exact due time of the earliest timer (an edge: due, not yet late)."""
        timers = [c.deadline for c in self.checks.values() if c.deadline is not None]
        due = min(timers, default=self.now + timedelta(days=1))
        if due > self.now:
            self.clinic.clock.advance((due - self.now).total_seconds())
        if scheduler_looks:
            self.the_scheduler_fires_what_is_due(then_react=False)

    @rule(then_react=st.booleans())
    def the_scheduler_fires_what_is_due(self, then_react: bool) -> None:
        due = [c for c in self.checks.values() if c.deadline is not None and c.deadline <= self.now]
        assert self.clinic.fire_due() == len(due)
        for check in due:
            check.elapse(self.now)
        if then_react:
            self.the_process_managers_react()

    @precondition(lambda self: bool(self.checks))
    @rule(data=st.data(), twice=st.booleans())
    def a_stale_early_or_duplicate_wakeup_arrives(self, data: st.DataObject, twice: bool) -> None:
        check = self.draw_check(data)
        scheduled = data.draw(
            st.sampled_from(
                [
                    check.sent_at + REMINDER,
                    check.expires_at,
                    check.sent_at + timedelta(days=1),  # a time it never had
                ]
            )
        )
        fires = scheduled == check.deadline and self.now >= scheduled
        assert self.clinic.fire(check.id, scheduled) == int(fires)
        if fires:
            check.elapse(self.now)
        if twice:
            duplicate_fires = scheduled == check.deadline and self.now >= scheduled
            assert self.clinic.fire(check.id, scheduled) == int(duplicate_fires)
            if duplicate_fires:  # the reminder's time was also the expiry
                check.elapse(self.now)

    def followed_up(self) -> None:
        """What the process manager owed is done: alerts, reminders (for checks still
        open), surveys back in need of action."""
        for survey in self.surveys.values():
            if survey.alert_owed:  # a loop closed before its alert went out alerts nobody
                survey.alerted, survey.alert_owed = survey.closed_with is None, False
        for check in self.checks.values():
            if "remind" in check.decided and check.status == OPEN and self.now < check.expires_at:
                check.reminder_sent = True  # never a reminder with a link already expired
            if "expired" in check.decided:
                survey = self.surveys[check.survey]
                if survey.open_check == check.id and survey.closed_with is None:
                    survey.open_check = None
            check.decided.clear()

    @rule()
    def the_process_managers_react(self) -> None:
        self.clinic.react()
        self.followed_up()

    @rule()
    def the_follow_up_replays_from_the_start(self) -> None:
        """A worker that lost its position: every decision over the whole log, again."""
        self.clinic.rt.catch_up()
        for event in list(self.events()):
            if isinstance(event, FOLLOW_UP.reacts_to):
                for command in FOLLOW_UP.decide(event):
                    self.follow_up(command)
        self.followed_up()

    def follow_up(self, command: FollowUpCommand) -> None:
        self.clinic.run(SYSTEM_ACTOR, lambda u: self.clinic.rt.surveys.handle(u, command))

    # -- invariants ----------------------------------------------------------------------

    def survey_of(self, survey_id: uuid.UUID) -> SurveyInstance:
        found = self.clinic.rt.log.find(survey_id)
        assert isinstance(found, SurveyInstance)
        return found

    def check_of(self, check_id: uuid.UUID) -> Feedback:
        found = self.clinic.rt.log.find(check_id)
        assert isinstance(found, Feedback)
        return found

    @invariant()
    def the_aggregates_are_where_the_model_says(self) -> None:
        for expected in self.surveys.values():
            survey = self.survey_of(expected.id)
            assert survey.is_negative is expected.negative
            assert len(survey.contacts) == expected.contacts
            assert survey.follow_up_feedbacks == expected.checks
            assert survey.open_check == expected.open_check
            assert survey.is_closed is (expected.closed_with is not None)
        for model in self.checks.values():
            check = self.check_of(model.id)
            assert check.status.value == model.status
            assert check.reminded is model.reminded
            assert check.deadline == model.deadline

    @invariant()
    def no_check_before_contact(self) -> None:
        contacted: set[uuid.UUID] = set()
        for event in self.events():
            if isinstance(event, SurveyInstance.PatientContacted):
                contacted.add(event.originator_id)
            elif isinstance(event, SurveyInstance.SatisfactionFeedbackSent):
                assert event.originator_id in contacted
            elif isinstance(event, Feedback.Sent):
                assert event.related_survey_id in contacted

    @invariant()
    def at_most_one_open_check_per_survey(self) -> None:
        for model in self.surveys.values():
            open_checks = [c for c in model.checks if self.check_of(c).is_open]
            assert len(open_checks) <= 1, open_checks
            open_check = self.survey_of(model.id).open_check
            assert open_check is None or open_check == model.checks[-1]

    @invariant()
    def closed_means_both_records_are_closed(self) -> None:
        for event in self.events():
            if isinstance(event, SurveyInstance.Closed):
                assert self.survey_of(event.originator_id).is_closed
                assert self.check_of(event.feedback_id).status is FeedbackStatus.CLOSED

    @invariant()
    def no_check_of_a_closed_loop_still_waits_for_the_patient(self) -> None:
        for model in self.surveys.values():
            if model.closed_with is not None:
                waiting = [c for c in model.checks if self.check_of(c).is_open]
                assert waiting == [], (
                    f"the loop of survey {model.id} was closed with check "
                    f"{model.closed_with}, but check(s) {waiting} still run their "
                    "reminder and expiry"
                )

    @invariant()
    def no_reminder_after_an_answer(self) -> None:
        """No reminder is queued once the check stopped waiting for the patient (answered,
        expired, closed or escalated), and at most one per channel."""
        settled: set[uuid.UUID] = set()
        reminders: dict[uuid.UUID, list[str]] = {}
        ids = {
            delivery_id(c, f"reminder:{channel}"): (c, channel)
            for c in self.checks
            for channel in (EMAIL, PUSH)
        }
        for event in self.events():
            if isinstance(
                event, Feedback.Answered | Feedback.Expired | Feedback.Closed | Feedback.Escalated
            ):
                settled.add(event.originator_id)
            elif isinstance(event, Delivery.Queued) and event.originator_id in ids:
                check_id, channel = ids[event.originator_id]
                assert check_id not in settled, f"a reminder for {check_id} after it settled"
                reminders.setdefault(check_id, []).append(channel)
        for check in self.checks.values():
            channels = sorted(reminders.get(check.id, []))
            assert channels == ([EMAIL, PUSH] if check.reminder_sent else []), channels

    @invariant()
    def every_negative_survey_alerted_its_admins_once(self) -> None:
        alerts: dict[uuid.UUID, list[uuid.UUID | None]] = {}
        for event in self.events():
            if isinstance(event, Delivery.Queued) and event.payload.get("data", {}).get("type") == (
                "NEGATIVE_SURVEY"
            ):
                assert event.channel == PUSH
                survey = uuid.UUID(event.payload["data"]["surveyId"])
                alerts.setdefault(survey, []).append(event.recipient_id)
        for model in self.surveys.values():
            recipients = alerts.get(model.id, [])
            assert len(recipients) == len(set(recipients)), recipients
            assert set(recipients) <= self.admins
            if model.alerted:
                assert set(recipients) == self.admins
            else:
                assert recipients == []

    @invariant()
    def the_read_models_equal_a_replay(self) -> None:
        rt = self.clinic.rt
        rt.catch_up()
        self.replay_store.reset(SurveyProjection.name, SurveyProjection.tables)
        self.replay.catch_up()
        # Compared opened: a row holds its personal text as the ciphertext of the event it
        # came from, and two folds may keep either of two events with the same text.
        live = RevealingStore(rt.store, rt.sealer)
        replayed = RevealingStore(self.replay_store, rt.sealer)
        for table in SurveyProjection.tables:
            assert live.list(table) == replayed.list(table), table
        view = rt.views.surveys
        for survey_id in self.surveys:
            survey = self.survey_of(survey_id)
            row = view.survey(str(survey_id))
            assert row is not None
            assert row["status"] == survey.status.value
            assert (row["score"], row["isNegative"]) == (survey.score, survey.is_negative)
            assert row["openFeedbackId"] == (
                None if survey.open_check is None else str(survey.open_check)
            )
            assert row["needsAction"] is survey.needs_action
            assert len(row["contacts"]) == len(survey.contacts)
            assert [e["id"] for e in row["followUpFeedbacks"]] == [
                str(c) for c in survey.follow_up_feedbacks
            ]
        for model in self.checks.values():
            check = self.check_of(model.id)
            row = view.feedback(str(model.id))
            assert row is not None
            assert row["status"] == check.status.value
            assert row["relatedSurveyId"] == str(model.survey)
            entry = next(
                e
                for e in (view.survey(str(model.survey)) or {})["followUpFeedbacks"]
                if e["id"] == str(model.id)
            )
            assert entry["status"] == check.status.value
            timer = rt.views.deadlines.get(deadline_key(SATISFACTION_CHECK, model.id))
            assert (timer.due_at if timer else None) == check.deadline
        listed, _ = view.needs_action(str(self.clinic.tenant), None, 100)
        needing = [s for s in map(self.survey_of, self.surveys) if s.needs_action]
        needing.sort(key=lambda s: (s.answered_at, str(s.id)))
        assert [row["id"] for row in listed] == [str(s.id) for s in needing]


SurveyLoopMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_the_survey_loop_state_machine = SurveyLoopMachine.TestCase
