"""What a process really loads: the hot path no Temporal, web stack or training library; the
engine none of the processes around it; workflows no I/O or heavy library.

import-linter checks the declared imports; this imports each entry module in a fresh
interpreter and looks at `sys.modules`, so a lazy or dynamic import cannot slip through.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY_ML = {"torch", "sklearn", "xgboost", "lightgbm"}
WORKFLOWS = [
    "workflows.backtest",
    "workflows.books",
    "workflows.decision",
    "workflows.model_retraining",
    "workflows.model_training",
    "workflows.order",
    "workflows.pattern_index",
]
CASES = [
    ("hotpath.__main__", {"temporalio", "fastapi", "research", "workflows", "api"} | HEAVY_ML),
    (
        "engine.core",
        {"hotpath", "research", "temporalio", "fastapi", "redis", "asyncpg", "adapters"} | HEAVY_ML,
    ),
    *[
        (module, {"adapters", "asyncpg", "redis", "chdb", "httpx", "numpy", "polars"} | HEAVY_ML)
        for module in WORKFLOWS
    ],
]


def loaded_roots(module: str) -> set[str]:
    code = (
        f"import sys, {module}\nprint(','.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stdout.strip().split(","))


@pytest.mark.parametrize(("module", "forbidden"), CASES, ids=[c[0] for c in CASES])
def test_a_module_loads_nothing_its_layer_forbids(module: str, forbidden: set[str]) -> None:
    roots = loaded_roots(module)
    assert module.split(".")[0] in roots  # the probe really imported it
    assert roots & forbidden == set()
