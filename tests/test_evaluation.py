"""geoviz.evaluation: encoder specs, probes, splits, metrics, resolution diagnostics, CLI (fast)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from geoviz.data import uniform_sphere
from geoviz.evaluation import (
    EmbeddingCache,
    EvalTask,
    country_of,
    evaluate,
    get_encoder,
    get_eval_task,
    linear_probe,
    make_reps,
    mlp_probe,
    resolve_encoder_spec,
    score,
)
from geoviz.evaluation.resolution import checkerboard_labels, destination_points, resolved_scale

CITIES = {  # (lon, lat) -> Natural Earth continent
    "Paris": ((2.35, 48.86), "Europe"),
    "Nairobi": ((36.82, -1.29), "Africa"),
    "Cairo": ((31.24, 30.04), "Africa"),
    "Tokyo": ((139.69, 35.69), "Asia"),
    "Delhi": ((77.21, 28.61), "Asia"),
    "Sydney": ((151.21, -33.87), "Oceania"),
    "São Paulo": ((-46.63, -23.55), "South America"),
    "New York": ((-74.0, 40.71), "North America"),
}


def _sh_task(n: int = 700, L: int = 6, seed: int = 0) -> EvalTask:
    x = uniform_sphere(n, seed=seed)
    F = get_encoder(f"sh:{L}")(x).astype(np.float64)
    w = np.random.default_rng(seed).normal(size=F.shape[1])
    w[:4] = 0.0  # no degree-0/1 part: not a linear function of (lon, lat)
    return EvalTask("synthetic", "regression", x, F @ w, "r2")


def test_linear_sh_target_recovered_by_sh_not_by_raw() -> None:
    res = evaluate(["sh:6", "raw"], (), ["linear"], ["random"], seeds=2, task_objects=[_sh_task()])
    sh = res.get("sh:6", "synthetic", "linear", "random")
    raw = res.get("raw", "synthetic", "linear", "random")
    assert sh.mean > 0.999
    assert raw.mean < 0.3
    assert (sh.n_train, sh.n_test) == (350, 350)


def test_metrics_equal_sklearn() -> None:
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.preprocessing import StandardScaler

    from geoviz.data.splits import random_split
    from geoviz.evaluation.probes import RIDGE_ALPHAS

    task = _sh_task(n=300, L=4, seed=1)
    task.y = task.y + np.random.default_rng(2).normal(scale=task.y.std(), size=len(task.y))  # noisy: R² well below 1
    res = evaluate(["sh:3"], (), ["linear"], ["random"], seeds=2, task_objects=[task])
    rec = res.get("sh:3", "synthetic", "linear", "random")
    X = get_encoder("sh:3")(task.lonlat).astype(np.float64)
    ref = []
    for s in range(2):
        tr, te = random_split(len(task), 0.5, seed=s)
        sc = StandardScaler().fit(X[tr])
        m = RidgeCV(alphas=RIDGE_ALPHAS).fit(sc.transform(X[tr]), task.y[tr])
        ref.append(r2_score(task.y[te], m.predict(sc.transform(X[te]))))
    np.testing.assert_allclose(rec.values, ref, rtol=1e-6, atol=1e-9)
    assert rec.mean == pytest.approx(np.mean(ref)) and rec.std == pytest.approx(np.std(ref))
    y, p = np.array([0, 1, 2, 2, 1]), np.array([0, 2, 2, 2, 1])
    assert score("classification", y, p) == accuracy_score(y, p)
    assert score("regression", y.astype(float), p.astype(float)) == r2_score(y, p)
    with pytest.raises(ValueError, match="kind"):
        score("ranking", y, p)


def test_mlp_probe_learns_and_reps_are_independent() -> None:
    x = uniform_sphere(400, seed=3)
    y = np.sin(np.radians(x[:, 1])) * 10 + np.cos(np.radians(x[:, 0]))
    X = get_encoder("sh:4")(x)
    a = (np.arange(0, 200), np.arange(200, 400), 0)
    b = (np.arange(200, 400), np.arange(0, 200), 1)
    both = mlp_probe(X, y, "regression", [a, b], epochs=100)
    alone = mlp_probe(X, y, "regression", [b], epochs=100)
    np.testing.assert_allclose(both[1], alone[0], rtol=1e-4, atol=1e-4)
    assert score("regression", y[a[1]], both[0]) > 0.9
    labels = (x[:, 1] > 0).astype(np.int64) + (x[:, 0] > 0)
    pred = mlp_probe(X, labels, "classification", [a], n_classes=3, epochs=100)[0]
    assert score("classification", labels[a[1]], pred) > 0.85


def test_continent_masks_for_known_cities_and_holdout_reps() -> None:
    from geoviz.data.splits import continent_of

    pts = np.array([c for c, _ in CITIES.values()], dtype=np.float64)
    assert list(continent_of(pts)) == [k for _, k in CITIES.values()]
    task = EvalTask("cities", "regression", pts, np.arange(len(pts), dtype=float), "r2")
    reps = make_reps(task, "continents", seeds=2)
    assert set(reps) == {"continent:Asia", "continent:Africa"}
    names = np.array(list(CITIES))
    tr, te, _ = reps["continent:Asia"][0]
    assert set(names[te]) == {"Tokyo", "Delhi"} and "Paris" in set(names[tr])
    assert set(names[reps["continent:Africa"][1][1]]) == {"Nairobi", "Cairo"}
    rows = [r["name"] for r in __import__("geoviz.evaluation.tasks", fromlist=["_countries"])._countries()[0]]
    assert rows[country_of(pts[:1])[0]] == "France"
    assert country_of(np.array([[-30.0, 0.0]]))[0] == -1  # mid-Atlantic


def test_block_reps_leak_nothing() -> None:
    from geoviz.data.splits import block_ids

    task = EvalTask("u", "regression", uniform_sphere(500, seed=4), np.zeros(500), "r2")
    reps = make_reps(task, "blocks", block_deg=20.0, folds=4)["blocks"]
    ids = block_ids(task.lonlat, 20.0)
    seen = np.zeros(len(task), dtype=int)
    for tr, te, _ in reps:
        assert not set(ids[tr]) & set(ids[te])
        seen[te] += 1
    assert (seen == 1).all()


def test_clear_errors() -> None:
    for bad in ["sh:x", "sh:0", "raw:2", "nonsense", "missing/model.ckpt"]:
        with pytest.raises(ValueError):
            get_encoder(bad)
    with pytest.raises(TypeError):
        resolve_encoder_spec(10)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown task"):
        get_eval_task("rainfall")
    with pytest.raises(ValueError, match="unknown task"):
        evaluate(["raw"], "rainfall")
    with pytest.raises(ValueError, match="unknown split"):
        evaluate(["raw"], "population", splits=["diagonal"], n=50)
    with pytest.raises(ValueError, match="unknown probe"):
        evaluate(["raw"], "population", probes=["svm"], n=50)
    asia = np.array([[100.0 + i * 0.1, 30.0] for i in range(20)])
    task = EvalTask("asia_only", "regression", asia, np.arange(20.0), "r2")
    with pytest.raises(ValueError, match="empty train set"):
        make_reps(task, "continents")


def test_encoder_specs_and_cache(tmp_path) -> None:
    assert resolve_encoder_spec("sh:10") == ("sh", "10")
    assert resolve_encoder_spec("Wrap") == ("pe", None)
    assert resolve_encoder_spec("geoviz-bluemarble-l10") == ("pretrained", None)
    x = uniform_sphere(50, seed=5)
    raw = get_encoder("raw")(x)
    np.testing.assert_array_equal(raw, x.astype(np.float32))
    from geoviz.encoders import spherical_harmonics

    ref = spherical_harmonics(torch.from_numpy(x), 3).numpy()
    np.testing.assert_allclose(get_encoder("sh:3")(x), ref, rtol=1e-5, atol=1e-6)
    cache = EmbeddingCache(tmp_path)
    e = get_encoder("wrap")
    a = cache.get(e, x)
    b = cache.get(e, x)
    assert a is b and cache.misses == 1 and cache.hits == 1
    assert len(list(tmp_path.glob("*.npy"))) == 1
    c = EmbeddingCache(tmp_path).get(e, x)  # from disk
    np.testing.assert_array_equal(a, c)
    bm = get_encoder("geoviz-bluemarble-l10")(x[:5])
    assert bm.shape == (5, 256) and bm.dtype == np.float32


def test_probe_handles_classes_and_linear_deterministic() -> None:
    x = uniform_sphere(300, seed=6)
    y = (x[:, 1] > 0).astype(np.int64)
    X = get_encoder("sh:3")(x)
    reps = [(np.arange(150), np.arange(150, 300), 0), (np.arange(150), np.arange(150, 300), 1)]
    p = linear_probe(X, y, "classification", reps)
    np.testing.assert_array_equal(p[0], p[1])
    assert score("classification", y[150:], p[0]) > 0.9


def test_resolution_helpers() -> None:
    assert resolved_scale([90, 45, 22.5, 10], [1.0, 1.0, 0.5, 0.5]) == pytest.approx(np.exp((np.log(45) + np.log(22.5)) / 2))
    assert resolved_scale([90, 45], [0.99, 0.98]) == 45.0
    assert np.isnan(resolved_scale([90, 45], [0.5, 0.51]))
    assert np.isnan(resolved_scale([90, 45, 22.5], [0.6, 0.9, 0.95]))  # rises at finer cells
    p = np.array([[0.5, 0.5], [1.5, 0.5], [-0.5, -0.5], [179.9, 89.9]])
    np.testing.assert_array_equal(checkerboard_labels(p, 1.0), [0, 1, 0, (359 + 179) % 2])
    a = uniform_sphere(50, seed=7)
    a = a[np.abs(a[:, 1]) < 80]
    q = destination_points(a, 1000.0, np.random.default_rng(0).uniform(0, 360, len(a)))
    la, lb = np.radians(a), np.radians(q)
    hav = np.sin((lb[:, 1] - la[:, 1]) / 2) ** 2 + np.cos(la[:, 1]) * np.cos(lb[:, 1]) * np.sin((lb[:, 0] - la[:, 0]) / 2) ** 2
    np.testing.assert_allclose(2 * 6371.0088 * np.arcsin(np.sqrt(hav)), 1000.0, rtol=1e-6)


def test_cli_end_to_end(tmp_path, capsys) -> None:
    from geoviz.cli import main

    out, js = tmp_path / "out", tmp_path / "rec.json"
    rc = main(["evaluate", "--encoders", "sh:3,raw", "--tasks", "population,continents", "--n", "150",
               "--epochs", "5", "--seeds", "2", "--splits", "random,blocks,continents", "--folds", "3",
               "--block-deg", "30", "--json", str(js), "--out", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "linear probe, split random" in text and "mlp probe, split blocks" in text
    assert "held-out Asia (Natural Earth: Russia is in Europe)" in text
    recs = json.loads(js.read_text())
    # protocol of issue 27: every record also names its scoring region and its 95 % interval over seeds
    assert set(recs[0]) == {"encoder", "task", "probe", "split", "region", "metric", "mean", "std", "ci_low",
                            "ci_high", "n_train", "n_test"}
    splits = {r["split"] for r in recs}
    assert splits == {"random", "blocks", "continent:Asia", "continent:Africa"}
    assert not any(r["task"] == "continents" and r["split"].startswith("continent:") for r in recs)
    everywhere = [r for r in recs if r["region"] == "all"]
    assert len(everywhere) == 2 * 2 * (4 + 2)  # encoders × probes × (population: 4 splits, continents: 2)
    assert len({r["n_train"] for r in recs if r["task"] == "population"}) == 1  # equal training sizes
    assert (out / "evaluation.md").read_text().startswith("# geoviz evaluate")
    assert (out / "evaluation.png").stat().st_size > 1000
    assert main(["evaluate", "--encoders", "bogus-encoder", "--tasks", "population", "--quiet"]) == 2


def test_cli_resolution(tmp_path, capsys) -> None:
    from geoviz.cli import main

    rc = main(["evaluate", "--resolution", "--encoders", "sh:3", "--cells", "90,45", "--n", "120",
               "--siren-epochs", "5", "--out", str(tmp_path), "--quiet"])
    assert rc == 0
    assert "resolved scale" in capsys.readouterr().out
    doc = json.loads((tmp_path / "resolution.json").read_text())
    assert doc[0]["encoder"] == "sh:3" and len(doc[0]["accuracy"]) == 2
    assert (tmp_path / "resolution_sh_3.png").exists() and (tmp_path / "resolution_comparison.png").exists()


# --- the protocol of issue 27 -----------------------------------------------------------------


def test_protocol_equal_training_sizes_new_samples_per_seed_and_regions() -> None:
    from geoviz.evaluation.harness import ANTARCTICA_LAT, region_masks

    res = evaluate(["wrap"], ["temperature"], ["linear"], ["random", "blocks", "continents"], n=300, seeds=3)
    recs = [r for r in res.records_ if r.region == "all"]
    assert {r.split for r in recs} == {"random", "blocks", "continent:Asia", "continent:Africa"}
    assert len({r.n_train for r in recs}) == 1 and recs[0].n_train == res.settings["n_train"]["temperature"]
    samples = res.samples["temperature"]
    assert len(samples) == 3 and not np.array_equal(samples[0].lonlat, samples[1].lonlat)  # a new sample per seed
    r_all = res.get("wrap", "temperature", "linear", "random")
    r_no = res.get("wrap", "temperature", "linear", "random", "no-antarctica")
    r_ant = res.get("wrap", "temperature", "linear", "random", "antarctica")
    assert len(r_all.values) == len(r_no.values) == len(r_ant.values) == 3
    assert r_no.n_test + r_ant.n_test == r_all.n_test
    assert res.get("wrap", "temperature", "linear", "continent:Asia", "antarctica") is None
    lo, hi = r_all.ci_low, r_all.ci_high
    assert lo < r_all.mean < hi
    m = region_masks(np.array([[0.0, -61.0], [0.0, -59.0]]))
    assert list(m["antarctica"]) == [True, False] and list(m["no-antarctica"]) == [False, True]
    assert ANTARCTICA_LAT == -60.0


def test_t_interval_matches_scipy() -> None:
    from scipy import stats

    from geoviz.evaluation import t_interval

    v = [0.8, 0.85, 0.9, 0.7, 0.75]
    ref = stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
    np.testing.assert_allclose(t_interval(v), ref, rtol=1e-12)
    assert all(np.isnan(t_interval([0.5])))


def test_mlp_tuning_by_inner_cv() -> None:
    from geoviz.evaluation import MLP_GRID, tune_mlp

    x = uniform_sphere(300, seed=8)
    y = np.sin(np.radians(x[:, 1])) * 10 + np.cos(np.radians(x[:, 0]))
    X = get_encoder("sh:4")(x)
    tr = np.arange(150)
    cfg, inner = tune_mlp(X, y, "regression", tr, epochs=60)
    assert cfg in [dict(g) for g in MLP_GRID] and len(inner) == len(MLP_GRID)
    assert inner[[dict(g) for g in MLP_GRID].index(cfg)] == max(inner)
    # only the training rows matter: changing the test targets changes nothing
    y2 = y.copy()
    y2[150:] = 0.0
    assert tune_mlp(X, y2, "regression", tr, epochs=60) == (cfg, inner)
    labels = (x[:, 1] > 0).astype(np.int64)
    cfg_c, inner_c = tune_mlp(X, labels, "classification", tr, n_classes=2, epochs=60)
    assert max(inner_c) > 0.8


def test_resolved_scale_is_absolute_and_ordered() -> None:
    from geoviz.evaluation.resolution import RESOLVED_ACCURACY

    cells = [90, 45, 22.5, 10, 5]
    sh = [0.95, 0.87, 0.52, 0.50, 0.52]   # the Compare tab's case: this curve lies above the other everywhere
    bm = [0.81, 0.76, 0.51, 0.50, 0.50]
    assert RESOLVED_ACCURACY == 0.75
    assert resolved_scale(cells, bm) >= resolved_scale(cells, sh)
    assert np.isnan(resolved_scale(cells, [0.70, 0.6, 0.5, 0.5, 0.5]))  # never 75 %: resolves no board


def test_resolution_boards_on_land_for_image_derived_models() -> None:
    from geoviz.data import is_land
    from geoviz.evaluation.resolution import _board_points, land_only

    assert land_only("geoviz-bluemarble-l10") and land_only("geoclip")
    assert not land_only("sh:10") and not land_only("raw")
    for cell in (90.0, 5.0):
        p = _board_points(cell, 200, seed=3, land=True)
        assert p.shape == (200, 2) and is_land(p).all()


def test_held_out_continents_are_named_as_natural_earth_draws_them() -> None:
    from geoviz.data.splits import continent_of
    from geoviz.evaluation.harness import split_label

    assert continent_of(np.array([[105.0, 62.0]]))[0] == "Europe"  # central Siberia: Russia is in Europe
    assert split_label("continent:Asia") == "held-out Asia (Natural Earth: Russia is in Europe)"
