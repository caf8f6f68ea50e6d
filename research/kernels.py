"""Strategies as numba kernels over a whole series: for each bar, the position the strategy
wants after deciding at that bar's close (+1 long, -1 short, 0 flat), filled at the next bar's
open. They follow the engine's strategies decision for decision (`domain/strategies`): the
same integer sums for `ma_cross`, the same floating-point steps for Wilder's RSI, so the
sweep, the event-driven replay and any engine deciding on the same numbers take the same
trades. Stops and take-profits live in the replay only.
"""

from __future__ import annotations

import numpy as np
from numba import njit

PRICE_SCALE = 10**8  # as `domain.strategies.ma_cross`


def price_units(close: np.ndarray) -> np.ndarray:
    """Closes as integers of 1e-8, rounded as the strategy rounds them."""
    units: np.ndarray = np.rint(close * PRICE_SCALE).astype(np.int64)
    return units


@njit(cache=True, nogil=True)
def ma_cross_targets(units: np.ndarray, fast: int, slow: int, allow_short: bool) -> np.ndarray:
    n = units.shape[0]
    target = np.zeros(n, np.int8)
    fast_sum = 0
    slow_sum = 0
    prev = 2  # no previous sign yet
    pos = 0
    for t in range(n):
        fast_sum += units[t]
        if t >= fast:
            fast_sum -= units[t - fast]
        slow_sum += units[t]
        if t >= slow:
            slow_sum -= units[t - slow]
        if t + 1 >= slow:
            diff = fast_sum * slow - slow_sum * fast
            now = 1 if diff > 0 else (-1 if diff < 0 else 0)
            if prev != 2:
                above = now > 0 and prev <= 0
                below = now < 0 and prev >= 0
                if above or below:
                    exited = False
                    if pos != 0 and (above if pos < 0 else below):
                        pos = 0
                        exited = True
                    if pos == 0 or exited:
                        if above:
                            pos = 1
                        elif allow_short:
                            pos = -1
            prev = now
        target[t] = pos
    return target


@njit(cache=True, nogil=True)
def rsi_reversion_targets(
    close: np.ndarray,
    period: int,
    lower: float,
    upper: float,
    exit_level: float,
    allow_short: bool,
) -> np.ndarray:
    n = close.shape[0]
    target = np.zeros(n, np.int8)
    gain_seed = 0.0
    loss_seed = 0.0
    gain = 0.0
    loss = 0.0
    count = 0
    pos = 0
    for t in range(1, n):
        change = close[t] - close[t - 1]
        g = change if change > 0 else 0.0
        lo = -change if change < 0 else 0.0
        if count >= period:
            gain = (gain * (period - 1) + g) / period
            loss = (loss * (period - 1) + lo) / period
        else:
            gain_seed += g
            loss_seed += lo
            count += 1
            if count < period:
                target[t] = pos
                continue
            gain = gain_seed / period
            loss = loss_seed / period
        total = gain + loss
        rsi = 100.0 * gain / total if total != 0.0 else 0.0
        if (pos > 0 and rsi > exit_level) or (pos < 0 and rsi < exit_level):
            pos = 0
        elif pos == 0 and rsi < lower:
            pos = 1
        elif pos == 0 and allow_short and rsi > upper:
            pos = -1
        target[t] = pos
    return target
