"""The survey loop (spec: survey-feedback-integration): templates, surveys sent to
patients by a one-time link, and the follow-up of a negative survey (contact, satisfaction
check, close or escalate)."""
