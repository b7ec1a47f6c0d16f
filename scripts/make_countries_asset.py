#!/usr/bin/env python
"""Regenerate ``geoviz/data/assets/ne_110m_countries.json.gz`` (the ``countries`` evaluation task).

Source
    Natural Earth 1:110m admin-0 countries (177 polygons), public domain
    (https://www.naturalearthdata.com/about/terms-of-use/), from the test fixture shipped in the
    registry package ``pyogrio`` (MIT): ``pyogrio/tests/fixtures/naturalearth_lowres/``.
    The same file ``scripts/make_land_polygon.py`` and ``scripts/make_continents.py`` use.

Processing
    read the polygons and the ``name``, ``iso_a3`` and ``continent`` attributes (pyogrio.raw),
    ``shapely.normalize`` each geometry, write gzip (mtime 0) JSON ``{"source", "sha256_source",
    "licence", "countries": [{"name", "iso_a3", "continent", "wkb": base64 little-endian 2-D WKB}]}``
    sorted by name.

Run offline: ``.venv/bin/python scripts/make_countries_asset.py``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.util
import json
from pathlib import Path

import shapely

REPO = Path(__file__).resolve().parents[1]
ASSET = REPO / "geoviz" / "data" / "assets" / "ne_110m_countries.json.gz"
FIXTURE = Path("tests") / "fixtures" / "naturalearth_lowres" / "naturalearth_lowres.shp"


def main() -> None:
    from pyogrio.raw import read

    shp = Path(importlib.util.find_spec("pyogrio").submodule_search_locations[0]) / FIXTURE
    meta, _, geoms, fields = read(str(shp))
    names = list(meta["fields"])
    col = {k: fields[names.index(k)] for k in ("name", "iso_a3", "continent")}
    polys = shapely.from_wkb(geoms)
    rows = []
    for i in range(len(polys)):
        g = shapely.normalize(polys[i])
        rows.append({"name": str(col["name"][i]), "iso_a3": str(col["iso_a3"][i]),
                     "continent": str(col["continent"][i]),
                     "wkb": base64.b64encode(shapely.to_wkb(g, byte_order=1, output_dimension=2)).decode()})
    rows.sort(key=lambda r: r["name"])
    doc = {
        "source": "Natural Earth 1:110m admin-0 countries (pyogrio test fixture naturalearth_lowres)",
        "sha256_source": hashlib.sha256(shp.read_bytes()).hexdigest(),
        "licence": "public domain (Natural Earth, https://www.naturalearthdata.com/about/terms-of-use/)",
        "countries": rows,
    }
    ASSET.write_bytes(gzip.compress(json.dumps(doc, sort_keys=True).encode(), mtime=0))
    print(f"wrote {ASSET} ({len(rows)} countries, {ASSET.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
