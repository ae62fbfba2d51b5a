"""Response bodies of the operations endpoints: read-model status and health."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.people import CamelOut, omitted_if_none


class RebuildProgress(CamelOut):
    position: int = Field(description="The last position the new tables have folded.")
    head_position: int = Field(description="The log's head.")
    events_per_second: float = Field(description="Since the rebuild started or resumed.")
    started_at: str


class ProjectionStatus(CamelOut):
    name: str
    kind: Literal["read_model", "process_manager"]
    position: int = Field(description="The last position of the log this follower processed.")
    head_position: int = Field(description="The log's head.")
    lag: int = Field(description="Events of the log the follower has not processed yet.")
    status: Literal["live", "rebuilding"] = Field(
        description="`rebuilding`: new tables are being folded beside the live ones, which "
        "keep answering."
    )
    rebuild: RebuildProgress | None = omitted_if_none("Present while `status` is `rebuilding`.")


class RebuildStarted(CamelOut):
    name: str
    status: Literal["rebuilding"]


class Check(BaseModel):
    """One dependency's check; `error` names what failed."""

    model_config = ConfigDict(extra="allow")

    ok: bool
    backend: str | None = None
    error: str | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, Check] = Field(description="`store` and `broker`.")
