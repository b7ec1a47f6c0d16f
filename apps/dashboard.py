"""geoviz dashboard (placeholder until the dashboard issue lands).

Served with ``panel serve apps/dashboard.py`` (``make serve``). For now it lists the
location encoders the library offers and evaluates a spherical-harmonic feature on a
coarse grid, so the serve command works offline on a fresh machine.
"""

from __future__ import annotations

import numpy as np
import panel as pn

import geoviz
from geoviz.encoders import sh_degrees_orders, spherical_harmonics

pn.extension(design="native")

L = 6
lon, lat = np.meshgrid(np.linspace(-179.5, 179.5, 72), np.linspace(89.5, -89.5, 36))
Y = spherical_harmonics(np.c_[lon.ravel(), lat.ravel()], L)
ls, ms = sh_degrees_orders(L)

rows = "\n".join(f"| {pe} |" for pe in geoviz.list_positional_encodings())
pn.Column(
    "# geoviz",
    "Implicit neural geo-representations: positional encodings × networks = location encoders.",
    "The interactive dashboard (live training, smoothness vs L, embeddings) is being built; "
    "this page confirms the library works on this server.",
    pn.pane.Markdown(f"| positional encodings |\n|---|\n{rows}"),
    pn.pane.Markdown(f"Networks: {', '.join(geoviz.list_networks())}. "
                     f"Computed {Y.shape[1]} SH features (L={L}) on a {lon.shape[1]}×{lon.shape[0]} grid; "
                     f"max |Y| = {np.abs(Y).max():.3f}."),
).servable(title="geoviz")
