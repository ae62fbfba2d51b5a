"""The survey read models' queries on SQLite and on PostgreSQL, driven by the real events
of the survey loop (commands on a clinic, then the projections caught up): the listings
and their cursors, the needs-action list through the whole loop, the stats over a known
set, the public forms in the patient's language, and a rebuild from position 0."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.people.staff import StaffType
from domain.shared.context import Actor, Role
from domain.surveys.link import link_id, token_hash
from domain.surveys.messages import SATISFACTION_QUESTION
from projections.platform.store import Doc
from projections.surveys.projection import SurveyProjection
from projections.surveys.view import SurveyView
from tests.support.surveys import DAY, QUESTIONS, SurveyClinic


@pytest.fixture(params=["sqlite", "postgresql"])
def clinic(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SurveyClinic]:
    c = SurveyClinic(tmp_path, backend=request.param)
    try:
        yield c
    finally:
        c.close_runtime()


def view(clinic: SurveyClinic) -> SurveyView:
    clinic.rt.catch_up()
    return clinic.rt.views.surveys


def ids(rows: list[Doc]) -> list[str]:
    return [row["id"] for row in rows]


def tenant(clinic: SurveyClinic) -> str:
    return str(clinic.tenant)


def needing_action(clinic: SurveyClinic) -> list[str]:
    rows, cursor = view(clinic).needs_action(tenant(clinic), None, 100)
    assert cursor is None
    return ids(rows)


def sent(clinic: SurveyClinic, hours: float = 1) -> dict[str, Any]:
    """A survey sent after `hours` more (so each is newer than the last)."""
    clinic.advance(hours / 24)
    return clinic.send()


def answered(clinic: SurveyClinic, *scores: int, hours: float = 1) -> str:
    survey = sent(clinic, hours)
    clinic.answer(survey["token"], *scores)
    return str(survey["surveyId"])


def expire_check(clinic: SurveyClinic) -> None:
    """The check's reminder, then its expiry, then the follow-up reacting to it."""
    clinic.advance(3.1)
    assert clinic.fire_due() == 1
    clinic.advance(30)
    assert clinic.fire_due() == 1
    clinic.react()


