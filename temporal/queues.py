"""Task-queue names, defined once: workers poll them, starters address them."""

from __future__ import annotations

TRADING = "aitp-trading"  # decisions and order lifecycles: latency matters
RESEARCH = "aitp-research"  # backtests and training: CPU-heavy, never beside the trading queue
