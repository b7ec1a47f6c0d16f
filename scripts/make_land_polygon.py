#!/usr/bin/env python
"""Regenerate ``geoviz/data/assets/ne_110m_land.wkb.gz``, the shipped land polygon.

Source
    Natural Earth 1:110m admin-0 countries (177 polygons, Antarctica included), public
    domain (https://www.naturalearthdata.com/about/terms-of-use/). The copy used is the
    test fixture shipped inside the registry package ``pyogrio``
    (``pyogrio/tests/fixtures/naturalearth_lowres/naturalearth_lowres.shp``, MIT-licensed
    package; the data itself is public domain). It is the file geopandas < 1.0 shipped as
    ``naturalearth_lowres`` and the mask the reference land-ocean benchmark dissolves.

Processing
    1. read the 177 country polygons (pyshp if installed, else ``pyogrio.raw``);
    2. dissolve them with ``shapely.union_all`` into one MultiPolygon;
    3. ``shapely.normalize`` it (canonical ring order/start, so output is deterministic);
    4. write little-endian 2-D WKB, gzip-compressed with ``mtime=0`` (byte-reproducible
       for a given GEOS version), plus ``ne_110m_land.json`` (machine-readable
       provenance: source package/version/path, sha256 of every source file, sha256 of
       the asset, geometry statistics, licence).

The package reads the asset at run time with shapely only; neither pyshp nor pyogrio is
needed at run time. This script runs offline.

Usage::

    .venv/bin/python scripts/make_land_polygon.py            # uses the installed pyogrio
    .venv/bin/python scripts/make_land_polygon.py --shp PATH # any NE 110m countries .shp
    .venv/bin/python scripts/make_land_polygon.py --check    # verify the shipped asset
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.metadata
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import shapely

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "geoviz" / "data" / "assets"
ASSET_NAME = "ne_110m_land.wkb.gz"
PROVENANCE_NAME = "ne_110m_land.json"
FIXTURE = Path("tests") / "fixtures" / "naturalearth_lowres" / "naturalearth_lowres.shp"


def default_source() -> Path:
    """Path of the Natural Earth fixture inside the installed ``pyogrio`` (not imported)."""
    spec = importlib.util.find_spec("pyogrio")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pyogrio is not installed; pass --shp PATH to a Natural Earth 110m countries shapefile")
    path = Path(list(spec.submodule_search_locations)[0]) / FIXTURE
    if not path.exists():
        raise SystemExit(f"fixture not found at {path}; pass --shp PATH")
    return path


def sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_polygons(shp: Path) -> tuple[list[Any], str]:
    """Read every polygon of ``shp``; returns ``(geometries, reader description)``."""
    try:
        import shapefile  # pyshp
    except ImportError:
        shapefile = None
    if shapefile is not None:
        with shapefile.Reader(str(shp)) as reader:
            geoms = [shapely.geometry.shape(s.__geo_interface__) for s in reader.shapes()]
        return geoms, f"pyshp {importlib.metadata.version('pyshp')}"
    from pyogrio.raw import read  # fallback; needs GDAL from the pyogrio wheel

    _meta, _fids, wkb, _fields = read(str(shp))
    return list(shapely.from_wkb(wkb)), f"pyogrio.raw {importlib.metadata.version('pyogrio')}"


def build(shp: Path) -> tuple[Any, bytes, dict[str, Any]]:
    """Dissolve ``shp`` into one normalised land geometry.

    Returns:
        ``(geometry, gzip_bytes, provenance)``.
    """
    geoms, reader = read_polygons(shp)
    invalid = sum(not g.is_valid for g in geoms)
    land = shapely.normalize(shapely.union_all(geoms))
    if not land.is_valid:
        raise SystemExit("dissolved land polygon is invalid")
    wkb = shapely.to_wkb(land, output_dimension=2, byte_order=1)
    blob = gzip.compress(wkb, compresslevel=9, mtime=0)
    parts = list(land.geoms) if land.geom_type == "MultiPolygon" else [land]
    try:
        pkg_version = importlib.metadata.version("pyogrio")
    except importlib.metadata.PackageNotFoundError:
        pkg_version = None
    provenance: dict[str, Any] = {
        "asset": ASSET_NAME,
        "asset_sha256": hashlib.sha256(blob).hexdigest(),
        "format": "gzip-compressed little-endian 2-D WKB; (lon, lat) degrees, WGS84 (EPSG:4326)",
        "source": {
            "dataset": "Natural Earth 1:110m Cultural Vectors, admin-0 countries (naturalearth_lowres)",
            "package": "pyogrio",
            "package_version": pkg_version,
            "path_in_package": str(FIXTURE).replace("\\", "/"),
            "sha256": {
                p.suffix.lstrip("."): sha256(p)
                for p in sorted(shp.parent.glob(shp.stem + ".*"))
                if p.suffix.lower() in (".shp", ".shx", ".dbf", ".prj", ".cpg")
            },
            "n_features": len(geoms),
            "n_invalid_features": invalid,
            "licence": "Natural Earth data: public domain; pyogrio package: MIT",
        },
        "processing": "shapely.union_all over all features, then shapely.normalize",
        "reader": reader,
        "shapely_version": shapely.__version__,
        "geos_version": shapely.geos_version_string,
        "geometry": {
            "type": land.geom_type,
            "n_polygons": len(parts),
            "n_interior_rings": int(sum(len(p.interiors) for p in parts)),
            "n_coordinates": int(shapely.get_num_coordinates(land)),
            "bounds": [float(b) for b in land.bounds],
        },
    }
    return land, blob, provenance


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shp", type=Path, default=None, help="source shapefile (default: pyogrio fixture)")
    ap.add_argument("--out", type=Path, default=ASSETS, help="output folder (default: geoviz/data/assets)")
    ap.add_argument("--check", action="store_true", help="only verify that the shipped asset matches")
    args = ap.parse_args(argv)
    shp = args.shp or default_source()
    land, blob, prov = build(shp)
    asset = args.out / ASSET_NAME
    if args.check:
        shipped = shapely.from_wkb(gzip.decompress(asset.read_bytes()))
        same = bool(shapely.equals(shipped, land))
        print(f"shipped asset {'matches' if same else 'DIFFERS FROM'} {shp}")
        return 0 if same else 1
    args.out.mkdir(parents=True, exist_ok=True)
    asset.write_bytes(blob)
    (args.out / PROVENANCE_NAME).write_text(json.dumps(prov, indent=2) + "\n")
    g = prov["geometry"]
    print(
        f"wrote {asset} ({len(blob):,} bytes): {g['type']} with {g['n_polygons']} polygons, "
        f"{g['n_coordinates']:,} vertices, from {prov['source']['n_features']} features of {shp}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
