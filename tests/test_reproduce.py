"""`geoviz reproduce`: hyperparameter table, resumable JSONL runs, markdown tables, latitude bands."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pytest

from geoviz.cli import main
from geoviz.location_encoder import build_location_encoder
from geoviz.training.reproduce import (
    CHECKERBOARD_HPARAMS,
    LANDOCEAN_HPARAMS,
    NETS,
    PAPER_LANDOCEAN,
    PES,
    format_checkerboard_table,
    format_table,
    latitude_band_accuracy,
    load_records,
    make_config,
    parse_subset,
    plot_latitude_accuracy,
    run_checkerboard,
    run_landocean,
    summarize,
)


def test_tables_cover_all_30_cells_and_build() -> None:
    cells = {(pe, nn) for pe in PES for nn in NETS}
    assert len(cells) == 30
    assert set(LANDOCEAN_HPARAMS) == cells and set(PAPER_LANDOCEAN) == cells
    assert PAPER_LANDOCEAN[("sphericalharmonics", "siren")] == (95.8, 0.1)
    assert PAPER_LANDOCEAN[("cartesian3d", "linear")] == (70.5, 3.5)
    assert PAPER_LANDOCEAN[("spherem", "fcnet")] == (89.1, 0.1)
    for pe, nn in sorted(cells):
        cfg = make_config("landocean", pe, nn, seed=3)
        # the paper's protocol, baselines with the reference code's quirks
        assert (cfg["batch_size"], cfg["max_epochs"], cfg["patience"], cfg["dtype"], cfg["restore_best"]) == (
            2000, 500, 30, "float64", False)
        assert cfg["pe_kwargs"].get("reference_compat", False) == (pe != "sphericalharmonics")
        enc = build_location_encoder(pe, nn, 1, **cfg["pe_kwargs"], **cfg["nn_kwargs"])
        assert sum(p.numel() for p in enc.parameters()) > 0
    siren = make_config("landocean", "sphericalharmonics", "siren", 0)
    assert siren["pe_kwargs"] == {"legendre_polys": 10} and siren["nn_kwargs"] == {"hidden_dim": 64, "num_layers": 2}
    assert (siren["lr"], siren["weight_decay"]) == (1.42e-4, 3.67e-3)
    grid = make_config("landocean", "grid", "linear", 0)
    assert grid["pe_kwargs"] == {"frequency_num": 64, "min_radius": 1, "max_radius": 360.0, "reference_compat": True}
    assert make_config("landocean", "grid", "siren", 0, variant="correct_units")["pe_kwargs"].get(
        "reference_compat") is None
    for pe, nn in CHECKERBOARD_HPARAMS:
        cfg = make_config("checkerboard", pe, nn, 0)
        build_location_encoder(pe, nn, 16, **cfg["pe_kwargs"], **cfg["nn_kwargs"])


def test_parse_subset_and_bad_arguments() -> None:
    assert len(parse_subset(None)) == 30
    assert parse_subset(["sh:siren"]) == [("sphericalharmonics", "siren")]
    assert parse_subset(["grid"]) == [("grid", "linear"), ("grid", "fcnet"), ("grid", "siren")]
    assert len(parse_subset([":linear"])) == 10
    with pytest.raises(ValueError, match="unknown positional encoding 'nope'"):
        parse_subset(["nope:siren"])
    with pytest.raises(ValueError, match="unknown network 'resnet'"):
        parse_subset(["sh:resnet"])
    with pytest.raises(ValueError, match="selects no checkerboard cell"):
        parse_subset(["grid:linear"], task="checkerboard")
    with pytest.raises(ValueError, match="max_epochs"):
        make_config("landocean", "grid", "siren", 0, max_epochs=-1)
    with pytest.raises(ValueError, match="seed"):
        make_config("landocean", "grid", "siren", -2)
    with pytest.raises(ValueError, match="variant"):
        make_config("landocean", "grid", "siren", 0, variant="magic")
    with pytest.raises(ValueError, match="unknown reproduction task"):
        make_config("era5", "grid", "siren", 0)


def _rec(pe: str, nn: str, acc: float, seed: int = 0, variant: str = "reference") -> dict:
    return {"task": "landocean", "variant": variant, "pe": pe, "nn": nn, "seed": seed, "max_epochs": 500,
            "test_accuracy": acc, "epochs": 100 + seed, "fit_seconds": 1.0}


def test_format_table_against_hand_computed_numbers() -> None:
    recs = [_rec("sphericalharmonics", "siren", a, s) for s, a in enumerate([95.0, 96.0, 97.0, 96.5, 95.5])]
    recs += [_rec("direct", "linear", a, s) for s, a in enumerate([70.0, 73.0])]
    recs += [_rec("grid", "fcnet", 99.0, variant="restore_best")]  # other variant: ignored
    summ = summarize(recs)
    sh = summ[("reference", "sphericalharmonics", "siren")]
    assert sh["mean"] == pytest.approx(96.0) and sh["n"] == 5
    assert sh["std"] == pytest.approx(statistics.stdev([95.0, 96.0, 97.0, 96.5, 95.5]))  # 0.7906 (ddof=1)
    table = format_table(recs)
    lines = table.strip().splitlines()
    assert len(lines) == 12 and all(line.count("|") == 11 for line in lines)
    sh_row = next(line for line in lines if line.startswith("| SH |"))
    cells = [c.strip() for c in sh_row.strip("|").split("|")]
    assert cells[7:10] == ["96.0 ± 0.8", "95.8 ± 0.1", "+0.20"]
    assert cells[1:4] == ["–", "94.4 ± 0.1", "–"]
    direct_row = next(line for line in lines if line.startswith("| direct |"))
    cells = [c.strip() for c in direct_row.strip("|").split("|")]
    # mean 71.5, sample std 2.12, n=2 noted; diff 71.5 - 71.4 = +0.10
    assert cells[1:4] == ["71.5 ± 2.1 (n=2)", "71.4 ± 0.0", "+0.10"]
    assert "| 93.0 (n=1) |" in format_table([_rec("grid", "siren", 93.0)])
    # a miss by more than the tolerance is bold
    bold = format_table([_rec("grid", "siren", 93.0)])
    assert "**-2.50**" in bold
    assert "99.0" in format_table(recs, variant="restore_best")


def test_latitude_band_accuracy_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    lonlat = np.column_stack([rng.uniform(-180, 180, 3000), rng.uniform(-90, 90, 3000)])
    lonlat[:3, 1] = [-90.0, 90.0, 0.0]
    yt = rng.integers(0, 4, 3000)
    yp = np.where(rng.random(3000) < 0.7, yt, (yt + 1) % 4)
    out = latitude_band_accuracy(lonlat, yt, yp, band_deg=30)
    assert out["lat_lo"] == [-90, -60, -30, 0, 30, 60] and out["lat_hi"][-1] == 90
    for k, lo in enumerate(out["lat_lo"]):
        hi = lo + 30
        sel = [(lat >= lo and (lat < hi or (hi == 90 and lat <= 90))) for lat in lonlat[:, 1]]
        sel = np.array(sel)
        assert out["count"][k] == sel.sum()
        assert out["accuracy"][k] == pytest.approx(float(np.mean(yt[sel] == yp[sel])))
    assert sum(out["count"]) == 3000
    with pytest.raises(ValueError, match="empty point set"):
        latitude_band_accuracy(np.zeros((0, 2)), [], [])
    with pytest.raises(ValueError, match="same length"):
        latitude_band_accuracy(lonlat, yt[:10], yp)
    with pytest.raises(ValueError, match="band_deg"):
        latitude_band_accuracy(lonlat, yt, yp, band_deg=7)
    with pytest.raises(ValueError, match="lat"):
        latitude_band_accuracy(np.array([[0.0, 95.0]]), [1], [1])


def test_tiny_landocean_run_writes_resumable_jsonl(tmp_path) -> None:
    path = tmp_path / "lo.jsonl"
    recs = run_landocean(path, cells=[("direct", "linear")], seeds=[0], max_epochs=2)
    assert len(recs) == 1
    r = recs[0]
    assert (r["pe"], r["nn"], r["seed"], r["epochs"], r["stopped"]) == ("direct", "linear", 0, 2, "max_epochs")
    assert 50 < r["test_accuracy"] < 100 and 0 <= r["test_iou"] <= 100
    assert r["config"]["pe_kwargs"] == {"reference_compat": True}
    lines = path.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["test_accuracy"] == r["test_accuracy"]
    # resume: a torn line is ignored, the finished run is not redone, a new seed is added
    with path.open("a") as fh:
        fh.write('{"task": "landocean", "vari')
    recs2 = run_landocean(path, cells=[("direct", "linear")], seeds=[0, 1], max_epochs=2)
    assert [x["seed"] for x in recs2] == [0, 1] and recs2[0] == r
    assert len(load_records(path)) == 2


def test_tiny_checkerboard_run_bands_and_plot(tmp_path) -> None:
    recs = run_checkerboard(tmp_path / "cb.jsonl", cells=[("sphericalharmonics", "linear")], seeds=[0],
                            max_epochs=2)
    bands = recs[0]["lat_bands"]
    cnt, acc = np.array(bands["count"]), np.array(bands["accuracy"])
    assert cnt.sum() == 10_000 and len(cnt) == 18
    # the overall accuracy is the count-weighted mean of the band accuracies
    assert recs[0]["test_accuracy"] == pytest.approx(100 * (acc * cnt).sum() / cnt.sum())
    table = format_checkerboard_table(recs)
    assert table.splitlines()[2].startswith("| SH | linear |")
    png = plot_latitude_accuracy(recs, tmp_path / "lat.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_reproduce_subset_and_errors(tmp_path, capsys) -> None:
    rc = main(["reproduce", "landocean", "--subset", "direct:linear", "--seeds", "0", "--max-epochs", "2",
               "--out", str(tmp_path)])
    assert rc == 0
    md = (tmp_path / "landocean_float32.md").read_text()  # the CLI default variant
    assert "| direct |" in md and "71.4 ± 0.0" in md
    summary = json.loads((tmp_path / "landocean_float32_summary.json").read_text())
    assert summary["n_runs"] == 1 and summary["cells"][0]["paper_mean"] == 71.4
    assert len(load_records(tmp_path / "landocean.jsonl")) == 1
    # regenerate the doc from the JSONL only (no training)
    doc = tmp_path / "doc.md"
    assert main(["reproduce", "landocean", "--no-run", "--out", str(tmp_path), "--doc", str(doc)]) == 0
    assert "Runs: **1** of 150" in doc.read_text() and "| direct | linear | 1 | 2 |" in doc.read_text()
    capsys.readouterr()
    assert main(["reproduce", "landocean", "--subset", "sphere2", "--out", str(tmp_path)]) == 2
    assert "unknown positional encoding 'sphere2'" in capsys.readouterr().err
    assert main(["reproduce", "landocean", "--max-epochs", "-3", "--out", str(tmp_path)]) == 2
    assert "--max-epochs" in capsys.readouterr().err
    assert main(["reproduce", "landocean", "--seeds", "-1", "--out", str(tmp_path)]) == 2
    assert "--seeds" in capsys.readouterr().err


def test_report_regenerates_inside_markers_and_keeps_prose(tmp_path) -> None:
    from geoviz.training.reproduce import render_landocean_report, update_doc

    recs = [_rec("sphericalharmonics", "siren", a, s) for s, a in enumerate([95.8, 96.0])]
    recs += [dict(_rec("grid", "siren", 93.0), stopped="early_stopping", best_epoch=70)]
    for r in recs:
        r.setdefault("stopped", "max_epochs"), r.setdefault("best_epoch", r["epochs"])
    recs += [dict(_rec("sphericalharmonics", "siren", 96.3, variant="restore_best"), stopped="max_epochs",
                  best_epoch=90)]
    body = render_landocean_report(recs)
    assert "Runs: **3** of 150" in body and "grid + siren (-2.50)" in body
    assert "SH + Siren: 95.90 ± 0.14 %" in body and "Variant `restore_best`" in body
    assert "| SH | siren | 1 | 96.30 ± 0.00 | 95.8 | +0.50 | +0.40 |" in body
    doc = tmp_path / "landocean.md"
    doc.write_text("# Title\n\nhand-written intro\n")
    update_doc(doc, "TABLE v1", "landocean")
    update_doc(doc, "TABLE v2", "landocean")
    text = doc.read_text()
    assert text.startswith("# Title\n\nhand-written intro\n") and "TABLE v2" in text and "TABLE v1" not in text
    assert text.count("BEGIN GENERATED") == 1
    with doc.open("a") as fh:
        fh.write("\nanalysis after the block\n")
    update_doc(doc, "TABLE v3", "landocean")
    assert doc.read_text().endswith("analysis after the block\n") and "TABLE v3" in doc.read_text()
