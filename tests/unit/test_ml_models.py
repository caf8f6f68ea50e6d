"""The model zoo and the ensemble on real GBPUSD minutes: every kind trains, saves and loads
to the same predictions; the calibrated ensemble is scored against a constant and a
shuffled-label control on a held-back window."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adapters.files.market_files import read_market_file
from domain.market_data import SeriesKind
from ml import models
from ml.dataset import Dataset, LabelSpec, bars_with_spread, build_dataset
from ml.ensemble import train_ensemble
from ml.features import FEATURE_NAMES
from ml.inference import Ensemble, EnsembleScorer
from ml.models import ModelError
from ml.models.trees import flatten

pytestmark = pytest.mark.shared_data

# small enough to train in seconds on 2 cores
FAST = {
    "xgboost": {"rounds": 40},
    "lightgbm": {"rounds": 40},
    "random_forest": {"trees": 30},
    "lstm": {"epochs": 1, "window": 16},
    "transformer": {"epochs": 1, "window": 16},
    "cnn": {"epochs": 1, "window": 16},
}
TREES = ["xgboost", "lightgbm", "random_forest"]


@pytest.fixture(scope="module")
def gbpusd(shared_data: Path) -> Dataset:
    fx = shared_data / "fx"
    bid = read_market_file(fx / "GBPUSD-M1-bid-2012-02.csv", SeriesKind.BARS).frame
    ask = read_market_file(fx / "GBPUSD-M1-ask-2012-02.csv", SeriesKind.BARS).frame
    return build_dataset(bars_with_spread(bid, ask), LabelSpec(horizon=30))


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


@pytest.mark.parametrize("kind", list(FAST))
def test_each_kind_trains_and_round_trips_through_its_files(
    kind: str, gbpusd: Dataset, tmp_path: Path
) -> None:
    train, test = gbpusd.rows(np.arange(8000)), gbpusd.rows(np.arange(8000, 10000))
    model = models.create(kind, seed=3, **FAST[kind]).fit(train.x, train.y)
    p = model.predict_proba(test.x)
    assert p.shape == (len(test),)
    assert np.isfinite(p).all()
    assert ((p > 0) & (p < 1)).all()
    assert p.std() > 0
    model.save(tmp_path / kind)
    loaded = models.load(tmp_path / kind)
    np.testing.assert_array_equal(loaded.predict_proba(test.x), p)
    card = loaded.card
    assert card is not None
    assert (card.kind, card.rows, card.feature_names) == (kind, 8000, FEATURE_NAMES)
    assert card.params["seed"] == 3
    assert card.window == FAST[kind].get("window", 1)


def test_a_retrain_with_the_same_seed_is_the_same_model(gbpusd: Dataset) -> None:
    x, y = gbpusd.x[:4000], gbpusd.y[:4000]
    for kind in ("lightgbm", "cnn"):
        a = models.create(kind, seed=5, **FAST[kind]).fit(x, y).predict_proba(x[:500])
        b = models.create(kind, seed=5, **FAST[kind]).fit(x, y).predict_proba(x[:500])
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_the_flattened_forest_answers_as_scikit_learn_does(gbpusd: Dataset) -> None:
    from sklearn.ensemble import RandomForestClassifier

    x = gbpusd.x[:5000].copy()
    x[::7, 3] = np.nan  # unknown values take the side each split learned for them
    forest = RandomForestClassifier(20, max_depth=8, random_state=0).fit(x, gbpusd.y[:5000])
    np.testing.assert_allclose(flatten(forest).predict(x), forest.predict_proba(x)[:, 1])


def test_models_refuse_what_they_cannot_learn_or_read(gbpusd: Dataset, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no model kind 'svm'"):
        models.create("svm")
    with pytest.raises(ModelError, match="has no parameter depth"):
        models.create("xgboost", depth=3)
    with pytest.raises(ModelError, match="one class"):
        models.create("xgboost").fit(gbpusd.x[:100], np.ones(100))
    with pytest.raises(ModelError, match="not trained"):
        models.create("lightgbm").predict_proba(gbpusd.x[:1])
    trained = models.create("lightgbm", rounds=5).fit(gbpusd.x[:2000], gbpusd.y[:2000])
    with pytest.raises(ModelError, match="features"):
        trained.predict_proba(gbpusd.x[:5, :10])
    trained.save(tmp_path / "m")
    with pytest.raises(ModelError, match="holds a lightgbm model, not xgboost"):
        models.model_class("xgboost").load(tmp_path / "m")
    with pytest.raises(FileNotFoundError, match=r"card\.json"):
        models.load(tmp_path)


def test_the_calibrated_ensemble_against_a_constant_and_a_shuffled_control(
    gbpusd: Dataset,
) -> None:
    """Minute FX barely predicts itself: the figures are reported, not asserted, except that
    a model trained on shuffled labels must not beat the real one materially."""
    cut = int(len(gbpusd) * 0.7)
    train, held = gbpusd.rows(np.arange(cut)), gbpusd.rows(np.arange(cut, len(gbpusd)))
    ensemble = train_ensemble(train.x, train.y, TREES, params=FAST, seed=1)
    ours = log_loss(ensemble.predict_proba(held.x), held.y)
    constant = log_loss(np.full(len(held), train.y.mean()), held.y)
    shuffled_y = np.random.default_rng(0).permutation(train.y)
    control = train_ensemble(train.x, shuffled_y, TREES, params=FAST, seed=1)
    shuffled = log_loss(control.predict_proba(held.x), held.y)
    print(
        f"held-back log-loss: ensemble {ours:.4f}, constant {constant:.4f}, shuffled {shuffled:.4f}"
    )
    assert np.isfinite([ours, constant, shuffled]).all()
    assert shuffled > ours - 0.01


def test_a_saved_ensemble_scores_one_snapshot_as_it_scores_the_batch(
    gbpusd: Dataset, tmp_path: Path
) -> None:
    x, y = gbpusd.x[:6000], gbpusd.y[:6000]
    ensemble = train_ensemble(x, y, TREES, mode="stacked", params=FAST)
    ensemble.save(tmp_path / "e")
    loaded = Ensemble.load(tmp_path / "e")
    batch = loaded.predict_proba(gbpusd.x[6000:6100])
    np.testing.assert_allclose(batch, ensemble.predict_proba(gbpusd.x[6000:6100]))
    row = gbpusd.x[6050]
    assert loaded.predict_row(row) == pytest.approx(batch[50])
    assert len(loaded.calibration.coef) == 3  # stacked: one coefficient per member
    with pytest.raises(ModelError, match="retrain it"):
        Ensemble.load(tmp_path / "e", features_hash="0123456789abcdef")


async def test_the_scorer_approves_at_the_threshold_and_reads_sells_as_the_complement(
    gbpusd: Dataset,
) -> None:
    ensemble = train_ensemble(gbpusd.x[:6000], gbpusd.y[:6000], ["lightgbm"], params=FAST)
    snapshot = dict(zip(FEATURE_NAMES, gbpusd.x[7000].tolist(), strict=True))
    p = ensemble.predict_row(gbpusd.x[7000])
    below, above = EnsembleScorer(ensemble, "m v1", p + 0.01), EnsembleScorer(ensemble, "m v1", p)
    bought = await above.score("GBPUSD", "buy", snapshot)
    assert (bought.approve, bought.score, bought.source) == (True, pytest.approx(p), "m v1")
    assert (await below.score("GBPUSD", "buy", snapshot)).approve is False
    sold = await above.score("GBPUSD", "sell", snapshot)
    assert sold.score == pytest.approx(1 - p)
    assert EnsembleScorer(ensemble, "m").threshold == pytest.approx(ensemble.info["base_rate"])
    sequence = train_ensemble(gbpusd.x[:3000], gbpusd.y[:3000], ["cnn"], params=FAST)
    with pytest.raises(ModelError, match="one snapshot"):
        EnsembleScorer(sequence, "seq")


def test_serving_a_tree_ensemble_never_imports_torch(gbpusd: Dataset, tmp_path: Path) -> None:
    train_ensemble(gbpusd.x[:5000], gbpusd.y[:5000], TREES, params=FAST).save(tmp_path / "e")
    code = (
        "import sys, numpy as np\n"
        "from ml.inference import Ensemble\n"
        f"e = Ensemble.load(__import__('pathlib').Path({str(tmp_path / 'e')!r}))\n"
        "p = e.predict_row(np.zeros(len(e.members[0].card.feature_names)))\n"
        "assert 0 < p < 1, p\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split("\n")[-2] == "False"
