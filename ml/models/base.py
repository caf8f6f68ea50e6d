"""One interface for every model: fit, predict_proba, save, load and the card that says what
it is. Subclasses hold only what differs: how they train, predict and store themselves."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from ml.features import FEATURE_NAMES, FEATURES_HASH
from ml.models.card import ModelCard


class ModelError(ValueError):
    pass


class Model(ABC):
    kind: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, seed: int = 0, **params: Any) -> None:
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise ModelError(
                f"{self.kind} has no parameter {', '.join(sorted(unknown))}; "
                f"it takes {', '.join(sorted(self.defaults))}"
            )
        self.seed = seed
        self.params: dict[str, Any] = {**self.defaults, **params}
        self.card: ModelCard | None = None

    @property
    def window(self) -> int:
        """The consecutive rows one prediction reads (sequence models read more than one)."""
        return 1

    def fit(
        self, x: np.ndarray, y: np.ndarray, feature_names: tuple[str, ...] = FEATURE_NAMES
    ) -> Self:
        """`x`: rows in time order, one column per feature; `y`: 0 or 1 per row."""
        if x.ndim != 2 or len(x) != len(y):
            raise ModelError(f"x must be rows x features and y one label per row: {x.shape}")
        if x.shape[1] != len(feature_names):
            raise ModelError(f"x has {x.shape[1]} columns for {len(feature_names)} features")
        if not np.isin(y, (0.0, 1.0)).all():
            raise ModelError("labels must be 0 or 1")
        if len(np.unique(y)) < 2:
            raise ModelError("the labels are all one class: nothing to learn")
        self._fit(np.asarray(x, np.float64), np.asarray(y, np.float64))
        features_hash = FEATURES_HASH if feature_names == FEATURE_NAMES else "custom"
        self.card = ModelCard(
            self.kind,
            {**self.params, "seed": self.seed},
            features_hash,
            feature_names,
            window=self.window,
            rows=len(y),
        )
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """The probability of label 1 for each row (a sequence model reads each row with the
        rows before it)."""
        card = self._fitted()
        if x.ndim != 2 or x.shape[1] != len(card.feature_names):
            raise ModelError(f"x must be rows x {len(card.feature_names)} features: {x.shape}")
        return self._predict(np.asarray(x, np.float64))

    def save(self, directory: Path) -> None:
        card = self._fitted()
        directory.mkdir(parents=True, exist_ok=True)
        self._save(directory)
        card.write(directory)

    @classmethod
    def load(cls, directory: Path) -> Self:
        card = ModelCard.read(directory)
        if card.kind != cls.kind:
            raise ModelError(f"{directory} holds a {card.kind} model, not {cls.kind}")
        params = {k: v for k, v in card.params.items() if k != "seed"}
        model = cls(seed=int(card.params.get("seed", 0)), **params)
        model._load(directory)
        model.card = card
        return model

    def _fitted(self) -> ModelCard:
        if self.card is None:
            raise ModelError(f"the {self.kind} model is not trained yet")
        return self.card

    @abstractmethod
    def _fit(self, x: np.ndarray, y: np.ndarray) -> None: ...

    @abstractmethod
    def _predict(self, x: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _save(self, directory: Path) -> None: ...

    @abstractmethod
    def _load(self, directory: Path) -> None: ...
