"""How often the first-version gate promotes, on tables shaped like those of issue 23.

Each case draws test sets of the size and positive rate of a real table the issue names, with
scores whose AUC is the one reached there (a binormal model), and counts how often the gate
(95 % paired bootstrap of AUC − 0.5 above 0) promotes; "no signal" draws the same tables with
scores unrelated to the labels: the share promoted is the gate's false-promotion rate
(about 2.5 % by design: the lower end of a two-sided 95 % interval).

    .venv/bin/python benchmarks/gate_power.py
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from shipyard.model.uncertainty import compare, trivial_scores

# name, test rows (20 % of the table), positive rate, AUC the issue reports
CASES = [
    ("résumé call-backs (4,870 rows)", 974, 0.08, 0.666),
    ("health insurance (8,802 rows)", 1760, 0.20, 0.713),
    ("well switching (3,020 rows)", 604, 0.58, 0.663),
]


def draw(rng: np.random.Generator, rows: int, rate: float, auc: float) -> tuple:
    y = (rng.random(rows) < rate).astype(np.int64)
    shift = np.sqrt(2) * norm.ppf(auc)  # binormal: AUC = Φ(shift / √2)
    p = norm.cdf(rng.normal(size=rows) + shift * y - 1.5)
    return y, np.c_[1 - p, p]


def promoted_share(rows: int, rate: float, auc: float, repeats: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    wins = 0
    for i in range(repeats):
        y, proba = draw(rng, rows, rate, auc)
        base = trivial_scores("binary", "roc_auc", y, rows)
        wins += compare("roc_auc", "binary", y, (proba, 0.5), {"b": base}, seed=i)["b"].better
    return wins / repeats


def main(repeats: int = 200) -> None:
    print(f"{'table':<34} {'AUC':>5} {'promoted':>9} {'no signal: promoted':>20}")
    for name, rows, rate, auc in CASES:
        power = promoted_share(rows, rate, auc, repeats)
        false = promoted_share(rows, rate, 0.5, repeats, seed=1)
        print(f"{name:<34} {auc:>5.3f} {power:>9.1%} {false:>20.1%}")


if __name__ == "__main__":
    main()
