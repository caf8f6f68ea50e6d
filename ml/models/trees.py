"""The tree models: XGBoost, LightGBM and a random forest (trained by scikit-learn, served as
a `FlatForest`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import lightgbm as lgb
import numpy as np
import xgboost as xgb

from ml.flat_forest import FlatForest
from ml.models.base import Model

SMALL_BATCH = 64  # rows: up to this many are scored on one thread


def _threads(rows: int | None = None) -> int:
    """Every core to train or score a batch; one for a few rows. Two OpenMP runtimes
    (XGBoost's and LightGBM's) asked in turn for one row each would leave each other's
    spinning threads in the way: 8 ms a row instead of 0.15 on 2 cores."""
    if rows is not None and rows <= SMALL_BATCH:
        return 1
    return os.cpu_count() or 1


class XGBoostModel(Model):
    kind = "xgboost"
    defaults: ClassVar[dict[str, Any]] = {
        "rounds": 200,
        "max_depth": 6,
        "learning_rate": 0.05,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
    }
    FILE = "model.ubj"

    def _booster_params(self) -> dict[str, Any]:
        p = self.params
        return {
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "tree_method": "hist",
            "max_depth": p["max_depth"],
            "eta": p["learning_rate"],
            "subsample": p["subsample"],
            "colsample_bytree": p["colsample_bytree"],
            "seed": self.seed,
            "nthread": _threads(),
        }

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        data = xgb.QuantileDMatrix(x, label=y, nthread=_threads())
        self.booster = xgb.train(self._booster_params(), data, self.params["rounds"])
        self._predict_threads = _threads()

    def _predict(self, x: np.ndarray) -> np.ndarray:
        threads = _threads(len(x))
        if threads != self._predict_threads:
            self.booster.set_param({"nthread": threads})
            self._predict_threads = threads
        return np.asarray(self.booster.inplace_predict(x), np.float64)

    def _save(self, directory: Path) -> None:
        self.booster.save_model(directory / self.FILE)

    def _load(self, directory: Path) -> None:
        self.booster = xgb.Booster(model_file=directory / self.FILE)
        self._predict_threads = 0  # not set yet


class LightGBMModel(Model):
    kind = "lightgbm"
    defaults: ClassVar[dict[str, Any]] = {
        "rounds": 200,
        "num_leaves": 31,
        "learning_rate": 0.05,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "min_data_in_leaf": 50,
    }
    FILE = "model.txt"

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        p = self.params
        params = {
            "objective": "binary",
            "num_leaves": p["num_leaves"],
            "learning_rate": p["learning_rate"],
            "feature_fraction": p["feature_fraction"],
            "bagging_fraction": p["bagging_fraction"],
            "bagging_freq": 1,
            "min_data_in_leaf": p["min_data_in_leaf"],
            "seed": self.seed,
            "num_threads": _threads(),
            "verbose": -1,
        }
        self.booster = lgb.train(params, lgb.Dataset(x, label=y), p["rounds"])

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(x, num_threads=_threads(len(x))), np.float64)

    def _save(self, directory: Path) -> None:
        self.booster.save_model(directory / self.FILE)

    def _load(self, directory: Path) -> None:
        self.booster = lgb.Booster(model_file=directory / self.FILE)


class RandomForestModel(Model):
    kind = "random_forest"
    defaults: ClassVar[dict[str, Any]] = {
        "trees": 100,
        "max_depth": 10,
        "min_samples_leaf": 20,
        "max_features": "sqrt",
    }
    FILE = "forest.npz"

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        from sklearn.ensemble import RandomForestClassifier

        p = self.params
        forest = RandomForestClassifier(
            n_estimators=p["trees"],
            max_depth=p["max_depth"],
            min_samples_leaf=p["min_samples_leaf"],
            max_features=p["max_features"],
            n_jobs=_threads(),
            random_state=self.seed,
        ).fit(x, y)
        self.forest = flatten(forest)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return self.forest.predict(x)

    def _save(self, directory: Path) -> None:
        self.forest.save(directory / self.FILE)

    def _load(self, directory: Path) -> None:
        self.forest = FlatForest.load(directory / self.FILE)


def flatten(forest: Any) -> FlatForest:
    """scikit-learn's trees, laid end to end (node indices shifted by each tree's offset)."""
    positive = list(forest.classes_).index(1.0)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in FlatForest.__dataclass_fields__}
    offset = 0
    for estimator in forest.estimators_:
        tree = estimator.tree_
        leaf = tree.children_left < 0
        parts["roots"].append(np.array([offset], np.int64))
        parts["left"].append(np.where(leaf, -1, tree.children_left + offset).astype(np.int64))
        parts["right"].append(np.where(leaf, -1, tree.children_right + offset).astype(np.int64))
        parts["feature"].append(np.where(leaf, 0, tree.feature).astype(np.int64))
        parts["threshold"].append(tree.threshold.astype(np.float64))
        parts["missing_left"].append(tree.missing_go_to_left.astype(bool))
        value = tree.value[:, 0, :]
        parts["leaf_p"].append(value[:, positive] / value.sum(axis=1))
        offset += tree.node_count
    return FlatForest(**{k: np.concatenate(v) for k, v in parts.items()})
