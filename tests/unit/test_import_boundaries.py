"""The hot path must not drag Temporal or the web stack into its process."""

from __future__ import annotations

import subprocess
import sys


def test_importing_hotpath_loads_neither_temporalio_nor_fastapi() -> None:
    code = (
        "import sys, hotpath, domain.ports, domain.market_data\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'temporalio', 'fastapi'})\n"
        "print(','.join(bad))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
