"""Which strategies a trader stopped, kept on disk so a restarted hot path does not quietly
start trading a strategy someone switched off.

One small JSON file per account beside the venue journal, replaced atomically (write a
temporary file, fsync, rename): a crash leaves the old switches or the new ones, never half.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

import orjson


class StrategySwitches:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, bool]:
        try:
            raw = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        return {str(name): bool(on) for name, on in raw.items()}

    def apply(self, enabled: dict[str, bool]) -> None:
        """Restore the saved switch of every strategy that still runs; others keep theirs."""
        for name, on in self.load().items():
            if name in enabled:
                enabled[name] = on

    def save(self, enabled: Mapping[str, bool]) -> None:
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(orjson.dumps(dict(enabled), option=orjson.OPT_SORT_KEYS))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        with contextlib.suppress(OSError):  # the rename is durable once the directory is
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
