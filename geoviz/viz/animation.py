"""Animations of a training run: a HoloMap over epochs and a GIF (Pillow, no external binaries).

Also the pieces the live views share: :func:`legend_image` (a P(land) colourbar or a
class legend as an image), :func:`map_image` (a flat map with coastlines and its legend,
for PNG/GIF export) and :class:`FrameHistory` (a run's per-epoch maps in bounded memory,
for replay and GIF export).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ._hv import hv as _hv
from .coastlines import coastline_paths
from .colors import colorize

__all__ = ["training_frames", "training_holomap", "training_gif", "draw_coastlines", "legend_image", "map_image",
           "FrameHistory", "gif_bytes", "gif_palette", "tick_text", "colorbar_ticks", "nice_ceil", "regression_style",
           "FIELD_CMAPS", "CENTRED_FIELDS", "NAN_GREY", "SYNTHETIC_TASKS", "TASK_TITLES", "task_title"]

SYNTHETIC_TASKS = frozenset({"checkerboard"})
"""Task names whose labels are not geography: their maps are drawn without coastlines."""


TASK_TITLES = {"landocean": "Land–ocean", "checkerboard": "Checkerboard"}
"""Human names of the classification tasks (titles and selectors; fields: :func:`task_title`)."""


def task_title(name: str, units: str | None = None) -> str:
    """A task's name for people: ``"landocean"`` → ``"Land–ocean"``, ``"field:temperature"`` →
    ``"Temperature (°C)"`` (``units`` given, else the built-in field's own), ``"upload:x.csv"``
    → ``"x.csv"``; other names as they are."""
    name = str(name)
    if name in TASK_TITLES:
        return TASK_TITLES[name]
    if name.startswith("field:"):
        field = name.split(":", 1)[1]
        if units is None:
            try:
                from geoviz.data import get_field

                units = get_field(field).units
            except (KeyError, ValueError):
                units = ""
        title = field[:1].upper() + field[1:]
        return f"{title} ({units})" if units else title
    if name.startswith("upload:"):
        return name.split(":", 1)[1]
    return name


FIELD_CMAPS = {"temperature": "RdYlBu_r", "precipitation": "YlGnBu", "elevation": "viridis", "geoid": "RdBu_r",
               "magnetic": "viridis"}
"""Colormap of each built-in field's maps (others: ``"viridis"``): diverging only where 0
means something (:data:`CENTRED_FIELDS`), sequential otherwise."""

CENTRED_FIELDS = frozenset({"temperature", "geoid"})
"""Fields whose 0 means something (0 °C, the reference ellipsoid): a diverging colormap with
its neutral middle at 0 (a colour range symmetric about 0, see :func:`regression_style`)."""

NAN_GREY = (200, 200, 200, 255)
"""Colour of cells without a value (the ocean of a land-only field; :func:`map_image` draws them so too)."""


def nice_ceil(x: float) -> float:
    """The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k that is ≥ ``x`` (> 0)."""
    x = float(x)
    if not x > 0 or not np.isfinite(x):
        raise ValueError(f"nice_ceil needs a finite x > 0, got {x!r}")
    k = 10.0 ** np.floor(np.log10(x))
    for m in (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if m * k >= x * (1 - 1e-12):
            return float(m * k)
    return float(10 * k)  # pragma: no cover - 10 always qualifies


def colorbar_ticks(lo: float, hi: float, *, center: float | None = None, nbins: int = 5,
                   min_gap: float = 0.1) -> list[float]:
    """Tick values for a colour bar over ``[lo, hi]``: both ends always, round values between.

    Round values (``MaxNLocator``) are used when some choice of at most ``nbins`` intervals
    puts ticks exactly at both ends (``-50, -25, 0, 25, 50``); otherwise the round values
    inside the range, less those closer than ``min_gap`` of the range to an end, plus the
    two ends themselves (``-37, 1000, 2000, 3000, 4000, 4325``). ``center`` (e.g. 0 on a
    diverging scale) is always a tick when it lies inside.
    """
    from matplotlib.ticker import MaxNLocator

    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ValueError(f"colorbar_ticks needs finite lo < hi, got {lo!r}, {hi!r}")
    span = hi - lo
    tol = 1e-9 * max(span, abs(lo), abs(hi))
    ticks: list[float] | None = None
    for n in sorted({nbins, 4, 5, 6, 3}, key=lambda b: (abs(b - nbins), -b)):
        vals = [float(v) for v in MaxNLocator(nbins=n).tick_values(lo, hi) if lo - tol <= v <= hi + tol]
        if vals and abs(vals[0] - lo) <= tol and abs(vals[-1] - hi) <= tol and len(vals) >= 3:
            ticks = [lo] + vals[1:-1] + [hi]
            break
    if ticks is None:
        inner = [float(v) for v in MaxNLocator(nbins=nbins).tick_values(lo, hi)
                 if lo + min_gap * span <= v <= hi - min_gap * span]
        ticks = [lo] + inner + [hi]
    if center is not None and lo < center < hi and not any(abs(t - center) <= tol for t in ticks):
        ticks = sorted([t for t in ticks if abs(t - center) >= min_gap * span or t in (lo, hi)] + [float(center)])
    return [t if t in (lo, hi) else float(f"{t:.12g}") for t in ticks]  # 0.6, not 0.6000000000000001


def regression_style(task: Any) -> dict[str, Any]:
    """How a regression task's maps are coloured: one fixed range for every frame of a run.

    Args:
        task: a :class:`geoviz.data.Task` of kind ``"regression"``; a built-in field's task
            carries its 1° truth grid in ``meta["grid"]``, a task from points does not.

    Returns:
        ``{"cmap", "clim", "center", "ticks", "units", "label", "field", "land_only"}``:
        ``clim`` = the 1st and 99th percentiles of the truth (the field's 1° grid, else the
        training targets), so frames are comparable and a few extremes do not wash out the map;
        for a field whose 0 means something (:data:`CENTRED_FIELDS`, e.g. temperature in °C)
        the range is symmetric about ``center`` = 0, out to a round value covering both
        percentiles (temperature: −50 … 50 °C), so the diverging colormap's neutral middle is
        at 0; ``ticks`` the colour-bar ticks (:func:`colorbar_ticks`: both ends labelled);
        ``label`` the colour-bar title, e.g. ``"temperature (°C)"``; ``field`` the built-in
        field's name or None.
    """
    meta = dict(task.meta or {})
    units = str(meta.get("units") or "")
    name = (meta.get("target_names") or [task.name])[0]
    field = meta.get("field")
    grid = meta.get("grid")
    vals = np.asarray(grid[0] if grid is not None else task.train.y, dtype=np.float64).reshape(-1)
    vals = vals[np.isfinite(vals)]
    lo, hi = (np.percentile(vals, [1.0, 99.0]) if vals.size else (0.0, 1.0))
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    center = 0.0 if field in CENTRED_FIELDS else None
    if center is not None:
        m = nice_ceil(max(abs(lo - center), abs(hi - center)))
        lo, hi = center - m, center + m
    lo, hi = float(lo), float(hi)
    return {"cmap": FIELD_CMAPS.get(field, "viridis"), "clim": (lo, hi), "center": center,
            "ticks": colorbar_ticks(lo, hi, center=center), "units": units,
            "label": f"{name} ({units})" if units else str(name), "field": field,
            "land_only": bool(meta.get("land_only", False))}


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


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # Pillow's bundled font (no system fonts needed)
    except TypeError:  # pragma: no cover - Pillow < 10.1
        return ImageFont.load_default()


def legend_image(kind: str, width: int, *, label: str = "P(land)", n_classes: int | None = None,
                 class_names: Sequence[str] | None = None, cmap: str | None = None,
                 clim: Sequence[float] = (0.0, 1.0), font_size: int = 11) -> np.ndarray:
    """A horizontal legend strip for a map ``width`` pixels wide.

    Args:
        kind: ``"continuous"`` (a colourbar from ``clim[0]`` to ``clim[1]`` with ticks at 0,
            ½ and 1 of the range, or at round values for another range than [0, 1], titled
            ``label``) or ``"categorical"`` (one swatch per class,
            in :func:`geoviz.viz.colors.categorical_palette` colours).
        width: strip width in pixels (≥ 80).
        label: colourbar title (continuous).
        n_classes, class_names: classes (categorical; names default to ``0..n-1``).
        cmap: continuous colormap (default ``"landocean"``, as :func:`colorize`).

    Returns:
        ``(h, width, 3)`` uint8 RGB image, white background.
    """
    from PIL import Image, ImageDraw

    from .colors import categorical_palette, colormap_lut

    width = int(width)
    if width < 80:
        raise ValueError(f"width must be >= 80 pixels, got {width}")
    font = _font(font_size)
    fh = font_size + 3
    if kind == "continuous":
        h = 2 * fh + 14
        img = Image.new("RGB", (width, h), (255, 255, 255))
        d = ImageDraw.Draw(img)
        lut = colormap_lut(cmap or "landocean")
        x0, x1, y0, y1 = 40, width - 40, fh, fh + 12
        ramp = lut[np.round(np.linspace(0, len(lut) - 1, x1 - x0)).astype(np.int64), :3]
        img.paste(Image.fromarray(np.ascontiguousarray(np.repeat(ramp[None], y1 - y0, axis=0))), (x0, y0))
        d.rectangle([x0 - 1, y0 - 1, x1, y1], outline=(0, 0, 0))
        d.text((width / 2, 1), label, fill=(0, 0, 0), font=font, anchor="ma")
        lo, hi = float(clim[0]), float(clim[1])
        fracs = [0.0, 0.5, 1.0]
        if (lo, hi) != (0.0, 1.0) and hi > lo:  # a field in units: both ends and round values between
            fracs = [(v - lo) / (hi - lo) for v in colorbar_ticks(lo, hi, center=0.0 if lo < 0 < hi else None)]
        for t in fracs:
            x = x0 + t * (x1 - x0 - 1)
            d.line([(x, y1), (x, y1 + 3)], fill=(0, 0, 0))
            d.text((x, y1 + 3), tick_text(lo + t * (hi - lo)), fill=(0, 0, 0), font=font, anchor="ma")
        return np.asarray(img)
    if kind != "categorical":
        raise ValueError(f"kind must be 'continuous' or 'categorical', got {kind!r}")
    n = int(n_classes if n_classes is not None else len(class_names or []))
    if n < 1:
        raise ValueError("a categorical legend needs n_classes or class_names")
    names = [str(c) for c in (class_names if class_names is not None else range(n))][:n]
    pal = categorical_palette(n)
    cell = max(max(int(font.getlength(nm)) for nm in names) + 22, 40)
    per_row = max(1, (width - 8) // cell)
    rows = -(-n // per_row)
    img = Image.new("RGB", (width, rows * fh + 6), (255, 255, 255))
    d = ImageDraw.Draw(img)
    for k, nm in enumerate(names):
        x, y = 4 + (k % per_row) * cell, 3 + (k // per_row) * fh
        d.rectangle([x, y + 1, x + 13, y + fh - 3], fill=tuple(int(c) for c in pal[k, :3]), outline=(60, 60, 60))
        d.text((x + 17, y), nm, fill=(0, 0, 0), font=font)
    return np.asarray(img)


def tick_text(v: float) -> str:
    """A colour-bar tick label: whole numbers from 100 up (``"48213"``, not ``"4.8e+04"``),
    three significant digits below (``"-12.5"``, ``"0.25"``)."""
    v = float(v)
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


@lru_cache(maxsize=16)
def _legend_cached(kind: str, width: int, label: str, n_classes: int | None,
                   class_names: tuple[str, ...] | None, cmap: str | None = None,
                   clim: tuple[float, float] = (0.0, 1.0)) -> Any:
    from PIL import Image

    return Image.fromarray(legend_image(kind, width, label=label, n_classes=n_classes, class_names=class_names,
                                        cmap=cmap, clim=clim))


@lru_cache(maxsize=8)
def _coastline_mask(width: int, height: int) -> Any:
    """The shipped coastlines drawn once per image size, as a PIL "L" mask (cached)."""
    from PIL import Image

    mask = Image.new("RGB", (width, height), (0, 0, 0))
    draw_coastlines(mask, color=(255, 255, 255))
    return mask.convert("L")


def map_image(values: Any, shape: Sequence[int], kind: str = "continuous", *, n_classes: int | None = None,
              class_names: Sequence[str] | None = None, label: str = "P(land)", coastlines: bool = True,
              legend: bool = True, scale: int = 2, title: str | None = None, cmap: str | None = None,
              clim: Sequence[float] | None = None) -> Any:
    """A global equirectangular map of a field with coastlines, title and legend, as a PIL image.

    Args:
        values: ``(H*W,)`` (or ``(H, W)``) field on a regular grid, rows north → south:
            probabilities in [0, 1] (continuous) or class indices (categorical); NaN cells
            are drawn light grey.
        shape: ``(H, W)``; the map is ``(scale·H, scale·W)`` pixels, 2:1 for a global grid.
        kind: ``"continuous"`` or ``"categorical"``.
        n_classes, class_names, label: legend (see :func:`legend_image`).
        coastlines: draw the shipped coastlines (leave off for synthetic tasks).
        legend: add the legend strip below the map.
        title: text in a white band above the map.
        cmap, clim: continuous colormap and value range (default ``"landocean"`` over [0, 1]);
            e.g. ``cmap="RdYlBu_r", clim=(-30, 30), label="temperature (°C)"`` for a field in
            its units (values outside ``clim`` get the end colours).

    Returns:
        RGB ``PIL.Image.Image``.
    """
    from PIL import Image, ImageDraw

    H, W = (int(s) for s in shape)
    v = np.asarray(values).reshape(H, W)
    lim = (0.0, 1.0) if clim is None else (float(clim[0]), float(clim[1]))
    rgba = colorize(v, kind, cmap=cmap, clim=lim if kind == "continuous" else None, n_classes=n_classes)
    rgb = np.where(rgba[..., 3:] > 0, rgba[..., :3], np.uint8(200))  # missing values (NaN): light grey
    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB")
    if scale != 1:
        img = img.resize((W * int(scale), H * int(scale)), Image.NEAREST)
    if coastlines:
        img.paste((0, 0, 0), mask=_coastline_mask(img.width, img.height))
    parts = [img]
    if title:
        font = _font(12)
        band = Image.new("RGB", (img.width, 18), (255, 255, 255))
        ImageDraw.Draw(band).text((4, 2), title, fill=(0, 0, 0), font=font)
        parts.insert(0, band)
    if legend:
        parts.append(_legend_cached(kind, img.width, label, n_classes,
                                    None if class_names is None else tuple(str(c) for c in class_names),
                                    cmap, lim))
    if len(parts) == 1:
        return img
    out = Image.new("RGB", (img.width, sum(p.height for p in parts)), (255, 255, 255))
    y = 0
    for p in parts:
        out.paste(p, (0, y))
        y += p.height
    return out


def gif_palette(kind: str = "continuous", n_classes: int | None = None, cmap: str | None = None) -> np.ndarray:
    """``(256, 3)`` uint8 GIF palette for :func:`map_image` frames: the field's colours (the
    colormap, or the class colours) plus black, white, the NaN grey and grey steps for text."""
    from .colors import categorical_palette, colormap_lut

    greys = np.repeat(np.linspace(0, 255, 16).round().astype(np.uint8)[:, None], 3, axis=1)
    extra = np.concatenate([greys, [[200, 200, 200], [60, 60, 60]]]).astype(np.uint8)
    if kind == "continuous":
        lut = colormap_lut(cmap or "landocean")[:, :3]
        field = lut[np.round(np.linspace(0, len(lut) - 1, 256 - len(extra))).astype(np.int64)]
    else:
        field = categorical_palette(int(n_classes or 1))[:, :3]
    pal = np.concatenate([field, extra])[:256]
    return np.concatenate([pal, np.zeros((256 - len(pal), 3), np.uint8)]).astype(np.uint8)


def gif_bytes(images: Sequence[Any], fps: float = 5.0, palette: np.ndarray | None = None) -> bytes:
    """Encode PIL images (all the same size) as a looping animated GIF; returns the file's bytes.

    ``palette``: ``(256, 3)`` uint8 colours every frame is mapped to (nearest colour, e.g.
    :func:`gif_palette`; fast, and within a unit or two of colours in it); default: each frame's own
    median-cut palette."""
    import io

    from PIL import Image

    if not images:
        raise ValueError("nothing to animate: no frames")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    if palette is not None:
        ref = Image.new("P", (1, 1))
        ref.putpalette(np.asarray(palette, np.uint8).reshape(-1).tolist())
        pal = [im.convert("RGB").quantize(palette=ref, dither=Image.Dither.NONE) for im in images]
    else:
        pal = [im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
               for im in images]
    buf = io.BytesIO()
    pal[0].save(buf, format="GIF", save_all=True, append_images=pal[1:], duration=int(round(1000 / fps)), loop=0,
                disposal=1, optimize=False)
    return buf.getvalue()


class FrameHistory:
    """The map predictions of one run, one per recorded epoch, in bounded memory.

    Probabilities are stored as uint8 (``round(255·p)``, error ≤ 1/510) and class indices
    as uint8 (int16 for more than 255 classes): a 1° map is 64 KB. When more than
    ``max_frames`` are added, the frame whose removal leaves the smallest epoch gap is
    dropped (never the first or the newest), so the kept frames stay spread over the whole
    run: memory is at most ``max_frames`` maps however long the run is.

    With ``clim=(lo, hi)`` a continuous map holds values in any units (a regression field,
    e.g. °C): they are stored as uint16 steps of ``(hi - lo) / 65534`` over ``clim``
    (values outside it are stored as its ends, as a colour map over ``clim`` draws them;
    NaN, e.g. ocean cells of a land-only field, stays NaN): 128 KB per 1° map.

    Args:
        shape: ``(H, W)`` of the maps (rows north → south).
        kind: ``"continuous"`` (probabilities in [0, 1], or values in ``clim``) or
            ``"categorical"`` (class indices).
        max_frames: frames kept (≥ 2).
        clim: ``(lo, hi)`` value range of continuous maps in their units (default: probabilities).
    """

    _NAN_CODE = 65535

    def __init__(self, shape: Sequence[int], kind: str = "continuous", *, max_frames: int = 120,
                 clim: Sequence[float] | None = None) -> None:
        if isinstance(max_frames, bool) or not isinstance(max_frames, (int, np.integer)) or max_frames < 2:
            raise ValueError(f"max_frames must be an int >= 2, got {max_frames!r}")
        if kind not in ("continuous", "categorical"):
            raise ValueError(f"kind must be 'continuous' or 'categorical', got {kind!r}")
        if clim is not None:
            lo, hi = float(clim[0]), float(clim[1])
            if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo) or kind != "continuous":
                raise ValueError(f"clim must be a finite (lo, hi) with hi > lo for continuous maps, got {clim!r}")
            clim = (lo, hi)
        self.clim: tuple[float, float] | None = clim
        self.max_frames = int(max_frames)
        self.shape = (int(shape[0]), int(shape[1]))
        self.kind = kind
        self._epochs: list[int] = []
        self._maps: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self._epochs)

    @property
    def epochs(self) -> list[int]:
        """Epochs of the kept frames, increasing."""
        return list(self._epochs)

    @property
    def nbytes(self) -> int:
        """Bytes held by the kept maps."""
        return sum(m.nbytes for m in self._maps)

    def add(self, epoch: int, values: Any) -> None:
        """Keep the ``(H*W,)`` map of ``epoch`` (epochs must increase)."""
        v = np.asarray(values).reshape(-1)
        if v.size != self.shape[0] * self.shape[1]:
            raise ValueError(f"map has {v.size} values, expected {self.shape[0]}x{self.shape[1]}")
        if self._epochs and int(epoch) <= self._epochs[-1]:
            raise ValueError(f"epochs must increase: {epoch} after {self._epochs[-1]}")
        if self.kind == "continuous" and self.clim is not None:
            lo, hi = self.clim
            f = v.astype(np.float64)
            nan = ~np.isfinite(f)
            codes = np.round(np.clip((np.where(nan, lo, f) - lo) / (hi - lo), 0.0, 1.0) * (self._NAN_CODE - 1))
            stored = np.where(nan, self._NAN_CODE, codes).astype(np.uint16)
        elif self.kind == "continuous":
            stored = np.round(np.clip(np.nan_to_num(v.astype(np.float64), nan=0.0), 0.0, 1.0) * 255).astype(np.uint8)
        else:
            stored = v.astype(np.uint8 if v.size == 0 or v.max() < 256 else np.int16)
        self._epochs.append(int(epoch))
        self._maps.append(stored)
        if len(self._epochs) > self.max_frames:
            e = np.asarray(self._epochs)
            gaps = e[2:] - e[:-2]  # the gap left by removing frame i (1 .. n-2)
            drop = 1 + int(np.argmin(gaps))
            del self._epochs[drop], self._maps[drop]

    def values(self, i: int) -> np.ndarray:
        """Map ``i`` (index into :attr:`epochs`): ``(H*W,)`` float32 probabilities (or values in
        :attr:`clim`'s units, NaN kept) or int64 classes."""
        m = self._maps[i]
        if self.kind == "continuous" and self.clim is not None:
            lo, hi = self.clim
            out = (lo + m.astype(np.float64) * ((hi - lo) / (self._NAN_CODE - 1))).astype(np.float32)
            out[m == self._NAN_CODE] = np.nan
            return out
        return (m.astype(np.float32) / 255.0) if self.kind == "continuous" else m.astype(np.int64)

    def clear(self) -> None:
        """Forget every frame."""
        self._epochs.clear()
        self._maps.clear()

    def gif(self, *, fps: float = 5.0, n_classes: int | None = None, class_names: Sequence[str] | None = None,
            label: str = "P(land)", coastlines: bool = True, scale: int = 2, title: str = "",
            cmap: str | None = None) -> bytes:
        """An animated GIF of the kept frames (:func:`map_image` each, titled with the epoch);
        maps with :attr:`clim` are coloured with ``cmap`` over it (colourbar titled ``label``,
        e.g. ``"temperature (°C)"``)."""
        if not self._epochs:
            raise ValueError("nothing to animate: no frames recorded")
        kind = self.kind
        imgs = [map_image(self.values(i), self.shape, kind, n_classes=n_classes, class_names=class_names,
                          label=label, coastlines=coastlines, scale=scale,
                          title=f"{title}  epoch {e}".strip(), cmap=cmap, clim=self.clim)
                for i, e in enumerate(self._epochs)]
        return gif_bytes(imgs, fps, palette=gif_palette(kind, n_classes, cmap))
