"""Fields to draw: values on a regular lon/lat grid, or a function evaluated anywhere.

A *field* turns ``(M, 2)`` lon/lat degrees into ``(M, 4)`` RGBA uint8 colours
(:meth:`rgba_at`) and raw values (:meth:`values_at`). :class:`GridField` samples a cached
colour image by index arithmetic (nearest or bilinear, longitude wraps), which is what
makes re-rendering a rotated globe cheap; :class:`FunctionField` calls a function (e.g. a
trained :class:`geoviz.LocationEncoder`) at exactly the requested points, so it is sharp
at any zoom or rotation.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .colors import KINDS, colorize

__all__ = ["GridField", "FunctionField", "as_field", "model_function"]


def _infer_kind(v: np.ndarray, kind: str | None) -> str:
    if kind is not None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        return kind
    if v.ndim >= 1 and v.shape[-1] == 3 and v.ndim == 3:
        return "rgb"
    if np.issubdtype(v.dtype, np.integer) or v.dtype == bool:
        return "categorical"
    return "continuous"


class GridField:
    """Values on a global regular lon/lat grid (rows north→south, columns west→east).

    The grid is the one of :func:`geoviz.data.regular_grid`: cell ``(r, c)`` is centred at
    ``lat = 90 - (r + 0.5) * 180 / H``, ``lon = -180 + (c + 0.5) * 360 / W``.

    Args:
        values: ``(H, W)`` scalars (probabilities, similarities, class indices) or
            ``(H, W, 3)`` RGB (floats in [0, 1] or uint8); or flat ``(H*W,)`` /
            ``(H*W, 3)`` together with ``shape``. torch tensors are accepted.
        shape: ``(H, W)`` when ``values`` is flat.
        kind: ``"continuous"``, ``"categorical"``, ``"rgb"``; inferred when None
            (3 channels → rgb, integers → categorical, else continuous).
        cmap, clim: colormap name and ``(vmin, vmax)`` (see :func:`geoviz.viz.colors.colorize`).
        interpolation: ``"bilinear"`` (default; forced to ``"nearest"`` for categorical
            fields) or ``"nearest"``.

    Attributes:
        values: ``(H, W)`` or ``(H, W, 3)`` numpy array; ``rgba``: ``(H, W, 4)`` uint8.
    """

    def __init__(self, values: Any, shape: Sequence[int] | None = None, *, kind: str | None = None,
                 cmap: str | None = None, clim: Sequence[float] | None = None,
                 interpolation: str = "bilinear") -> None:
        v = values.detach().cpu().numpy() if hasattr(values, "detach") else np.asarray(values)
        if shape is not None:
            if len(shape) != 2 or int(shape[0]) < 1 or int(shape[1]) < 1:
                raise ValueError(f"shape must be (H, W) positive ints, got {shape!r}")
            H, W = int(shape[0]), int(shape[1])
            if v.shape[0] != H * W or v.ndim not in (1, 2) or (v.ndim == 2 and v.shape[1] != 3):
                raise ValueError(f"values of shape {v.shape} do not fit grid shape {(H, W)} ((H*W,) or (H*W, 3) expected)")
            v = v.reshape((H, W) + v.shape[1:])
        if v.ndim not in (2, 3) or (v.ndim == 3 and v.shape[2] != 3):
            raise ValueError(f"values must be (H, W) or (H, W, 3) (or flat with shape=), got {v.shape}")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")
        self.kind = _infer_kind(v, kind)
        if self.kind == "rgb" and v.ndim != 3:
            raise ValueError(f"kind='rgb' needs (H, W, 3) values, got {v.shape}")
        if self.kind != "rgb" and v.ndim != 2:
            raise ValueError(f"kind={self.kind!r} needs (H, W) values, got {v.shape}")
        self.values = v
        self.shape = (int(v.shape[0]), int(v.shape[1]))
        self.cmap, self.clim = cmap, clim
        self.interpolation = "nearest" if self.kind == "categorical" else interpolation
        self.rgba = colorize(v, self.kind, cmap, clim)
        self._rgba_f = self.rgba.reshape(-1, 4).astype(np.float32) if self.interpolation == "bilinear" else None

    # --- index arithmetic -------------------------------------------------------------
    def _nearest_index(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        H, W = self.shape
        r = np.clip(((90.0 - lat) * (H / 180.0)).astype(np.int64), 0, H - 1)
        c = ((lon + 180.0) * (W / 360.0)).astype(np.int64) % W
        return r, c

    def rgba_at(self, lonlat: np.ndarray) -> np.ndarray:
        """Colours at ``(M, 2)`` float64 lon/lat degrees (unvalidated fast path): ``(M, 4)`` uint8."""
        lon, lat = lonlat[:, 0], lonlat[:, 1]
        if self.interpolation == "nearest":
            r, c = self._nearest_index(lon, lat)
            return self.rgba[r, c]
        H, W = self.shape
        fr = np.clip((90.0 - lat) * (H / 180.0) - 0.5, 0.0, H - 1.0)
        fc = (lon + 180.0) * (W / 360.0) - 0.5
        r0 = np.minimum(fr.astype(np.int64), H - 1)
        c0f = np.floor(fc)
        wr = (fr - r0).astype(np.float32)[:, None]
        wc = (fc - c0f).astype(np.float32)[:, None]
        c0 = c0f.astype(np.int64) % W
        c1 = c0 + 1
        c1[c1 == W] = 0
        i00 = r0 * W
        i10 = np.minimum(r0 + 1, H - 1) * W
        img = self._rgba_f  # (H*W, 4) float32
        top = img.take(i00 + c0, axis=0)
        top += (img.take(i00 + c1, axis=0) - top) * wc
        bot = img.take(i10 + c0, axis=0)
        bot += (img.take(i10 + c1, axis=0) - bot) * wc
        top += (bot - top) * wr
        top += 0.5
        return top.astype(np.uint8)

    def values_at(self, lonlat: Any) -> np.ndarray:
        """Raw values of the cell containing each point: ``(M,)`` or ``(M, 3)``."""
        ll = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
        r, c = self._nearest_index(ll[:, 0], ll[:, 1])
        return self.values[r, c]


class FunctionField:
    """A field computed on demand: ``fn(lonlat (M, 2) float64 degrees) -> (M,) or (M, 3)``.

    Args:
        fn: the function; e.g. :func:`model_function` of a trained encoder.
        kind, cmap, clim: as in :class:`GridField` (kind defaults to ``"continuous"``).
        batch: evaluate in chunks of this many points.
    """

    def __init__(self, fn: Callable[[np.ndarray], Any], *, kind: str = "continuous", cmap: str | None = None,
                 clim: Sequence[float] | None = None, batch: int = 131072) -> None:
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.fn, self.kind, self.cmap, self.clim, self.batch = fn, kind, cmap, clim, int(batch)

    def values_at(self, lonlat: Any) -> np.ndarray:
        """``fn`` evaluated at ``(M, 2)`` lon/lat degrees, as numpy."""
        ll = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
        parts = []
        for i in range(0, max(len(ll), 1), self.batch):
            out = self.fn(ll[i : i + self.batch])
            out = out.detach().cpu().numpy() if hasattr(out, "detach") else np.asarray(out)
            parts.append(out)
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def rgba_at(self, lonlat: np.ndarray) -> np.ndarray:
        """Colours at ``(M, 2)`` lon/lat degrees: ``(M, 4)`` uint8."""
        v = self.values_at(lonlat)
        if self.kind != "rgb" and v.ndim == 2 and v.shape[1] == 1:
            v = v[:, 0]
        return colorize(v, self.kind, self.cmap, self.clim)


def model_function(model: Any, output: str = "auto") -> Callable[[np.ndarray], np.ndarray]:
    """Wrap a torch location encoder as ``fn(lonlat (M, 2) float64) -> (M,)`` numpy.

    Args:
        model: a ``torch.nn.Module`` mapping ``(M, 2)`` lon/lat tensors to ``(M, C)`` logits.
        output: ``"probability"`` (sigmoid of column 0), ``"class"`` (argmax),
            ``"raw"`` (all columns), or ``"auto"`` (probability if C == 1 else class).
    """
    import torch

    if output not in ("auto", "probability", "class", "raw"):
        raise ValueError(f"output must be 'auto', 'probability', 'class' or 'raw', got {output!r}")
    try:
        dtype = next(model.parameters()).dtype
    except (StopIteration, AttributeError):
        dtype = torch.float64

    def fn(lonlat: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = model(torch.as_tensor(np.ascontiguousarray(lonlat), dtype=dtype))
        mode = output
        if mode == "auto":
            mode = "probability" if out.shape[1] == 1 else "class"
        if mode == "probability":
            return torch.sigmoid(out[:, 0]).cpu().numpy()
        if mode == "class":
            return out.argmax(dim=1).cpu().numpy()
        return out.cpu().numpy()

    return fn


def as_field(field: Any, shape: Sequence[int] | None = None, **kw: Any) -> GridField | FunctionField:
    """Coerce ``field`` to a field object.

    Accepts a :class:`GridField`/:class:`FunctionField` (returned as is), a
    ``torch.nn.Module`` (wrapped with :func:`model_function`; ``kw`` may hold ``output``,
    ``kind``, ``cmap``, ``clim``), any other callable (:class:`FunctionField`), or array
    values for :class:`GridField` (``shape`` and ``kw`` passed on).
    """
    if isinstance(field, (GridField, FunctionField)):
        return field
    try:
        import torch

        if isinstance(field, torch.nn.Module):
            output = kw.pop("output", "auto")
            kw.setdefault("kind", "categorical" if output == "class" else "continuous")
            return FunctionField(model_function(field, output), **kw)
    except ImportError:  # pragma: no cover
        pass
    if callable(field):
        kw.pop("interpolation", None)
        return FunctionField(field, **kw)
    return GridField(field, shape, **kw)
