"""Response bodies of the operations endpoints: read-model status and health."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from api.schemas.people import CamelModel, CamelOut, omitted_if_none


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


class WhatIf(CamelModel):
    """A what-if rebuild: fold a scratch copy of the read model under changed parameters,
    beside the live one, never swapped in."""

    into: str = Field(
        description="The scratch copy's name: 1-20 lowercase letters, digits and `_`, "
        "starting with a letter. A later what-if into the same name replaces it."
    )
    parameters: dict[str, StrictStr | StrictInt | StrictFloat | StrictBool] = Field(
        default_factory=dict,
        description="Fold parameters changed from their defaults, e.g. "
        '`{"high_pain": 6}` for `workout_session`.',
    )


class RebuildStarted(CamelOut):
    name: str
    status: Literal["rebuilding"]
    into: str | None = omitted_if_none("The scratch copy, for a what-if rebuild.")


class WhatIfFigure(CamelOut):
    figure: str
    help: str
    live: int
    what_if: int
    difference: int


class WhatIfComparison(CamelOut):
    name: str
    into: str
    parameters: dict[str, Any]
    status: Literal["rebuilding", "done"]
    position: int = Field(description="The log position the scratch copy has folded.")
    figures: list[WhatIfFigure] = Field(
        description="Each figure the read model declares, then its tables' row counts."
    )


class Check(BaseModel):
    """One dependency's check; `error` names what failed."""

    model_config = ConfigDict(extra="allow")

    ok: bool
    backend: str | None = None
    error: str | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, Check] = Field(description="`store` and `broker`.")
