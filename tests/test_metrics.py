"""Metric sanity set (disentanglement_lib style), hand-computed cases, input validation,
and the `ubisoft` convention checked against straightforward per-pair computations
written from METRICS.md (pyitlib for the information quantities)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pyitlib import discrete_random_variable as drv
from sklearn.linear_model import Lasso, LinearRegression
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import cross_val_score
from sklearn.preprocessing import minmax_scale

from synaudio import metrics
from synaudio.metrics.information import information_tables
from synaudio.metrics.inputs import Discrete, bin_columns

N = 6000
KINDS = ["categorical", "continuous", "continuous"]


@pytest.fixture(scope="module")
def factors() -> np.ndarray:
    rng = np.random.default_rng(1)
    return np.stack([rng.integers(0, 4, N), rng.uniform(440, 8000, N), rng.uniform(0.1, 1.0, N)], axis=1)


def noise(columns: int, seed: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(N, columns))


def identity_like(factors: np.ndarray) -> np.ndarray:
    return np.concatenate([factors, noise(3)], axis=1)


INFO = {
    "mig": metrics.mig,
    "jemmig": metrics.jemmig,
    "dcimig": metrics.dcimig,
    "modularity": metrics.modularity,
}


def test_two_by_two_table_worked_out_on_paper() -> None:
    # x = [0,0,1,1], y = [0,1,1,1]: H(x) = 1, H(y) = H(1/4) = 0.811278..., pairs
    # (0,0),(0,1),(1,1),(1,1) -> H(x,y) = 1.5, I = 1 + 0.811278 - 1.5 = 0.311278...
    x = Discrete(labels=np.array([[0], [0], [1], [1]]), cardinality=np.array([2]))
    y = Discrete(labels=np.array([[0], [1], [1], [1]]), cardinality=np.array([2]))
    t = information_tables(x, y, code_bins=2)
    h_quarter = -(0.25 * np.log2(0.25) + 0.75 * np.log2(0.75))
    assert t.h_factors[0] == pytest.approx(1.0, abs=1e-15)
    assert t.h_codes[0] == pytest.approx(h_quarter, abs=1e-15)
    assert t.joint[0, 0] == pytest.approx(1.5, abs=1e-15)
    assert t.mi[0, 0] == pytest.approx(1.0 + h_quarter - 1.5, abs=1e-15)  # 0.311278...


def test_identity_like_codes_score_near_one(factors: np.ndarray) -> None:
    codes = identity_like(factors)
    result = metrics.evaluate(factors, codes, factor_kinds=KINDS)["metrics"]
    for name in ("mig", "dcimig", "jemmig", "dci_disentanglement", "dci_completeness", "sap"):
        assert result[name] > 0.85, (name, result[name])
    assert result["dci_informativeness"] > 0.95
    assert result["probe/factor0"] == 1.0


def test_a_duplicated_factor_has_no_gap(factors: np.ndarray) -> None:
    codes = np.concatenate([factors, factors[:, :1] * 2 + 1, noise(1)], axis=1)
    result = metrics.mig(factors, codes, factor_kinds=KINDS)
    assert result["mig/factor0"] < 0.01
    assert result["mig/factor1"] > 0.9 and result["mig/factor2"] > 0.9


@pytest.mark.parametrize("kind", ["constant", "noise"])
def test_uninformative_codes_score_near_zero(factors: np.ndarray, kind: str) -> None:
    codes = np.zeros((N, 6)) if kind == "constant" else noise(6)
    result = metrics.evaluate(factors, codes, factor_kinds=KINDS, metrics=["mig", "sap", "dcimig"])["metrics"]
    for name in ("mig", "sap", "dcimig"):
        assert result[name] < 0.02, (name, result[name])


@pytest.mark.parametrize("convention", ["standard", "ubisoft"])
def test_permuting_codes_changes_nothing(factors: np.ndarray, convention: str) -> None:
    codes = identity_like(factors) + 0.3 * noise(6, seed=5)
    order = np.random.default_rng(3).permutation(codes.shape[1])
    chosen = ["mig", "jemmig", "dcimig", "modularity", "sap", "explicitness", "probe"]
    kinds = KINDS if convention == "standard" else None
    before = metrics.evaluate(factors, codes, convention=convention, factor_kinds=kinds, metrics=chosen)[
        "metrics"
    ]
    after = metrics.evaluate(
        factors, codes[:, order], convention=convention, factor_kinds=kinds, metrics=chosen
    )["metrics"]
    assert after == pytest.approx(before, abs=1e-9)


def test_dci_is_invariant_to_code_order_up_to_forest_randomness(factors: np.ndarray) -> None:
    codes = identity_like(factors)
    order = np.random.default_rng(3).permutation(codes.shape[1])
    for estimator, tolerance in (("lasso", 1e-6), ("random_forest", 0.03)):
        before = metrics.dci(factors, codes, factor_kinds=KINDS, estimator=estimator)
        after = metrics.dci(factors, codes[:, order], factor_kinds=KINDS, estimator=estimator)
        assert after == pytest.approx(before, abs=tolerance), estimator


@pytest.mark.parametrize("name", sorted(INFO))
def test_information_metrics_ignore_affine_and_mostly_monotone_transforms(
    factors: np.ndarray, name: str
) -> None:
    codes = identity_like(factors)
    reference = INFO[name](factors, codes, factor_kinds=KINDS)[name]
    affine = INFO[name](factors, -3.0 * codes + 7.0, factor_kinds=KINDS)[name]
    assert affine == pytest.approx(reference, abs=1e-9)
    # a strictly monotone but non-linear map moves samples across equal-width bins
    cubed = INFO[name](factors, np.cbrt(codes - codes.mean(axis=0)), factor_kinds=KINDS)[name]
    assert cubed == pytest.approx(reference, abs=0.25)


def test_ubisoft_bins_a_four_class_factor_into_bins_1_4_7_10() -> None:
    labels = bin_columns(np.array([[0.0], [1.0], [2.0], [3.0]]), 10)
    assert (labels[:, 0] + 1).tolist() == [1, 4, 7, 10]


@pytest.mark.parametrize(
    ("factors_arg", "codes_arg", "message"),
    [
        (np.zeros((10, 2)) + np.arange(10)[:, None], np.zeros((9, 3)), "factors has 10 rows but codes has 9"),
        (np.array([[1.0, np.nan], [2.0, 1.0], [3.0, 2.0]]), np.ones((3, 3)), "factors contains NaN or inf"),
        (
            np.arange(6.0).reshape(3, 2),
            np.array([[0, 1], [np.inf, 1], [2, 2.0]]),
            "codes contains NaN or inf",
        ),
        (np.stack([np.arange(5.0), np.ones(5)], 1), np.ones((5, 3)), "factors column 1 is constant"),
        (np.arange(10.0)[:, None], np.arange(10.0)[:, None], "codes needs at least 2 columns"),
    ],
)
def test_bad_input_names_the_argument(factors_arg, codes_arg, message: str) -> None:
    gap_only = "2 columns" in message  # a probe can read a single feature
    for metric in (metrics.mig, metrics.sap, metrics.dci, *(() if gap_only else (metrics.probe,))):
        with pytest.raises(ValueError, match=message):
            metric(factors_arg, codes_arg)


def test_a_probe_reads_one_feature_but_not_none() -> None:
    rng = np.random.default_rng(0)
    factor = rng.integers(0, 2, 400).astype(float)[:, None]
    feature = factor + 0.01 * rng.standard_normal(factor.shape)
    assert metrics.probe(factor, feature, factor_kinds=["categorical"])["probe/factor0"] == 1.0
    with pytest.raises(ValueError, match="codes needs at least 1 columns"):
        metrics.probe(factor, np.zeros((400, 0)))


def test_bad_options_are_named(factors: np.ndarray) -> None:
    codes = identity_like(factors)
    with pytest.raises(ValueError, match="convention must be one of"):
        metrics.mig(factors, codes, convention="laforge")
    with pytest.raises(ValueError, match="bins must be an integer >= 2"):
        metrics.mig(factors, codes, bins=1)
    with pytest.raises(ValueError, match="factor_kinds has 2 entries for 3 factors"):
        metrics.mig(factors, codes, factor_kinds=["categorical", "continuous"])
    with pytest.raises(ValueError, match="estimator must be one of"):
        metrics.dci(factors, codes, estimator="svm")
    with pytest.raises(ValueError, match="metrics: unknown"):
        metrics.evaluate(factors, codes, metrics=["irs"])


# --- the `ubisoft` convention against per-pair computations from the description ---


def per_pair_tables(factors: np.ndarray, codes: np.ndarray, bins: int = 10):
    edges = np.linspace(0, 1, bins + 1)[:-1]
    f = np.digitize(minmax_scale(factors), edges)
    c = np.digitize(minmax_scale(codes), edges)
    mi = np.array(
        [[drv.information_mutual(f[:, j], c[:, k]) for k in range(c.shape[1])] for j in range(f.shape[1])]
    )
    normalised = np.array(
        [
            [drv.information_mutual_normalised(f[:, j], c[:, k], norm_factor="Y") for k in range(c.shape[1])]
            for j in range(f.shape[1])
        ]
    )
    joint = np.array(
        [
            [drv.entropy_joint(np.stack([f[:, j], c[:, k]])) for k in range(c.shape[1])]
            for j in range(f.shape[1])
        ]
    )
    h_f = np.array([drv.entropy(f[:, j]) for j in range(f.shape[1])])
    return mi, normalised, joint, h_f


def gap(row: np.ndarray) -> float:
    ordered = np.sort(row)
    return float(ordered[-1] - ordered[-2])


def expected_ubisoft(factors: np.ndarray, codes: np.ndarray) -> dict[str, float]:
    mi, normalised, joint, h_f = per_pair_tables(factors, codes)
    n_factors, n_codes = mi.shape
    mig = np.mean([gap(normalised[j]) for j in range(n_factors)])
    jemmig = np.mean(
        [
            1
            - (joint[j, np.argsort(mi[j])[-1]] - np.sort(mi[j])[-1] + np.sort(mi[j])[-2])
            / (h_f[j] + np.log2(10))
            for j in range(n_factors)
        ]
    )
    best_gap = np.zeros(n_factors)
    for k in range(n_codes):
        j = int(np.argmax(mi[:, k]))
        best_gap[j] = max(best_gap[j], gap(mi[:, k]))
    dcimig = best_gap.sum() / h_f.sum()
    modularity = np.mean(
        [
            1
            - sum(mi[j, k] ** 2 for j in range(n_factors) if j != np.argmax(mi[:, k]))
            / (mi[:, k].max() ** 2 * (n_factors - 1))
            for k in range(n_codes)
        ]
    )
    r2 = np.array(
        [
            [
                max(
                    0.0,
                    r2_score(
                        factors[:, j],
                        LinearRegression().fit(codes[:, [k]], factors[:, j]).predict(codes[:, [k]]),
                    ),
                )
                for k in range(n_codes)
            ]
            for j in range(n_factors)
        ]
    )
    sap = np.mean([gap(r2[j]) for j in range(n_factors)])
    return {"mig": mig, "jemmig": jemmig, "dcimig": dcimig, "modularity": modularity, "sap": sap}


@pytest.fixture(scope="module")
def learned_like(factors: np.ndarray) -> np.ndarray:
    """Codes that mix factors non-linearly, like a trained encoder's."""
    rng = np.random.default_rng(7)
    scaled = minmax_scale(factors)
    mixed = np.tanh(scaled @ rng.normal(size=(3, 5))) + 0.2 * rng.normal(size=(N, 5))
    return np.concatenate([mixed, scaled[:, 1:2] ** 2 + 0.05 * rng.normal(size=(N, 1))], axis=1)


