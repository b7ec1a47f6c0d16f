"""Bokeh views that update in place, for views that change many times a second.

A HoloViews ``DynamicMap`` re-renders its element on every update: it rebuilds the
element, recomputes ranges and walks the plot's option machinery, about 100 ms of
GIL-holding Python per map frame. During live training that is most of a server's time,
and it stalls the event loop of every session. The views here keep plain Bokeh figures
and replace only the data of their ``ColumnDataSource`` (an image is sent as one binary
buffer; curves are appended with ``stream``), which costs a few milliseconds.

* :class:`ImageView` -- an RGBA image over fixed lon/lat (or screen) bounds, with optional
  NaN-separated line work on top (coastlines);
* :class:`CurvesView` -- loss and accuracy curves that grow by ``stream``;
* :meth:`geoviz.viz.Globe.figure` -- the rotatable, clickable globe as a Bokeh figure
  (built on :class:`ImageView`).

Images use the row order of :func:`geoviz.viz.colorize` / :func:`geoviz.viz.render_globe`
(row 0 at the top); Bokeh's ``image_rgba`` puts row 0 at the bottom, so rows are flipped
when packed.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

__all__ = ["pack_rgba", "ImageView", "CurvesView", "apply_to_document", "TITLE_FONT_SIZE"]

TITLE_FONT_SIZE = "10pt"
"""Font size of the titles of these views (about Bokeh's default 13px), set explicitly: see :func:`_title`."""


def _title(text: str, font_size: str = TITLE_FONT_SIZE) -> Any:
    """A Bokeh ``Title`` whose font size is set explicitly. A theme changes only properties that
    were not set: HoloViews puts a theme with 12pt titles on the document whenever a HoloViews
    plot is shown (the Smoothness tab), and titles left at the default grew after a visit there.
    (Bokeh does not record a value equal to the default as set, so the size is not ``"13px"``.)"""
    from bokeh.models import Title

    return Title(text=str(text), text_font_size=font_size, text_font_style="bold")


def apply_to_document(model: Any, fn: Callable[[], None]) -> None:
    """Run ``fn`` (which changes ``model``) where Bokeh allows it.

    In a Bokeh/Panel server session a document may only change while its lock is held;
    ``Document.add_next_tick_callback`` is the one thread-safe entry point and runs ``fn``
    under the lock on the next event-loop tick. Outside a server session (notebooks,
    tests, no document) ``fn`` runs at once.
    """
    doc = getattr(model, "document", None)
    if doc is None or getattr(doc, "session_context", None) is None:
        fn()
        return
    doc.add_next_tick_callback(fn)


def pack_rgba(rgba: np.ndarray) -> np.ndarray:
    """``(H, W, 4)`` uint8 RGBA, row 0 at the top → ``(H, W)`` uint32 for Bokeh's ``image_rgba``
    (row 0 at the bottom). ``(H, W, 3)`` gets an opaque alpha channel."""
    a = np.asarray(rgba)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.dtype != np.uint8:
        raise ValueError(f"rgba must be an (H, W, 3|4) uint8 array, got {a.shape} {a.dtype}")
    if a.shape[2] == 3:
        a = np.concatenate([a, np.full(a.shape[:2] + (1,), 255, np.uint8)], axis=2)
    return np.ascontiguousarray(a[::-1]).view(np.uint32).reshape(a.shape[:2])


class ImageView:
    """A Bokeh figure showing one RGBA image over fixed bounds, replaced in place by :meth:`update`.

    Args:
        rgba: initial ``(H, W, 3|4)`` uint8 image, row 0 at the top.
        bounds: ``(left, bottom, right, top)`` in data units (degrees for a flat map).
        width, height: figure size in pixels.
        title: figure title.
        lines: ``{name: (K, 2) array}`` NaN-separated polylines drawn over the image (e.g.
            ``{"coastlines": nan_join(coastline_paths())}``), updatable with :meth:`set_lines`.
        line_styles: ``{name: {"color": ..., "line_width": ..., "alpha": ...}}``.
        axes: show axes (flat maps) or not (globe).
        frame: ``(left, bottom, right, top)`` of the visible ranges (default ``bounds``).
        points: names of point layers (filled with :meth:`set_points`, e.g. training points).
        colorbar: ``{"palette": [hex, ...], "low": 0, "high": 1, "title": "P(land)", "ticks":
            [...], "labels": {tick: text}}`` adds a horizontal colour bar below the plot
            (changed later with :meth:`set_colorbar`).
        save_tool: a toolbar with Bokeh's save-as-PNG tool (the whole figure, colour bar included).
        responsive: the figure takes its container's width (at least 200 px) and, in the
            browser, sets its frame height so that both axes keep the same scale: a
            360° × 180° map stays a true 2:1 at any width (``height`` is then unused).
        title_font_size: the title's CSS font size, set explicitly: a document theme (HoloViews
            sets 12pt titles on the whole document when another tab shows a HoloViews plot)
            then leaves it alone.

    Attributes:
        figure: the Bokeh ``Plot``; ``source`` its image ``ColumnDataSource``; ``renderers``
        the line and point layers by name; ``color_bar`` the ``ColorBar`` or None.
    """

    def __init__(self, rgba: np.ndarray, bounds: Sequence[float], *, width: int = 620, height: int = 330,
                 title: str = "", lines: Mapping[str, np.ndarray] | None = None,
                 line_styles: Mapping[str, Mapping[str, Any]] | None = None, axes: bool = True,
                 x_label: str = "lon", y_label: str = "lat",
                 frame: Sequence[float] | None = None, points: Sequence[str] = (),
                 colorbar: Mapping[str, Any] | None = None, save_tool: bool = False,
                 responsive: bool = False, title_font_size: str = TITLE_FONT_SIZE) -> None:
        from bokeh.models import ColumnDataSource, ImageRGBA, Line, LinearAxis, Plot, Range1d, SaveTool, Scatter

        left, bottom, right, top = (float(v) for v in bounds)
        self.bounds = (left, bottom, right, top)
        fl, fb, fr, ft = (float(v) for v in (frame or bounds))
        extra: dict[str, Any] = {}
        if responsive:
            # the plot takes its container's width; its frame height follows the frame width in
            # the browser (CustomJS on inner_width), so the data scales stay equal: a 360° x 180°
            # map is a true 2:1 at any width, with no padding
            extra = {"sizing_mode": "stretch_width", "min_width": 200,
                     "frame_height": max(50, int(round((int(width) - 60) * (ft - fb) / (fr - fl))))}
        # a bare Plot (no default tools, grids or toolbar): about half the models of figure()
        self.figure = Plot(width=int(width), height=int(height), x_range=Range1d(fl, fr), y_range=Range1d(fb, ft),
                           toolbar_location="above" if save_tool else None, min_border=5, **extra)
        fig = self.figure
        if responsive:
            from bokeh.models import CustomJS

            fig.js_on_change("inner_width", CustomJS(args={"ratio": (ft - fb) / (fr - fl)}, code="""
                const h = Math.max(50, Math.round(cb_obj.inner_width * ratio));
                if (Math.abs(cb_obj.frame_height - h) > 1) { cb_obj.frame_height = h; }
            """))
        if save_tool:
            fig.add_tools(SaveTool())
            fig.toolbar.logo = None
        self.title_font_size = str(title_font_size)
        if title:
            fig.title = _title(title, self.title_font_size)
        if axes:
            fig.add_layout(LinearAxis(axis_label=x_label), "below")
            fig.add_layout(LinearAxis(axis_label=y_label), "left")
        else:
            fig.outline_line_color = None
        self._pending_image = pack_rgba(rgba)
        self.source = ColumnDataSource({"image": [self._pending_image]})
        fig.add_glyph(self.source, ImageRGBA(image="image", x=left, y=bottom, dw=right - left, dh=top - bottom))
        self.line_sources: dict[str, Any] = {}
        self.renderers: dict[str, Any] = {}
        styles = dict(line_styles or {})
        for name, xy in (lines or {}).items():
            xy = np.asarray(xy, dtype=np.float64)
            src = ColumnDataSource({"x": xy[:, 0], "y": xy[:, 1]})
            st = {"color": "black", "line_width": 0.8, **styles.get(name, {})}
            self.renderers[name] = fig.add_glyph(src, Line(x="x", y="y", line_color=st["color"],
                                                           line_width=st["line_width"], line_alpha=st.get("alpha", 1.0)))
            self.line_sources[name] = src
        self.point_sources: dict[str, Any] = {}
        for name in points:
            src = ColumnDataSource({"x": [], "y": [], "color": []})
            self.renderers[name] = fig.add_glyph(src, Scatter(x="x", y="y", size=4, fill_color="color",
                                                              line_color="white", line_width=0.5))
            self.point_sources[name] = src
        self.color_bar: Any = None
        if colorbar is not None:
            self._add_colorbar(**colorbar)

    def _add_colorbar(self, palette: Sequence[str], low: float, high: float, title: str = "",
                      ticks: Sequence[float] | None = None, labels: Mapping[float, str] | None = None) -> None:
        from bokeh.models import ColorBar, FixedTicker, LinearColorMapper

        mapper = LinearColorMapper(palette=list(palette), low=float(low), high=float(high))
        self.color_bar = ColorBar(color_mapper=mapper, title=title, orientation="horizontal", height=10,
                                  location="center", padding=4, title_standoff=4,
                                  ticker=FixedTicker(ticks=list(ticks if ticks is not None else [low, (low + high) / 2, high])),
                                  major_label_overrides=dict(labels or {}))
        self.figure.add_layout(self.color_bar, "below")

    def set_colorbar(self, palette: Sequence[str], low: float, high: float, title: str = "",
                     ticks: Sequence[float] | None = None, labels: Mapping[float, str] | None = None) -> None:
        """Change the colour bar (made with ``colorbar=``): ``palette`` hex colours spread from
        ``low`` to ``high``, ticks at ``ticks`` (default low, middle, high) labelled by
        ``labels`` (default their values); safe from any thread."""
        if self.color_bar is None:
            raise ValueError("this ImageView has no colour bar (pass colorbar= at construction)")
        cb = self.color_bar
        ticks = list(ticks if ticks is not None else [low, (low + high) / 2, high])

        def apply() -> None:
            cb.color_mapper.update(palette=list(palette), low=float(low), high=float(high))
            cb.ticker.ticks = ticks
            cb.major_label_overrides = dict(labels or {})
            cb.title = title

        apply_to_document(self.figure, apply)

    def set_points(self, name: str, lonlat: np.ndarray, colors: Sequence[str]) -> None:
        """Show ``(N, 2)`` points (data units) coloured ``colors`` (N hex strings) as layer ``name``
        (given in ``points=`` at construction); safe from any thread."""
        xy = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
        if len(colors) != len(xy):
            raise ValueError(f"{len(xy)} points but {len(colors)} colours")
        src = self.point_sources[name]
        data = {"x": xy[:, 0], "y": xy[:, 1], "color": list(colors)}
        apply_to_document(src, lambda: setattr(src, "data", data))

    def set_visible(self, name: str, visible: bool) -> None:
        """Show or hide the line or point layer ``name``; safe from any thread."""
        r = self.renderers[name]
        apply_to_document(r, lambda: setattr(r, "visible", bool(visible)))

    def set_title(self, text: str) -> None:
        """Replace the figure title; safe from any thread."""
        fig = self.figure

        def apply() -> None:
            if fig.title is None:
                fig.title = _title(text, self.title_font_size)
            else:
                fig.title.text = text
                fig.title.text_font_size = self.title_font_size

        apply_to_document(fig, apply)

    def update(self, rgba: np.ndarray) -> None:
        """Show a new image (same bounds; the shape may change); safe from any thread."""
        packed = pack_rgba(rgba)
        self._pending_image = packed  # only the newest image is sent if updates pile up

        def apply() -> None:
            if self._pending_image is packed:
                self.source.data = {"image": [packed]}

        apply_to_document(self.source, apply)

    def set_lines(self, lines: Mapping[str, np.ndarray]) -> None:
        """Replace the polylines named in ``lines`` (names given at construction); safe from any thread."""
        new = {name: np.asarray(xy, dtype=np.float64) for name, xy in lines.items()}

        def apply() -> None:
            for name, xy in new.items():
                self.line_sources[name].data = {"x": xy[:, 0], "y": xy[:, 1]}

        apply_to_document(self.figure, apply)

    @property
    def image(self) -> np.ndarray:
        """The latest image as ``(H, W, 4)`` uint8, row 0 at the top (for tests)."""
        packed = self._pending_image
        return np.ascontiguousarray(packed).view(np.uint8).reshape(packed.shape + (4,))[::-1]


class CurvesView:
    """Training curves: a loss figure (train and validation) and a validation-metric figure
    (accuracy, or R² for regression), with the previous run's curves dashed for comparison.

    The legend lists only lines that are drawn: Bokeh draws no sample glyph for a renderer
    without data, so an entry for an empty line (no run yet, no previous run) would be a
    label without a glyph; those entries are hidden until their line has points.

    Args:
        width, height: size of each figure in pixels (``responsive``: the minimum width;
            the figures stretch to their container's width).
        save_tool: put a save-as-PNG tool on each figure.

    Attributes:
        loss_figure, accuracy_figure: the Bokeh plots; ``source`` their shared
            ``ColumnDataSource`` with columns ``epoch, train_loss, val_loss, val_accuracy,
            val_r2`` (accuracy as a fraction, shown in percent; R² of regression runs);
            ``previous`` the same for the previous run (see :meth:`keep_as_previous`);
            ``metric``: the column the second figure draws (:meth:`set_metric`);
            ``legend_items``: ``{"train", "val", "previous_loss", "this_run",
            "previous_metric"}`` → the Bokeh ``LegendItem``.
    """

    COLUMNS = ("epoch", "train_loss", "val_loss", "val_accuracy", "val_r2")
    TITLES = {"accuracy": "Validation accuracy", "r2": "Validation R²"}

    def __init__(self, *, width: int = 460, height: int = 220, save_tool: bool = False,
                 responsive: bool = False) -> None:
        from bokeh.models import (BasicTicker, ColumnDataSource, DataRange1d, Legend, LegendItem, Line, LinearAxis,
                                  NumeralTickFormatter, Plot, SaveTool)

        self.source = ColumnDataSource({c: [] for c in self.COLUMNS})
        self.previous = ColumnDataSource({c: [] for c in self.COLUMNS})

        def plot(title: str, ylabel: str) -> Any:
            extra: dict[str, Any] = {"sizing_mode": "stretch_width", "min_width": int(width)} if responsive else {}
            p = Plot(width=int(width), height=int(height), x_range=DataRange1d(), y_range=DataRange1d(),
                     toolbar_location="above" if save_tool else None, min_border=5, **extra)
            if save_tool:
                p.add_tools(SaveTool())
                p.toolbar.logo = None
            p.title = _title(title)
            # whole epochs only (no 1.5, 2.5 ticks early in a run)
            p.add_layout(LinearAxis(axis_label="epoch", ticker=BasicTicker(min_interval=1)), "below")
            p.add_layout(LinearAxis(axis_label=ylabel), "left")
            return p

        def line(p: Any, y: str, color: str, previous: bool = False) -> Any:
            if previous:
                return p.add_glyph(self.previous, Line(x="epoch", y=y, line_color=color, line_width=1.5,
                                                       line_dash="dashed", line_alpha=0.7))
            return p.add_glyph(self.source, Line(x="epoch", y=y, line_color=color, line_width=2))

        self.loss_figure = plot("Loss", "loss")
        r1 = line(self.loss_figure, "train_loss", "#1f77b4")
        r2 = line(self.loss_figure, "val_loss", "#ff7f0e")
        p1 = line(self.loss_figure, "train_loss", "#1f77b4", previous=True)
        p2 = line(self.loss_figure, "val_loss", "#ff7f0e", previous=True)
        self.legend_items = {"train": LegendItem(label="train loss", renderers=[r1], visible=False),
                             "val": LegendItem(label="val loss", renderers=[r2], visible=False),
                             "previous_loss": LegendItem(label="previous run (dashed)", renderers=[p1, p2],
                                                         visible=False)}
        self._loss_legend = Legend(items=[self.legend_items[k] for k in ("train", "val", "previous_loss")],
                                   location="top_right", background_fill_alpha=0.6, visible=False)
        self.loss_figure.add_layout(self._loss_legend)
        self.accuracy_figure = plot(self.TITLES["accuracy"], "accuracy")
        # accuracy is a fraction in the data and shown in percent, as in the status line
        self.accuracy_figure.left[0].formatter = NumeralTickFormatter(format="0%")
        a1 = line(self.accuracy_figure, "val_accuracy", "#22aa77")
        a2 = line(self.accuracy_figure, "val_accuracy", "#22aa77", previous=True)
        self._metric_renderers = (a1, a2)
        self.metric = "accuracy"
        self.legend_items["this_run"] = LegendItem(label="this run", renderers=[a1], visible=False)
        self.legend_items["previous_metric"] = LegendItem(label="previous run", renderers=[a2], visible=False)
        self._metric_legend = Legend(items=[self.legend_items["this_run"], self.legend_items["previous_metric"]],
                                     location="bottom_right", background_fill_alpha=0.6, visible=False)
        self.accuracy_figure.add_layout(self._metric_legend)

    def _sync_legends(self) -> None:
        """Show the legend entries whose lines have points (document lock held)."""
        now = len(self.source.data["epoch"]) > 0
        before = len(self.previous.data["epoch"]) > 0
        items = self.legend_items
        for key, shown in (("train", now), ("val", now), ("this_run", now), ("previous_loss", before),
                           ("previous_metric", before)):
            if items[key].visible != shown:
                items[key].visible = shown
        for legend, keys in ((self._loss_legend, ("train", "val", "previous_loss")),
                             (self._metric_legend, ("this_run", "previous_metric"))):
            shown = any(items[k].visible for k in keys)
            if legend.visible != shown:
                legend.visible = shown

    def set_metric(self, metric: str) -> None:
        """Draw ``"accuracy"`` (classification, in percent) or ``"r2"`` (regression, R² of the
        validation split) in the second figure, titled ``"Validation accuracy"`` or
        ``"Validation R²"``; safe from any thread."""
        from bokeh.models import BasicTickFormatter, NumeralTickFormatter

        if metric not in self.TITLES:
            raise ValueError(f"metric must be 'accuracy' or 'r2', got {metric!r}")
        self.metric = metric
        fig = self.accuracy_figure
        column = "val_accuracy" if metric == "accuracy" else "val_r2"

        def apply() -> None:
            for r in self._metric_renderers:
                if r.glyph.y != column:
                    r.glyph.y = column
            fig.title.text = self.TITLES[metric]
            fig.left[0].axis_label = "accuracy" if metric == "accuracy" else "R²"
            fig.left[0].formatter = (NumeralTickFormatter(format="0%") if metric == "accuracy"
                                     else BasicTickFormatter())

        apply_to_document(fig, apply)

    def stream(self, rows: Sequence[Mapping[str, float]]) -> None:
        """Append ``rows`` (dicts with the columns; missing ones are NaN) to both figures; safe from any thread."""
        if rows:
            new = {c: [float(r.get(c, np.nan)) for r in rows] for c in self.COLUMNS}

            def apply() -> None:
                self.source.stream(new)
                self._sync_legends()

            apply_to_document(self.source, apply)

    def clear(self) -> None:
        """Remove every point of the current run (a new run starts); safe from any thread."""

        def apply() -> None:
            self.source.data = {c: [] for c in self.COLUMNS}
            self._sync_legends()

        apply_to_document(self.source, apply)

    def clear_previous(self) -> None:
        """Remove the dashed previous run (another task or metric: not comparable); safe from any thread."""

        def apply() -> None:
            self.previous.data = {c: [] for c in self.COLUMNS}
            self._sync_legends()

        apply_to_document(self.source, apply)

    def reset(self) -> None:
        """Remove both the current and the previous run (the task changed); safe from any thread."""

        def apply() -> None:
            self.source.data = {c: [] for c in self.COLUMNS}
            self.previous.data = {c: [] for c in self.COLUMNS}
            self._sync_legends()

        apply_to_document(self.source, apply)

    def keep_as_previous(self, rows: Sequence[Mapping[str, float]] | None = None) -> None:
        """Move the current curves to the dashed "previous run" lines and clear them (a new
        run of the same task and metric starts; the run before the previous one is dropped);
        ``rows``: the previous run's rows instead (its curves were cleared meanwhile, e.g. by
        a visit to another task); safe from any thread."""
        prev = None if rows is None else {c: [float(r.get(c, np.nan)) for r in rows] for c in self.COLUMNS}

        def apply() -> None:
            self.previous.data = prev if prev is not None else {c: list(self.source.data[c]) for c in self.COLUMNS}
            self.source.data = {c: [] for c in self.COLUMNS}
            self._sync_legends()

        apply_to_document(self.source, apply)

    @property
    def data(self) -> dict[str, np.ndarray]:
        """The curves' data as ``{column: (n,) float64}`` (for tests)."""
        return {c: np.asarray(self.source.data[c], dtype=np.float64) for c in self.COLUMNS}

    @property
    def previous_data(self) -> dict[str, np.ndarray]:
        """The previous run's curves as ``{column: (n,) float64}`` (for tests)."""
        return {c: np.asarray(self.previous.data[c], dtype=np.float64) for c in self.COLUMNS}
