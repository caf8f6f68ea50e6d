"""What a model learns to predict, and when each answer became known.

Every label comes with `end`: the index of the last bar its outcome depends on. The purged
splits (`ml.splits`) need it: a training row whose label ends inside a test window has seen
that window's prices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit


@dataclass(frozen=True, eq=False)
class Labels:
    """`y[i]` (NaN where the future is too short to tell) and `end[i]`, per bar."""

    y: np.ndarray  # float64: 1.0, 0.0 or NaN
    end: np.ndarray  # int64 bar index

    def __len__(self) -> int:
        return len(self.y)


def forward_sign(close: np.ndarray, horizon: int) -> Labels:
    """1 where the close `horizon` bars later is higher, else 0."""
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 bar, not {horizon}")
    n = len(close)
    y = np.full(n, np.nan)
    if n > horizon:
        y[:-horizon] = (close[horizon:] > close[:-horizon]).astype(np.float64)
    end = np.minimum(np.arange(n, dtype=np.int64) + horizon, n - 1)
    return Labels(y, end)


def triple_barrier(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    width: np.ndarray,
    horizon: int,
    take_profit: float = 2.0,
    stop_loss: float = 1.0,
) -> Labels:
    """1 where a long entered at the close reaches its take-profit barrier (close +
    take_profit * width) before its stop (close - stop_loss * width) within `horizon` bars;
    0 where the stop comes first or time runs out. `width` is each bar's scale (ATR or
    close * volatility); a bar where both barriers are touched counts as the stop (the worse
    case, as a backtest fills it). NaN where width is unknown or the horizon runs past the
    data."""
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 bar, not {horizon}")
    if take_profit <= 0 or stop_loss <= 0:
        raise ValueError("take_profit and stop_loss are multiples of the width, above 0")
    y, end = _triple_barrier(
        np.asarray(high, np.float64),
        np.asarray(low, np.float64),
        np.asarray(close, np.float64),
        np.asarray(width, np.float64),
        horizon,
        take_profit,
        stop_loss,
    )
    return Labels(y, end)


@njit(cache=True, nogil=True)
def _triple_barrier(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    width: np.ndarray,
    horizon: int,
    take_profit: float,
    stop_loss: float,
) -> tuple[np.ndarray, np.ndarray]:
    n = len(close)
    y = np.full(n, np.nan)
    end = np.empty(n, np.int64)
    for i in range(n):
        end[i] = min(i + horizon, n - 1)
        w = width[i]
        if not w > 0.0:  # NaN or zero: no scale to set barriers by
            continue
        upper = close[i] + take_profit * w
        lower = close[i] - stop_loss * w
        last = i + horizon
        outcome = np.nan
        for j in range(i + 1, min(last, n - 1) + 1):
            if low[j] <= lower:
                outcome, end[i] = 0.0, j
                break
            if high[j] >= upper:
                outcome, end[i] = 1.0, j
                break
        if np.isnan(outcome) and last <= n - 1:
            outcome = 0.0  # time ran out: not a win
        y[i] = outcome
    return y, end