def test_ubisoft_convention_matches_the_per_pair_computation(factors, learned_like) -> None:
    expected = expected_ubisoft(factors, learned_like)
    got = metrics.evaluate(factors, learned_like, convention="ubisoft", metrics=list(expected))["metrics"]
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-9), name


def test_paper_compat_is_ubisoft_with_the_arguments_swapped(factors, learned_like) -> None:
    expected = expected_ubisoft(learned_like, factors)  # codes where factors belong
    result = metrics.evaluate(factors, learned_like, paper_compat=True)
    assert set(result["metrics"]) >= set(metrics.PAPER_METRICS)
    for name, value in expected.items():
        assert result["metrics"][name] == pytest.approx(value, abs=1e-9), name
    assert result["settings"]["convention"] == "ubisoft" and result["settings"]["paper_compat"]


def test_ubisoft_dci_matches_the_described_lasso_procedure(factors, learned_like) -> None:
    f, c = minmax_scale(factors), minmax_scale(learned_like)
    weights, informativeness = [], []
    for j in range(f.shape[1]):
        scores = {
            a: -cross_val_score(
                Lasso(alpha=a, max_iter=5000), c, f[:, j], cv=10, scoring="neg_mean_squared_error"
            ).mean()
            for a in (0.0001, 0.001, 0.01, 0.1, 0.2, 0.4, 0.8, 1.0)
        }
        model = Lasso(alpha=min(scores, key=scores.get)).fit(c, f[:, j])
        weights.append(np.abs(model.coef_))
        informativeness.append(max(0.0, 1 - 12 * mean_squared_error(f[:, j], model.predict(c))))
    r = np.array(weights).T  # codes x factors
    p_code = r / r.sum(axis=1, keepdims=True)
    d_code = 1 + np.sum(np.where(p_code > 0, p_code * np.log(p_code), 0), axis=1) / np.log(r.shape[1])
    p_factor = (r / r.sum(axis=0)).T
    c_factor = 1 + np.sum(np.where(p_factor > 0, p_factor * np.log(p_factor), 0), axis=1) / np.log(r.shape[0])
    got = metrics.dci(factors, learned_like, convention="ubisoft")
    assert got["dci_disentanglement"] == pytest.approx(d_code @ (r.sum(axis=1) / r.sum()), abs=1e-4)
    assert got["dci_completeness"] == pytest.approx(c_factor.mean(), abs=1e-4)
    assert got["dci_informativeness"] == pytest.approx(np.mean(informativeness), abs=1e-4)


