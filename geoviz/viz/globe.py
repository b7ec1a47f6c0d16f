"""Interactive orthographic globe rendered per pixel.

:func:`render_globe` computes, for every pixel inside the disk, its lon/lat by the inverse
orthographic projection and evaluates the field there (a cached :class:`GridField` by
index lookup, or a :class:`FunctionField` / model at exactly those points), so the globe
is sharp at any rotation. Coastlines and the graticule are projected forward.

:class:`Globe` wraps it for HoloViews/Bokeh/Panel:

* ``lon0``/``lat0`` are ``param`` parameters; the view is a ``DynamicMap`` of ``hv.RGB``
  driven by them (sliders in :meth:`Globe.view`, or set them from Python).
* Click: an ``hv.streams.Tap`` attached to the *element-level* RGB DynamicMap (a Tap on a
  DynamicMap that returns an Overlay is never wired up) → inverse projection →
  :attr:`Globe.last_tap_lonlat` and the :meth:`Globe.on_tap` callbacks.
* Drag to rotate: a plot hook registers Python callbacks for Bokeh's ``PanStart``/``Pan``
  events on the figure (the pan tool is removed, so the plot itself does not move; Bokeh
  still emits pan events). The events' *screen* coordinates ``sx, sy`` are used: in Bokeh
  3.9 the data coordinates ``x, y`` of ``Pan`` events stay at the pan start, which is why
  ``hv.streams.Draw`` (built on them) cannot be used. Pixels are converted to sphere radii
  with the frame size, and each step ``(dx, dy)`` rotates the globe by
  ``(-dx, -dy) * drag_speed`` degrees (lat0 clamped to ±90), i.e. the surface follows the
  pointer. :meth:`Globe.handle_drag` is the pure-Python mapping; checked in headless
  Chromium (Playwright) and, without a browser, by triggering Bokeh events in tests.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Sequence

import numpy as np
import param

from ._hv import hv as _hv
from .coastlines import coastline_paths, graticule_paths, nan_join, project_paths
from .fields import FunctionField, GridField, as_field
from .projection import _inverse, check_center, pixel_grid

__all__ = ["render_globe", "globe_lines", "Globe"]

BACKGROUND = (0, 0, 0, 0)
_KERNEL_LOCK = threading.Lock()  # numba-compiled kernels: one caller at a time (see architecture.md)


def render_globe(field: Any, lon0: float = 0.0, lat0: float = 0.0, size: int = 600, *,
                 shape: Sequence[int] | None = None, background: Sequence[int] = BACKGROUND,
                 **field_kw: Any) -> np.ndarray:
    """Render ``field`` on an orthographic globe centred at ``(lon0, lat0)``.

    Args:
        field: a :class:`GridField` (fast: index lookup in its cached colour image), a
            :class:`FunctionField`, a ``torch.nn.Module`` location encoder, a callable
            ``fn(lonlat (M, 2) float64 degrees) -> (M,) | (M, 3)``, or grid values
            ``(H, W)``/``(H, W, 3)`` (or flat with ``shape``) that are wrapped in a
            :class:`GridField` (pass a GridField to reuse its colour cache across renders).
        lon0, lat0: centre of the view in degrees.
        size: image side in pixels.
        shape: grid shape when ``field`` is a flat array.
        background: RGBA of pixels outside the disk (default transparent).
        **field_kw: ``kind``, ``cmap``, ``clim``, ``interpolation`` for wrapped fields.

    Returns:
        ``(size, size, 4)`` uint8 RGBA image, row 0 at the top (north-up at the centre);
        pixel ``(i, j)`` has screen coordinates ``x = -1 + (j + 0.5) * 2 / size``,
        ``y = 1 - (i + 0.5) * 2 / size``.
    """
    lon0, lat0 = check_center(lon0, lat0)
    f = as_field(field, shape, **field_kw)
    pg = pixel_grid(size)
    out = np.empty((size * size, 4), np.uint8)
    out[:] = np.asarray(background, np.uint8)
    if isinstance(f, GridField):
        from ._globe_kernel import render_grid_pixels

        with _KERNEL_LOCK:
            render_grid_pixels(pg.x, pg.y, pg.cosc, pg.idx, lon0, lat0, f.rgba, f.interpolation == "bilinear", out)
    else:
        out[pg.idx] = f.rgba_at(pg.lonlat(lon0, lat0))
    return out.reshape(size, size, 4)


def globe_lines(lon0: float, lat0: float, *, coastlines: bool = True, graticule: float | None = 30.0,
                simplify: float | None = None) -> dict[str, np.ndarray]:
    """Projected line work for a globe view.

    Returns:
        ``{"coastlines": (K, 2), "graticule": (G, 2), "outline": (361, 2)}`` float64 screen
        coordinates in sphere radii, NaN-separated; hidden parts are NaN. Absent keys are
        omitted when disabled.
    """
    out: dict[str, np.ndarray] = {}
    if coastlines:
        out["coastlines"] = project_paths(_coast_joined(simplify), lon0, lat0)
    if graticule:
        out["graticule"] = project_paths(graticule_paths(graticule), lon0, lat0)
    t = np.radians(np.arange(0, 361))
    out["outline"] = np.stack([np.cos(t), np.sin(t)], axis=1)
    return out


_COAST_CACHE: dict[Any, np.ndarray] = {}


def _coast_joined(simplify: float | None) -> np.ndarray:
    if simplify not in _COAST_CACHE:
        _COAST_CACHE[simplify] = nan_join(coastline_paths(simplify))
    return _COAST_CACHE[simplify]


def _frame_px(fig: Any, inner: str, outer: str, default: int) -> float:
    """Frame size in pixels: the browser-synced ``inner_*`` if known, else the figure size."""
    for name in (inner, outer):
        try:
            v = getattr(fig, name)
        except Exception:  # bokeh UnsetValueError before the browser reports the layout
            v = None
        if v:
            return float(v)
    return float(default)


class Globe(param.Parameterized):
    """A rotatable, clickable globe of a field (HoloViews + Bokeh; Panel for :meth:`view`).

    Args:
        field: anything :func:`render_globe` accepts (wrapped once with :func:`as_field`
            so grid colours are cached).
        **params: ``lon0``, ``lat0``, ``size``, ``coastlines``, ``graticule``, ``drag_speed``.

    Example::

        g = Globe(GridField(probs, grid.shape))
        g.on_tap(lambda lon, lat: print(lon, lat))
        pn.panel(g.view()).servable()
    """

    lon0 = param.Number(0.0, bounds=(-180.0, 180.0), doc="Centre longitude (degrees).")
    lat0 = param.Number(20.0, bounds=(-90.0, 90.0), doc="Centre latitude (degrees).")
    size = param.Integer(600, bounds=(16, 4096), doc="Image side in pixels.")
    coastlines = param.Boolean(True)
    graticule = param.Number(30.0, bounds=(0.0, 90.0), doc="Graticule spacing (degrees); 0 hides it.")
    drag_speed = param.Number(90.0, bounds=(0.0, None), doc="Degrees of rotation per sphere radius dragged.")
    drag_interval = param.Number(0.05, bounds=(0.0, None), doc="Minimum seconds between re-renders while dragging.")
    field_version = param.Integer(0, doc="Bumped by set_field to trigger a re-render.")

    def __init__(self, field: Any, shape: Sequence[int] | None = None, field_kw: dict | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.field: GridField | FunctionField = as_field(field, shape, **(field_kw or {}))
        self.last_tap_lonlat: tuple[float, float] | None = None
        self._tap_callbacks: list[Callable[[float, float], Any]] = []
        self._drag_last: tuple[int, float, float, float, float] | None = None
        self._drag_target: tuple[float, float] | None = None
        self._last_drag_render = 0.0
        self._streams: dict[str, Any] = {}
        self.rgb_dmap: Any = None
        self._hooked: set[str] = set()
        self._stroke = 0
        self._views: list[Any] = []  # the ImageViews made by figure()

    # --- data ------------------------------------------------------------------------
    def set_field(self, field: Any, shape: Sequence[int] | None = None, **field_kw: Any) -> None:
        """Replace the field and re-render (e.g. a new training epoch)."""
        self.field = as_field(field, shape, **field_kw)
        self.field_version += 1

    def render(self) -> np.ndarray:
        """``(size, size, 4)`` uint8 RGBA image of the current view (see :func:`render_globe`)."""
        return render_globe(self.field, self.lon0, self.lat0, self.size)

    def lonlat_at(self, x: float, y: float) -> tuple[float, float] | None:
        """Lon/lat degrees under screen point ``(x, y)`` (sphere radii), or None off the disk."""
        if x is None or y is None or not (np.isfinite(x) and np.isfinite(y)) or x * x + y * y > 1.0:
            return None
        lon, lat = _inverse(np.array([float(x)]), np.array([float(y)]), *check_center(self.lon0, self.lat0))
        return float(lon[0]), float(lat[0])

    # --- interaction -----------------------------------------------------------------
    def on_tap(self, fn: Callable[[float, float], Any]) -> None:
        """Register ``fn(lon, lat)`` (degrees), called on every click that hits the globe."""
        if not callable(fn):
            raise TypeError("on_tap needs a callable fn(lon, lat)")
        self._tap_callbacks.append(fn)

    def handle_tap(self, x: float | None = None, y: float | None = None, **_: Any) -> tuple[float, float] | None:
        """Process a click at screen ``(x, y)``: set :attr:`last_tap_lonlat`, call callbacks."""
        ll = self.lonlat_at(x, y) if x is not None and y is not None else None
        if ll is None:
            return None
        self.last_tap_lonlat = ll
        for fn in list(self._tap_callbacks):
            fn(*ll)
        return ll

    def handle_drag(self, x: float | None = None, y: float | None = None, stroke_count: int = 0, *,
                    apply: bool = True, **_: Any) -> None:
        """Rotate for a drag to screen ``(x, y)`` (sphere radii) within stroke ``stroke_count``.

        The first event of a stroke records the start position and view; each later one sets
        ``(lon0, lat0) = start - (x - x_start, y - y_start) * drag_speed`` degrees (lat0
        clamped to ±90), so dropped intermediate events lose nothing. With
        ``apply=False`` the target is only remembered (see :meth:`flush_drag`).
        """
        if x is None or y is None or not (np.isfinite(x) and np.isfinite(y)):
            return
        st = self._drag_last
        if st is None or st[0] != stroke_count:
            self._drag_last = (stroke_count, float(x), float(y), float(self.lon0), float(self.lat0))
            self._drag_target = None
            return
        _, x0, y0, lon_s, lat_s = st
        lon0 = (lon_s - (float(x) - x0) * self.drag_speed + 180.0) % 360.0 - 180.0
        lat0 = float(np.clip(lat_s - (float(y) - y0) * self.drag_speed, -90.0, 90.0))
        self._drag_target = (lon0, lat0)
        if apply:
            self.flush_drag()

    def flush_drag(self) -> None:
        """Apply the pending drag rotation, if any (one re-render)."""
        tgt, self._drag_target = self._drag_target, None
        if tgt is not None and (tgt[0] != self.lon0 or tgt[1] != self.lat0):
            self.param.update(lon0=tgt[0], lat0=tgt[1])

    # --- HoloViews -------------------------------------------------------------------
    def _rgb(self, lon0: float, lat0: float, size: int, field_version: int) -> Any:
        hv = _hv()

        img = render_globe(self.field, lon0, lat0, size)
        return hv.RGB(img, bounds=(-1, -1, 1, 1), kdims=["x", "y"], vdims=["R", "G", "B", "A"])

    def _lines(self, lon0: float, lat0: float, coastlines: bool, graticule: float) -> Any:
        hv = _hv()

        ln = globe_lines(lon0, lat0, coastlines=coastlines, graticule=graticule or None)
        parts = [hv.Path([ln["outline"]], kdims=["x", "y"]).opts(color="#444444", line_width=1)]
        if "graticule" in ln:
            parts.append(hv.Path([ln["graticule"]], kdims=["x", "y"]).opts(color="#888888", line_width=0.5, alpha=0.6))
        if "coastlines" in ln:
            parts.append(hv.Path([ln["coastlines"]], kdims=["x", "y"]).opts(color="black", line_width=1))
        # no default tools on any layer: an overlay merges them, and a pan tool would move the frame
        return hv.Overlay([p.opts(default_tools=[], tools=[]) for p in parts])

    def element(self, width: int | None = None) -> Any:
        """The globe as ``DynamicMap(hv.RGB) * DynamicMap(lines)`` with tap and drag wired.

        Returns:
            A DynamicMap overlaying the RGB DynamicMap (kept as ``self.rgb_dmap``; x/y are
            screen coordinates in sphere radii) and the line-work DynamicMap. The Tap
            stream is ``self.streams["tap"]``; drag rotation is registered on the Bokeh
            figure when the plot is rendered.
        """
        hv = _hv()

        w = int(width or self.size)
        params = hv.streams.Params(self, ["lon0", "lat0", "size", "field_version"])
        rgb = hv.DynamicMap(self._rgb, streams=[params]).opts(
            width=w, height=w, xaxis=None, yaxis=None, default_tools=[], tools=["tap"],
            toolbar=None, data_aspect=1, xlim=(-1.02, 1.02), ylim=(-1.02, 1.02), show_grid=False,
            hooks=[self._pan_hook],
        )  # opts before the streams: .opts on a DynamicMap returns a new object
        tap = hv.streams.Tap(source=rgb, x=np.nan, y=np.nan)
        tap.add_subscriber(lambda x, y: self.handle_tap(x, y))
        self._streams = {"tap": tap}
        self.rgb_dmap = rgb
        lines = hv.DynamicMap(self._lines, streams=[hv.streams.Params(self, ["lon0", "lat0", "coastlines", "graticule"])])
        return rgb * lines

    @property
    def streams(self) -> dict[str, Any]:
        """The ``hv.streams`` wired by the last :meth:`element` call (``"tap"``)."""
        return self._streams

    def _pan_hook(self, plot: Any, element: Any) -> None:
        """HoloViews plot hook: route the figure's Bokeh pan events to :meth:`handle_drag`."""
        from bokeh.models import BoxZoomTool, PanTool, WheelPanTool, WheelZoomTool, ZoomInTool, ZoomOutTool

        fig = plot.state
        # layers overlaid later (markers, paths) bring HoloViews' default pan/zoom tools; they
        # would move the frame instead of rotating the globe, so drop them from the figure
        nav = (PanTool, WheelZoomTool, BoxZoomTool, WheelPanTool, ZoomInTool, ZoomOutTool)
        if any(isinstance(t, nav) for t in fig.tools):
            fig.tools = [t for t in fig.tools if not isinstance(t, nav)]
        self._wire_pan(fig)

    def _wire_pan(self, fig: Any) -> None:
        """Route a Bokeh figure's pan events (screen coordinates) to :meth:`handle_drag`."""
        from bokeh.events import Pan, PanEnd, PanStart

        if fig.id in self._hooked:  # hooks also run on every update
            return
        self._hooked.add(fig.id)

        def on_pan(ev: Any) -> None:
            if ev.sx is None or ev.sy is None:
                return
            w = _frame_px(fig, "inner_width", "width", self.size)
            h = _frame_px(fig, "inner_height", "height", self.size)
            if isinstance(ev, PanStart):
                self._stroke += 1
            # xlim/ylim span 2.04 sphere radii over the frame; screen y grows downwards.
            # Throttled: a re-render at most every `drag_interval` s, the last one on PanEnd.
            now = time.perf_counter()
            apply = isinstance(ev, PanEnd) or now - self._last_drag_render >= self.drag_interval
            self.handle_drag(ev.sx * 2.04 / w, -ev.sy * 2.04 / h, self._stroke, apply=apply)
            if apply:
                self._last_drag_render = time.perf_counter()

        fig.on_event(PanStart, on_pan)
        fig.on_event(Pan, on_pan)
        fig.on_event(PanEnd, on_pan)

    # --- plain Bokeh ------------------------------------------------------------------
    def _line_work(self) -> dict[str, np.ndarray]:
        ln = globe_lines(self.lon0, self.lat0, coastlines=True, graticule=self.graticule or 30.0)
        if not self.coastlines:
            ln["coastlines"] = np.full((1, 2), np.nan)
        if not self.graticule:
            ln["graticule"] = np.full((1, 2), np.nan)
        return ln

    def figure(self, width: int | None = None) -> Any:
        """The globe as a plain Bokeh figure that is updated in place (no HoloViews re-render).

        Changing ``lon0``/``lat0``/``size``/``coastlines``/``graticule`` or calling
        :meth:`set_field` re-renders the image (numba kernel, a few ms at 300 px) and
        replaces the data of the figure's sources; clicks go to :meth:`handle_tap` and drags
        rotate, as with :meth:`element`. Use it for views that change many times a second
        (live training). Each call returns a new figure (one per Bokeh document).

        Args:
            width: figure side in pixels (default ``size``).

        Returns:
            a Bokeh ``Plot``; x/y are screen coordinates in sphere radii.
        """
        from bokeh.events import Tap

        from .live import ImageView

        w = int(width or self.size)
        view = ImageView(self.render(), (-1.0, -1.0, 1.0, 1.0), frame=(-1.02, -1.02, 1.02, 1.02), width=w,
                         height=w, axes=False, lines=self._line_work(),
                         line_styles={"outline": {"color": "#444444", "line_width": 1},
                                      "graticule": {"color": "#888888", "line_width": 0.5, "alpha": 0.6},
                                      "coastlines": {"color": "black", "line_width": 1}})
        view.figure.on_event(Tap, lambda ev: self.handle_tap(ev.x, ev.y))
        self._wire_pan(view.figure)
        if not self._views:
            self.param.watch(self._refresh_views, ["lon0", "lat0", "size", "field_version", "coastlines",
                                                   "graticule"])
        self._views.append(view)
        return view.figure

    @property
    def views(self) -> list[Any]:
        """The :class:`~geoviz.viz.live.ImageView` objects made by :meth:`figure`."""
        return list(self._views)

    def _refresh_views(self, *events: Any) -> None:
        views = self.views
        if not views:
            return
        img = self.render()
        moved = any(e.name in ("lon0", "lat0", "coastlines", "graticule") for e in events)
        lines = self._line_work() if moved else None
        for v in views:
            v.update(img)
            if lines is not None:
                v.set_lines(lines)

    def view(self, width: int | None = None) -> Any:
        """A Panel layout: lon0/lat0 sliders, the globe, and the last clicked lon/lat."""
        import panel as pn

        # A widget, not a Markdown pane: Panel re-sends an HTML pane's whole property set on
        # every update, stylesheets included, as CDN URLs that an offline notebook cannot load
        # (the initial inline render does not cover later comm updates); a widget sends only its text.
        status = pn.widgets.StaticText(value="click the globe")

        def _show(lon: float, lat: float) -> None:
            status.value = f"clicked lon={lon:.2f}, lat={lat:.2f}"

        self.on_tap(_show)
        controls = pn.Param(self, parameters=["lon0", "lat0", "coastlines", "graticule"], show_name=False)
        return pn.Row(controls, pn.Column(pn.pane.HoloViews(self.element(width)), status))
