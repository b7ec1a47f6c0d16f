"""``geoviz fit / predict / embed`` end to end on small files (and embed on a LocalCluster)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from geoviz.cli import main
from geoviz.data import uniform_sphere

pytest.importorskip("pyarrow")

FAST = ["--epochs", "3", "--legendre-polys", "4", "--hidden-dim", "8", "--num-layers", "1", "--resolution", "15",
        "--quiet"]


@pytest.fixture(scope="module")
def points(tmp_path_factory):
    d = tmp_path_factory.mktemp("pts")
    p = uniform_sphere(300, 5)
    df = pd.DataFrame({"id": np.arange(300), "Lon": p[:, 0], "Lat": p[:, 1],
                       "temp": 25 * np.cos(np.radians(p[:, 1])) - 5 + p[:, 0] / 60,
                       "zone": np.where(p[:, 1] > 30, "north", np.where(p[:, 1] < -30, "south", "tropics"))})
    df.to_csv(d / "pts.csv", index=False)
    df.to_parquet(d / "pts.parquet", row_group_size=100)
    return d, df


def test_fit_predict_regression(points, tmp_path, capsys):
    d, df = points
    model = tmp_path / "m.gvz"
    assert main(["fit", str(d / "pts.csv"), "--target", "temp", "--units", "°C", "--split", "blocks:20",
                 "--save", str(model), "--out", str(tmp_path / "out"), *FAST]) == 0
    out = capsys.readouterr().out
    assert "held-out test" in out and "R²" in out and "°C" in out
    metrics = json.loads((tmp_path / "out" / "m_metrics.json").read_text())
    assert metrics["kind"] == "regression" and metrics["units"] == "°C" and {"r2", "rmse", "mae"} <= set(metrics["test"])
    png = tmp_path / "out" / "m_map.png"
    assert png.stat().st_size > 10_000
    assert main(["predict", str(model), str(d / "pts.parquet"), "-o", str(tmp_path / "pred.csv")]) == 0
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert list(pred.columns) == list(df.columns) + ["prediction"] and len(pred) == len(df)
    assert pred["id"].tolist() == df["id"].tolist() and np.isfinite(pred.prediction).all()
    # predictions are in units: same scale as the target
    assert abs(pred.prediction.mean() - df.temp.mean()) < 15
    # a fitted model file is also an embedding model (its raw outputs)
    assert main(["embed", str(model), str(d / "pts.csv"), "-o", str(tmp_path / "e.parquet"), "--quiet"]) == 0
    emb = pd.read_parquet(tmp_path / "e.parquet")
    assert list(emb.columns) == list(df.columns) + ["emb_0"]


def test_fit_multi_output_target(points, tmp_path):
    d, df = points
    two = df.assign(temp2=df.temp * 2 + 100)
    two.to_csv(tmp_path / "two.csv", index=False)
    model = tmp_path / "two.gvz"
    assert main(["fit", str(tmp_path / "two.csv"), "--target", "temp,temp2", "--save", str(model), *FAST]) == 0
    assert main(["predict", str(model), str(tmp_path / "two.csv"), "-o", str(tmp_path / "p.csv")]) == 0
    pred = pd.read_csv(tmp_path / "p.csv")
    assert {"prediction_temp", "prediction_temp2"} <= set(pred.columns)


def test_fit_predict_classification_has_class_probabilities(points, tmp_path):
    d, df = points
    model = tmp_path / "c.gvz"
    assert main(["fit", str(d / "pts.parquet"), "--target", "zone", "--save", str(model), *FAST]) == 0
    assert main(["predict", str(model), str(d / "pts.csv"), "-o", str(tmp_path / "pred.parquet")]) == 0
    pred = pd.read_parquet(tmp_path / "pred.parquet")
    assert {"prediction", "p_north", "p_south", "p_tropics"} <= set(pred.columns)
    np.testing.assert_allclose(pred[["p_north", "p_south", "p_tropics"]].sum(axis=1), 1.0, atol=1e-6)
    assert set(pred.prediction) <= {"north", "south", "tropics"}


def test_fit_field_writes_truth_beside_prediction(tmp_path, capsys):
    pytest.importorskip("geoviz.data.fields")
    model = tmp_path / "t.gvz"
    assert main(["fit", "field:temperature", "--n-train", "400", "--n-test", "200", "--save", str(model),
                 "--out", str(tmp_path), *FAST]) == 0
    assert "held-out test (200 points)" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "t_metrics.json").read_text())
    assert metrics["units"] == "°C" and metrics["n_train"] == 400
    from geoviz.model_io import read_metadata

    assert read_metadata(model)["task"]["units"] == "°C"


def test_cli_errors_are_clear(points, tmp_path, capsys):
    d, _ = points
    assert main(["fit", str(d / "pts.csv"), "--target", "nope", "--save", str(tmp_path / "x.gvz"), *FAST]) == 2
    err = capsys.readouterr().err
    assert "target column 'nope' not found" in err and "'temp'" in err
    assert main(["fit", str(d / "pts.csv"), "--save", str(tmp_path / "x.gvz"), *FAST]) == 2
    assert "--target" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "missing.gvz"), str(d / "pts.csv"), "-o", str(tmp_path / "p.csv")]) == 2
    assert main(["embed", "no-such-model", str(d / "pts.csv"), "-o", str(tmp_path / "e.parquet")]) == 2
    assert "neither a pretrained name" in capsys.readouterr().err


def test_embed_memory_and_local_cluster_agree(points, tmp_path):
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("dask.dataframe")
    from geoviz.pretrained import is_available

    if not is_available("geoviz-bluemarble-l10"):
        pytest.skip("shipped geoviz weights missing")
    d, df = points
    mem = tmp_path / "mem.parquet"
    assert main(["embed", "geoviz-bluemarble-l10", str(d / "pts.csv"), "-o", str(mem), "--chunk-rows", "128",
                 "--threads", "1", "--quiet"]) == 0
    a = pd.read_parquet(mem)
    emb_cols = [f"emb_{j}" for j in range(256)]
    assert list(a.columns) == list(df.columns) + emb_cols and len(a) == len(df)
    assert a["id"].tolist() == df["id"].tolist()
    from geoviz.embed import embed_points
    from geoviz.pretrained import load_pretrained

    ref = embed_points(load_pretrained("geoviz-bluemarble-l10"), df[["Lon", "Lat"]].to_numpy())
    np.testing.assert_allclose(a[emb_cols].to_numpy(), ref, rtol=1e-5, atol=1e-6)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cl:
        out = tmp_path / "dask.parquet"
        assert main(["embed", "geoviz-bluemarble-l10", str(d / "pts.parquet"), "-o", str(out),
                     "--scheduler", cl.scheduler_address, "--quiet"]) == 0
    b = pd.read_parquet(out)
    assert b["id"].tolist() == df["id"].tolist()
    assert list(b.columns) == list(a.columns)
    np.testing.assert_allclose(b[emb_cols].to_numpy(), a[emb_cols].to_numpy(), rtol=1e-5, atol=1e-6)


def test_library_figures_leave_the_matplotlib_backend_alone(tmp_path):
    """`geoviz fit`'s map and the reproduce latitude figure draw with the object API: a user's
    interactive backend (e.g. inline in a notebook) is never switched to Agg."""
    import subprocess
    import sys

    code = r"""
import matplotlib
matplotlib.use("svg")
import numpy as np
from geoviz.data import get_task
from pathlib import Path
from geoviz.commands.fit import render_map
from geoviz.training.reproduce import latitude_band_accuracy, plot_latitude_accuracy
task = get_task("landocean")
lons = np.arange(-175.0, 180.0, 10.0); lats = np.arange(85.0, -90.0, -10.0)
render_map(Path(OUT) / "m.png", task, np.random.default_rng(0).random((lats.size, lons.size)), lons, lats)
t = task.test
rec = {"pe": "sphericalharmonics", "nn": "siren", "seed": 0, "variant": "reference", "test_acc": 90.0,
       "lat_bands": latitude_band_accuracy(t.lonlat, t.y, t.y, 10.0)}
plot_latitude_accuracy([rec], OUT + "/lat.png")
print(matplotlib.get_backend())
"""
    out = subprocess.run([sys.executable, "-c", f"OUT = {str(tmp_path)!r}\n" + code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("svg")
    assert (tmp_path / "m.png").stat().st_size > 1000 and (tmp_path / "lat.png").stat().st_size > 1000
