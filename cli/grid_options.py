"""The parameter grid as a quant types it: `--grid fast=5:50:5` or `--grid fast=5,10,20`,
`--param slow=50`; each mistake says how to write it."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from cli.options import scalar
from cli.output import EXIT_BAD_INPUT, CliError

MAX_VALUES = 1_000_000


def grid_axes(specs: list[str]) -> dict[str, list[Any]]:
    axes: dict[str, list[Any]] = {}
    for spec in specs:
        name, values = _split(spec, "--grid", "NAME=V1,V2 or NAME=START:STOP:STEP")
        if name in axes:
            raise CliError(f"--grid {name} is given twice; list its values once", EXIT_BAD_INPUT)
        axes[name] = _range(name, values) if ":" in values else _values(values.split(","))
    return axes


def fixed_params(specs: list[str]) -> dict[str, Any]:
    fixed: dict[str, Any] = {}
    for spec in specs:
        name, value = _split(spec, "--param", "NAME=VALUE")
        fixed[name] = _values([value])[0]
    return fixed


def _split(spec: str, option: str, form: str) -> tuple[str, str]:
    name, sep, rest = spec.partition("=")
    if not sep or not name.strip() or not rest.strip():
        raise CliError(f"{option} {spec!r}: write {form}", EXIT_BAD_INPUT)
    return name.strip(), rest.strip()


def _values(raw: list[str]) -> list[Any]:
    """Whole numbers stay whole, decimals are floats, anything else (true, 0.5 lots as "0.5"
    for a volume) is kept as written for the strategy to judge."""
    return [scalar(text) for text in (r.strip() for r in raw) if text]


def _range(name: str, text: str) -> list[Any]:
    parts = text.split(":")
    try:
        start, stop, step = (Decimal(p) for p in parts) if len(parts) == 3 else (None,) * 3
    except InvalidOperation:
        start = stop = step = None
    if start is None or stop is None or step is None or step <= 0 or stop < start:
        raise CliError(
            f"--grid {name}={text}: write START:STOP:STEP with STOP >= START and STEP > 0, "
            "e.g. fast=5:50:5",
            EXIT_BAD_INPUT,
        )
    count = int((stop - start) / step) + 1
    if count > MAX_VALUES:
        raise CliError(f"--grid {name}={text} has {count:,} values", EXIT_BAD_INPUT)
    whole = all(v == v.to_integral_value() for v in (start, step))
    return [int(start + i * step) if whole else float(start + i * step) for i in range(count)]
