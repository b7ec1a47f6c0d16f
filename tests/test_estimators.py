"""geoviz.estimators: scikit-learn's estimator checks, their lon/lat-data counterparts, real
behaviour on land/ocean and a smooth field, and the ecosystem (Pipeline, clone, GridSearchCV,
spatial-block cross-validation, set_output)."""

from __future__ import annotations

import collections
import pickle
import random
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

from geoviz.data import block_ids, is_land, uniform_sphere
from geoviz.estimators import GeoClassifier, GeoRegressor, LocationEmbedder

pd = pytest.importorskip("pandas")

EMBEDDER_MODEL = "geoviz-bluemarble-l10"
TINY = dict(encoder="sh:10+siren(32x1)", max_epochs=30, batch_size=64, patience=5, device="cpu")
"""Settings that fit a scikit-learn check's data (≤ 300 points) in ~0.05 s; on the CPU, where
fits repeat bit for bit (on CUDA the estimators declare themselves non-deterministic)."""


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: one torch thread (two spin-wait for each other on a busy machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def field(lonlat: np.ndarray) -> np.ndarray:
    """sin(lat)·cos(lon): a smooth closed-form field on the sphere."""
    return np.sin(np.radians(lonlat[:, 1])) * np.cos(np.radians(lonlat[:, 0]))


# --------------------------------------------------------------------------------------
# scikit-learn's own checks

_SHAPE = "feeds {} columns that are not (lon, lat); X must be (N, 2)"
_RANGE = "draws normal(loc=100) data: lat > 90 is out of range for (lon, lat) degrees"

_COMMON = {
    "check_dict_unchanged": _SHAPE.format(3),
    "check_dont_overwrite_parameters": _SHAPE.format(3),
    "check_dtype_object": _SHAPE.format(10),
    "check_estimators_dtypes": _SHAPE.format(5),
    "check_estimators_nan_inf": _SHAPE.format(3) + " (NaN itself is refused, see test_nan_and_inf_rejected)",
    "check_estimators_pickle": _SHAPE.format(3),
    "check_f_contiguous_array_estimator": _SHAPE.format(3),
    "check_fit2d_predict1d": _SHAPE.format(3),
    "check_fit_score_takes_y": _SHAPE.format(3),
    "check_methods_sample_order_invariance": _SHAPE.format(3),
    "check_methods_subset_invariance": _SHAPE.format(3),
    "check_n_features_in_after_fitting": _SHAPE.format(4),
    "check_pipeline_consistency": _SHAPE.format(3),
    "check_positive_only_tag_during_fit": _SHAPE.format(4) + " (iris)",
    "check_fit_idempotent": _RANGE,
    "check_fit_check_is_fitted": _RANGE,
    "check_n_features_in": _RANGE,
}

EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "GeoRegressor": {
        **_COMMON,
        "check_supervised_y_2d": _SHAPE.format(3),
        "check_regressors_train": _SHAPE.format(10),
        "check_regressor_data_not_an_array": _SHAPE.format(10),
        "check_regressor_multioutput": _SHAPE.format(10),
        "check_regressors_int": _SHAPE.format(10),
        "check_regressors_no_decision_function": _SHAPE.format(4),
    },
    "GeoClassifier": {
        **_COMMON,
        "check_supervised_y_2d": _SHAPE.format(3),
    },
    "LocationEmbedder": {
        **_COMMON,
        "check_fit2d_1sample": _SHAPE.format(10) + " (one point is fine to embed)",
        "check_transformer_data_not_an_array": _SHAPE.format(3),
        "check_transformer_general": _SHAPE.format(3),
        "check_transformer_preserve_dtypes": _SHAPE.format(3) + " (dtype kept: test_embedder_dtypes)",
    },
}
"""Per estimator: the scikit-learn checks that cannot pass for (lon, lat) input, and why.
Each has a lon/lat-data counterpart below."""

CHECKED = [GeoRegressor(**TINY), GeoClassifier(**TINY), LocationEmbedder(EMBEDDER_MODEL, device="cpu")]


def _expected_failures(est):
    return EXPECTED_FAILED_CHECKS[type(est).__name__]


