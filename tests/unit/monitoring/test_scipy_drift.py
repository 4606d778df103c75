"""The scipy backend gives alibi-detect's TabularDrift numbers: parity on numeric, binary,
multi-level and unseen-category features, both corrections; fitted once, saved, loaded."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import false_discovery_control, ks_2samp

from shipyard.data.schema import infer_schema
from shipyard.data.synthetic import generate_transactions
from shipyard.monitoring.drift import DriftDetector
from shipyard.monitoring.scipy_drift import ScipyTabularDrift

CATEGORICAL = [3, 4, 5]  # binary, 4-level, 6-level (unseen levels in some windows)


def sample(rows: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.normal(shift, 1.0, rows),  # continuous
            rng.poisson(3 + 2 * shift, rows).astype(float),  # integers: many ties
            rng.lognormal(0, 1 + shift, rows).round(1),  # rounded: ties across both samples
            (rng.random(rows) < 0.3 + 0.2 * shift).astype(float),  # binary
            rng.choice(4, rows, p=[0.4, 0.3, 0.2, 0.1]).astype(float),  # 4 levels
            # reference holds levels 0-3; shifted windows also bring 4 and 5 (unseen)
            rng.choice(6, rows, p=np.array([4, 3, 2, 1, 6 * shift, 6 * shift]) / (10 + 12 * shift)),
        ]
    ).astype(float)


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return sample(2000, seed=1)


WINDOWS = [(rows, seed, shift) for rows in (20, 100, 300) for seed in (2, 3) for shift in (0, 0.15)]


@pytest.mark.parametrize("correction", ["bonferroni", "fdr"])
def test_p_values_and_verdicts_equal_alibi_detects(reference, correction):
    from alibi_detect.cd import TabularDrift

    alibi = TabularDrift(
        reference,
        p_val=0.05,
        categories_per_feature={f: None for f in CATEGORICAL},
        correction=correction,
    )
    ours = ScipyTabularDrift.fit(reference, CATEGORICAL, p_val=0.05, correction=correction)
    verdicts, worst = set(), 0.0
    for rows, seed, shift in WINDOWS:
        window = sample(rows, seed, shift)
        theirs = alibi.predict(window, drift_type="batch", return_distance=True)["data"]
        mine = ours.predict(window)["data"]
        assert mine["p_val"].dtype == np.float32
        worst = max(worst, float(np.abs(mine["p_val"] - theirs["p_val"]).max()))
        np.testing.assert_allclose(mine["distance"], theirs["distance"], rtol=1e-6)
        assert mine["is_drift"] == theirs["is_drift"]
        if np.ndim(theirs["threshold"]) == 0:  # alibi gives the whole ladder when none pass
            assert mine["threshold"] == pytest.approx(float(theirs["threshold"]))
        verdicts.add(mine["is_drift"])
    assert worst <= 1e-6
    assert verdicts == {0, 1}  # the windows exercise both answers


def test_unseen_category_enters_the_table(reference):
    from scipy.stats import chi2_contingency

    ours = ScipyTabularDrift.fit(reference, CATEGORICAL)
    window = sample(300, seed=5)
    window[:40, 5] = 9.0  # a level the reference never had
    p, _ = ours.feature_score(window)
    ref_counts = [(reference[:, 5] == v).sum() for v in (0, 1, 2, 3, 9)]
    win_counts = [(window[:, 5] == v).sum() for v in (0, 1, 2, 3, 9)]
    expected = chi2_contingency(np.vstack([ref_counts, win_counts]))[1]
    assert p[5] == np.float32(expected) and p[5] < 1e-6


def test_sorted_reference_gives_ks_2samp_statistic_with_ties(reference):
    ours = ScipyTabularDrift.fit(reference, CATEGORICAL)
    for seed in range(5):
        window = sample(50 + 40 * seed, seed=10 + seed, shift=0.1 * seed)
        _, dist = ours.feature_score(window)
        for f in (0, 1, 2):
            d = ks_2samp(reference[:, f], window[:, f], method="asymp").statistic
            assert dist[f] == np.float32(d)


def test_fdr_verdict_is_benjamini_hochberg(reference):
    ours = ScipyTabularDrift.fit(reference, CATEGORICAL, correction="fdr")
    for rows, seed, shift in WINDOWS:
        answer = ours.predict(sample(rows, seed, shift))["data"]
        bh = bool((false_discovery_control(answer["p_val"], method="bh") < 0.05).any())
        assert bool(answer["is_drift"]) == bh


@pytest.fixture(scope="module")
def transactions():
    frame = generate_transactions(3000, seed=1)
    return frame, infer_schema(frame, "is_fraud")


def test_detector_backends_agree_on_transactions(transactions, tmp_path):
    frame, schema = transactions
    alibi = DriftDetector.fit(frame, schema, backend="alibi")
    ours = DriftDetector.fit(frame, schema, backend="scipy")
    assert (alibi.backend_name, ours.backend_name) == ("alibi", "scipy")
    reloaded = DriftDetector.load(ours.save(tmp_path / "scipy"), backend="alibi")
    assert reloaded.backend_name == "scipy"  # stored scipy: no alibi-detect needed
    for shift in (0.0, 0.3, 1.0):
        window = generate_transactions(500, seed=20, shift=shift)
        a, b, c = alibi.score(window), ours.score(window), reloaded.score(window)
        assert a.is_drift == b.is_drift == c.is_drift and a.drifted == b.drifted == c.drifted
        for name, p in a.p_values.items():
            assert abs(p - b.p_values[name]) <= 1e-6 and b.p_values[name] == c.p_values[name]


def test_an_alibi_detector_loads_as_scipy_even_without_its_scipy_state(transactions, tmp_path):
    frame, schema = transactions
    alibi = DriftDetector.fit(frame, schema, backend="alibi")
    folder = alibi.save(tmp_path / "alibi")
    assert json.loads((folder / "encoding.json").read_text())["backend"] == "alibi"
    window = generate_transactions(400, seed=4, shift=0.5)
    expected = alibi.score(window).p_values
    assert DriftDetector.load(folder, backend="scipy").score(window).p_values == pytest.approx(
        expected, abs=1e-6
    )
    for name in ("scipy_drift.npz", "scipy_drift.json"):  # saved before the scipy backend
        (folder / name).unlink()
    older = DriftDetector.load(folder, backend="scipy")
    assert older.backend_name == "scipy"
    assert older.score(window).p_values == pytest.approx(expected, abs=1e-6)


def test_a_scipy_sidecar_never_imports_alibi_detect(transactions, tmp_path):
    frame, schema = transactions
    folder = DriftDetector.fit(frame, schema, backend="alibi").save(tmp_path / "d")
    frame.head(300).to_parquet(tmp_path / "window.parquet")
    code = (
        "import sys, pandas as pd\n"
        "from shipyard.monitoring.detector import load_detector\n"
        f"d = load_detector({str(folder)!r})\n"
        f"r = d.score(pd.read_parquet({str(tmp_path / 'window.parquet')!r}))\n"
        "print(d.backend_name, r.rows, 'alibi_detect' in sys.modules)\n"
    )
    env = {**os.environ, "SHIPYARD_DRIFT_BACKEND": "scipy", "SHIPYARD_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["scipy", "300", "False"]


def test_unknown_backend_is_refused(transactions):
    frame, schema = transactions
    from shipyard.errors import ConfigError

    with pytest.raises(ConfigError, match="alibi, scipy"):
        DriftDetector.fit(frame, schema, backend="evidently")
