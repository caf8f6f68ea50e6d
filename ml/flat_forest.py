"""A random forest as plain arrays, and the kernel that walks it.

scikit-learn's forest answers one row in milliseconds (a Python call per tree); flattened into
arrays it is a few microseconds of numba, and the saved file is data, not a pickle: loading
it runs no code and needs no scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit


@dataclass(frozen=True, eq=False)
class FlatForest:
    roots: np.ndarray  # int64: each tree's first node
    left: np.ndarray  # int64: child node index, -1 at a leaf
    right: np.ndarray
    feature: np.ndarray  # int64
    threshold: np.ndarray  # float64: x <= threshold goes left
    missing_left: np.ndarray  # bool: where NaN goes
    leaf_p: np.ndarray  # float64: the share of label 1 at each node

    def save(self, path: Path) -> None:
        np.savez(path, **{k: getattr(self, k) for k in self.__dataclass_fields__})

    @classmethod
    def load(cls, path: Path) -> FlatForest:
        with np.load(path, allow_pickle=False) as data:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__})

    def predict(self, x: np.ndarray) -> np.ndarray:
        return _forest_predict(
            np.ascontiguousarray(x, np.float64),
            self.roots,
            self.left,
            self.right,
            self.feature,
            self.threshold,
            self.missing_left,
            self.leaf_p,
        )


@njit(cache=True, nogil=True)
def _forest_predict(
    x: np.ndarray,
    roots: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    missing_left: np.ndarray,
    leaf_p: np.ndarray,
) -> np.ndarray:
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        total = 0.0
        for root in roots:
            node = root
            while left[node] >= 0:
                v = x[i, feature[node]]
                if np.isnan(v):
                    node = left[node] if missing_left[node] else right[node]
                elif v <= threshold[node]:
                    node = left[node]
                else:
                    node = right[node]
            total += leaf_p[node]
        out[i] = total / len(roots)
    return out
