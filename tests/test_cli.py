"""CLI: `geoviz train` writes a map PNG, a GIF with one frame per epoch, and a JSON summary."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from geoviz.cli import main


def test_train_writes_png_gif_json(tmp_path, capsys) -> None:
    rc = main(["train", "landocean", "--epochs", "5", "--lr", "1e-3", "--resolution", "5",
               "--out", str(tmp_path), "--gif", "--device", "cpu", "--dtype", "float32"])
    assert rc == 0
    assert "test accuracy" in capsys.readouterr().out
    png = Image.open(tmp_path / "landocean_sphericalharmonics_siren.png")
    assert png.size == (72, 36)
    gif = Image.open(tmp_path / "landocean_sphericalharmonics_siren.gif")
    assert gif.n_frames == 5
    summary = json.loads((tmp_path / "landocean_sphericalharmonics_siren.json").read_text())
    assert summary["epochs"] == 5 and 0 <= summary["test"]["accuracy"] <= 1


def test_bad_argument_is_a_clear_error(tmp_path, capsys) -> None:
    rc = main(["train", "landocean", "--legendre-polys", "0", "--out", str(tmp_path)])
    assert rc == 2 and "legendre_polys" in capsys.readouterr().err


def test_reproduce_is_registered_and_negative_epochs_are_rejected(tmp_path, capsys) -> None:
    from geoviz.cli import COMMANDS, build_parser

    assert COMMANDS["reproduce"] == "geoviz.reproduce:register"
    args = build_parser().parse_args(["reproduce", "checkerboard", "--seeds", "0", "1", "--subset", "sh:siren",
                                      "--workers", "2", "--max-epochs", "7"])
    assert (args.task, args.seeds, args.subset, args.workers, args.max_epochs) == (
        "checkerboard", [0, 1], ["sh:siren"], 2, 7)
    rc = main(["train", "landocean", "--epochs", "-1", "--out", str(tmp_path)])
    assert rc == 2 and "max_epochs" in capsys.readouterr().err
    rc = main(["reproduce", "landocean", "--workers", "0", "--out", str(tmp_path)])
    assert rc == 2 and "--workers" in capsys.readouterr().err
