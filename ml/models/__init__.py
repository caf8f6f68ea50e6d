"""The model zoo: every kind behind one interface (`Model`), created and loaded by name."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ml.models.base import Model, ModelError
from ml.models.card import ModelCard

# kind -> (module, class): imported on demand, so a process serving tree models never loads
# PyTorch
_ZOO = {
    "xgboost": ("ml.models.trees", "XGBoostModel"),
    "lightgbm": ("ml.models.trees", "LightGBMModel"),
    "random_forest": ("ml.models.trees", "RandomForestModel"),
    "lstm": ("ml.models.sequence", "LstmModel"),
    "transformer": ("ml.models.sequence", "TransformerModel"),
    "cnn": ("ml.models.sequence", "CnnModel"),
}
KINDS = tuple(_ZOO)


def model_class(kind: str) -> type[Model]:
    if kind not in _ZOO:
        raise ModelError(f"no model kind {kind!r}; the zoo has {', '.join(KINDS)}")
    module, name = _ZOO[kind]
    found: type[Model] = getattr(importlib.import_module(module), name)
    return found


def create(kind: str, seed: int = 0, **params: Any) -> Model:
    return model_class(kind)(seed=seed, **params)


def load(directory: Path) -> Model:
    card = ModelCard.read(directory)
    return model_class(card.kind).load(directory)


__all__ = ["KINDS", "Model", "ModelCard", "ModelError", "create", "load", "model_class"]
