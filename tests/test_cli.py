"""CLI: `geoviz train` writes a map PNG, a GIF with one frame per epoch, and a JSON summary; the
parsers build, answer ``--help`` and refuse bad arguments without importing the heavy stack."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from geoviz.cli import main


def test_train_writes_png_gif_json(tmp_path, capsys) -> None:
    rc = main(["train", "landocean", "--epochs", "5", "--lr", "1e-3", "--resolution", "5",
               "--out", str(tmp_path), "--gif", "--device", "cpu", "--dtype", "float32"])
    assert rc == 0
    assert "test accuracy" in capsys.readouterr().out
    png = Image.open(tmp_path / "landocean_sh_10+siren_64x2.png")
    assert png.size == (72, 36)
    gif = Image.open(tmp_path / "landocean_sh_10+siren_64x2.gif")
    assert gif.n_frames == 5
    summary = json.loads((tmp_path / "landocean_sh_10+siren_64x2.json").read_text())
    assert summary["epochs"] == 5 and 0 <= summary["test"]["accuracy"] <= 1


def test_bad_argument_is_a_clear_error(tmp_path, capsys) -> None:
    rc = main(["train", "landocean", "--legendre-polys", "0", "--out", str(tmp_path)])
    assert rc == 2 and "legendre_polys" in capsys.readouterr().err


def test_reproduce_is_registered_and_negative_epochs_are_rejected(tmp_path, capsys) -> None:
    from geoviz.cli import COMMANDS, build_parser

    assert COMMANDS["reproduce"] == "geoviz.commands.reproduce:register"
    args = build_parser().parse_args(["reproduce", "checkerboard", "--seeds", "0", "1", "--subset", "sh:siren",
                                      "--workers", "2", "--max-epochs", "7"])
    assert (args.task, args.seeds, args.subset, args.workers, args.max_epochs) == (
        "checkerboard", [0, 1], ["sh:siren"], 2, 7)
    rc = main(["train", "landocean", "--epochs", "-1", "--out", str(tmp_path)])
    assert rc == 2 and "max_epochs" in capsys.readouterr().err
    rc = main(["reproduce", "landocean", "--workers", "0", "--out", str(tmp_path)])
    assert rc == 2 and "--workers" in capsys.readouterr().err


# ----------------------------------------------------------------------------- fast start

HEAVY = ("torch", "numpy", "pandas", "scipy", "sklearn", "numba", "matplotlib", "panel", "shapely", "pyproj",
         "PIL", "pyarrow", "dask", "holoviews", "bokeh")

_LIGHT_SCRIPT = r"""
import contextlib, io, json, sys
from geoviz.cli import COMMANDS, build_parser, main

ap = build_parser()
helps = [["--help"], *[[c, "--help"] for c in COMMANDS], ["species", "fit", "--help"], ["species", "map", "--help"]]
parse_errors = [["nosuch"], ["train", "landocean", "--nn", "nosuch"], ["train", "landocean", "--pe", "nosuch"],
                ["fit", "x.csv"], ["fit", "x.csv", "--save", "m.gvz", "--bogus"],
                ["reproduce", "landocean", "--variant", "x"],
                ["species", "map", "m.pt"], ["species", "fit", "virtual:2", "--save", "m.pt", "--loss", "x"],
                ["embed", "geoclip", "p.csv", "-o", "o.parquet", "--engine", "x"], ["evaluate", "--seeds", "x"]]
codes = {}
for argv in helps + parse_errors:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            ap.parse_args(argv)
            codes[" ".join(argv)] = None
        except SystemExit as exc:
            codes[" ".join(argv)] = [exc.code, len(out.getvalue()), err.getvalue()[-300:]]
command_errors = [["download", "satclip-nope"], ["embed", "no-such-model", "p.csv", "-o", "o.parquet"],
                  ["fit", "field:nope", "--save", "m.gvz"], ["fit", "missing.csv", "--save", "m.gvz"],
                  ["predict", "missing.gvz", "p.csv", "-o", "o.csv"],
                  ["species", "map", "missing.pt", "--species", "0", "-o", "m.png"],
                  ["evaluate", "--encoders", "bogus-encoder"], ["evaluate", "--encoders", "raw", "--tasks", "nope"],
                  ["evaluate", "--encoders", "raw", "--probes", "nope"], ["evaluate", "--resolution", "--cells", "0"]]