def test_ubisoft_dci_keeps_the_companion_codes_early_stop(factors: np.ndarray) -> None:
    """A code with zero importance zeroes the disentanglement of every later code there."""
    codes = np.concatenate([np.zeros((N, 1)) + noise(1) * 1e-12, minmax_scale(factors)], axis=1)
    ubisoft = metrics.dci(factors, codes, convention="ubisoft")
    reordered = metrics.dci(factors, codes[:, [1, 2, 3, 0]], convention="ubisoft")
    assert ubisoft["dci_disentanglement"] == 0.0
    assert reordered["dci_disentanglement"] > 0.9


def _companion_disentanglement(importance: np.ndarray) -> float:
    """The companion code's loop, transcribed: stop at the first code with no importance."""
    n_codes, n_factors = importance.shape
    rho, d = np.zeros(n_codes), np.zeros(n_codes)
    for c in range(n_codes):
        rho[c] = importance[c].sum()
        if rho[c] == 0:
            break
        p = importance[c] / rho[c]
        d[c] = 1 + sum(q * np.log(q) / np.log(n_factors) for q in p if q)
    return float(d @ (rho / rho.sum())) if rho.sum() else 0.0


@pytest.mark.parametrize("dead", [0, 1, 3])
def test_ubisoft_dci_weights_no_code_after_a_dead_one(dead: int) -> None:
    """[good, dead, good] is D = 1 under the companion code (the dead code ends its loop);
    the standard convention weights every live code (here 0.5)."""
    from synaudio.metrics.predictors import _dci_scores

    importance = np.random.default_rng(dead).random((5, 3)) ** 4
    importance[dead] = 0.0
    expected = _companion_disentanglement(importance)
    assert _dci_scores(importance, ubisoft=True)[0] == pytest.approx(expected, abs=1e-12)
    good_dead_good = np.array([[1.0, 0, 0], [0, 0, 0], [0, 1.0, 0]])
    assert _dci_scores(good_dead_good, ubisoft=True)[0] == pytest.approx(1.0)
    assert _dci_scores(good_dead_good, ubisoft=False)[0] == pytest.approx(1.0)
    half_dead = np.array([[1.0, 0, 0], [0, 0, 0], [1.0, 1.0, 1.0]])
    assert _dci_scores(half_dead, ubisoft=True)[0] == pytest.approx(1.0)
    assert _dci_scores(half_dead, ubisoft=False)[0] == pytest.approx(0.25)


