"""geoviz.species.estimator.SpeciesRangeEstimator: scikit-learn's checks (with the lon/lat
expected failures), presence-only ranges of two species recovered, labels, pickling, input errors."""

from __future__ import annotations

import collections
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

from geoviz.data import uniform_sphere
from geoviz.data.sampling import lonlat_to_unit
from geoviz.species.estimator import SpeciesRangeEstimator
from geoviz.species.evaluate import presence_background_auc

from test_estimators import EXPECTED_FAILED_CHECKS as _ESTIMATOR_XFAILS

TINY = dict(encoder="sh:6+siren(16x1)", epochs=3, batch_size=64, background="uniform", device="cpu")
SMALL = dict(encoder="sh:10+siren(64x2)", epochs=30, batch_size=256, background="uniform", device="cpu")

EXPECTED_FAILED_CHECKS = {
    **_ESTIMATOR_XFAILS["GeoRegressor"],
    "check_fit2d_1sample": "feeds 10 columns that are not (lon, lat); X must be (N, 2) (one observation is fine)",
}
for _name in ("check_supervised_y_2d", "check_regressors_train", "check_regressor_data_not_an_array",
              "check_regressor_multioutput", "check_regressors_int", "check_regressors_no_decision_function"):
    EXPECTED_FAILED_CHECKS.pop(_name)  # regressor-only checks: not run for this estimator


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: one torch thread (two spin-wait for each other on a busy machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@parametrize_with_checks([SpeciesRangeEstimator(**TINY)], expected_failed_checks=lambda e: EXPECTED_FAILED_CHECKS,
                         xfail_strict=True)
def test_sklearn_check(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check(estimator)


def test_check_counts(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(SpeciesRangeEstimator(**TINY), expected_failed_checks=EXPECTED_FAILED_CHECKS,
                                  on_fail=None, on_skip=None)
    counts = collections.Counter(r["status"] for r in results)
    assert counts["failed"] == 0
    assert {r["check_name"] for r in results if r["status"] == "xfail"} == set(EXPECTED_FAILED_CHECKS)
    with capsys.disabled():
        print(f"\nSpeciesRangeEstimator: {counts['passed']} passed, {counts['xfail']} xfailed "
              f"({len(EXPECTED_FAILED_CHECKS)} distinct checks), {counts['skipped']} skipped")


def cap(center: tuple[float, float], radius_deg: float, n: int, seed: int) -> np.ndarray:
    """``n`` uniform points within ``radius_deg`` (great circle) of ``center`` (lon, lat)."""
    p = uniform_sphere(int(n * 4 / (1 - np.cos(np.radians(radius_deg)))) + 100, seed)
    c = lonlat_to_unit(np.array([center], dtype=np.float64))[0]
    d = np.degrees(np.arccos(np.clip(lonlat_to_unit(p) @ c, -1.0, 1.0)))
    out = p[d < radius_deg][:n]
    assert len(out) == n
    return out


A, B = ((10.0, 45.0), 15.0), ((-60.0, -10.0), 20.0)


@pytest.fixture(scope="module")
def two_species():
    xa, xb = cap(*A, 300, seed=0), cap(*B, 300, seed=1)
    X = np.vstack([xa, xb])
    y = np.array(["Vulpes alba"] * 300 + ["Bufo rex"] * 300, dtype=object)
    return X, y


@pytest.fixture(scope="module")
def fitted(two_species):
    X, y = two_species
    return SpeciesRangeEstimator(random_state=0, **SMALL).fit(X, y)


def test_ranges_recovered(fitted):
    assert fitted.classes_.tolist() == ["Bufo rex", "Vulpes alba"]
    assert fitted.class_counts_.tolist() == [300, 300] and fitted.n_epochs_ == 30 == len(fitted.history_)
    bg = uniform_sphere(2000, seed=5)
    pb = fitted.predict_proba(bg)
    assert pb.shape == (2000, 2) and pb.dtype == np.float64
    assert presence_background_auc(fitted.predict_proba(cap(*A, 200, seed=7))[:, 1], pb[:, 1]) > 0.95
    assert presence_background_auc(fitted.predict_proba(cap(*B, 200, seed=8))[:, 0], pb[:, 0]) > 0.95
    assert fitted.predict([A[0], B[0]]).tolist() == ["Vulpes alba", "Bufo rex"]
    held_out = np.vstack([cap(*A, 100, seed=9), cap(*B, 100, seed=10)])
    assert fitted.score(held_out, ["Vulpes alba"] * 100 + ["Bufo rex"] * 100) > 0.95
    np.testing.assert_allclose(fitted.predict_proba(bg[:5]), 1 / (1 + np.exp(-fitted.decision_function(bg[:5]))))


def test_pickle_reproducibility_and_int_labels(two_species, fitted):
    X, y = two_species
    back = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(back.predict_proba(X), fitted.predict_proba(X))
    again = clone(fitted).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))
    codes = np.where(y == "Bufo rex", 7, 3)
    ints = SpeciesRangeEstimator(random_state=0, **TINY).fit(X, codes)
    assert ints.classes_.tolist() == [3, 7] and set(ints.predict(X)) <= {3, 7}


def test_background_points_and_cross_validation(two_species):
    X, y = two_species
    group = uniform_sphere(500, seed=3)
    est = SpeciesRangeEstimator(random_state=0, **{**TINY, "background": group}).fit(X, y)
    assert est.predict_proba(X[:3]).shape == (3, 2)
    scores = cross_val_score(SpeciesRangeEstimator(random_state=0, **TINY), X, y, cv=2)
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))


def test_bad_input_named(two_species):
    X, y = two_species
    est = SpeciesRangeEstimator(**TINY)
    bad = X.copy()
    bad[5, 1] = 91.0
    with pytest.raises(ValueError, match=r"latitude .* at row 5"):
        est.fit(bad, y)
    with pytest.raises(ValueError, match=r"n_features=3; expected 2 \(lon, lat\)"):
        est.fit(np.column_stack([X, X[:, 0]]), y)
    with pytest.raises(ValueError, match="contains None"):
        est.fit(X, np.where(np.arange(len(y)) == 2, None, y))
    bad_bg = np.array([[0.0, 0.0], [10.0, 100.0]])
    with pytest.raises(ValueError, match=r"background: .*latitude .* at row 1"):
        SpeciesRangeEstimator(**{**TINY, "background": bad_bg}).fit(X, y)
    for kw, msg in [(dict(loss="nope"), "loss="), (dict(background="moon"), "unknown background"),
                    (dict(encoder="sh:6"), "has no network"), (dict(epochs=0), "epochs must be"),
                    (dict(pos_weight=-1), "pos_weight must be")]:
        with pytest.raises(ValueError, match=msg):
            SpeciesRangeEstimator(**{**TINY, **kw}).fit(X, y)
