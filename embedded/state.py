"""The state file of `aitp up`: which children run, with which pid, at which address.

`status` and `down` read it from any process; it is replaced atomically so a reader never
sees half a file.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, Field

STATE_FILE = "platform.json"
LOCK_FILE = ".platform.lock"


class ComponentRecord(BaseModel):
    name: str
    pid: int | None
    address: str
    url: str
    marker: str = Field(description="text in the child's command line that proves the pid is ours")
    log: str | None = None


class PlatformState(BaseModel):
    components: dict[str, ComponentRecord] = Field(default_factory=dict)


def load(data_dir: Path) -> PlatformState:
    path = data_dir / STATE_FILE
    if not path.exists():
        return PlatformState()
    return PlatformState.model_validate_json(path.read_bytes())


def save(data_dir: Path, state: PlatformState) -> None:
    path = data_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.model_dump_json(indent=2))
    os.replace(tmp, path)


@contextmanager
def exclusive(data_dir: Path) -> Iterator[None]:
    """Serialise `up` and `down` on one data dir, so two of them never race to start a copy."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / LOCK_FILE).open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
