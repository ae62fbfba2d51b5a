"""The pages a patient's one-time link opens: small server-rendered forms that need no
JavaScript, work on a phone, and post back to themselves (form-encoded). They are what
the survey loop's emails and pushes link to (`PUBLIC_SURVEY_PATH`, `PUBLIC_FEEDBACK_PATH`).

Each page answers what the JSON API would, as a page: the form (200), "Thank you" after
an answer (200), "Already answered" or "Link expired" (410), "Link not found" (404), and
the form again with what is missing (422). Arabic pages are right to left. The token is
in the URL, so no page may be cached or pass its address on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import TypeAdapter, ValidationError

from api.deps import RequestDep, RequestFacts, RuntimeDep
from api.routers.public_surveys import (
    CLOSED,
    EXPIRED,
    PRIVATE,
    USED,
    as_link_holder,
    find_form,
    gone_reason,
)
from api.schemas.surveys import Comment
from bootstrap.runtime import Runtime
from domain.shared.errors import InvalidInputError
from domain.shared.unit_of_work import UnitOfWork
from domain.surveys.application import PUBLIC_FEEDBACK_PATH, PUBLIC_SURVEY_PATH
from domain.surveys.errors import LinkGoneError, UnknownLinkError
from domain.surveys.link import LinkPurpose

router = APIRouter(include_in_schema=False)

_PAGES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates" / "public"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

HEADERS = {
    **PRIVATE,
    # No script, no frame, no request anywhere but back to this page.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
}
RIGHT_TO_LEFT = frozenset({"ar", "fa", "he", "ur"})
SCALE = frozenset({"1", "2", "3", "4", "5"})
TOKEN_MAX = 200
_COMMENT = TypeAdapter(Comment)

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "instructions": "Please rate each question from 1 (very poor) to 5 (excellent).",
        "low": "Very poor",
        "high": "Excellent",
        "comment": "Comment (optional)",
        "submit": "Send answers",
        "submit_check": "Send",
        "fix": "Please answer every question.",
        "choose": "Please choose a number from 1 to 5.",
        "comment_invalid": "Please shorten your comment (at most 5000 characters).",
        "thanks_title": "Thank you",
        "thanks": "Your answers were received.",
        "thanks_check": "Your answer was received.",
        "used_title": "Already answered",
        "used": "This link was already used to answer. Thank you!",
        "expired_title": "Link expired",
        "expired": "This link has expired. Please contact your clinic if you would like "
        "to share your feedback.",
        "closed_title": "Follow-up closed",
        "closed": "Your clinic has closed this follow-up, so it no longer takes answers. "
        "Thank you.",
        "not_found_title": "Link not found",
        "not_found": "This link is not valid. Please check that you opened the whole link "
        "from your message.",
    },
    "ar": {
        "instructions": "يرجى تقييم كل سؤال من 1 (ضعيف جدًا) إلى 5 (ممتاز).",
        "low": "ضعيف جدًا",
        "high": "ممتاز",
        "comment": "تعليق (اختياري)",
        "submit": "إرسال الإجابات",
        "submit_check": "إرسال",
        "fix": "يرجى الإجابة عن كل سؤال.",
        "choose": "يرجى اختيار رقم من 1 إلى 5.",
        "comment_invalid": "يرجى تقصير تعليقك (5000 حرف كحد أقصى).",
        "thanks_title": "شكرًا لك",
        "thanks": "تم استلام إجاباتك.",
        "thanks_check": "تم استلام إجابتك.",
        "used_title": "تمت الإجابة مسبقًا",
        "used": "تم استخدام هذا الرابط للإجابة من قبل. شكرًا لك!",
        "expired_title": "انتهت صلاحية الرابط",
        "expired": "انتهت صلاحية هذا الرابط. يرجى التواصل مع عيادتك إذا رغبت في مشاركة ملاحظاتك.",
        "closed_title": "تم إغلاق المتابعة",
        "closed": "أغلقت عيادتك هذه المتابعة، لذا لم تعد تقبل الإجابات. شكرًا لك.",
        "not_found_title": "الرابط غير موجود",
        "not_found": "هذا الرابط غير صالح. يرجى التأكد من فتح الرابط كاملًا من رسالتك.",
    },
}


def texts(language: str) -> dict[str, str]:
    return TEXTS.get(_primary(language), TEXTS["en"])


def _primary(language: str) -> str:
    return language.split("-", 1)[0].lower()


def page(template: str, status: int, language: str, **context: Any) -> HTMLResponse:
    html = _PAGES.get_template(template).render(
        lang=language,
        dir="rtl" if _primary(language) in RIGHT_TO_LEFT else "ltr",
        t=texts(language),
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def notice(status: int, language: str, what: str) -> HTMLResponse:
    """A page that only says something: `what` names its title and message texts."""
    said = texts(language)
    return page("notice.html", status, language, title=said[f"{what}_title"], message=said[what])


def not_found() -> HTMLResponse:
    return notice(404, "en", "not_found")


def gone(language: str, reason: str) -> HTMLResponse:
    return notice(410, language, reason if reason in (USED, EXPIRED, CLOSED) else USED)


async def form_fields(request: Request) -> dict[str, str]:
    """A form-encoded body's fields (the first value of each)."""
    body = await request.body()
    try:
        parsed = parse_qs(
            body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=200
        )
    except ValueError:
        return {}
    return {name: values[0] for name, values in parsed.items()}


FormFields = Annotated[dict[str, str], Depends(form_fields)]


def _comment_error(comment: str, language: str) -> dict[str, str]:
    try:
        _COMMENT.validate_python(comment)
    except ValidationError:
        return {"comment": texts(language)["comment_invalid"]}
    return {}


