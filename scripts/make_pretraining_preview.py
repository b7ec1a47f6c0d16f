"""PCA→RGB preview of geoviz's pretrained location embeddings on a regular lon/lat grid.

Usage::

    python scripts/make_pretraining_preview.py [--variants l10 l40] [--resolution 1.0]
        [--out docs/results/pretraining_pca.png] [--weights-dir DIR]

Embeds every cell centre of a ``resolution``° grid with the shipped (or given) location
encoders, projects the 256-d embeddings onto their first three principal components
(scikit-learn PCA), rescales each component to [0, 1] (1st–99th percentile) and renders
them as R, G, B, with the Natural Earth coastline drawn on top (matplotlib, static PNG).
A third panel shows the Blue Marble mosaic itself for reference.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch


def pca_rgb(emb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``(N, D)`` embeddings → ``(H, W, 3)`` float RGB in [0, 1] from the first 3 PCs."""
    from sklearn.decomposition import PCA

    pcs = PCA(n_components=3, random_state=0).fit_transform(emb.astype(np.float64))
    lo, hi = np.percentile(pcs, 1, axis=0), np.percentile(pcs, 99, axis=0)
    return np.clip((pcs - lo) / (hi - lo), 0, 1).reshape(*shape, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=["l10", "l40"])
    ap.add_argument("--resolution", type=float, default=1.0)
    ap.add_argument("--weights-dir", default=None, help="load geoviz-bluemarble-<variant>.safetensors from here instead")
    ap.add_argument("--out", default="docs/results/pretraining_pca.png")
    args = ap.parse_args()
    torch.set_num_threads(1)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from geoviz.data import land_boundaries, regular_grid
    from geoviz.data.imagery import blue_marble
    from geoviz.pretrained.geoviz_model import VARIANTS, load_geoviz_model

    grid = regular_grid(args.resolution)
    extent = (-180, 180, -90, 90)
    panels = []
    for v in args.variants:
        path = Path(args.weights_dir) / VARIANTS[v] if args.weights_dir else None
        enc, meta = load_geoviz_model(v, path=path, return_meta=True)
        with torch.no_grad():
            emb = torch.cat([enc(torch.from_numpy(grid.lonlat[i : i + 8192])) for i in range(0, len(grid.lonlat), 8192)])
        r = meta["retrieval"]
        panels.append((f"{v.upper()}: PCA of 256-d embeddings → RGB (top-10 {100 * r['top10']:.0f} %)",
                       pca_rgb(emb.numpy(), grid.shape)))
    panels.append(("NASA Blue Marble (training images)", blue_marble()[::5, ::5]))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 2.5), dpi=100)
    for ax, (title, im) in zip(np.atleast_1d(axes), panels):
        ax.imshow(im, extent=extent, origin="upper", interpolation="nearest")
        for line in land_boundaries(drop_frame_edges=True):
            ax.plot(line[:, 0], line[:, 1], color="k", lw=0.3)
        ax.set_title(title, fontsize=7)
        ax.set_xlim(-180, 180)
        ax.set_ylim(-90, 90)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    buf.seek(0)
    # a 256-colour palette keeps the committed PNG small (~150 KiB instead of ~500 KiB)
    Image.open(buf).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