def test_cli_prints_a_table_for_your_own_codes(factors, learned_like, tmp_path, cli) -> None:
    np.savez(tmp_path / "mine.npz", factors=factors, codes=learned_like)
    result = cli(
        "metrics", tmp_path / "mine.npz", "--paper-compat", "--json", tmp_path / "out.json", check=True
    )
    expected = expected_ubisoft(learned_like, factors)
    printed = dict(line.split() for line in result.stdout.splitlines() if not line.startswith("("))
    for name, value in expected.items():
        assert float(printed[name]) == pytest.approx(value, abs=5e-5)
    assert "mig/code0" in printed and "paper_compat: True" in result.stdout
    saved = json.loads((tmp_path / "out.json").read_text())
    assert saved["metrics"]["mig"] == pytest.approx(expected["mig"], abs=1e-9)


def test_cli_reads_two_npy_files_and_reports_bad_input(factors, tmp_path, cli) -> None:
    np.save(tmp_path / "f.npy", factors)
    np.save(tmp_path / "c.npy", identity_like(factors)[:-1])
    result = cli("metrics", tmp_path / "f.npy", tmp_path / "c.npy")
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: factors has {N} rows but codes has {N - 1}: one row per sample"
    np.savez(tmp_path / "wrong.npz", z=factors)
    result = cli("metrics", tmp_path / "wrong.npz")
    assert result.returncode == 2 and "lacks array(s) ['codes', 'factors']" in result.stderr


