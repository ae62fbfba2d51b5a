"""What the survey loop says, to patients and to staff. `$link` stands for the patient's
one-time link: the outbox writes it in when it sends (workers/outbox/links.py), so no
token is ever stored in a message."""

from __future__ import annotations

from dataclasses import dataclass

from domain.privacy.personal import PersonalText

LINK = "$link"

SATISFACTION_QUESTION = {
    "en": "How satisfied are you with how your concerns were addressed?",
    "ar": "ما مدى رضاك عن طريقة معالجة مخاوفك؟",
}


def satisfaction_question(language: str) -> tuple[str, str]:
    """(language, text): the patient's language where there is a text in it, else English."""
    if language in SATISFACTION_QUESTION:
        return language, SATISFACTION_QUESTION[language]
    return "en", SATISFACTION_QUESTION["en"]


@dataclass(frozen=True)
class Note:
    """One message, as an email (subject, text) and as a push (title, body). A text that
    quotes the patient's name is their personal text, sealed with their key, whoever it
    goes to (docs/privacy.md); the outbox opens it when it sends."""

    subject: str | PersonalText
    text: str | PersonalText
    title: str | PersonalText
    body: str | PersonalText


def quoting(name: PersonalText, text: str) -> PersonalText:
    """`text`, which quotes the patient's name, as the patient's personal text."""
    return PersonalText(name.subject, text)


def survey_invitation(name: PersonalText, survey_name: str) -> Note:
    return Note(
        subject=f"How are we doing? {survey_name}",
        text=quoting(
            name,
            f"Hello {name.text},\n\n"
            f"Your care team would like to hear how things are going. Please answer the "
            f'short survey "{survey_name}" at this link:\n\n{LINK}\n\n'
            "The link is personal and works once. Thank you!",
        ),
        title="A short survey from your clinic",
        body=f"Tell us how we are doing: {survey_name}. Tap to answer.",
    )


def satisfaction_check(name: PersonalText) -> Note:
    return Note(
        subject="Did we address your concerns?",
        text=quoting(
            name,
            f"Hello {name.text},\n\n"
            "Thank you for talking with us about your recent survey. Please tell us how "
            f"satisfied you are with how your concerns were addressed:\n\n{LINK}\n\n"
            "It takes one tap. The link is personal and works once.",
        ),
        title="Did we address your concerns?",
        body="One question about how we followed up. Tap to answer.",
    )


def satisfaction_reminder(name: PersonalText) -> Note:
    return Note(
        subject="Reminder: did we address your concerns?",
        text=quoting(
            name,
            f"Hello {name.text},\n\n"
            "A reminder: we would still like to know how satisfied you are with how your "
            f"concerns were addressed:\n\n{LINK}\n\nThank you.",
        ),
        title="Reminder: one question from your clinic",
        body="How satisfied are you with how we followed up? Tap to answer.",
    )


def negative_survey_alert(name: PersonalText, survey_name: str, score: float) -> Note:
    return Note(
        subject=quoting(name, f"Negative survey: {name.text}"),
        text=quoting(
            name,
            f'{name.text} scored {score:.1f}/5 on "{survey_name}". '
            "Contact the patient and log it on the survey.",
        ),
        title="Negative survey needs follow-up",
        body=quoting(name, f"{name.text} scored {score:.1f}/5 on {survey_name}. Tap to view."),
    )
