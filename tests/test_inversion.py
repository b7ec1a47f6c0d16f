"""Tests for geoviz.pretrained.invert and LocationEmbedder.inverse_transform (embedding → location).

References: the closed form of the degree-1 real spherical harmonics (√(3/4π)·(y, z, x) of the
unit vector), unit vectors computed independently in numpy, great-circle distances from the
haversine formula checked against known city distances, and the points the embeddings came from.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from geoviz.data import is_land
from geoviz.encoders import spherical_harmonics
from geoviz.estimators import LocationEmbedder
from geoviz.pretrained import load_pretrained
from geoviz.pretrained.invert import great_circle_km, invert_embeddings, sh_features_to_lonlat
from geoviz.training.pretraining import sample_locations


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _unit(lonlat: np.ndarray) -> np.ndarray:
    lon, lat = np.radians(lonlat[:, 0]), np.radians(lonlat[:, 1])
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)


def _points(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(-180, 180, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n)))], axis=1)


def test_great_circle_km_known_distances() -> None:
    paris, london, sydney = [2.3522, 48.8566], [-0.1276, 51.5072], [151.2093, -33.8688]
    d = great_circle_km(np.array([paris, paris, [0, 0]]), np.array([london, sydney, [180, 0]]))
    assert d[0] == pytest.approx(343.5, abs=1.0) and d[1] == pytest.approx(16960, rel=0.005)
    assert d[2] == pytest.approx(math.pi * 6371.0088)


def test_degree_one_harmonics_are_the_unit_vector() -> None:
    x = _points(50, 0)
    f = spherical_harmonics(x, 2)
    assert np.allclose(f[:, 1:4], math.sqrt(3 / (4 * math.pi)) * _unit(x)[:, [1, 2, 0]], atol=1e-12)


@pytest.mark.parametrize("convention", ["standard", "satclip"])
@pytest.mark.parametrize("L", [2, 5, 16])
def test_raw_sh_features_invert_exactly(convention: str, L: int) -> None:
    x = np.concatenate([_points(500, L), [[0.0, 90.0], [0.0, -90.0], [180.0, 0.0], [-179.99, 12.0]]])
    back = sh_features_to_lonlat(spherical_harmonics(x, L, convention), convention)
    assert back.shape == x.shape and back.dtype == np.float64
    assert np.abs(back[:, 1] - x[:, 1]).max() < 1e-9
    assert np.abs(_unit(back) - _unit(x)).max() < 1e-12  # lon compared on the circle (any lon at a pole)
    # torch input, float32, any positive scale
    t = spherical_harmonics(torch.tensor(x, dtype=torch.float32), L, convention) * 7.0
    assert great_circle_km(x, sh_features_to_lonlat(t, convention)).max() < 0.1


def test_raw_sh_inversion_errors() -> None:
    with pytest.raises(ValueError, match="L²"):
        sh_features_to_lonlat(np.ones((3, 1)))
    with pytest.raises(ValueError, match="convention"):
        sh_features_to_lonlat(np.ones((3, 4)), "nope")
    with pytest.raises(ValueError, match="zero"):
        sh_features_to_lonlat(np.zeros((2, 4)))


@pytest.fixture(scope="module")
def l10():
    return load_pretrained("geoviz-bluemarble-l10")


def test_gallery_then_refinement_on_the_shipped_l10_model(l10) -> None:
    x = _points(60, 11)
    with torch.no_grad():
        e = l10(torch.from_numpy(x)).numpy()
    g, g_score = invert_embeddings(l10, e, gallery_size=20_000, refine_steps=0, return_score=True)
    r, r_score = invert_embeddings(l10, e, gallery_size=20_000, refine_steps=30, return_score=True)
    assert np.all(r_score <= g_score)  # the best place seen: never worse than the gallery match
    spacing_km = math.sqrt(4 * math.pi / 20_000) * 6371.0
    assert np.median(great_circle_km(x, g)) < spacing_km
    assert np.median(great_circle_km(x, r)) < 0.25 * np.median(great_circle_km(x, g))
    # Euclidean matching of the un-normalised embeddings works as well
    eu = invert_embeddings(l10, e, gallery_size=20_000, refine_steps=30, metric="euclidean")
    assert np.median(great_circle_km(x, eu)) < spacing_km
    with pytest.raises(ValueError, match="columns"):
        invert_embeddings(l10, e[:, :5])
    with pytest.raises(ValueError, match="metric"):
        invert_embeddings(l10, e, metric="l1")
    with pytest.raises(ValueError, match="finite"):
        invert_embeddings(l10, np.full_like(e, np.nan))


def test_inverse_transform_round_trip_on_land(l10) -> None:
    x = sample_locations(150, np.random.default_rng(2024), land_fraction=1.0)
    assert is_land(x).all()
    emb = LocationEmbedder(l10).fit(x)
    back = emb.inverse_transform(emb.transform(x))
    assert back.shape == (150, 2) and np.all(np.abs(back[:, 0]) <= 180) and np.all(np.abs(back[:, 1]) <= 90)
    d = great_circle_km(x, back)
    assert np.median(d) < 50 and d.max() < 300, (np.median(d), d.max())
    with pytest.raises(ValueError, match="embeddings"):
        emb.inverse_transform(np.zeros((3, 4)))
