"""The one output format of every benchmark: figures, then a JSON line with targets (DESIGN.md)."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass(frozen=True)
class Target:
    name: str
    op: str  # ">=" or "<="
    target: float


def machine() -> str:
    return (
        f"{platform.processor() or platform.machine()}, {psutil.cpu_count(logical=True)} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}"
    )


def report(bench: str, figures: dict[str, float | int | str], targets: list[Target]) -> None:
    rows = []
    for t in targets:
        value = figures[t.name]
        assert isinstance(value, int | float)
        met = value >= t.target if t.op == ">=" else value <= t.target
        rows.append({"name": t.name, "value": value, "op": t.op, "target": t.target, "met": met})
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        shown = (
            f"{value:,.2f}"
            if isinstance(value, float)
            else f"{value:,}"
            if isinstance(value, int)
            else value
        )
        print(f"  {key:<{width}}  {shown}")
    for row in rows:
        verdict = "met" if row["met"] else "NOT met"
        print(f"  target {row['name']} {row['op']} {row['target']:,}: {verdict}")
    print(
        json.dumps(
            {
                "bench": bench,
                "date": datetime.now(UTC).strftime("%Y-%m-%d"),
                "machine": machine(),
                "figures": figures,
                "targets": rows,
            }
        )
    )
