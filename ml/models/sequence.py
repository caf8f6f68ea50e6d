"""PyTorch models over windows of consecutive feature rows: an LSTM, a Transformer encoder and
a 1D CNN. Small (tens of thousands of weights), seeded and on the CPU, so one trains in
minutes here and a retrain is reproducible.

A row's window is that row and the `window - 1` rows before it, standardised by the training
rows' mean and deviation (unknown values become the mean); rows at the start of a series see a
window padded with the mean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ml.models.base import Model


class SequenceModel(Model):
    defaults: ClassVar[dict[str, Any]] = {
        "window": 32,
        "hidden": 32,
        "epochs": 3,
        "batch": 256,
        "learning_rate": 1e-3,
    }
    FILE = "weights.pt"

    @property
    def window(self) -> int:
        return int(self.params["window"])

    def _network(self, features: int) -> nn.Module:
        raise NotImplementedError

    def _windows(self, x: np.ndarray) -> torch.Tensor:
        z = np.nan_to_num((x - self.mean) / self.std, nan=0.0, posinf=0.0, neginf=0.0)
        padded = np.concatenate([np.zeros((self.window - 1, x.shape[1])), z])
        series = torch.from_numpy(padded.astype(np.float32))
        return series.unfold(0, self.window, 1).permute(0, 2, 1)  # rows x window x features

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        torch.manual_seed(self.seed)
        self.mean = np.nan_to_num(np.nanmean(x, axis=0))
        std = np.nan_to_num(np.nanstd(x, axis=0))
        self.std = np.where(std > 0, std, 1.0)
        windows, target = self._windows(x), torch.from_numpy(y.astype(np.float32))
        self.net = self._network(x.shape[1])
        optimiser = torch.optim.Adam(self.net.parameters(), lr=self.params["learning_rate"])
        loss_of = nn.BCEWithLogitsLoss()
        order = torch.Generator().manual_seed(self.seed)
        self.net.train()
        for _ in range(self.params["epochs"]):
            shuffled, size = torch.randperm(len(target), generator=order), self.params["batch"]
            for start in range(0, len(target), size):
                batch = shuffled[start : start + size]
                optimiser.zero_grad()
                loss = loss_of(self.net(windows[batch]).squeeze(-1), target[batch])
                loss.backward()
                optimiser.step()
        self.net.eval()

    def _predict(self, x: np.ndarray) -> np.ndarray:
        windows = self._windows(x)
        with torch.inference_mode():
            parts = [self.net(windows[i : i + 4096]) for i in range(0, len(windows), 4096)]
            logits = torch.cat(parts).squeeze(-1)
        return torch.sigmoid(logits).double().numpy()

    def _save(self, directory: Path) -> None:
        torch.save(
            {
                "state": self.net.state_dict(),
                "mean": torch.from_numpy(self.mean),
                "std": torch.from_numpy(self.std),
            },
            directory / self.FILE,
        )

    def _load(self, directory: Path) -> None:
        saved = torch.load(directory / self.FILE, weights_only=True)
        self.mean, self.std = saved["mean"].numpy(), saved["std"].numpy()
        self.net = self._network(len(self.mean))
        self.net.load_state_dict(saved["state"])
        self.net.eval()


class _Lstm(nn.Module):
    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (last, _) = self.lstm(x)
        out: torch.Tensor = self.head(last[-1])
        return out


class _Encoder(nn.Module):
    def __init__(self, features: int, hidden: int, window: int) -> None:
        super().__init__()
        self.embed = nn.Linear(features, hidden)
        self.position = nn.Parameter(torch.zeros(1, window, hidden))
        layer = nn.TransformerEncoderLayer(
            hidden, nhead=4, dim_feedforward=2 * hidden, dropout=0.1, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        encoded = self.encoder(self.embed(x) + self.position)
        out: torch.Tensor = self.head(encoded.mean(dim=1))
        return out


class _Cnn(nn.Module):
    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(features, hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(hidden, hidden, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(1),
        )
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.body(x.transpose(1, 2)).squeeze(-1))
        return out


class LstmModel(SequenceModel):
    kind = "lstm"

    def _network(self, features: int) -> nn.Module:
        return _Lstm(features, self.params["hidden"])


class TransformerModel(SequenceModel):
    kind = "transformer"

    def _network(self, features: int) -> nn.Module:
        return _Encoder(features, self.params["hidden"], self.window)


class CnnModel(SequenceModel):
    kind = "cnn"

    def _network(self, features: int) -> nn.Module:
        return _Cnn(features, self.params["hidden"])
