"""A survey template: named questions on a 1-5 scale and the threshold below which an
answered survey is negative. Templates are versioned: a revision makes a new version,
and a survey keeps the version it was sent with (its `TemplateVersion` snapshot), so a
later change never rewrites what an answered survey meant."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.domain import event

from domain.shared.aggregate import CareLoopAggregate
from domain.shared.languages import LANGUAGE
from domain.shared.payloads import payload
from domain.surveys.errors import InvalidTemplateError

SCALE_MIN, SCALE_MAX = 1, 5
DEFAULT_THRESHOLD = 3.0
DEFAULT_LANGUAGE = "en"
MAX_QUESTIONS = 50
NAME_MAX = 200
TEXT_MAX = 1000
QUESTION_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


@payload("survey_question")
@dataclass(frozen=True)
class Question:
    """One question: its text in the template's default language, and translations keyed
    by language."""

    id: str
    text: str
    translations: Mapping[str, str] = field(default_factory=dict)

    def text_in(self, language: str) -> str | None:
        return self.translations.get(language)


@payload("survey_template_version")
@dataclass(frozen=True)
class TemplateVersion:
    """What a survey is sent with: one version of a template, frozen."""

    template_id: uuid.UUID
    version: int
    name: str
    negative_threshold: float
    default_language: str
    questions: tuple[Question, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "questions", tuple(self.questions))

    def language_for(self, preferred: str | None) -> str:
        """The patient's language where every question has a text in it; else the
        template's default."""
        if preferred is None or preferred == self.default_language:
            return self.default_language
        if all(q.text_in(preferred) for q in self.questions):
            return preferred
        return self.default_language

    def form(self, language: str) -> list[tuple[str, str]]:
        """(question id, text) in `language`, each falling back to the default text."""
        return [(q.id, q.text_in(language) or q.text) for q in self.questions]

    def is_negative(self, score: float) -> bool:
        return score < self.negative_threshold


def validate(
    name: str,
    negative_threshold: float,
    default_language: str,
    questions: Sequence[Question],
) -> None:
    errors: list[dict[str, Any]] = []
    if not name.strip() or len(name) > NAME_MAX:
        errors.append({"field": "name", "message": f"1-{NAME_MAX} characters, not blank"})
    if not SCALE_MIN <= negative_threshold <= SCALE_MAX:
        errors.append(
            {"field": "negativeThreshold", "message": f"between {SCALE_MIN} and {SCALE_MAX}"}
        )
    if not LANGUAGE.match(default_language):
        errors.append({"field": "defaultLanguage", "message": "a language code such as en"})
    if not 1 <= len(questions) <= MAX_QUESTIONS:
        errors.append({"field": "questions", "message": f"1-{MAX_QUESTIONS} questions"})
    seen: set[str] = set()
    for i, q in enumerate(questions):
        where = f"questions[{i}]"
        if not QUESTION_ID.match(q.id):
            errors.append({"field": f"{where}.id", "message": "1-100 of A-Z a-z 0-9 _ . -"})
        elif q.id in seen:
            errors.append({"field": f"{where}.id", "message": f"duplicate id {q.id!r}"})
        seen.add(q.id)
        if not q.text.strip() or len(q.text) > TEXT_MAX:
            errors.append({"field": f"{where}.text", "message": f"1-{TEXT_MAX} characters"})
        for language, text in q.translations.items():
            if not LANGUAGE.match(language):
                errors.append(
                    {"field": f"{where}.translations", "message": f"bad language {language!r}"}
                )
            if not text.strip() or len(text) > TEXT_MAX:
                errors.append(
                    {
                        "field": f"{where}.translations.{language}",
                        "message": f"1-{TEXT_MAX} characters",
                    }
                )
    if errors:
        raise InvalidTemplateError("The survey template is not valid.", errors=errors)


class SurveyTemplate(CareLoopAggregate):
    class Created(CareLoopAggregate.Created):
        tenant_id: uuid.UUID
        created_by: uuid.UUID
        content: TemplateVersion

    class Revised(CareLoopAggregate.Event):
        revised_by: uuid.UUID
        content: TemplateVersion

    @event(Created)
    def __init__(
        self,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        created_by: uuid.UUID,
        content: TemplateVersion,
        timestamp: datetime,
    ) -> None:
        self.tenant_id: uuid.UUID | None = tenant_id
        self.current = content

    @classmethod
    def create(
        cls,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        created_by: uuid.UUID,
        name: str,
        questions: Sequence[Question],
        at: datetime,
        negative_threshold: float = DEFAULT_THRESHOLD,
        default_language: str = DEFAULT_LANGUAGE,
    ) -> SurveyTemplate:
        validate(name, negative_threshold, default_language, questions)
        content = TemplateVersion(
            id, 1, name, float(negative_threshold), default_language, tuple(questions)
        )
        return cls(id=id, tenant_id=tenant_id, created_by=created_by, content=content, timestamp=at)

    def revise(
        self,
        by: uuid.UUID,
        at: datetime,
        name: str | None = None,
        negative_threshold: float | None = None,
        questions: Sequence[Question] | None = None,
        default_language: str | None = None,
    ) -> TemplateVersion:
        """Makes the next version from the current one and what is given; surveys sent
        before keep the version they were sent with."""
        now = self.current
        content = TemplateVersion(
            self.id,
            now.version + 1,
            now.name if name is None else name,
            now.negative_threshold if negative_threshold is None else float(negative_threshold),
            now.default_language if default_language is None else default_language,
            now.questions if questions is None else tuple(questions),
        )
        validate(
            content.name, content.negative_threshold, content.default_language, content.questions
        )
        self._revised(revised_by=by, content=content, timestamp=at)
        return content

    @event(Revised)
    def _revised(
        self, revised_by: uuid.UUID, content: TemplateVersion, timestamp: datetime
    ) -> None:
        self.current = content
