"""Scores of probabilities, and the rule that lets a challenger replace the champion."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from ml.evaluation import SCORES, challenge, mean_scores, scores
from ml.models import KINDS
from temporal.models import MODEL_KINDS, PROMOTION_METRICS


def test_scores_agree_with_scikit_learn_including_tied_probabilities() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000).astype(float)
    p = np.clip(np.round(0.5 + 0.2 * (y - 0.5) + rng.normal(0, 0.2, 2000), 1), 0.05, 0.95)
    got = scores(p, y)
    assert got["auc"] == pytest.approx(roc_auc_score(y, p))
    assert got["log_loss"] == pytest.approx(log_loss(y, p))
    assert got["brier"] == pytest.approx(brier_score_loss(y, p))
    rate = y.mean()
    assert got["constant_log_loss"] == pytest.approx(log_loss(y, np.full(2000, rate)))
    assert np.isnan(scores(np.array([0.3, 0.6]), np.array([1.0, 1.0]))["auc"])
    assert mean_scores([{"auc": 0.5}, {"auc": 0.7}]) == {"auc": pytest.approx(0.6)}


def test_a_worse_challenger_is_not_promoted() -> None:
    champion = {"log_loss": 0.650, "auc": 0.55}
    worse = challenge(champion, {"log_loss": 0.660, "auc": 0.53}, "log_loss", 0.0)
    assert not worse.promote
    assert "worse" in worse.reason
    assert not challenge(champion, {"auc": 0.56}, "auc", 0.02).promote  # inside the margin
    better = challenge(champion, {"auc": 0.58}, "auc", 0.02)
    assert better.promote
    assert "better by 0.0300" in better.reason
    assert challenge(champion, {"log_loss": 0.64}, "log_loss", 0.005).promote


def test_a_first_model_must_beat_the_constant_on_log_loss() -> None:
    assert not challenge(None, {"log_loss": 0.70, "constant_log_loss": 0.69}, "log_loss", 0).promote
    assert challenge(None, {"log_loss": 0.68, "constant_log_loss": 0.69}, "log_loss", 0).promote
    assert not challenge(None, {"auc": float("nan")}, "auc", 0).promote
    with pytest.raises(ValueError, match="unknown metric"):
        challenge(None, {}, "sharpe", 0)


def test_the_workflow_contract_names_the_zoos_kinds_and_scores() -> None:
    assert MODEL_KINDS == KINDS
    assert set(PROMOTION_METRICS) == set(SCORES)
