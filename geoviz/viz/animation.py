"""Animations of a training run: a HoloMap over epochs and a GIF (Pillow, no external binaries)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ._hv import hv as _hv
from .coastlines import coastline_paths
from .colors import colorize

__all__ = ["training_frames", "training_holomap", "training_gif", "draw_coastlines"]


def _grid_shape(grid: Any) -> tuple[int, int]:
    shape = getattr(grid, "shape", grid)
    if shape is None or len(shape) != 2:
        raise ValueError(f"grid must be a RegularGrid or an (H, W) shape, got {grid!r}")
    return int(shape[0]), int(shape[1])


def _kind_of(pred: np.ndarray, kind: str | None) -> str:
    if kind is not None:
        return kind
    if pred.ndim == 2 and pred.shape[1] == 3:
        return "rgb"
    return "categorical" if np.issubdtype(pred.dtype, np.integer) else "continuous"


def training_frames(records: Iterable[Any], grid: Any, *, kind: str | None = None, cmap: str | None = None,
                    clim: Sequence[float] | None = None) -> list[tuple[int, np.ndarray]]:
    """Colour every recorded prediction of a run.

    Args:
        records: :class:`geoviz.training.EpochRecord` objects (or anything with ``.epoch``
            and ``.prediction``), e.g. collected from ``Trainer(..., predict_lonlat=grid.lonlat).run()``.
            Records whose ``prediction`` is None are skipped.
        grid: the :class:`geoviz.data.RegularGrid` (or its ``(H, W)`` shape) the predictions
            were made on (rows north→south).
        kind, cmap, clim: colouring (see :func:`geoviz.viz.colors.colorize`); kind is
            inferred (integers → categorical, else continuous).

    Returns:
        List of ``(epoch, (H, W, 4) uint8 RGBA)`` in record order.
    """
    H, W = _grid_shape(grid)
    frames = []
    for rec in records:
        pred = getattr(rec, "prediction", None)
        if pred is None:
            continue
        p = np.asarray(pred)
        k = _kind_of(p, kind)
        if p.shape[0] != H * W:
            raise ValueError(f"epoch {rec.epoch}: prediction has {p.shape[0]} values, grid has {H}x{W}={H * W}")
        frames.append((int(rec.epoch), colorize(p.reshape((H, W, 3) if k == "rgb" else (H, W)), k, cmap, clim)))
    return frames


def training_holomap(records: Iterable[Any], grid: Any, *, kind: str | None = None, cmap: str | None = None,
                     clim: Sequence[float] | None = None, coastlines: bool = True, width: int = 600,
                     height: int = 300) -> Any:
    """A ``hv.HoloMap`` keyed by ``epoch`` (the Bokeh/Panel player shows a slider/player).

    Args: as :func:`training_frames`; ``coastlines`` overlays the shipped coastlines.

    Returns:
        ``hv.HoloMap`` with kdim ``"epoch"`` of ``hv.RGB`` (x = lon, y = lat degrees),
        each overlaid with coastlines when requested; titles show epoch and losses.
    """
    hv = _hv()

    from .coastlines import coastlines_element
    from .maps import GLOBAL_BOUNDS

    recs = [r for r in records if getattr(r, "prediction", None) is not None]
    frames = training_frames(recs, grid, kind=kind, cmap=cmap, clim=clim)
    coast = coastlines_element() if coastlines else None
    items = {}
    for rec, (epoch, img) in zip(recs, frames):
        title = f"epoch {epoch}"
        if getattr(rec, "val_loss", None) is not None:
            title += f"  val loss {rec.val_loss:.4f}"
        el = hv.RGB(img, bounds=GLOBAL_BOUNDS, kdims=["lon", "lat"], vdims=["R", "G", "B", "A"]).opts(
            width=width, height=height, title=title)
        items[epoch] = el * coast if coast is not None else el
    if not items:
        raise ValueError("no record has a prediction; create the Trainer with predict_lonlat=grid.lonlat")
    return hv.HoloMap(items, kdims=["epoch"])


def draw_coastlines(img: Any, color: tuple[int, int, int] = (0, 0, 0), width: int = 1) -> Any:
    """Draw the shipped coastlines onto a global equirectangular PIL image in place; returns it."""
    from PIL import ImageDraw

    W, H = img.size
    d = ImageDraw.Draw(img)
    for p in coastline_paths(simplify=None):
        x = (p[:, 0] + 180.0) * (W / 360.0)
        y = (90.0 - p[:, 1]) * (H / 180.0)
        d.line(list(zip(x.tolist(), y.tolist())), fill=color, width=width)
    return img


def training_gif(records_or_frames: Iterable[Any], grid: Any, path: str | Path, *, fps: float = 5.0,
                 scale: int = 2, coastlines: bool = True, label: bool = True, kind: str | None = None,
                 cmap: str | None = None, clim: Sequence[float] | None = None) -> Path:
    """Write an animated GIF with one frame per recorded epoch (Pillow only).

    Args:
        records_or_frames: EpochRecords (see :func:`training_frames`) or ``(epoch, (H, W, 3|4)
            uint8)`` pairs as returned by it.
        grid: RegularGrid or ``(H, W)``.
        path: output file (parent directories are created).
        fps: frames per second; ``scale``: integer upscaling of the grid image.
        coastlines, label: draw coastlines / the epoch number on each frame (the label also
            keeps Pillow from merging identical consecutive frames).

    Returns:
        The ``Path`` written.
    """
    from PIL import Image, ImageDraw

    items = list(records_or_frames)
    if items and isinstance(items[0], tuple):
        frames = [(int(e), np.asarray(im)) for e, im in items]
    else:
        frames = training_frames(items, grid, kind=kind, cmap=cmap, clim=clim)
    if not frames:
        raise ValueError("nothing to animate: no record has a prediction")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    pil = []
    for epoch, img in frames:
        im = Image.fromarray(np.ascontiguousarray(img[..., :3]).astype(np.uint8), mode="RGB")
        if scale != 1:
            im = im.resize((im.width * int(scale), im.height * int(scale)), Image.NEAREST)
        if coastlines:
            draw_coastlines(im)
        if label:
            d = ImageDraw.Draw(im)
            d.rectangle([2, 2, 92, 16], fill=(255, 255, 255))
            d.text((5, 3), f"epoch {epoch}", fill=(0, 0, 0))
        pil.append(im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pil[0].save(path, save_all=True, append_images=pil[1:], duration=int(round(1000 / fps)), loop=0,
                disposal=1, optimize=False)
    return path