def all_pages(clinic: SurveyClinic, limit: int, **query: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        rows, cursor = view(clinic).surveys(
            tenant(clinic), query.get("negative"), query.get("status"), cursor, limit
        )
        pages.append(ids(rows))
        if cursor is None:
            return pages


# -- the needs-action list -------------------------------------------------------------------


def test_a_negative_survey_needs_action_until_its_loop_is_closed(clinic: SurveyClinic) -> None:
    survey, _ = clinic.negative_survey()
    key = str(survey)
    assert needing_action(clinic) == [key]
    detail = view(clinic).survey(key)
    assert detail is not None
    assert detail["warning"]["level"] == "action_required"

    clinic.log_contact(survey)
    assert needing_action(clinic) == [key]

    check = clinic.send_check(survey)
    assert needing_action(clinic) == [], "waiting for the patient's answer"

    expire_check(clinic)
    assert needing_action(clinic) == [key], "an expired check needs action again"
    detail = view(clinic).survey(key)
    assert detail is not None
    assert detail["warning"]["level"] == "check_expired"
    assert [f["status"] for f in detail["followUpFeedbacks"]] == ["expired"]

    clinic.close(uuid.UUID(check["feedbackId"]))
    assert needing_action(clinic) == []
    closed = view(clinic).survey(key)
    assert closed is not None
    assert (closed["status"], closed["needsAction"], closed["warning"]) == ("closed", False, None)


def test_an_escalated_survey_stays_in_needs_action_with_its_escalation(
    clinic: SurveyClinic,
) -> None:
    survey, _ = clinic.negative_survey()
    clinic.log_contact(survey)
    check = clinic.send_check(survey)
    clinic.answer_check(check["token"], 1)
    assert needing_action(clinic) == [str(survey)]
    flagged = view(clinic).survey(str(survey))
    assert flagged is not None
    assert flagged["flaggedForEscalation"] is True
    assert "flagged for escalation" in flagged["warning"]["message"].lower()

    clinic.escalate(uuid.UUID(check["feedbackId"]), "Wants the manager")
    assert needing_action(clinic) == [str(survey)]
    (row,), _ = view(clinic).needs_action(tenant(clinic), None, 10)
    assert row["status"] == "escalated"
    assert row["escalation"]["reason"] == "Wants the manager"
    assert row["escalation"]["feedbackId"] == check["feedbackId"]


def test_needs_action_lists_the_oldest_answer_first_in_pages(clinic: SurveyClinic) -> None:
    first, second, third = (sent(clinic) for _ in range(3))
    # Answered in another order than sent: the list follows the answers.
    for survey in (third, first, second):
        clinic.advance(1 / 24)
        clinic.answer(survey["token"], 1, 1)
    answer_order = [str(s["surveyId"]) for s in (third, first, second)]

    assert needing_action(clinic) == answer_order
    page, cursor = view(clinic).needs_action(tenant(clinic), None, 2)
    assert ids(page) == answer_order[:2] and cursor is not None
    rest, end = view(clinic).needs_action(tenant(clinic), cursor, 2)
    assert (ids(rest), end) == (answer_order[2:], None)


def test_positive_and_unanswered_surveys_never_need_action(clinic: SurveyClinic) -> None:
    answered(clinic, 5, 4)
    sent(clinic)
    assert needing_action(clinic) == []


# -- the listings ----------------------------------------------------------------------------


def test_surveys_list_newest_sent_first_in_pages_with_cursors(clinic: SurveyClinic) -> None:
    surveys = [str(sent(clinic)["surveyId"]) for _ in range(5)]
    newest_first = list(reversed(surveys))
    assert all_pages(clinic, 2) == [newest_first[:2], newest_first[2:4], newest_first[4:]]
    assert all_pages(clinic, 5) == [newest_first]
    rows, cursor = view(clinic).surveys(tenant(clinic), None, None, None, 10)
    assert (ids(rows), cursor) == (newest_first, None)


def test_surveys_filter_by_negativity_status_and_both(clinic: SurveyClinic) -> None:
    unanswered = str(sent(clinic)["surveyId"])
    positive = answered(clinic, 5, 5)
    negative = answered(clinic, 1, 2)
    contacted = answered(clinic, 2, 2)
    clinic.log_contact(uuid.UUID(contacted))

    def listed(negative: bool | None = None, status: str | None = None) -> list[str]:
        pages = all_pages(clinic, 2, negative=negative, status=status)
        return [survey_id for page in pages for survey_id in page]

    assert listed(negative=True) == [contacted, negative]
    assert listed(negative=False) == [positive, unanswered]
    assert listed(status="answered") == [negative, positive]
    assert listed(status="contacted") == [contacted]
    assert listed(status="sent") == [unanswered]
    assert listed(negative=True, status="answered") == [negative]
    assert listed(negative=False, status="answered") == [positive]
    assert listed(negative=True, status="closed") == []
    assert listed(status="no_such_status") == []


def test_a_survey_moves_between_status_listings_as_its_loop_goes_on(
    clinic: SurveyClinic,
) -> None:
    survey, _ = clinic.negative_survey()
    clinic.log_contact(survey)
    clinic.send_check(survey)
    assert ids(view(clinic).surveys(tenant(clinic), None, "contacted", None, 10)[0]) == []
    rows, _ = view(clinic).surveys(tenant(clinic), True, "feedback_sent", None, 10)
    assert ids(rows) == [str(survey)]
    assert rows[0]["status"] == "feedback_sent"


def test_a_cursor_of_another_listing_starts_that_listing_over(clinic: SurveyClinic) -> None:
    for _ in range(3):
        answered(clinic, 1, 1)
    _, foreign = view(clinic).needs_action(tenant(clinic), None, 1)
    rows, _ = view(clinic).surveys(tenant(clinic), None, None, foreign, 10)
    assert len(rows) == 3


def test_another_tenants_surveys_are_not_listed(clinic: SurveyClinic) -> None:
    mine = answered(clinic, 1, 1)
    other_tenant, other_survey = a_negative_survey_in_another_tenant(clinic)
    rows, _ = view(clinic).surveys(tenant(clinic), None, None, None, 10)
    assert ids(rows) == [mine]
    assert needing_action(clinic) == [mine]
    theirs, _ = view(clinic).needs_action(str(other_tenant), None, 10)
    assert ids(theirs) == [other_survey]
    assert view(clinic).stats(tenant(clinic), None, None)["surveysAnswered"] == 1


def a_negative_survey_in_another_tenant(clinic: SurveyClinic) -> tuple[uuid.UUID, str]:
    rt = clinic.rt
    other = uuid.UUID(clinic.run(clinic.platform, lambda u: rt.people.create_tenant(u, "D"))["id"])
    staff = {}
    for kind, name in ((StaffType.HOSPITAL_ADMIN, "Ola"), (StaffType.DOCTOR, "Omar")):
        staff[kind] = uuid.UUID(
            clinic.run(
                clinic.platform,
                lambda u, k=kind, n=name: rt.people.register_staff(
                    u, other, k, n, "Staff", f"{n.lower()}@d.example"
                ),
            )["id"]
        )
    doctor = staff[StaffType.DOCTOR]
    clinic.run(clinic.platform, lambda u: rt.people.approve_staff(u, doctor))
    patient = uuid.UUID(
        clinic.run(
            Actor(doctor, Role.DOCTOR, other),
            lambda u: rt.people.invite_patient(u, "Ann", "Lee", "ann@d.example", "UTC", []),
        )["patientId"]
    )
    admin = Actor(staff[StaffType.HOSPITAL_ADMIN], Role.HOSPITAL_ADMIN, other)
    template = uuid.UUID(
        clinic.run(admin, lambda u: rt.surveys.create_template(u, "Visit", QUESTIONS))["id"]
    )
    nonce = secrets.token_bytes(16)
    survey = clinic.run(admin, lambda u: rt.surveys.send(u, template, patient, nonce))
    clinic.answer(survey["token"], 1, 1)
    return other, str(survey["surveyId"])


# -- details -----------------------------------------------------------------------------------


def test_the_survey_detail_shows_contacts_summary_and_follow_up_feedbacks(
    clinic: SurveyClinic,
) -> None:
    survey, _ = clinic.negative_survey()
    clinic.advance(1)
    clinic.log_contact(survey, "First call.", "unresolved")
    check = clinic.send_check(survey)
    expire_check(clinic)
    clinic.log_contact(survey, "Second call.", "resolved")
    detail = view(clinic).survey(str(survey))
    assert detail is not None
    assert [c["notes"] for c in detail["contacts"]] == ["First call.", "Second call."]
    assert detail["contactSummary"]["notes"] == "Second call."
    assert detail["contactSummary"]["count"] == 2
    assert detail["contactSummary"]["by"] == str(clinic.admin.user_id)
    assert [(f["id"], f["status"]) for f in detail["followUpFeedbacks"]] == [
        (check["feedbackId"], "expired")
    ]
    assert not any(k.startswith("_") for k in detail)


def test_the_feedback_detail_keeps_its_survey_card_current(clinic: SurveyClinic) -> None:
    survey, _ = clinic.negative_survey()
    clinic.log_contact(survey, "First call.")
    check = clinic.send_check(survey)
    expire_check(clinic)
    clinic.log_contact(survey, "Second call.", "explained")
    feedback = view(clinic).feedback(check["feedbackId"])
    assert feedback is not None
    assert (feedback["type"], feedback["status"]) == ("SATISFACTION_CHECK", "expired")
    assert feedback["remindedAt"] is not None
    card = feedback["relatedSurvey"]
    assert (card["id"], card["name"], card["score"], card["isNegative"]) == (
        str(survey),
        "Visit",
        1.5,
        True,
    )
    assert card["patientContact"]["notes"] == "Second call."
    assert card["patientContact"]["outcome"] == "explained"
    assert card["contactCount"] == 2
    assert card["link"] == f"/v1/surveys/{survey}"


def test_templates_are_listed_by_name(clinic: SurveyClinic) -> None:
    clinic.run(clinic.admin, lambda u: clinic.rt.surveys.create_template(u, "Annual", QUESTIONS))
    names = [t["name"] for t in view(clinic).templates(tenant(clinic))]
    assert names == ["Annual", "Visit"]
    template = view(clinic).template(str(clinic.template))
    assert template is not None
    assert (template["version"], template["negativeThreshold"]) == (1, 3.0)


# -- public forms ------------------------------------------------------------------------------


def test_the_public_forms_speak_arabic_to_a_patient_who_reads_it(clinic: SurveyClinic) -> None:
    clinic.run(clinic.admin, lambda u: clinic.rt.people.set_language(u, clinic.patient, "ar"))
    survey = clinic.send()
    form = view(clinic).public_form(str(link_id(token_hash(survey["token"]))))
    assert form is not None
    assert (form["kind"], form["language"], form["templateName"]) == ("survey", "ar", "Visit")
    assert form["questions"] == [{"id": q.id, "text": q.translations["ar"]} for q in QUESTIONS]
    assert (form["subjectId"], form["usedAt"]) == (survey["surveyId"], None)
    assert form["tokenHash"] == token_hash(survey["token"])

    clinic.answer(survey["token"], 1, 1)
    used = view(clinic).public_form(form["id"])
    assert used is not None and used["usedAt"] is not None

    clinic.log_contact(uuid.UUID(survey["surveyId"]))
    check = clinic.send_check(uuid.UUID(survey["surveyId"]))
    check_form = view(clinic).public_form(str(link_id(token_hash(check["token"]))))
    assert check_form is not None
    assert (check_form["kind"], check_form["subjectId"]) == (
        "satisfaction_check",
        check["feedbackId"],
    )
    assert (check_form["surveyName"], check_form["language"], check_form["question"]) == (
        "Visit",
        "ar",
        SATISFACTION_QUESTION["ar"],
    )


def test_an_unknown_link_has_no_form(clinic: SurveyClinic) -> None:
    assert view(clinic).public_form(str(uuid.uuid4())) is None


# -- stats -----------------------------------------------------------------------------------


def test_stats_count_a_small_known_set_answered_in_the_range(clinic: SurveyClinic) -> None:
    hour = 3600.0
    answered(clinic, 1, 1)  # negative, but answered before the range
    clinic.advance(1)
    start = clinic.clock.now()
    answered(clinic, 5, 5)
    improved = answered(clinic, 1, 2)
    clinic.advance(2 * hour / DAY)
    clinic.log_contact(uuid.UUID(improved))  # 2 h after its answer
    good = clinic.send_check(uuid.UUID(improved))
    clinic.answer_check(good["token"], 5)
    not_improved = answered(clinic, 2, 2)
    clinic.advance(4 * hour / DAY)
    clinic.log_contact(uuid.UUID(not_improved))  # 4 h after its answer
    bad = clinic.send_check(uuid.UUID(not_improved))
    clinic.answer_check(bad["token"], 3)
    answered(clinic, 1, 1)  # negative, never contacted
    clinic.advance(1)
    end = clinic.clock.now()
    answered(clinic, 1, 1, hours=0)  # answered at the end: outside [start, end)

    assert view(clinic).stats(tenant(clinic), start, end) == {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "surveysAnswered": 4,
        "negativeSurveys": 3,
        "contacted": 2,
        "contactedShare": 2 / 3,
        "medianTimeToContactSeconds": 3 * hour,
        "checksSent": 2,
        "checksAnswered": 2,
        "satisfactionImprovementRate": 1 / 3,
    }
    everything = view(clinic).stats(tenant(clinic), None, None)
    assert (everything["surveysAnswered"], everything["negativeSurveys"]) == (6, 5)
    assert (everything["from"], everything["to"]) == (None, None)
    later = view(clinic).stats(tenant(clinic), end + timedelta(seconds=1), None)
    assert (later["surveysAnswered"], later["contactedShare"]) == (0, None)


# -- indexed reads -----------------------------------------------------------------------------


def test_every_list_query_reads_one_index_range_on_sqlite(tmp_path: Path) -> None:
    """No query reads a tenant's partition to filter or sort it (SQLite's plan shows it;
    with an equality on tenant_id it would pick that index and sort the partition)."""
    clinic = SurveyClinic(tmp_path)
    try:
        survey, _ = clinic.negative_survey()
        clinic.log_contact(survey)
        surveys = view(clinic)
        conn = clinic.rt.store._conn()  # type: ignore[attr-defined]
        queries: list[str] = []
        conn.set_trace_callback(queries.append)
        try:
            surveys.surveys(tenant(clinic), None, None, None, 5)
            surveys.surveys(tenant(clinic), True, None, None, 5)
            surveys.surveys(tenant(clinic), None, "contacted", None, 5)
            surveys.surveys(tenant(clinic), False, "answered", None, 5)
            surveys.needs_action(tenant(clinic), None, 5)
            surveys.stats(tenant(clinic), None, None)
        finally:
            conn.set_trace_callback(None)
        assert len(queries) == 6
        for query in queries:
            plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {query}"))
            assert "USING INDEX survey_" in plan and "_sort (sort_key>? AND sort_key<?)" in plan
            assert "TEMP B-TREE" not in plan, plan
    finally:
        clinic.close_runtime()


# -- rebuild -----------------------------------------------------------------------------------


def stored(clinic: SurveyClinic) -> dict[str, list[Doc]]:
    return {table: clinic.rt.store.list(table) for table in SurveyProjection.tables}


def test_replaying_from_position_zero_rebuilds_the_same_rows(clinic: SurveyClinic) -> None:
    closed, _ = clinic.negative_survey()
    clinic.log_contact(closed)
    check = clinic.send_check(closed)
    clinic.answer_check(check["token"], 4)
    clinic.close(uuid.UUID(check["feedbackId"]))
    expired, _ = clinic.negative_survey()
    clinic.log_contact(expired)
    clinic.send_check(expired)
    expire_check(clinic)
    answered(clinic, 5, 5)
    sent(clinic)
    clinic.rt.catch_up()
    built = stored(clinic)
    assert all(built[t] for t in ("survey", "survey_listing", "survey_feedback", "survey_link"))

    projection = clinic.rt.runners[SurveyProjection.name].projection
    clinic.rt.store.reset(projection.name, projection.tables)
    assert all(rows == [] for rows in stored(clinic).values())
    clinic.rt.catch_up()
    assert stored(clinic) == built
