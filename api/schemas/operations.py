"""Response bodies of the operations endpoints: read-model status and health."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.people import CamelOut


class ProjectionStatus(CamelOut):
    name: str
    position: int = Field(description="The last position of the log this read model processed.")
    head_position: int = Field(description="The log's head.")
    lag: int = Field(description="Events of the log the read model has not processed yet.")
    status: Literal["current", "catching_up"]


class Check(BaseModel):
    """One dependency's check; `error` names what failed."""

    model_config = ConfigDict(extra="allow")

    ok: bool
    backend: str | None = None
    error: str | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, Check] = Field(description="`store` and `broker`.")
