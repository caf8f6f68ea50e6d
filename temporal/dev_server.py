"""How the embedded Temporal dev server is configured; production mirrors it (deploy/temporal).

The dynamic-config value is what makes the decision-latency target reachable: at the stock
20 polls/s per shard every workflow task waits ~37 ms before dispatch (DESIGN.md).
"""

from __future__ import annotations

from temporal.search_attributes import ALL as SEARCH_ATTRIBUTES

DYNAMIC_CONFIG: dict[str, int] = {"history.transferProcessorMaxPollRPS": 1000}


def start_dev_flags() -> list[str]:
    """Flags for `temporal server start-dev` beyond addresses and the database file."""
    flags: list[str] = []
    for key, value in DYNAMIC_CONFIG.items():
        flags += ["--dynamic-config-value", f"{key}={value}"]
    for attribute in SEARCH_ATTRIBUTES:
        flags += ["--search-attribute", f"{attribute.name}=Keyword"]
    return flags