def _domain_errors(error: InvalidInputError, language: str) -> dict[str, str]:
    """The fields a domain 422 names, as the form's keys (`answers.care` -> `care`)."""
    said = texts(language)
    named: dict[str, str] = {}
    for problem in error.errors:
        field = str(problem.get("field", ""))
        key = field.removeprefix("answers.")
        named[key] = said["comment_invalid"] if key == "comment" else said["choose"]
    return named


def _open(
    runtime: Runtime, token: str, purpose: LinkPurpose
) -> tuple[dict[str, Any] | None, HTMLResponse | None]:
    """The link's form while it can be answered, else the page that says why not."""
    if len(token) > TOKEN_MAX:
        return None, not_found()
    try:
        form = find_form(runtime, token, purpose)
    except UnknownLinkError:
        return None, not_found()
    reason = gone_reason(runtime, form)
    if reason is not None:
        return None, gone(form["language"], reason)
    return form, None


def _submit(
    runtime: Runtime,
    request: RequestFacts,
    token: str,
    purpose: LinkPurpose,
    language: str,
    command: Callable[[UnitOfWork], object],
    reshow: Callable[[Mapping[str, str]], HTMLResponse],
    thanks: str,
) -> HTMLResponse:
    """Runs a form's answer as the link's patient: "Thank you", the form again with the
    domain's objections (422), or the page of a link that is unknown or gone."""
    try:
        runtime.commands.run(as_link_holder(runtime, token, purpose, request), command)
    except UnknownLinkError:
        return not_found()
    except LinkGoneError as e:
        return gone(language, str(e.extra.get("reason", USED)))
    except InvalidInputError as e:
        return reshow(_domain_errors(e, language))
    return page(
        "notice.html",
        200,
        language,
        title=texts(language)["thanks_title"],
        message=texts(language)[thanks],
    )


# -- the survey ---------------------------------------------------------------------------


def survey_form(
    form: dict[str, Any],
    chosen: Mapping[str, str] | None = None,
    comment: str = "",
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    return page(
        "survey.html",
        status,
        form["language"],
        title=form["templateName"],
        questions=form["questions"],
        chosen=chosen or {},
        comment=comment,
        errors=errors or {},
    )


@router.get(PUBLIC_SURVEY_PATH + "{token}", response_class=HTMLResponse)
def survey_page(token: str, runtime: RuntimeDep) -> HTMLResponse:
    """The survey's form: each question 1-5, and a comment."""
    form, refusal = _open(runtime, token, LinkPurpose.SURVEY)
    if form is None:
        assert refusal is not None
        return refusal
    return survey_form(form)


@router.post(PUBLIC_SURVEY_PATH + "{token}", response_class=HTMLResponse)
def answer_survey_page(
    token: str, fields: FormFields, runtime: RuntimeDep, request: RequestDep
) -> HTMLResponse:
    """The form's answers: "Thank you", or the form again with what is missing."""
    form, refusal = _open(runtime, token, LinkPurpose.SURVEY)
    if form is None:
        assert refusal is not None
        return refusal
    language = form["language"]
    chosen = {q["id"]: fields.get(f"answers.{q['id']}", "") for q in form["questions"]}
    comment = fields.get("comment", "")
    errors = {qid: texts(language)["choose"] for qid, value in chosen.items() if value not in SCALE}
    errors.update(_comment_error(comment, language))
    if errors:
        return survey_form(form, chosen, comment, errors, 422)
    answers = {qid: int(value) for qid, value in chosen.items()}
    return _submit(
        runtime,
        request,
        token,
        LinkPurpose.SURVEY,
        language,
        lambda uow: runtime.surveys.answer(uow, token, answers, comment or None),
        lambda problems: survey_form(form, chosen, comment, problems, 422),
        "thanks",
    )


# -- the satisfaction check ---------------------------------------------------------------


def check_form(
    form: dict[str, Any],
    chosen: Mapping[str, str] | None = None,
    comment: str = "",
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    return page(
        "feedback.html",
        status,
        form["language"],
        title=form["surveyName"],
        question=form["question"],
        chosen=chosen or {},
        comment=comment,
        errors=errors or {},
    )


@router.get(PUBLIC_FEEDBACK_PATH + "{token}", response_class=HTMLResponse)
def feedback_page(token: str, runtime: RuntimeDep) -> HTMLResponse:
    """The satisfaction check's form: one rating 1-5, and a comment."""
    form, refusal = _open(runtime, token, LinkPurpose.SATISFACTION_CHECK)
    if form is None:
        assert refusal is not None
        return refusal
    return check_form(form)


@router.post(PUBLIC_FEEDBACK_PATH + "{token}", response_class=HTMLResponse)
def answer_feedback_page(
    token: str, fields: FormFields, runtime: RuntimeDep, request: RequestDep
) -> HTMLResponse:
    """The rating: "Thank you", or the form again when no rating was chosen."""
    form, refusal = _open(runtime, token, LinkPurpose.SATISFACTION_CHECK)
    if form is None:
        assert refusal is not None
        return refusal
    language = form["language"]
    rating = fields.get("rating", "")
    comment = fields.get("comment", "")
    errors = {} if rating in SCALE else {"rating": texts(language)["choose"]}
    errors.update(_comment_error(comment, language))
    if errors:
        return check_form(form, {"rating": rating}, comment, errors, 422)
    return _submit(
        runtime,
        request,
        token,
        LinkPurpose.SATISFACTION_CHECK,
        language,
        lambda uow: runtime.surveys.answer_check(uow, token, int(rating), comment or None),
        lambda problems: check_form(form, {"rating": rating}, comment, problems, 422),
        "thanks_check",
    )
