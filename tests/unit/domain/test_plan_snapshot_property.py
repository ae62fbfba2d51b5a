"""A published version's snapshot never changes, whatever edits and publishes follow.

Hypothesis draws a plan and a sequence of steps: edits with random valid contents (new
sessions, reordered sessions, other parameters, other fields), edits that are invalid
and rejected, and publishes (some of which have nothing to publish, or a draft without an
exercise). After every step, every version published so far is what it was the moment it
was published, the latest is the highest, and the draft is what a simple model says. The
events, written and read back as the store does (the library's JSON mapper with
CareLoop's payload transcodings), replay to the same versions.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    UUIDAsHex,
)
from hypothesis import event, given, settings
from hypothesis import strategies as st

from domain.plans.content import (
    DURATION_WEEKS,
    FREQUENCY,
    HOLD_SECONDS,
    REPS,
    REST_SECONDS,
    SETS,
    ExerciseParams,
    PlanContent,
    PlanExercise,
    PlanSession,
    Scope,
)
from domain.plans.errors import InvalidPlanError, PlanStateError
from domain.plans.plan import PlanVersion, TreatmentPlan
from domain.shared.payloads import register_payloads
from tests.support.given import replay

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PLAN = uuid.UUID("00000000-0000-4000-a000-0000000aa001")
TENANT = uuid.UUID("00000000-0000-4000-a000-00000000c001")
DOCTOR = uuid.UUID("00000000-0000-4000-a000-00000000d001")
EXERCISES = [uuid.UUID(int=0xEE000 + i) for i in range(4)]
SESSION_IDS = [uuid.UUID(int=0xB5000 + i) for i in range(5)]


def bounded(bounds: tuple[int, int]) -> st.SearchStrategy[int]:
    return st.integers(*bounds)


params = st.one_of(
    st.builds(
        ExerciseParams,
        mode=st.just("reps"),
        sets=bounded(SETS),
        rest_between_sets_seconds=bounded(REST_SECONDS),
        reps=bounded(REPS),
    ),
    st.builds(
        ExerciseParams,
        mode=st.just("duration"),
        sets=bounded(SETS),
        rest_between_sets_seconds=bounded(REST_SECONDS),
        hold_seconds=bounded(HOLD_SECONDS),
    ),
)
some_exercises = st.lists(
    st.builds(PlanExercise, st.sampled_from(EXERCISES), params), min_size=1, max_size=3
).map(tuple)
titles = st.sampled_from(["Knee mobility", "Core", "Balance", "Week 2", "Gentler", "Ö ü ß"])
sessions = st.lists(
    st.builds(
        PlanSession,
        id=st.sampled_from(SESSION_IDS),
        title=titles,
        # Now and then a session without an exercise yet (a draft of only those cannot
        # be published).
        exercises=st.one_of(*[some_exercises] * 3, st.just(())),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda s: s.id,
).map(tuple)
optional_text = st.one_of(st.none(), st.sampled_from(["knee", "beginner", "ACL", "back"]))
contents = st.builds(
    PlanContent,
    title=titles,
    plan_type=st.sampled_from(["telerehab", "in_clinic"]),
    frequency_per_week=bounded(FREQUENCY),
    duration_weeks=bounded(DURATION_WEEKS),
    visibility=st.sampled_from(["private", "library"]),
    requires_approval=st.booleans(),
    sessions=sessions,
    condition=optional_text,
    difficulty=optional_text,
    body_region=optional_text,
    questionnaire=st.lists(st.sampled_from(["Pain?", "Difficulty?"]), max_size=2).map(tuple),
)


# What follows the first draft; an edit's content is drawn when the step runs, so that
# long sequences stay cheap to generate. Publishing is weighted up so that most runs
# reach several versions.
EDIT, INVALID_EDIT, PUBLISH = "edit", "invalid edit", "publish"
steps = st.lists(
    st.sampled_from([EDIT, EDIT, INVALID_EDIT, PUBLISH, PUBLISH, PUBLISH]), min_size=3, max_size=16
)


def stored_and_read_back(events: list[Any]) -> list[Any]:
    """The events as the event store writes and reads them."""
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    register_payloads(transcoder)
    mapper: Mapper[uuid.UUID] = Mapper(transcoder)
    return [mapper.to_domain_event(mapper.to_stored_event(e)) for e in events]


@settings(max_examples=200, deadline=None)
@given(first=contents, steps=steps, data=st.data())
def test_a_published_versions_snapshot_never_changes_whatever_follows(
    first: PlanContent, steps: list[str], data: st.DataObject
) -> None:
    plan = TreatmentPlan.design(PLAN, TENANT, Scope.CUSTOM, None, DOCTOR, first, T0)
    history = list(plan.collect_events())
    draft: PlanContent | None = first
    # Each version as it was the moment it was published, copied so nothing can share it.
    as_published: dict[int, PlanVersion] = {}

    for i, step in enumerate(steps, start=1):
        at = T0 + timedelta(minutes=i)
        if step == EDIT:
            content = data.draw(contents, label=f"edit {i}")
            plan.edit(content, at)
            latest = max(as_published) if as_published else None
            unchanged = draft is None and latest and as_published[latest].snapshot == content
            if not unchanged:  # saving a published plan unchanged starts no draft
                draft = content
        elif step == INVALID_EDIT:
            content = data.draw(contents, label=f"edit {i}")
            with pytest.raises(InvalidPlanError):
                plan.edit(replace(content, frequency_per_week=0), at)
        elif draft is None:
            with pytest.raises(PlanStateError):
                plan.publish(at)  # nothing new to publish
        elif not draft.is_publishable:
            with pytest.raises(InvalidPlanError):
                plan.publish(at)  # no session with an exercise
        else:
            version = plan.publish(at)
            assert version == PlanVersion(len(as_published) + 1, at, draft)
            as_published[version.version] = copy.deepcopy(version)
            draft = None
        history.extend(plan.collect_events())

        assert plan.draft == draft
        assert {n: plan.published(n) for n in as_published} == as_published
        assert plan.versions == as_published
        assert plan.latest == (as_published[max(as_published)] if as_published else None)
        assert plan.current == (draft if draft is not None else plan.latest.snapshot)  # type: ignore[union-attr]

    event(f"{len(as_published)} versions")
    rebuilt = replay(history)
    assert rebuilt.versions == as_published
    read_back = stored_and_read_back(history)
    assert [e.version for e in read_back if isinstance(e, TreatmentPlan.Published)] == [
        as_published[n] for n in sorted(as_published)
    ]
    from_store = replay(read_back)
    assert from_store.versions == as_published
    assert from_store.draft == draft
