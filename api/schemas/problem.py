"""The one error body every operation answers with: an RFC 9457 problem, as `api.errors`
writes it. Documentation only: the server builds these bodies in `api.errors`, and the
contract test checks every one it sends against this schema."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FieldProblem(BaseModel):
    """One field-level problem of an invalid request."""

    # A problem may name more about the field (`index`, `value` of a rejected list item).
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    field: str = Field(
        description="The field, dotted for nested ones (`exercises.0.name`); a parameter's "
        "or a header's name (`minPosition`, `Idempotency-Key`)."
    )
    message: str = Field(description="What is wrong with it.")
    in_: str | None = Field(
        default=None, alias="in", description="Where the field is: body, query, path, header."
    )
    type: str | None = Field(default=None, description="A machine-readable kind of problem.")


class Problem(BaseModel):
    """An RFC 9457 problem (`application/problem+json`)."""

    # RFC 9457 extension members, such as `flag` on a feature-disabled 403.
    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI naming the kind of problem: `urn:careloop:problem:*`.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code, repeated.")
    detail: str = Field(description="What went wrong with this request, for a person.")
    instance: str | None = Field(default=None, description="A URI naming this occurrence.")
    errors: list[FieldProblem] | None = Field(
        default=None, description="Field-level problems; present on most 422s."
    )
