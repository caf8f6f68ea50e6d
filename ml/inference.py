"""Serving a saved ensemble: load it, and answer one feature row in microseconds.

Nothing here trains: loading reads the members' own files (an XGBoost or LightGBM booster, a
`FlatForest` of plain arrays rather than a pickle) and the calibration's few numbers, and a
decision worker imports PyTorch only for an ensemble that has sequence members.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson

from domain.ports import Opinion
from ml.features import FEATURES_HASH, feature_vector
from ml.models import Model, ModelError, load

ENSEMBLE_FILE = "ensemble.json"
EPSILON = 1e-6  # probabilities are clipped to [EPSILON, 1 - EPSILON] before their logit

Mode = Literal["weighted", "stacked"]


def logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, EPSILON, 1 - EPSILON)
    return np.asarray(np.log(clipped / (1 - clipped)), np.float64)


@dataclass(frozen=True)
class Calibration:
    """Logistic calibration over logits: the blend's logit (weighted) or each member's
    (stacked): p = sigmoid(coef . z + intercept)."""

    coef: tuple[float, ...]
    intercept: float

    def apply(self, z: np.ndarray) -> np.ndarray:
        linear = z @ np.asarray(self.coef) + self.intercept
        return np.asarray(1 / (1 + np.exp(-linear)), np.float64)


class Ensemble:
    def __init__(
        self,
        members: Sequence[Model],
        weights: Sequence[float],
        mode: Mode,
        calibration: Calibration,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        if not members or len(members) != len(weights):
            raise ModelError("an ensemble needs at least one member and one weight per member")
        self.members = list(members)
        self.weights = np.asarray(weights, np.float64) / float(np.sum(weights))
        self.mode: Mode = mode
        self.calibration = calibration
        self.info = dict(info or {})
        self.window = max(m.window for m in self.members)

    @property
    def kinds(self) -> list[str]:
        return [m.kind for m in self.members]

    def member_probabilities(self, x: np.ndarray) -> np.ndarray:
        return np.column_stack([m.predict_proba(x) for m in self.members])

    def combine(self, probabilities: np.ndarray) -> np.ndarray:
        """Members' probabilities (rows x members) to the calibrated probability."""
        if self.mode == "weighted":
            z = logit(probabilities @ self.weights)[:, None]
        else:
            z = logit(probabilities)
        return self.calibration.apply(z)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.combine(self.member_probabilities(x))

    def predict_row(self, row: np.ndarray) -> float:
        """One row (a decision's snapshot); only for members that read one row at a time."""
        if self.window > 1:
            raise ModelError(
                "this ensemble has sequence members, which read the rows before: score it "
                "over a history with predict_proba"
            )
        return float(self.predict_proba(row.reshape(1, -1))[0])

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        names = []
        for i, member in enumerate(self.members):
            name = f"{i}-{member.kind}"
            member.save(directory / name)
            names.append(name)
        document = {
            "members": names,
            "weights": self.weights.tolist(),
            "mode": self.mode,
            "calibration": {
                "coef": list(self.calibration.coef),
                "intercept": self.calibration.intercept,
            },
            "features_hash": self.members[0].card.features_hash if self.members[0].card else "",
            "info": self.info,
        }
        (directory / ENSEMBLE_FILE).write_bytes(
            orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
        )

    @classmethod
    def load(cls, directory: Path, features_hash: str | None = FEATURES_HASH) -> Ensemble:
        """Refuses an ensemble trained on other features than `features_hash` (None: any)."""
        path = directory / ENSEMBLE_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{directory} holds no ensemble: {ENSEMBLE_FILE} is missing")
        document = orjson.loads(path.read_bytes())
        if features_hash is not None and document["features_hash"] != features_hash:
            raise ModelError(
                f"{directory} was trained on features {document['features_hash']}, and this "
                f"platform computes {features_hash}: retrain it"
            )
        members = [load(directory / name) for name in document["members"]]
        calibration = Calibration(
            tuple(document["calibration"]["coef"]), document["calibration"]["intercept"]
        )
        return cls(members, document["weights"], document["mode"], calibration, document["info"])


class EnsembleScorer:
    """The decision path's model step (`domain.ports.ModelScorer`). The ensemble predicts the
    chance of a long's label; a sell's is its complement. A candidate is approved when its
    chance is at least `threshold`: by default the training labels' base rate, so the model
    approves what it finds better than an average entry."""

    def __init__(self, ensemble: Ensemble, source: str, threshold: float | None = None) -> None:
        if ensemble.window > 1:
            raise ModelError("the decision path scores one snapshot: promote tree ensembles")
        self.ensemble = ensemble
        self.source = source
        base_rate = ensemble.info.get("base_rate")
        self.threshold = threshold if threshold is not None else float(base_rate or 0.5)

    def probability(self, side: str, features: Mapping[str, float | None]) -> float:
        p = self.ensemble.predict_row(feature_vector(dict(features)))
        return p if side == "buy" else 1.0 - p

    async def score(self, symbol: str, side: str, features: Mapping[str, float | None]) -> Opinion:
        p = self.probability(side, features)
        if math.isnan(p):
            return Opinion(None, None, ("the model returned no probability",), self.source)
        approve = p >= self.threshold
        verb = "at least" if approve else "below"
        return Opinion(
            approve,
            p,
            (f"{side} {symbol}: p={p:.3f}, {verb} the threshold {self.threshold:.3f}",),
            self.source,
        )
