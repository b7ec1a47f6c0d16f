"""Animations of a training run: a HoloMap over epochs and a GIF, and a run's map frames.

:class:`FrameHistory` keeps a run's per-epoch maps in bounded memory (replay, GIF export);
:func:`regression_style` picks one colour range per regression run; :func:`task_title`
names tasks for people. Drawing itself (palettes, colour bars, legends, coastlines, map
images, GIF encoding) is :mod:`geoviz.render`'s; ``legend_image``, ``map_image``,
``colorbar_ticks``, ``tick_text``, ``nice_ceil``, ``FIELD_CMAPS``, ``CENTRED_FIELDS`` and
``NAN_GREY`` are re-exported from there for the tests, views and notebooks that import
them from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from geoviz import render
from geoviz.render import regression_style  # re-exported: the tabs and widgets import it from here
from geoviz.render import (CENTRED_FIELDS, FIELD_CMAPS, NAN_GREY, colorbar_ticks, colorize,
                           legend_image, map_image, nice_ceil, tick_text)

from ._hv import hv as _hv

__all__ = ["training_frames", "training_holomap", "training_gif", "legend_image", "map_image",
           "FrameHistory", "tick_text", "colorbar_ticks", "nice_ceil", "regression_style",
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


def training_gif(records_or_frames: Iterable[Any], grid: Any, path: str | Path, *, fps: float = 5.0,
                 scale: int = 2, coastlines: bool = True, label: bool = True, kind: str | None = None,
                 cmap: str | None = None, clim: Sequence[float] | None = None) -> Path:
    """Write an animated GIF with one frame per recorded epoch (:func:`geoviz.render.gif_bytes`).

    Args:
        records_or_frames: EpochRecords (see :func:`training_frames`) or ``(epoch, (H, W, 3|4)
            uint8)`` pairs as returned by it.
        grid: RegularGrid or ``(H, W)``.
        path: output file (parent directories are created).
        fps: frames per second; ``scale``: integer upscaling of the grid image (the GIF is
            ``(scale·W, scale·H)`` pixels).
        coastlines, label: draw coastlines / the epoch number on each frame (the label also
            keeps identical consecutive frames apart).

    Returns:
        The ``Path`` written.
    """
    items = list(records_or_frames)
    if items and isinstance(items[0], tuple):
        frames = [(int(e), np.asarray(im)) for e, im in items]
    else:
        frames = training_frames(items, grid, kind=kind, cmap=cmap, clim=clim)
    if not frames:
        raise ValueError("nothing to animate: no record has a prediction")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    images = [render.compose_map(img, scale=scale, coastlines=coastlines, inset=f"epoch {epoch}" if label else None)
              for epoch, img in frames]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render.gif_bytes(images, fps))
    return path


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
        """An animated GIF of the kept frames (:func:`geoviz.render.map_image` each, titled with the epoch);
        maps with :attr:`clim` are coloured with ``cmap`` over it (colourbar titled ``label``,
        e.g. ``"temperature (°C)"``)."""
        if not self._epochs:
            raise ValueError("nothing to animate: no frames recorded")
        kind = self.kind
        imgs = [map_image(self.values(i), self.shape, kind, n_classes=n_classes, class_names=class_names,
                          label=label, coastlines=coastlines, scale=scale,
                          title=f"{title}  epoch {e}".strip(), cmap=cmap, clim=self.clim)
                for i, e in enumerate(self._epochs)]
        return render.gif_bytes(imgs, fps, palette=render.gif_palette(kind, n_classes, cmap))

    def subsample(self, max_frames: int) -> FrameHistory:
        """A copy with at most ``max_frames`` frames spread evenly over the run (first and last kept)."""
        pick = np.unique(np.round(np.linspace(0, len(self) - 1, min(int(max_frames), len(self)))).astype(int))
        sub = FrameHistory(self.shape, self.kind, max_frames=max(2, len(pick)), clim=self.clim)
        for i in pick:
            sub.add(self._epochs[i], self.values(i))
        return sub

    def run_gif(self, task: Any, task_name: str, *, style: dict[str, Any] | None = None, max_frames: int = 60,
                title: str = "", fps: float = 8.0) -> bytes | None:
        """The GIF of a training run on ``task`` as the dashboard offers it: at most
        ``max_frames`` frames, P(land) / class / regression colours (``style`` from
        :func:`regression_style`), coastlines unless the task is synthetic, about 360 px wide.
        ``None`` without frames."""
        if not len(self) or task is None:
            return None
        sub = self.subsample(max_frames)
        scale = max(1, int(round(360 / self.shape[1])))
        coast = task_name not in SYNTHETIC_TASKS
        if task.kind == "regression" and style is not None:
            return sub.gif(fps=fps, label=style["label"], cmap=style["cmap"], coastlines=coast, scale=scale,
                           title=title)
        return sub.gif(fps=fps, n_classes=task.num_classes if task.kind != "binary" else None,
                       cmap=render.PLAND_CMAP if task.kind == "binary" else None,
                       class_names=task.class_names if task.kind != "binary" else None,
                       coastlines=coast, scale=scale, title=title)
