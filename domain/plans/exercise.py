"""An exercise of the library: global (the platform's, no tenant) or a clinic's own.
Plans reference exercises by id and never copy them: editing one changes what every
plan version shows."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from eventsourcing.domain import event

from domain.plans.errors import InvalidPlanError
from domain.shared.aggregate import CareLoopAggregate

NAME_MAX = 200
TEXT_MAX = 5000


def validate_exercise(
    name: str, body_region: str | None, description: str | None, video_url: str | None
) -> None:
    errors: list[dict[str, Any]] = []
    if not name.strip() or len(name) > NAME_MAX:
        errors.append({"field": "name", "message": f"1-{NAME_MAX} characters, not blank"})
    if body_region is not None and (not body_region.strip() or len(body_region) > 100):
        errors.append({"field": "bodyRegion", "message": "1-100 characters"})
    if description is not None and len(description) > TEXT_MAX:
        errors.append({"field": "description", "message": f"at most {TEXT_MAX} characters"})
    if video_url is not None:
        parts = urlsplit(video_url)
        if parts.scheme != "https" or not parts.netloc or len(video_url) > 2000:
            errors.append({"field": "videoUrl", "message": "an https URL"})
    if errors:
        raise InvalidPlanError("The exercise is not valid.", errors=errors)


class Exercise(CareLoopAggregate):
    class Created(CareLoopAggregate.Created):
        tenant_id: uuid.UUID | None
        created_by: uuid.UUID
        name: str
        body_region: str | None
        description: str | None
        video_url: str | None

    class Edited(CareLoopAggregate.Event):
        name: str
        body_region: str | None
        description: str | None
        video_url: str | None

    @event(Created)
    def __init__(
        self,
        id: uuid.UUID,
        tenant_id: uuid.UUID | None,
        created_by: uuid.UUID,
        name: str,
        body_region: str | None,
        description: str | None,
        video_url: str | None,
        timestamp: datetime,
    ) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.body_region = body_region
        self.description = description
        self.video_url = video_url

    @classmethod
    def create(
        cls,
        id: uuid.UUID,
        tenant_id: uuid.UUID | None,
        created_by: uuid.UUID,
        name: str,
        at: datetime,
        body_region: str | None = None,
        description: str | None = None,
        video_url: str | None = None,
    ) -> Exercise:
        validate_exercise(name, body_region, description, video_url)
        return cls(
            id=id,
            tenant_id=tenant_id,
            created_by=created_by,
            name=name,
            body_region=body_region,
            description=description,
            video_url=video_url,
            timestamp=at,
        )

    @property
    def is_global(self) -> bool:
        return self.tenant_id is None

    def edit(
        self,
        name: str,
        body_region: str | None,
        description: str | None,
        video_url: str | None,
        at: datetime,
    ) -> None:
        validate_exercise(name, body_region, description, video_url)
        self._edited(
            name=name,
            body_region=body_region,
            description=description,
            video_url=video_url,
            timestamp=at,
        )

    @event(Edited)
    def _edited(
        self,
        name: str,
        body_region: str | None,
        description: str | None,
        video_url: str | None,
        timestamp: datetime,
    ) -> None:
        self.name = name
        self.body_region = body_region
        self.description = description
        self.video_url = video_url
