"""Models: one-row inference of the promoted tree ensemble, GBDT training at 1M rows, and the
PyTorch models' inference and epoch times.

Data: every shared M1 bar file (GBPUSD, USDJPY, the 6E future, BTC perpetual), turned into the
platform's 26 features and triple-barrier labels (h=30, 2 ATR / 1 ATR) by `ml.dataset`.
Inference: an XGBoost + LightGBM + random forest ensemble (default sizes, Platt-calibrated)
trained on those rows, saved, and scored as the decision activity scores it: the champion
found by `ml.champions.ChampionScorer`, loaded from its files, asked with a snapshot dict. Training:
the real rows plus 4 lags of the one-bar return (30 columns), rows bootstrapped (drawn with
replacement) to 1,000,000; default parameters (200 rounds), every core.

    python -m bench.ml [--rows 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from adapters.files.market_files import read_market_file
from bench._report import SHARED_DATA, Target, report
from domain.market_data import SeriesKind
from domain.ports import ModelVersion
from ml import models
from ml.champions import ChampionScorer
from ml.dataset import Dataset, LabelSpec, bars_with_spread, build_dataset
from ml.ensemble import train_ensemble
from ml.features import FEATURE_NAMES, FEATURES_HASH

SOURCES = (
    ("fx/GBPUSD-M1-bid-2012-02.csv", "fx/GBPUSD-M1-ask-2012-02.csv"),
    ("fx/USDJPY-M1-bid-2013.csv", "fx/USDJPY-M1-ask-2013.csv"),
    ("futures/6EH4-M1-2024-01.csv.gz", None),
    ("crypto/BTCPERP-M1-2022-01.csv", None),
)
TREES = ["xgboost", "lightgbm", "random_forest"]


def real_rows() -> list[Dataset]:
    out = []
    for bid_file, ask_file in SOURCES:
        bid = read_market_file(SHARED_DATA / bid_file, SeriesKind.BARS).frame
        ask = read_market_file(SHARED_DATA / ask_file, SeriesKind.BARS).frame if ask_file else None
        out.append(build_dataset(bars_with_spread(bid, ask), LabelSpec()))
    return out


def with_lags(data: Dataset, lags: int = 4) -> np.ndarray:
    one_bar = data.x[:, FEATURE_NAMES.index("ret_1")]
    lagged = [np.concatenate([np.full(k, np.nan), one_bar[:-k]]) for k in range(1, lags + 1)]
    return np.column_stack([data.x, *lagged])


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.array(samples) * 1000
    return float(np.median(ms)), float(np.percentile(ms, 99))


class _Promoted:
    """The registry's answer for the bench's one model: its champion (only `champion` is
    asked on the scoring path, and only once a minute)."""

    def __init__(self, artifact: Path) -> None:
        self._champion = ModelVersion(
            "GBPUSD-M1", 1, "GBPUSD", "M1", tuple(TREES), FEATURES_HASH, "triple_barrier",
            0, 1, str(artifact), status="champion",
        )  # fmt: skip

    async def champion(self, name: str) -> ModelVersion | None:
        return self._champion if name == self._champion.name else None


async def _score_all(
    scorer: ChampionScorer, snapshots: list[dict[str, float | None]]
) -> list[float]:
    for snapshot in snapshots[:200]:  # warm: loads the champion, numba's forest kernel
        await scorer.score("GBPUSD", "buy", snapshot)
    samples = []
    for i in range(5000):
        snapshot = snapshots[i % len(snapshots)]
        started = time.perf_counter()
        await scorer.score("GBPUSD", "buy", snapshot)
        samples.append(time.perf_counter() - started)
    return samples


def inference(sets: list[Dataset]) -> dict[str, float | int | str]:
    x = np.concatenate([d.x for d in sets])
    y = np.concatenate([d.y for d in sets])
    ensemble = train_ensemble(x, y, TREES, seed=1)
    snapshots = [dict(zip(FEATURE_NAMES, row.tolist(), strict=True)) for row in x[-2000:]]
    with tempfile.TemporaryDirectory() as tmp:
        ensemble.save(Path(tmp))
        scorer = ChampionScorer(_Promoted(Path(tmp)))  # type: ignore[arg-type]
        samples = asyncio.run(_score_all(scorer, snapshots))
    median, p99 = percentiles(samples)
    return {
        "ensemble_train_rows": len(y),
        "gbdt_infer_median_ms": median,
        "gbdt_infer_p99_ms": p99,
    }


def gbdt_training(sets: list[Dataset], rows: int) -> dict[str, float | int | str]:
    x = np.concatenate([with_lags(d) for d in sets])
    y = np.concatenate([d.y for d in sets])
    pick = np.random.default_rng(7).integers(0, len(y), rows)
    x, y = x[pick], y[pick]
    names = (*FEATURE_NAMES, *(f"ret_1_lag{k}" for k in range(1, 5)))
    figures: dict[str, float | int | str] = {"train_rows": rows, "train_features": x.shape[1]}
    for kind in ("lightgbm", "xgboost"):
        started = time.perf_counter()
        models.create(kind, seed=1).fit(x, y, names)
        figures[f"{kind}_train_s"] = time.perf_counter() - started
    return figures


def sequences(sets: list[Dataset]) -> dict[str, float | int | str]:
    data = sets[0]  # GBPUSD: 30k rows
    figures: dict[str, float | int | str] = {}
    for kind in ("lstm", "transformer", "cnn"):
        model = models.create(kind, seed=1, epochs=1)
        started = time.perf_counter()
        model.fit(data.x, data.y)
        figures[f"{kind}_epoch_s"] = time.perf_counter() - started
        window = data.x[-model.window :]
        samples = []
        for _ in range(300):
            started = time.perf_counter()
            model.predict_proba(window)
            samples.append(time.perf_counter() - started)
        figures[f"{kind}_infer_p99_ms"] = percentiles(samples)[1]
    figures["sequence_rows"] = len(data)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    sets = real_rows()
    figures: dict[str, float | int | str] = {
        "real_rows": sum(len(d) for d in sets),
        "data": "shared M1 bars; training rows bootstrapped to --rows",
    }
    figures |= inference(sets)
    figures |= gbdt_training(sets, args.rows)
    figures |= sequences(sets)
    report(
        "ml",
        figures,
        [
            Target("gbdt_infer_p99_ms", "<=", 1.0),
            Target("lightgbm_train_s", "<=", 60.0),
            Target("xgboost_train_s", "<=", 60.0),
        ],
    )


if __name__ == "__main__":
    pl.Config.set_tbl_rows(20)
    main()