@parametrize_with_checks(CHECKED, expected_failed_checks=_expected_failures, xfail_strict=True)
def test_sklearn_check(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. sklearn's own notes on skipped parts
        check(estimator)


@pytest.mark.parametrize("est", CHECKED, ids=lambda e: type(e).__name__)
def test_check_counts(est, capsys):
    """Every check passes or is an expected failure that really fails; the counts are printed."""
    expected = _expected_failures(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(clone(est), expected_failed_checks=expected, on_fail=None, on_skip=None)
    counts = collections.Counter(r["status"] for r in results)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed
    xfailed = {r["check_name"] for r in results if r["status"] == "xfail"}
    assert xfailed == set(expected)  # no stale entry: each listed check is run and does fail
    with capsys.disabled():
        print(f"\n{type(est).__name__}: {counts['passed']} passed, {counts['xfail']} xfailed "
              f"({len(xfailed)} distinct checks), {counts['skipped']} skipped")


# --------------------------------------------------------------------------------------
# lon/lat-data counterparts of the expected failures


@pytest.fixture(scope="module")
def points():
    X = uniform_sphere(600, seed=3)
    return X, field(X), np.where(is_land(X), "land", "ocean")


def _fitted(kind, points, **kw):
    X, yr, yc = points
    if kind == "regressor":
        return GeoRegressor(random_state=0, **{**TINY, **kw}).fit(X, yr)
    if kind == "classifier":
        return GeoClassifier(random_state=0, **{**TINY, **kw}).fit(X, yc)
    return LocationEmbedder(EMBEDDER_MODEL, **{"device": "cpu", **kw}).fit(X)


def _out(est, X):
    if isinstance(est, GeoClassifier):
        return est.predict_proba(X)
    if isinstance(est, LocationEmbedder):
        return est.transform(X)
    return est.predict(X)


KINDS = ["regressor", "classifier", "embedder"]


@pytest.mark.parametrize("kind", KINDS)
def test_pickle_round_trip(kind, points):
    est = _fitted(kind, points)
    X = points[0]
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(_out(back, X), _out(est, X))
    assert next(back.model_.parameters()).device.type == "cpu"
    assert back.get_params() == est.get_params()
    if kind == "classifier":
        np.testing.assert_array_equal(back.predict(X), est.predict(X))


@pytest.mark.parametrize("kind", KINDS)
def test_subset_and_sample_order_invariance(kind, points):
    est = _fitted(kind, points)
    X = points[0]
    full = _out(est, X)
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(X))
    np.testing.assert_allclose(_out(est, X[perm]), full[perm], rtol=1e-6, atol=1e-7)
    for part in np.array_split(np.arange(len(X)), 7):
        np.testing.assert_allclose(_out(est, X[part]), full[part], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_fit_is_idempotent_and_reproducible(kind, points):
    X, yr, yc = points
    y = yr if kind == "regressor" else yc
    a = _fitted(kind, points)
    first, history = _out(a, X), a.history_
    X2 = uniform_sphere(300, seed=9)
    a.fit(X2, field(X2) if kind == "regressor" else np.where(X2[:, 1] > 0, "n", "s"))  # another fit in between
    a.fit(X, y)
    b = clone(a).fit(X, y)
    np.testing.assert_array_equal(_out(a, X), first)
    np.testing.assert_array_equal(_out(b, X), first)
    assert a.history_ == b.history_ == history


def test_random_state_none_gives_different_fits(points):
    X, y, _ = points
    a = GeoRegressor(**TINY).fit(X, y)
    b = GeoRegressor(**TINY).fit(X, y)
    assert not np.array_equal(a.predict(X), b.predict(X))


@pytest.mark.parametrize("kind", KINDS)
def test_fitted_attributes_and_unchanged_state(kind, points):
    est = _fitted(kind, points)
    params = est.get_params()
    X = points[0]
    assert est.n_features_in_ == 2
    assert not hasattr(est, "feature_names_in_")
    before = {k: v for k, v in est.__dict__.items()}
    _out(est, X)
    if kind == "classifier":
        est.predict(X)
        est.score(X, points[2])
    assert est.__dict__.keys() == before.keys() and all(est.__dict__[k] is before[k] for k in before)
    assert est.get_params() == params
    if kind != "embedder":
        assert est.n_epochs_ == len(est.history_) >= 1
        assert set(est.history_[0]) >= {"epoch", "train_loss", "val_loss"}
        assert est.stopped_ in ("early_stopping", "max_epochs")
        assert 1 <= est.best_epoch_ <= est.n_epochs_
        assert est.n_train_ + est.n_val_ == len(X) and est.n_val_ == 60
        assert est.encoder_ == "sh:10+siren(32x1)" and est.device_ == "cpu"
    else:
        assert est.embedding_dim_ == 256


@pytest.mark.parametrize("kind", KINDS)
def test_unfitted_raises(kind):
    est = {"regressor": GeoRegressor(), "classifier": GeoClassifier(), "embedder": LocationEmbedder()}[kind]
    with pytest.raises(NotFittedError):
        _out(est, np.zeros((2, 2)))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_rejected(kind, bad, points):
    X, yr, yc = points
    Xb = X[:20].copy()
    Xb[7, 1] = bad
    est = {"regressor": GeoRegressor(**TINY), "classifier": GeoClassifier(**TINY),
           "embedder": LocationEmbedder(EMBEDDER_MODEL)}[kind]
    y = yr[:20] if kind == "regressor" else yc[:20]
    with pytest.raises(ValueError, match=r"X contains NaN or inf: first at row 7"):
        est.fit(Xb, y)
    fitted = _fitted(kind, points)
    with pytest.raises(ValueError, match=r"X contains NaN or inf: first at row 7"):
        _out(fitted, Xb)


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_column_count_and_range_named(kind, points):
    X, yr, yc = points
    est = {"regressor": GeoRegressor(**TINY), "classifier": GeoClassifier(**TINY),
           "embedder": LocationEmbedder(EMBEDDER_MODEL)}[kind]
    y = yr if kind == "regressor" else yc
    for k in (1, 3):
        Xk = np.column_stack([X] * 2)[:, :k]
        with pytest.raises(ValueError, match=rf"X has n_features={k}; expected 2 \(lon, lat\)"):
            est.fit(Xk, y)
    with pytest.raises(ValueError, match="got 1D array"):
        est.fit(X[:, 0], y)
    lat = X.copy()
    lat[4] = [10.0, 95.0]
    with pytest.raises(ValueError, match=r"latitude \(column 1\) out of range \[-90, 90\] at row 4: "
                                         r"\(lon, lat\) = \(10.0, 95.0\).*\(lat, lon\) order"):
        est.fit(lat, y)
    lon = X.copy()
    lon[11] = [200.0, 5.0]
    with pytest.raises(ValueError, match=r"longitude \(column 0\) out of range \[-180, 180\] at row 11"):
        est.fit(lon, y)
    fitted = _fitted(kind, points)
    with pytest.raises(ValueError, match=r"latitude .* at row 4"):
        _out(fitted, lat)
    with pytest.raises(ValueError, match="X has 3 features, but .* is expecting 2 features"):
        _out(fitted, np.column_stack([X, X[:, :1]]))
    with pytest.raises(ValueError, match="got 1D array"):
        _out(fitted, X[0])
    edges = np.array([[-180.0, -90.0], [180.0, 90.0], [0.0, 0.0]])
    assert np.isfinite(_out(fitted, edges)).all()


@pytest.mark.parametrize("kind", KINDS)
def test_input_dtypes(kind, points):
    """float64, float32, ints and lists in; the dtype of the output does not depend on them."""
    est = _fitted(kind, points)
    X = np.array([[0.0, 0.0], [10.0, 45.0], [-120.0, -30.0]])
    ref = _out(est, X)
    for variant in (X.astype(np.float32), X.astype(np.int64), X.tolist(), np.asfortranarray(X)):
        out = _out(est, variant)
        assert out.dtype == ref.dtype
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


def test_embedder_dtypes(points):
    """The output dtype is the ``dtype`` parameter; it is the one dtype the tag says is preserved."""
    X = points[0][:50]
    e32 = LocationEmbedder(EMBEDDER_MODEL).fit(X)
    e64 = LocationEmbedder(EMBEDDER_MODEL, dtype="float64").fit(X)
    assert e32.transform(X).dtype == np.float32 and e32.transform(X.astype(np.float32)).dtype == np.float32
    assert e64.transform(X.astype(np.float32)).dtype == np.float64
    assert e32.__sklearn_tags__().transformer_tags.preserves_dtype == ["float32"]
    assert e64.__sklearn_tags__().transformer_tags.preserves_dtype == ["float64"]
    np.testing.assert_allclose(e64.transform(X), e32.transform(X), rtol=1e-4, atol=1e-4)


def test_supervised_y_2d(points):
    X, yr, yc = points
    r1 = GeoRegressor(random_state=0, **TINY).fit(X, yr)
    r2 = GeoRegressor(random_state=0, **TINY).fit(X, yr[:, None])
    assert r1.predict(X).shape == (len(X),) and r2.predict(X).shape == (len(X), 1)
    np.testing.assert_allclose(r2.predict(X)[:, 0], r1.predict(X), rtol=1e-6, atol=1e-6)
    with pytest.warns(DataConversionWarning):
        c2 = GeoClassifier(random_state=0, **TINY).fit(X, yc[:, None])
    np.testing.assert_array_equal(c2.predict(X), GeoClassifier(random_state=0, **TINY).fit(X, yc).predict(X))
    with pytest.raises(ValueError, match="1d array"):
        GeoClassifier(**TINY).fit(X, np.column_stack([yc, yc]))


def test_pipeline_consistency(points):
    X, yr, _ = points
    est = GeoRegressor(random_state=0, **TINY)
    pipe = make_pipeline(clone(est))
    np.testing.assert_array_equal(pipe.fit(X, yr).predict(X), est.fit(X, yr).predict(X))


def test_fit_leaves_global_random_streams_alone(points):
    X, yr, _ = points
    np.random.seed(123)
    random.seed(123)
    torch.manual_seed(123)
    expected = (np.random.rand(), random.random(), torch.rand(1).item())
    np.random.seed(123)
    random.seed(123)
    torch.manual_seed(123)
    GeoRegressor(random_state=0, **TINY).fit(X, yr)
    assert (np.random.rand(), random.random(), torch.rand(1).item()) == expected


def test_bad_targets_and_hyper_parameters(points):
    X, yr, yc = points
    GeoRegressor(lr=-1, encoder=42, max_epochs="x")  # __init__ never validates
    with pytest.raises(ValueError, match="at least 2 classes"):
        GeoClassifier(**TINY).fit(X, np.full(len(X), "a"))
    with pytest.raises(ValueError, match="Unknown label type"):
        GeoClassifier(**TINY).fit(X, yr)
    with pytest.raises(ValueError, match="constant"):
        GeoRegressor(**TINY).fit(X, np.ones(len(X)))
    with pytest.raises(ValueError, match=r"column\(s\) \[1\]"):
        GeoRegressor(**TINY).fit(X, np.column_stack([yr, np.ones(len(X))]))
    with pytest.raises(ValueError, match="Input y contains NaN"):
        GeoRegressor(**TINY).fit(X, np.where(np.arange(len(X)) == 5, np.nan, yr))
    with pytest.raises(ValueError, match="n_samples=1|1 sample"):
        GeoRegressor(**TINY).fit(X[:1], yr[:1])
    bad = [
        (dict(encoder="sh:10"), "has no network"),
        (dict(encoder="nope+siren"), "unknown positional encoding"),
        (dict(encoder="sh:10+siren(64x2,bogus=1)"), "bogus"),
        (dict(lr=0), "lr must be"),
        (dict(weight_decay=-1.0), "weight_decay must be"),
        (dict(max_epochs=0), "max_epochs must be"),
        (dict(batch_size=2.5), "batch_size must be"),
        (dict(patience=0), "patience must be"),
        (dict(validation_fraction=1.0), "validation_fraction must be"),
        (dict(dtype="float16"), "dtype must be"),
        (dict(device=3), "device must be"),
        (dict(verbose=-1), "verbose must be"),
    ]
    for kw, msg in bad:
        with pytest.raises((ValueError, TypeError), match=msg):
            GeoRegressor(**{**TINY, **kw}).fit(X[:50], yr[:50])
    with pytest.raises(ValueError, match="pretrained name"):
        LocationEmbedder("no-such-model").fit(X[:5])
    with pytest.raises(TypeError, match="model must be"):
        LocationEmbedder(3.5).fit(X[:5])


def test_validation_fraction_and_patience(points, capsys):
    X, yr, _ = points
    for vf in (0, None):
        r = GeoRegressor(random_state=0, validation_fraction=vf, **TINY).fit(X, yr)
        assert r.n_val_ == 0 and r.n_train_ == len(X)
    r = GeoRegressor(random_state=0, **{**TINY, "patience": None, "max_epochs": 7}).fit(X, yr)
    assert r.n_epochs_ == 7 and r.stopped_ == "max_epochs" and r.best_epoch_ == 7
    r = GeoRegressor(random_state=0, verbose=1, **{**TINY, "max_epochs": 2}).fit(X, yr)
    assert capsys.readouterr().out.count("[GeoRegressor] epoch") == 2
    # numpy integers from a parameter grid are fine
    GeoRegressor(random_state=0, **{**TINY, "max_epochs": np.int64(2), "lr": np.float32(1e-3)}).fit(X, yr)


def test_embedder_takes_a_module(points):
    """A torch module (here a fitted regressor's encoder) is copied, never changed, and embeds."""
    X, yr, _ = points
    reg = GeoRegressor(random_state=0, **TINY).fit(X, yr)
    emb = LocationEmbedder(reg.model_, dtype="float64").fit(X)
    assert emb.model_ is not reg.model_ and next(reg.model_.parameters()).dtype == torch.float32
    assert emb.embedding_dim_ == 1 and emb.get_feature_names_out().tolist() == ["emb_0"]
    np.testing.assert_allclose(emb.transform(X)[:, 0] * reg.y_scale_[0] + reg.y_mean_[0], reg.predict(X),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fit_pickles_to_cpu(points):
    X, yr, yc = points
    for est in (GeoRegressor(device="cuda", random_state=0, **TINY).fit(X, yr),
                GeoClassifier(device="cuda", random_state=0, **TINY).fit(X, yc),
                LocationEmbedder(EMBEDDER_MODEL, device="cuda").fit(X)):
        assert next(est.model_.parameters()).device.type == "cuda"
        back = pickle.loads(pickle.dumps(est))
        assert next(back.model_.parameters()).device.type == "cpu"
        assert next(est.model_.parameters()).device.type == "cuda"  # the original stays put
        np.testing.assert_allclose(_out(back, X), _out(est, X), rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------------------
# real behaviour


def test_classifier_beats_majority_on_land_ocean():
    X, Xt = uniform_sphere(2000, seed=0), uniform_sphere(2000, seed=1)
    y, yt = is_land(X), is_land(Xt)
    clf = GeoClassifier(random_state=0).fit(X, y)
    majority = max(yt.mean(), 1 - yt.mean())
    acc = clf.score(Xt, yt)
    assert clf.classes_.dtype == bool and clf.predict(Xt).dtype == bool
    assert acc > majority + 0.12, (acc, majority)
    assert clf.stopped_ == "early_stopping"
    p = clf.predict_proba(Xt)
    assert p.shape == (len(Xt), 2) and np.allclose(p.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(Xt), clf.classes_[p.argmax(axis=1)])


def test_regressor_recovers_smooth_field():
    X, Xt = uniform_sphere(800, seed=0), uniform_sphere(2000, seed=1)
    reg = GeoRegressor(random_state=0).fit(X, 20.0 + 5.0 * field(X))
    assert reg.score(Xt, 20.0 + 5.0 * field(Xt)) > 0.9
    assert reg.y_mean_.shape == (1,) and reg.y_mean_[0] == pytest.approx(20.0, abs=0.5)
    assert reg.history_[-1]["r2"] > 0.8


def test_string_labels_round_trip_multiclass():
    X, Xt = uniform_sphere(1500, seed=0), uniform_sphere(1000, seed=1)

    def band(P):
        return np.where(P[:, 1] > 25, "north", np.where(P[:, 1] < -25, "south", "tropics"))

    clf = GeoClassifier(random_state=0).fit(X, band(X))
    assert clf.classes_.tolist() == ["north", "south", "tropics"]
    pred = clf.predict(Xt)
    assert set(pred) <= {"north", "south", "tropics"}
    assert clf.score(Xt, band(Xt)) > 0.9
    assert clf.predict_proba(Xt).shape == (len(Xt), 3)
    assert "iou" not in clf.history_[-1] and "accuracy" in clf.history_[-1]


def test_multi_output_regression():
    X, Xt = uniform_sphere(800, seed=0), uniform_sphere(1000, seed=1)

    def targets(P):
        return np.column_stack([field(P), 100.0 + 10.0 * np.sin(np.radians(P[:, 1]))])

    reg = GeoRegressor(random_state=0).fit(X, targets(X))
    pred = reg.predict(Xt)
    assert pred.shape == (len(Xt), 2) and reg.n_outputs_ == 2 and reg.y_scale_.shape == (2,)
    assert reg.score(Xt, targets(Xt)) > 0.85


# --------------------------------------------------------------------------------------
# ecosystem


def test_clone_and_params():
    est = GeoRegressor("sh:5+linear", lr=3e-3, random_state=1)
    c = clone(est)
    assert c.get_params() == est.get_params() and c is not est
    assert c.set_params(encoder="sh:6+fcnet(16x1)").encoder == "sh:6+fcnet(16x1)"
    assert "encoder='sh:5+linear'" in repr(est)


def test_grid_search_over_encoder(points):
    X, yr, _ = points
    gs = GridSearchCV(GeoRegressor(random_state=0, **TINY),
                      {"encoder": ["sh:3+siren(16x1)", "sh:8+siren(32x1)"]}, cv=2).fit(X, yr)
    assert gs.best_params_["encoder"] in ("sh:3+siren(16x1)", "sh:8+siren(32x1)")
    assert np.isfinite(gs.cv_results_["mean_test_score"]).all()
    assert gs.best_estimator_.encoder_ == gs.best_params_["encoder"]


def test_spatial_block_cross_validation(points):
    X, _, yc = points
    groups = block_ids(X, 30.0)
    scores = cross_val_score(GeoClassifier(random_state=0, **TINY), X, yc, groups=groups, cv=GroupKFold(n_splits=3))
    assert scores.shape == (3,) and np.all((scores > 0.5) & (scores <= 1.0))


def test_embedder_pipelines(points):
    X, yr, yc = points
    Xt = uniform_sphere(1000, seed=11)
    # the Blue Marble embeddings hold much of a smooth field that raw (lon, lat) cannot give a linear model
    reg = Pipeline([("emb", LocationEmbedder(EMBEDDER_MODEL)), ("ridge", RidgeCV(alphas=np.logspace(-3, 3, 7)))])
    baseline = RidgeCV(alphas=np.logspace(-3, 3, 7)).fit(X, yr).score(Xt, field(Xt))
    assert baseline < 0.05 and reg.fit(X, yr).score(Xt, field(Xt)) > 0.4
    clf = make_pipeline(LocationEmbedder(EMBEDDER_MODEL), StandardScaler(), LogisticRegression(max_iter=300))
    yt = np.where(is_land(Xt), "land", "ocean")
    assert clf.fit(X, yc).score(Xt, yt) > 0.8


def test_dataframes_set_output_and_swapped_columns(points):
    X, yr, _ = points
    df = pd.DataFrame({"lon": X[:, 0], "lat": X[:, 1]}, index=pd.RangeIndex(1000, 1000 + len(X)))
    emb = LocationEmbedder(EMBEDDER_MODEL, feature_prefix="loc_").set_output(transform="pandas")
    out = emb.fit_transform(df)
    assert isinstance(out, pd.DataFrame)
    assert out.index.equals(df.index)
    assert list(out.columns[:2]) == ["loc_0", "loc_1"] and out.shape == (len(X), 256)
    assert emb.feature_names_in_.tolist() == ["lon", "lat"]
    assert emb.get_feature_names_out(["lon", "lat"])[-1] == "loc_255"
    with pytest.raises(ValueError, match="input_features is not equal"):
        emb.get_feature_names_out(["lat", "lon"])
    with pytest.raises(ValueError, match="feature names should match"):
        emb.transform(df[["lat", "lon"]])
    reg = GeoRegressor(random_state=0, **TINY).fit(df, yr)
    assert reg.feature_names_in_.tolist() == ["lon", "lat"]
    np.testing.assert_array_equal(reg.predict(df), GeoRegressor(random_state=0, **TINY).fit(X, yr).predict(X))
    with pytest.raises(ValueError, match="feature names should match"):
        reg.predict(df[["lat", "lon"]])
    assert LocationEmbedder(EMBEDDER_MODEL).fit(X).get_feature_names_out()[0] == "emb_0"


# ----------------------------------------------------------------------------- the one model file


@pytest.mark.parametrize("labels", ["strings", "bools", "ints", "regression", "multi-output"])
def test_save_and_load_estimator_round_trip(labels, points, tmp_path):
    """est.save writes the one geoviz model file; load_estimator gives the same predictions,
    labels of the same type, and no pickle is involved."""
    from geoviz.estimators import load_estimator
    from geoviz.model_file import looks_like_model_file

    X, yr, yc = points
    if labels == "regression":
        est = GeoRegressor(random_state=0, **TINY).fit(X, yr)
    elif labels == "multi-output":
        est = GeoRegressor(random_state=0, **TINY).fit(X, np.column_stack([yr, 2 * yr + 1]))
    else:
        y = {"strings": yc, "bools": yc == "land", "ints": np.where(yc == "land", 7, -3)}[labels]
        est = GeoClassifier(random_state=0, **TINY).fit(X, y)
    path = tmp_path / "model.bin"  # the name is kept as given
    assert est.save(path) == path and looks_like_model_file(path)
    back = load_estimator(path)
    assert type(back) is type(est) and back.encoder == est.encoder and back.encoder_ == est.encoder_
    np.testing.assert_array_equal(_out(back, X), _out(est, X))
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    if hasattr(est, "classes_"):
        assert back.classes_.dtype == est.classes_.dtype
        np.testing.assert_array_equal(back.classes_, est.classes_)
    assert back.score(X, yr if labels == "regression" else est.predict(X)) == pytest.approx(
        est.score(X, yr if labels == "regression" else est.predict(X)))


def test_cli_model_files_and_estimators_are_one_format(points, tmp_path):
    """A `geoviz fit` file loads as a fitted estimator; an estimator's file goes through
    `geoviz predict`; a pretrained encoder file is refused with where to load it instead."""
    import pandas as pd

    from geoviz.cli import main
    from geoviz.estimators import load_estimator
    from geoviz.model_io import load_model, predict_with
    from geoviz.pretrained.geoviz_model import default_weights_path

    X, yr, _ = points
    csv = tmp_path / "pts.csv"
    pd.DataFrame({"lon": X[:, 0], "lat": X[:, 1], "temp": yr}).to_csv(csv, index=False)
    fitted = tmp_path / "fit.gvz"
    assert main(["fit", str(csv), "--save", str(fitted), "--epochs", "3", "--encoder", "sh:4+siren(8x1)",
                 "--quiet", "--device", "cpu"]) == 0
    est = load_estimator(fitted)
    model, meta = load_model(fitted)
    np.testing.assert_allclose(est.predict(X[:50]), predict_with(model, meta, X[:50])["prediction"], rtol=1e-6)
    mine = tmp_path / "mine.gvz"
    GeoRegressor(random_state=0, **TINY).fit(X, yr).save(mine)
    out = tmp_path / "pred.csv"
    assert main(["predict", str(mine), str(csv), "-o", str(out)]) == 0
    np.testing.assert_allclose(pd.read_csv(out)["prediction"].to_numpy(), load_estimator(mine).predict(X), rtol=1e-5)
    with pytest.raises(ValueError, match="LocationEmbedder"):
        load_estimator(default_weights_path("l10"))
