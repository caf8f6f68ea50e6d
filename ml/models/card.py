"""What a trained model is: written beside its files, read before anything is loaded."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

CARD_FILE = "card.json"


@dataclass(frozen=True)
class ModelCard:
    kind: str
    params: dict[str, Any]
    features_hash: str
    feature_names: tuple[str, ...]
    window: int = 1  # rows a prediction reads: 1 for row models, the sequence length else
    rows: int = 0  # trained on
    label: str = ""
    data_from_ns: int | None = None
    data_to_ns: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    def with_metrics(self, **metrics: float) -> ModelCard:
        return replace(self, metrics={**self.metrics, **metrics})

    def write(self, directory: Path) -> None:
        (directory / CARD_FILE).write_bytes(
            orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        )

    @classmethod
    def read(cls, directory: Path) -> ModelCard:
        path = directory / CARD_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{directory} holds no model: {CARD_FILE} is missing")
        raw = orjson.loads(path.read_bytes())
        raw["feature_names"] = tuple(raw["feature_names"])
        return cls(**raw)
