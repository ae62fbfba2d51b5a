"""What the survey loop says, to patients and to staff. `$link` stands for the patient's
one-time link: the outbox writes it in when it sends (workers/outbox/links.py), so no
token is ever stored in a message."""

from __future__ import annotations

from dataclasses import dataclass

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
    """One message, as an email (subject, text) and as a push (title, body)."""

    subject: str
    text: str
    title: str
    body: str


def survey_invitation(patient_name: str, survey_name: str) -> Note:
    return Note(
        subject=f"How are we doing? {survey_name}",
        text=(
            f"Hello {patient_name},\n\n"
            f"Your care team would like to hear how things are going. Please answer the "
            f'short survey "{survey_name}" at this link:\n\n{LINK}\n\n'
            "The link is personal and works once. Thank you!"
        ),
        title="A short survey from your clinic",
        body=f"Tell us how we are doing: {survey_name}. Tap to answer.",
    )


def satisfaction_check(patient_name: str) -> Note:
    return Note(
        subject="Did we address your concerns?",
        text=(
            f"Hello {patient_name},\n\n"
            "Thank you for talking with us about your recent survey. Please tell us how "
            f"satisfied you are with how your concerns were addressed:\n\n{LINK}\n\n"
            "It takes one tap. The link is personal and works once."
        ),
        title="Did we address your concerns?",
        body="One question about how we followed up. Tap to answer.",
    )


def satisfaction_reminder(patient_name: str) -> Note:
    return Note(
        subject="Reminder: did we address your concerns?",
        text=(
            f"Hello {patient_name},\n\n"
            "A reminder: we would still like to know how satisfied you are with how your "
            f"concerns were addressed:\n\n{LINK}\n\nThank you."
        ),
        title="Reminder: one question from your clinic",
        body="How satisfied are you with how we followed up? Tap to answer.",
    )


def negative_survey_alert(patient_name: str, survey_name: str, score: float) -> Note:
    return Note(
        subject=f"Negative survey: {patient_name}",
        text=(
            f'{patient_name} scored {score:.1f}/5 on "{survey_name}". '
            "Contact the patient and log it on the survey."
        ),
        title="Negative survey needs follow-up",
        body=f"{patient_name} scored {score:.1f}/5 on {survey_name}. Tap to view.",
    )