# --- chance-corrected information (issue 15) ---------------------------------------------

SYNTONE_GRID = {"kinds": ["categorical", "continuous", "continuous"], "classes": [4, 400, 20]}
SYNSPEECH_GRID = {"kinds": ["categorical"] * 6, "classes": [50, 2, 500, 50, 10, 4]}


def grid_factors(grid: dict, rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.integers(0, k, rows) for k in grid["classes"]]).astype(float)


@pytest.mark.parametrize("grid", [SYNTONE_GRID, SYNSPEECH_GRID], ids=["syntone", "synspeech"])
def test_noise_codes_score_zero_with_the_chance_corrected_estimator(grid: dict) -> None:
    truth = grid_factors(grid, 5000)
    codes = np.random.default_rng(1).standard_normal((5000, 16))
    shared = {"factor_kinds": grid["kinds"], "bins": 20, "metrics": ("mig", "jemmig", "dcimig", "modularity")}
    corrected = metrics.evaluate(truth, codes, mi_estimator="chance_corrected", **shared)["metrics"]
    assert max(abs(v) for v in corrected.values()) <= 0.01, corrected  # every metric and per-factor value
    plugin = metrics.evaluate(truth, codes, mi_estimator="plugin", **shared)["metrics"]
    assert plugin["modularity"] > 0.5  # the plug-in bias the correction removes


def test_chance_correction_keeps_real_information() -> None:
    truth = grid_factors(SYNSPEECH_GRID, 5000)
    rng = np.random.default_rng(3)
    codes = np.column_stack([truth + 0.05 * rng.standard_normal(truth.shape), rng.standard_normal((5000, 2))])
    result = metrics.evaluate(
        truth, codes, factor_kinds=SYNSPEECH_GRID["kinds"], mi_estimator="chance_corrected",
        metrics=("mig", "jemmig", "modularity"),
    )["metrics"]  # fmt: skip
    assert result["mig/factor1"] > 0.95  # gender: one code carries it all
    assert result["modularity"] > 0.5


def test_expected_mutual_information_matches_scikit_learn() -> None:
    from sklearn.metrics.cluster import contingency_matrix, expected_mutual_information

    from synaudio.metrics.information import expected_mi
    from synaudio.metrics.inputs import discretize

    truth = grid_factors(SYNSPEECH_GRID, 3000)
    codes = np.random.default_rng(4).standard_normal((3000, 3))
    f, c = discretize(truth, 20, SYNSPEECH_GRID["kinds"]), discretize(codes, 20)
    expected = expected_mi(f, c)
    for j in range(truth.shape[1]):
        for k in range(codes.shape[1]):
            table = contingency_matrix(f.labels[:, j], c.labels[:, k])
            assert expected[j, k] == pytest.approx(
                expected_mutual_information(table, 3000) / np.log(2), rel=1e-9
            )


