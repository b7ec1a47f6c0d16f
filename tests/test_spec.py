"""The one encoder spec: parse ↔ print round trips, building, and named errors."""
from __future__ import annotations

import pytest
import torch

from geoviz.encoders import list_positional_encodings
from geoviz.networks import list_networks
from geoviz.spec import EncoderSpec, parse_spec


@pytest.mark.parametrize("text, pe, pe_kw, nn, nn_kw", [
    ("sh:10+siren(256x2)", "sphericalharmonics", {"legendre_polys": 10}, "siren", {"hidden_dim": 256, "num_layers": 2}),
    ("SH:40 + linear", "sphericalharmonics", {"legendre_polys": 40}, "linear", {}),
    ("sh:20", "sphericalharmonics", {"legendre_polys": 20}, None, {}),
    ("spherec+:32+fcnet(64x3,dropout=0.25)", "spherec+", {"frequency_num": 32}, "fcnet",
     {"hidden_dim": 64, "num_layers": 3, "dropout": 0.25}),
    ("spherec+siren", "spherec", {}, "siren", {}),
    ("spherem+(min_radius=1,reference_compat=true)", "spherem+", {"min_radius": 1, "reference_compat": True}, None, {}),
    ("wrap+siren(64x2,w0_initial=10.5)", "wrap", {}, "siren", {"hidden_dim": 64, "num_layers": 2, "w0_initial": 10.5}),
    ("sh:8(convention=satclip)+siren(32x1)", "sphericalharmonics", {"legendre_polys": 8, "convention": "satclip"},
     "siren", {"hidden_dim": 32, "num_layers": 1}),
])
def test_parse_and_round_trip(text, pe, pe_kw, nn, nn_kw):
    s = parse_spec(text)
    assert (s.pe, s.pe_options, s.nn, s.nn_options) == (pe, pe_kw, nn, nn_kw)
    assert EncoderSpec.parse(str(s)) == s
    assert EncoderSpec.from_dict(s.to_dict()) == s
    assert str(EncoderSpec.parse(str(s))) == str(s)
    assert hash(s) == hash(EncoderSpec.parse(str(s)))


def test_every_registered_encoding_and_network_round_trips():
    for pe in list_positional_encodings():
        for nn in list_networks():
            s = EncoderSpec.from_parts(pe, nn)
            assert EncoderSpec.parse(str(s)) == s


def test_build_matches_the_spec():
    s = parse_spec("sh:6+siren(16x2)")
    enc = s.build(3)
    assert enc.embedding_dim == 36
    out = enc(torch.tensor([[10.0, 20.0], [-170.0, -80.0]]))
    assert out.shape == (2, 3)
    assert {k: enc.network.hparams[k] for k in ("hidden_dim", "num_layers")} == {"hidden_dim": 16, "num_layers": 2}
    assert parse_spec("sh:6").positional_encoding().embedding_dim == 36
    assert parse_spec("sh").legendre_polys == 10
    with pytest.raises(ValueError, match="has no network"):
        parse_spec("sh:6").build(1)


@pytest.mark.parametrize("text, match", [
    ("", "empty"),
    ("foo+siren", "unknown positional encoding 'foo'"),
    ("sh:10+resnet", "unknown network 'resnet'"),
    ("sh:0+linear", "positive integer"),
    ("sh:x", "positive integer"),
    ("wrap:3", "takes no ':N'"),
    ("sh:10+linear(256x2)", "WIDTHxDEPTH"),
    ("sh:10+siren(256x2", "without"),
    ("sh:10(legendre_polys=3)", "both"),
    ("sh:10 siren", "expected '\\+NETWORK'"),
    ("sh:10+siren(256x2)x", "unexpected"),
    ("sh:10+siren(hidden)", "WIDTHxDEPTH"),
])
def test_errors_name_the_problem(text, match):
    with pytest.raises(ValueError, match=match):
        parse_spec(text)
    with pytest.raises(TypeError):
        parse_spec(10)  # type: ignore[arg-type]


def test_unknown_keyword_is_named_when_building():
    with pytest.raises(TypeError, match="depth"):
        parse_spec("sh:4+siren(depth=3)").build(1)


def test_cli_encoder_option_and_shorthands_agree():
    """Every training command takes --encoder SPEC; the shorthands change one part of it and
    are refused (not ignored) where they do not apply."""
    from geoviz.cli import build_parser
    from geoviz.commands._options import encoder_spec

    ap = build_parser()
    for argv in (["train", "landocean"], ["fit", "x.csv", "--save", "m"], ["species", "fit", "virtual:2", "--save", "m"]):
        args = ap.parse_args([*argv, "--encoder", "sh:6+fcnet(32x3)"])
        assert str(encoder_spec(args)) == "sh:6+fcnet(32x3)"
        args = ap.parse_args([*argv, "--encoder", "sh:6+fcnet(32x3)", "--legendre-polys", "8", "--nn", "siren"])
        assert str(encoder_spec(args)) == "sh:8+siren(32x3)"
        args = ap.parse_args([*argv, "--pe", "spherec+", "--frequency-num", "8", "--nn", "linear"])
        assert str(encoder_spec(args)) == "spherec+:8+linear"
        with pytest.raises(ValueError, match="--legendre-polys applies to spherical harmonics"):
            encoder_spec(ap.parse_args([*argv, "--pe", "wrap", "--legendre-polys", "8"]))
        with pytest.raises(ValueError, match="--hidden-dim applies to a siren or fcnet"):
            encoder_spec(ap.parse_args([*argv, "--nn", "linear", "--hidden-dim", "8"]))
    assert str(encoder_spec(ap.parse_args(["train", "landocean"]))) == "sh:10+siren(64x2)"
    assert str(encoder_spec(ap.parse_args(["species", "fit", "v", "--save", "m"]))) == "sh:20+siren(256x2)"
