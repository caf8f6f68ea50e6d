"""Training an ensemble: members on the earlier rows, the calibration on the later ones.

The calibration is fitted on rows no member saw, in time order, so the probabilities it
gives are honest out of sample: a member that overfits gets a small coefficient (stacked) or
its blend is flattened toward the base rate (weighted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ml.features import FEATURE_NAMES
from ml.inference import Calibration, Ensemble, Mode, logit
from ml.models import ModelError, create


def train_ensemble(
    x: np.ndarray,
    y: np.ndarray,
    kinds: Sequence[str],
    mode: Mode = "weighted",
    weights: Sequence[float] | None = None,
    calibration_share: float = 0.2,
    seed: int = 0,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    feature_names: tuple[str, ...] = FEATURE_NAMES,
) -> Ensemble:
    """`x`, `y` in time order; the last `calibration_share` of the rows calibrate."""
    if not kinds:
        raise ModelError("name at least one model kind for the ensemble")
    if not 0 < calibration_share < 1:
        raise ModelError(f"calibration_share is a fraction of the rows, not {calibration_share}")
    if mode not in ("weighted", "stacked"):
        raise ModelError(f"mode is weighted or stacked, not {mode!r}")
    cut = int(len(y) * (1 - calibration_share))
    params = params or {}
    members = [
        create(kind, seed=seed, **params.get(kind, {})).fit(x[:cut], y[:cut], feature_names)
        for kind in kinds
    ]
    weights = list(weights) if weights is not None else [1.0] * len(members)
    draft = Ensemble(members, weights, mode, Calibration((1.0,), 0.0))
    held = draft.member_probabilities(x[cut:])
    z = logit(held @ draft.weights)[:, None] if mode == "weighted" else logit(held)
    calibration = fit_calibration(z, y[cut:])
    info = {
        "base_rate": float(np.mean(y[:cut])),
        "rows": len(y),
        "calibration_rows": len(y) - cut,
    }
    return Ensemble(members, weights, mode, calibration, info)


def fit_calibration(z: np.ndarray, y: np.ndarray) -> Calibration:
    """Platt scaling (one logit) or stacking (one logit per member), lightly regularised."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y)) < 2:
        raise ModelError("the calibration rows are all one class: use more data")
    fitted = LogisticRegression(C=1.0).fit(z, y)
    return Calibration(tuple(float(c) for c in fitted.coef_[0]), float(fitted.intercept_[0]))
