"""Treatment plans (spec: treatment-plans): the exercise library, plans designed as
drafts and published as immutable versions, enrollments pinned to a version, and the
progress of the sessions a patient performs."""
