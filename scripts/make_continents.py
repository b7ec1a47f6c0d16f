#!/usr/bin/env python
"""Regenerate ``geoviz/data/assets/ne_110m_continents.json.gz``, the shipped continent polygons.

Source
    Natural Earth 1:110m admin-0 countries (177 polygons) with their ``continent`` attribute,
    public domain (https://www.naturalearthdata.com/about/terms-of-use/). The copy used is the
    test fixture shipped inside the registry package ``pyogrio`` (MIT):
    ``pyogrio/tests/fixtures/naturalearth_lowres/naturalearth_lowres.shp`` (the same file
    ``scripts/make_land_polygon.py`` dissolves into the land mask).

Processing
    1. read the country polygons and their ``continent`` (pyogrio.raw);
    2. dissolve them per continent with ``shapely.union_all``, ``shapely.normalize``;
    3. write gzip (mtime 0) JSON ``{"source": ..., "sha256_source": ..., "licence": ...,
       "continents": {name: base64 little-endian 2-D WKB}}``.

Names are Natural Earth's: Africa, Antarctica, Asia, Europe, North America, Oceania,
South America and "Seven seas (open ocean)" (the French Southern and Antarctic Lands).
Run offline: ``.venv/bin/python scripts/make_continents.py`` (``--check`` verifies the asset).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import importlib.util
import json
from pathlib import Path

import shapely

REPO = Path(__file__).resolve().parents[1]
ASSET = REPO / "geoviz" / "data" / "assets" / "ne_110m_continents.json.gz"
FIXTURE = Path("tests") / "fixtures" / "naturalearth_lowres" / "naturalearth_lowres.shp"


def build(shp: Path) -> bytes:
    from pyogrio.raw import read

    meta, _, geoms, fields = read(str(shp))
    names = list(meta["fields"])
    continent = fields[names.index("continent")]
    polys = shapely.from_wkb(geoms)
    out = {}
    for name in sorted(set(continent)):
        g = shapely.normalize(shapely.union_all(polys[continent == name]))
        out[str(name)] = base64.b64encode(shapely.to_wkb(g, byte_order=1, output_dimension=2)).decode()
    doc = {
        "source": "Natural Earth 1:110m admin-0 countries (pyogrio test fixture naturalearth_lowres)",
        "sha256_source": hashlib.sha256(shp.read_bytes()).hexdigest(),
        "licence": "public domain (Natural Earth, https://www.naturalearthdata.com/about/terms-of-use/)",
        "continents": out,
    }
    return gzip.compress(json.dumps(doc, sort_keys=True).encode(), mtime=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shp", type=Path, default=None, help="Natural Earth 110m countries .shp (default: pyogrio's fixture)")
    ap.add_argument("--check", action="store_true", help="verify the shipped asset instead of writing it")
    args = ap.parse_args()
    shp = args.shp
    if shp is None:
        spec = importlib.util.find_spec("pyogrio")
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit("pyogrio is not installed; pass --shp PATH")
        shp = Path(list(spec.submodule_search_locations)[0]) / FIXTURE
    data = build(shp)
    if args.check:
        ok = ASSET.is_file() and json.loads(gzip.decompress(ASSET.read_bytes())) == json.loads(gzip.decompress(data))
        print("asset matches" if ok else "asset DIFFERS from a fresh build")
        raise SystemExit(0 if ok else 1)
    ASSET.write_bytes(data)
    print(f"wrote {ASSET} ({len(data) / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
