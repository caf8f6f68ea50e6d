"""The base of every workflow input, result, signal, update and query model.

Frozen, and tolerant of fields it does not know: a field can be added with a default without
breaking histories already recorded, and an older reader ignores what a newer writer added.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
