"""Out-of-sample scores of predicted probabilities, and whether a challenger should replace
the champion."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPSILON = 1e-6
# the scores, and whether lower is better
SCORES = {"log_loss": True, "brier": True, "auc": False, "accuracy": False}


def scores(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """log-loss, Brier, ROC AUC (NaN with one class only), accuracy at 0.5, and the log-loss
    of always answering the base rate of `y` (what a model must beat to know anything)."""
    if len(p) != len(y) or len(y) == 0:
        raise ValueError("one probability per label, at least one")
    clipped = np.clip(p, EPSILON, 1 - EPSILON)
    log_loss = float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)))
    rate = float(np.clip(np.mean(y), EPSILON, 1 - EPSILON))
    constant = float(-(rate * np.log(rate) + (1 - rate) * np.log(1 - rate)))
    return {
        "log_loss": log_loss,
        "brier": float(np.mean((p - y) ** 2)),
        "auc": auc(p, y),
        "accuracy": float(np.mean((p >= 0.5) == (y == 1))),
        "constant_log_loss": constant,
        "base_rate": float(np.mean(y)),
    }


def auc(p: np.ndarray, y: np.ndarray) -> float:
    """The chance a random positive outranks a random negative (ties count half)."""
    positives, negatives = int(np.sum(y == 1)), int(np.sum(y == 0))
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    ranks[order] = np.arange(1, len(p) + 1)
    sorted_p = p[order]  # average the ranks of ties
    starts = np.flatnonzero(np.r_[True, sorted_p[1:] != sorted_p[:-1]])
    ends = np.r_[starts[1:], len(p)]
    for start, end in zip(starts, ends, strict=True):
        if end - start > 1:
            ranks[order[start:end]] = (start + 1 + end) / 2
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def mean_scores(folds: list[dict[str, float]]) -> dict[str, float]:
    """Each score averaged over the walk-forward folds."""
    if not folds:
        return {}
    return {name: float(np.nanmean([f[name] for f in folds])) for name in folds[0]}


@dataclass(frozen=True)
class Verdict:
    promote: bool
    reason: str


def challenge(
    champion: dict[str, float] | None, challenger: dict[str, float], metric: str, margin: float
) -> Verdict:
    """The challenger replaces the champion only if it is better on `metric` by more than
    `margin` (in the metric's units); with no champion, it must beat the constant's
    log-loss when the metric is log-loss, else it is promoted."""
    if metric not in SCORES:
        raise ValueError(f"unknown metric {metric!r}; one of {', '.join(SCORES)}")
    lower_better = SCORES[metric]
    ours = challenger.get(metric)
    if ours is None or np.isnan(ours):
        return Verdict(False, f"the challenger has no {metric}")
    if champion is None or champion.get(metric) is None:
        baseline = challenger.get("constant_log_loss")
        if metric == "log_loss" and baseline is not None and ours >= baseline:
            return Verdict(
                False, f"log_loss {ours:.4f} does not beat the constant's {baseline:.4f}"
            )
        return Verdict(True, f"no champion yet; {metric} {ours:.4f}")
    theirs = float(champion[metric])
    gain = theirs - ours if lower_better else ours - theirs
    if gain > margin:
        return Verdict(True, f"{metric} {ours:.4f} against {theirs:.4f}: better by {gain:.4f}")
    return Verdict(
        False,
        f"{metric} {ours:.4f} against the champion's {theirs:.4f}: "
        f"{'worse' if gain < 0 else 'not better'} by more than the margin {margin:g}",
    )