def test_the_ubisoft_convention_stays_plug_in(factors: np.ndarray) -> None:
    with pytest.raises(ValueError, match="applies to the standard convention only"):
        metrics.evaluate(
            factors, identity_like(factors), convention="ubisoft", mi_estimator="chance_corrected"
        )
    with pytest.raises(ValueError, match="mi_estimator must be one of"):
        metrics.evaluate(factors, identity_like(factors), mi_estimator="miller_madow")


def test_explicitness_solves_the_same_regressions_as_scikit_learn() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from synaudio.metrics.logistic import decision_values, fit_one_vs_rest, roc_auc_rows

    rng = np.random.default_rng(5)
    x = rng.random((1200, 4))
    labels = np.digitize(x @ np.array([3.0, -2.0, 1.0, 0.5]) + rng.normal(0, 0.5, 1200), [-1, 0, 1, 2, 3])
    onehot = labels[None, :] == np.unique(labels)[:, None]
    weights = fit_one_vs_rest(x[:900], onehot[:, :900])
    aucs = roc_auc_rows(onehot[:, 900:], decision_values(x[900:], weights))
    for value, row in enumerate(onehot):
        model = LogisticRegression(class_weight="balanced", tol=1e-10, max_iter=10_000).fit(
            x[:900], row[:900]
        )
        assert weights[value] == pytest.approx(np.r_[model.coef_[0], model.intercept_], abs=1e-4)
        assert aucs[value] == pytest.approx(
            roc_auc_score(row[900:], model.decision_function(x[900:])), abs=1e-12
        )


def test_the_linear_probe_fits_scikit_learns_multinomial_logistic_regression() -> None:
    """Same objective (mean cross-entropy + |W|^2 / 2n, written out here in float64), the
    same minimum to L-BFGS's tolerance as scikit-learn solved tightly, the same predictions."""
    from scipy.special import log_softmax
    from sklearn.linear_model import LogisticRegression

    from synaudio.metrics.softmax import fit_softmax

    rng = np.random.default_rng(6)
    x = rng.normal(size=(3000, 4))
    labels = np.digitize(x @ np.array([2.0, -1.5, 1.0, 0.5]) + rng.normal(0, 0.7, 3000), [-2, -1, 0, 1, 2])

    def objective(coef: np.ndarray, intercept: np.ndarray) -> float:
        picked = log_softmax(x @ coef.T + intercept, axis=1)[np.arange(len(x)), labels]
        return float(-picked.mean() + (coef**2).sum() / (2 * len(x)))

    ours = fit_softmax(x, labels)
    theirs = LogisticRegression(tol=1e-10, max_iter=10_000).fit(x, labels)
    assert list(ours.classes) == list(theirs.classes_) == list(range(6))
    minimum = objective(theirs.coef_, theirs.intercept_)
    assert objective(ours.weights[:, :-1], ours.weights[:, -1]) == pytest.approx(minimum, rel=1e-5)
    assert ours.weights[:, :-1] == pytest.approx(theirs.coef_, rel=0.02)
    assert np.mean(ours.predict(x) == theirs.predict(x)) > 0.998


def test_the_linear_probe_of_a_factor_with_one_value_predicts_it() -> None:
    from synaudio.metrics.softmax import fit_softmax

    assert list(fit_softmax(np.ones((5, 2)), np.full(5, 3)).predict(np.zeros((2, 2)))) == [3, 3]


def test_the_forest_probe_reads_what_the_linear_probe_cannot() -> None:
    """A factor that is a non-monotone function of the code (f = c^2): the linear probe
    sees nothing (R^2 ~ 0), the forest probe nearly all of it."""
    code = np.random.default_rng(0).uniform(-1, 1, (4000, 1))
    factor = code**2
    linear = metrics.probe(factor, code, factor_kinds=["continuous"])["probe/factor0"]
    forest = metrics.probe(factor, code, reader="forest", factor_kinds=["continuous"])["probe_forest/factor0"]
    assert linear < 0.02 and forest > 0.98
