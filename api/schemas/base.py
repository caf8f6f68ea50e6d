"""Bases of every schema: inputs refuse unknown fields (no mass assignment of `tenant_id`,
`role` or `status` slipped into a body), outputs are frozen."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Output(BaseModel):
    model_config = ConfigDict(frozen=True)


T = TypeVar("T")


class Page(Output, Generic[T]):
    """One page of a list, newest first; pass `next_cursor` as `cursor` for the next one."""

    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="absent on the last page", examples=[None]
    )
