"""alibi-detect's ``TabularDrift`` numbers from scipy alone, so the sidecar can run without the
BSL-licensed package.

Same tests, same p-values (float32), same verdicts: two-sample Kolmogorov-Smirnov with the
asymptotic distribution for numeric columns, Chi² with Yates' correction on the union of the
reference's and the window's categories for categorical ones, Bonferroni (``p < p_val / n``) or
Benjamini-Hochberg (``fdr``) for the batch verdict. Fitted once: each numeric reference column is
sorted and each categorical one counted at fit, so a window costs a ``searchsorted`` per column
instead of re-sorting the reference (what ``ks_2samp`` does on every call).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy.stats import chi2_contingency, kstwo

Correction = Literal["bonferroni", "fdr"]
STATE = "scipy_drift.npz"
META = "scipy_drift.json"


class ScipyTabularDrift:
    """Per-feature KS / Chi² against a reference fitted once; ``predict`` answers the way
    alibi-detect's ``TabularDrift.predict(drift_type="batch")`` does."""

    def __init__(
        self,
        sorted_numeric: np.ndarray,
        numeric: list[int],
        categories: dict[int, tuple[np.ndarray, np.ndarray]],
        p_val: float,
        correction: Correction = "bonferroni",
    ) -> None:
        if correction not in ("bonferroni", "fdr"):
            raise ValueError(f"correction must be bonferroni or fdr, not {correction!r}")
        self.sorted_numeric, self.numeric = sorted_numeric, numeric
        self.categories = categories  # feature -> (reference values, their counts)
        self.p_val, self.correction = p_val, correction
        self.n_features = len(numeric) + len(categories)

    @classmethod
    def fit(
        cls,
        x_ref: np.ndarray,
        categorical: list[int],
        p_val: float = 0.05,
        correction: Correction = "bonferroni",
    ) -> ScipyTabularDrift:
        """Sort the numeric columns, count the categorical ones (the reference's categories are
        the values it holds, as in alibi-detect with ``categories_per_feature={i: None}``)."""
        x_ref = np.asarray(x_ref, dtype=np.float64).reshape(len(x_ref), -1)
        numeric = [f for f in range(x_ref.shape[1]) if f not in set(categorical)]
        counts = {f: np.unique(x_ref[:, f], return_counts=True) for f in categorical}
        return cls(np.sort(x_ref[:, numeric], axis=0), numeric, counts, p_val, correction)

    def feature_score(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature p-values and statistics (KS D or Chi²), float32 like alibi-detect's."""
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        if len(x) == 0:
            raise ValueError("a drift window needs at least one row")
        p = np.zeros(self.n_features, dtype=np.float32)
        dist = np.zeros_like(p)
        if self.numeric:
            d = self._ks_statistics(np.sort(x[:, self.numeric], axis=0))
            n1, n2 = float(len(self.sorted_numeric)), float(len(x))
            m, n = max(n1, n2), min(n1, n2)
            # ks_2samp(method="asymp", alternative="two-sided"): Smirnov's distribution
            dist[self.numeric] = d
            p[self.numeric] = np.clip(kstwo.sf(d, np.round(m * n / (m + n))), 0, 1)
        for f, (ref_values, ref_counts) in self.categories.items():
            values, counts = np.unique(x[:, f], return_counts=True)
            union = np.union1d(ref_values, values)
            table = np.zeros((2, len(union)), dtype=np.int64)
            table[0, np.searchsorted(union, ref_values)] = ref_counts
            table[1, np.searchsorted(union, values)] = counts
            stat, p_f, _, _ = chi2_contingency(table)  # Yates' correction on (default)
            dist[f], p[f] = stat, p_f
        return p, dist

    def _ks_statistics(self, window: np.ndarray) -> np.ndarray:
        """Two-sided KS D per column. The ECDF difference changes only at data points; between
        window points the window's ECDF is flat, so the supremum is reached at a window point
        or just before one: both one-sided limits of both ECDFs there suffice."""
        n1, n2 = len(self.sorted_numeric), len(window)
        d = np.empty(window.shape[1])
        for j in range(window.shape[1]):
            ref, win = self.sorted_numeric[:, j], window[:, j]
            at = np.searchsorted(ref, win, side="right") / n1 - (
                np.searchsorted(win, win, side="right") / n2
            )
            before = np.searchsorted(ref, win, side="left") / n1 - (
                np.searchsorted(win, win, side="left") / n2
            )
            d[j] = max(np.abs(at).max(), np.abs(before).max())
        return d

    def predict(self, x: np.ndarray, **_: Any) -> dict[str, dict[str, Any]]:
        """alibi-detect's batch answer: ``{"data": {is_drift, p_val, distance, threshold}}``."""
        p, dist = self.feature_score(x)
        if self.correction == "bonferroni":
            threshold = self.p_val / self.n_features
            is_drift = bool((p < threshold).any())
        else:  # Benjamini-Hochberg: the largest q*i/n its sorted p-value stays under
            q = self.p_val * np.arange(1, self.n_features + 1) / self.n_features
            below = np.sort(p) < q
            is_drift = bool(below.any())
            threshold = float(q[np.flatnonzero(below).max()] if is_drift else q[0])
        return {
            "data": {
                "is_drift": int(is_drift),
                "p_val": p,
                "distance": dist,
                "threshold": threshold,
            }
        }

    def save(self, directory: Path) -> None:
        arrays = {"sorted_numeric": self.sorted_numeric}
        for f, (values, counts) in self.categories.items():
            arrays[f"values_{f}"], arrays[f"counts_{f}"] = values, counts
        np.savez(directory / STATE, **arrays)
        meta = {
            "numeric": self.numeric,
            "categorical": list(self.categories),
            "p_val": self.p_val,
            "correction": self.correction,
        }
        (directory / META).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> ScipyTabularDrift:
        meta = json.loads((directory / META).read_text())
        with np.load(directory / STATE, allow_pickle=False) as state:
            categories = {
                int(f): (state[f"values_{f}"], state[f"counts_{f}"]) for f in meta["categorical"]
            }
            sorted_numeric = state["sorted_numeric"]
        return cls(sorted_numeric, meta["numeric"], categories, meta["p_val"], meta["correction"])

    @staticmethod
    def saved_in(directory: Path) -> bool:
        return (directory / META).is_file() and (directory / STATE).is_file()