for argv in command_errors:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        codes[" ".join(argv)] = [main(argv), 0, err.getvalue()]
import geoviz
all_in_dir = set(geoviz.__all__) <= set(dir(geoviz))
print(json.dumps({"codes": codes, "modules": sorted(sys.modules), "all_in_dir": all_in_dir}))
"""


def test_parsers_help_and_argument_errors_import_nothing_heavy(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-c", _LIGHT_SCRIPT], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    heavy = [m for m in res["modules"] if m.split(".")[0] in HEAVY]
    assert not heavy, f"building the CLI parser imported {sorted({m.split('.')[0] for m in heavy})}"
    assert res["all_in_dir"]
    codes = res["codes"]
    for argv, (code, out_len, err) in codes.items():
        if argv.endswith("--help"):
            assert code == 0 and out_len > 100, argv
        else:
            assert code == 2, (argv, code, err)
    assert "unknown positional encoding 'nosuch'" in codes["train landocean --pe nosuch"][2]
    assert "the following arguments are required: --save" in codes["fit x.csv"][2]
    assert "unknown pretrained model 'satclip-nope'" in codes["download satclip-nope"][2]
    assert "unknown field 'nope'; built-in fields: ['temperature'" in codes["fit field:nope --save m.gvz"][2]
    assert "no such file: missing.csv" in codes["fit missing.csv --save m.gvz"][2]
    assert "model file not found" in codes["predict missing.gvz p.csv -o o.csv"][2]
    assert "species model not found" in codes["species map missing.pt --species 0 -o m.png"][2]
    assert "unknown encoder spec 'bogus-encoder'" in codes["evaluate --encoders bogus-encoder"][2]
    assert "unknown task(s) ['nope']" in codes["evaluate --encoders raw --tasks nope"][2]
    assert "--cells must be sizes in (0, 180]" in codes["evaluate --resolution --cells 0"][2]


def test_import_geoviz_is_lazy() -> None:
    code = textwrap.dedent("""
        import sys, geoviz
        assert "torch" not in sys.modules and "numpy" not in sys.modules
        assert set(geoviz.__all__) <= set(dir(geoviz)) and geoviz.__version__
        enc = geoviz.build_location_encoder("sphericalharmonics", "linear", 1, legendre_polys=3)
        from geoviz import LocationEncoder, list_networks, wrap_longitude
        assert isinstance(enc, LocationEncoder) and "siren" in list_networks() and "torch" in sys.modules
        try:
            geoviz.no_such_name
        except AttributeError as exc:
            assert "no_such_name" in str(exc)
        else:
            raise AssertionError("no AttributeError")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_light_names_match_the_registries() -> None:
    import geoviz
    from geoviz import _names
    from geoviz.data import list_fields, list_tasks
    from geoviz.encoders import ALIASES
    from geoviz.evaluation import PROBES, SPLITS, list_eval_tasks
    from geoviz.pretrained import list_pretrained
    from geoviz.training.reproduce import VARIANTS
    from geoviz.species import list_backgrounds, list_losses

    assert list(_names.POSITIONAL_ENCODINGS) == geoviz.list_positional_encodings()
    assert _names.PE_ALIASES == ALIASES
    assert sorted(_names.NETWORKS) == sorted(geoviz.list_networks())
    assert sorted(_names.TRAIN_TASKS) == sorted(list_tasks())
    assert list(_names.FIELDS) == list_fields()
    assert list(_names.PRETRAINED) == list_pretrained()
    assert list(_names.REPRODUCE_VARIANTS) == sorted(VARIANTS)
    assert list(_names.EVAL_TASKS) == list_eval_tasks()
    assert list(_names.EVAL_PROBES) == list(PROBES) and list(_names.EVAL_SPLITS) == list(SPLITS)
    assert list(_names.SPECIES_LOSSES) == list_losses()
    assert list(_names.SPECIES_BACKGROUNDS) == list_backgrounds()


def test_pe_names_are_case_insensitive_and_the_encoder_spec_check_agrees(tmp_path) -> None:
    from geoviz.cli import build_parser
    from geoviz.commands.evaluate import check_encoder_spec
    from geoviz.evaluation import resolve_encoder_spec

    ap = build_parser()
    assert ap.parse_args(["train", "landocean", "--pe", " SH"]).pe == "sphericalharmonics"
    assert ap.parse_args(["fit", "x.csv", "--save", "m", "--pe", "SphereC+"]).pe == "spherec+"
    ckpt = tmp_path / "enc.ckpt"
    ckpt.write_bytes(b"")
    for spec in ["raw", "RAW", "raw:x", "sh", "SH", "sh:10", "Sh:3", "wrap", "spherec+", "geoclip", "GeoCLIP ",
                 "satclip-resnet18-l10", "bogus-encoder", "nope.ckpt", "no/such/dir", str(ckpt), "sphere"]:
        try:
            resolve_encoder_spec(spec)
            expected = None
        except ValueError as exc:
            expected = str(exc)
        if expected is None:
            check_encoder_spec(spec)
        else:
            with pytest.raises(ValueError) as info:
                check_encoder_spec(spec)
            assert str(info.value) == expected, spec


def test_every_top_level_name_resolves() -> None:
    """What a user reaches for first is at the top level: the estimators, pretrained models,
    embeddings, data, the encoder spec and the training engine."""
    import geoviz

    for name in ("GeoRegressor", "GeoClassifier", "LocationEmbedder", "load_pretrained", "embed_points",
                 "embed_grid", "get_field", "load_points", "EncoderSpec", "build_location_encoder"):
        assert name in geoviz.__all__
    for name in geoviz.__all__:
        assert getattr(geoviz, name) is not None, name
