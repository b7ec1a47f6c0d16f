"""Embeddings tab: pretrained location embeddings as PCA colours, clusters and click-to-query.

A model (geoviz's embedded default, a named pretrained model, or a SatCLIP checkpoint the
user points to) is embedded once on a global grid (:func:`geoviz.embed.embed_grid`, disk
cache; the prepared views are also kept in a small per-process cache shared by sessions).
Everything slow (loading, embedding, PCA, k-means, zone look-ups) runs in a worker
thread; bad input (missing or unloadable checkpoint, impossible settings) becomes a
message in the page.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import views

__all__ = ["EmbeddingsTab", "Prepared", "prepare_embeddings", "model_options", "DEFAULT_MODEL", "SATCLIP_FILE"]

DEFAULT_MODEL = "geoviz-bluemarble-l10"
SATCLIP_FILE = "satclip-file"
"""Model-selector value meaning "a SatCLIP checkpoint at the path typed by the user"."""

_PREPARED: "OrderedDict[tuple, Prepared]" = OrderedDict()
_PREPARED_MAX = 3
_PREPARED_LOCK = threading.Lock()
_THUMB_PX = 48


@dataclass
class Prepared:
    """A model embedded on a grid, with the views derived from it.

    Attributes:
        label: model name (or checkpoint file name).
        model: the location encoder (eval mode).
        grid: :class:`geoviz.embed.EmbeddingGrid` (``(H*W, D)`` float32 embeddings).
        rgb: ``(H*W, 3)`` PCA colours in [0, 1].
        koppen: ``(H*W,)`` Köppen–Geiger codes (32 = ocean).
        land: ``(H*W,)`` bool, Köppen zone is not ocean.
        index: :class:`geoviz.analysis.SimilarityIndex` over the grid (exact-location queries).
    """

    label: str
    model: Any
    grid: Any
    rgb: np.ndarray
    koppen: np.ndarray
    land: np.ndarray
    index: Any


def model_options() -> dict[str, str]:
    """Selector entries ``{label: value}``: the named pretrained models (marked cached or not) and a SatCLIP file."""
    from geoviz.pretrained import get_model_info, is_available, list_pretrained

    names = list_pretrained()
    names = [DEFAULT_MODEL] + [n for n in names if n != DEFAULT_MODEL] if DEFAULT_MODEL in names else names
    out: dict[str, str] = {}
    for n in names:
        info = get_model_info(n)
        ok = is_available(n)
        if n == DEFAULT_MODEL:
            tag = "embedded default"
        elif info.family == "satclip":
            tag = "cached" if ok else "not downloaded"
        elif info.family == "geoclip":
            tag = "installed" if ok else "not installed"
        else:
            tag = "shipped" if ok else "missing"
        out[f"{n} ({tag})"] = n
    out["SatCLIP checkpoint file (path below)"] = SATCLIP_FILE
    return out


def _short(exc: BaseException, limit: int = 300) -> str:
    """First line of an exception message, at most ``limit`` characters (for in-page messages)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _load_model(spec: str, path: str) -> tuple[Any, str]:
    """Worker: load a model. Raises ValueError with a user-facing message on any failure."""
    from geoviz.pretrained import get_model_info, load_pretrained, load_satclip

    if spec == SATCLIP_FILE:
        p = (path or "").strip()
        if not p:
            raise ValueError("Enter the path of a SatCLIP checkpoint (.ckpt) to load it.")
        f = Path(p).expanduser()
        if not f.exists():
            raise ValueError(f"Checkpoint not found: {p!r} does not exist on the server.")
        if not f.is_file():
            raise ValueError(f"Checkpoint path {p!r} is not a file.")
        try:
            return load_satclip(f), f.name
        except (ValueError, TypeError, KeyError, RuntimeError, OSError, EOFError) as exc:
            raise ValueError(f"{f.name} could not be loaded as a SatCLIP checkpoint: {_short(exc)}") from exc
    info = get_model_info(spec)
    try:
        return load_pretrained(spec, download=False), spec
    except FileNotFoundError as exc:
        if info.family == "satclip":
            raise ValueError(f"{spec} is not downloaded yet: tick the consent box and press Download "
                             f"(or run `geoviz download {spec}`).") from exc
        raise ValueError(f"{spec} is not available here: {_short(exc)}") from exc
    except (ValueError, TypeError, RuntimeError, OSError) as exc:
        raise ValueError(f"{spec} could not be loaded: {_short(exc)}") from exc


def _spacing_for(model: Any) -> float:
    """Grid spacing: the SH band limit's (:func:`geoviz.embed.grid_spacing_for`), at most 2°; 2° otherwise."""
    from geoviz.embed import grid_spacing_for

    L = getattr(getattr(model, "positional_encoding", None), "legendre_polys", None)
    if L is None:
        L = getattr(getattr(model, "pe", None), "legendre_polys", None)
    sp = grid_spacing_for(int(L)) if isinstance(L, (int, np.integer)) and L > 0 else 2.0
    return float(min(sp, 2.0))


def prepare_embeddings(spec: str = DEFAULT_MODEL, path: str = "") -> Prepared:
    """Load ``spec`` (or the SatCLIP file ``path``), embed a global grid and derive PCA colours and zones.

    Runs in a worker thread (torch limited to one thread there); results are cached per process.

    Raises:
        ValueError: a user-facing message (missing/unloadable checkpoint, model not installed).
    """
    import torch

    from geoviz.analysis import SimilarityIndex, pca_rgb
    from geoviz.data.zones import KOPPEN_OCEAN, koppen_zones
    from geoviz.embed import embed_grid

    key_path = ""
    if spec == SATCLIP_FILE:
        f = Path((path or "").strip()).expanduser()
        key_path = f"{f.resolve()}:{f.stat().st_mtime_ns}" if f.is_file() else str(f)
    key = (spec, key_path)
    with _PREPARED_LOCK:
        if key in _PREPARED:
            _PREPARED.move_to_end(key)
            return _PREPARED[key]
    torch.set_num_threads(1)
    model, label = _load_model(spec, path)
    eg = embed_grid(model, _spacing_for(model))
    rgb = pca_rgb(eg.embeddings)
    kg = koppen_zones(eg.lonlat)
    prep = Prepared(label, model, eg, rgb, kg, kg != KOPPEN_OCEAN, SimilarityIndex(eg, model=model))
    with _PREPARED_LOCK:
        _PREPARED[key] = prep
        while len(_PREPARED) > _PREPARED_MAX:
            _PREPARED.popitem(last=False)
    return prep


def _clusters(prep: Prepared, k: int) -> tuple[np.ndarray, dict[str, float]]:
    """Worker: k-means on land cells and its agreement with Köppen zones / MODIS classes."""
    import torch

    from geoviz.analysis import agreement_with_zones, kmeans_clusters

    torch.set_num_threads(1)
    labels = kmeans_clusters(prep.grid.embeddings, int(k), mask=prep.land)
    return labels, agreement_with_zones(prep.grid.lonlat, labels, land=prep.land)


def _schedule(coro_fn: Any) -> None:
    """Run ``coro_fn()`` on the session's event loop (thread-safe: watchers may run in Panel's
    thread pool); outside a server session run it to completion now."""
    import panel as pn

    doc = pn.state.curdoc
    if doc is not None and doc.session_context is not None:
        doc.add_next_tick_callback(coro_fn)
    else:
        pn.state.execute(coro_fn)


class EmbeddingsTab:
    """Widgets and state of the *Embeddings* tab (one per session).

    Attributes:
        prepared: the loaded :class:`Prepared` model views, or None.
        clusters: ``(H*W,)`` k-means labels (-1 on ocean) or None; ``agreement`` their AMI scores.
        clicked: last clicked ``(lon, lat)`` or None; ``result`` the last
            :class:`geoviz.analysis.QueryResult`.
        error: the message shown for bad input, or ``""``.
        layout: the Panel object of the tab.
    """

    def __init__(self, *, globe_size: int = 300) -> None:
        import holoviews as hv
        import panel as pn

        from geoviz.viz import Globe, GridField, coastlines_element

        from .views import ensure_extension

        ensure_extension()
        self.prepared: Prepared | None = None
        self.clusters: np.ndarray | None = None
        self.agreement: dict[str, float] | None = None
        self.clicked: tuple[float, float] | None = None
        self.result: Any = None
        self.error = ""
        self.loading = False
        self._load_task: Any = None

        self.model = pn.widgets.Select(label="Model", options=model_options(), value=DEFAULT_MODEL)
        self.path = pn.widgets.TextInput(label="SatCLIP checkpoint path (.ckpt)", placeholder="/path/to/satclip.ckpt",
                                         disabled=True)
        self.load_button = pn.widgets.Button(label="Load model", color="primary")
        self.colour_by = pn.widgets.RadioButtonGroup(label="Colour by", options=["PCA-RGB", "Clusters", "Similarity"],
                                                     value="PCA-RGB")
        self.k = pn.widgets.IntSlider(label="k (clusters)", start=2, end=30, value=8)
        self.top_k = pn.widgets.IntSlider(label="Top-k similar locations", start=1, end=20, value=8)
        self.consent = pn.widgets.Checkbox(label="I agree to download this checkpoint from its public source",
                                           value=False)
        self.download_name = pn.widgets.Select(label="Download a SatCLIP model", options=self._downloadable())
        self.download_button = pn.widgets.Button(label="Download", disabled=True)
        self.message = pn.pane.Alert("", alert_type="danger", visible=False)
        self.status = pn.pane.Markdown("Loading the embedded default model when this tab opens…")
        self.models_table = pn.pane.Markdown(self._models_markdown())
        self.agreement_md = pn.pane.Markdown("")
        self.results_html = pn.pane.HTML("<i>Click the map or the globe to find the most similar locations.</i>")

        blank = np.full((90, 180, 4), 220, np.uint8)
        self.flat_pipe = hv.streams.Pipe(data=blank)
        self.cluster_pipe = hv.streams.Pipe(data=blank)
        self.koppen_pipe = hv.streams.Pipe(data=blank)
        self.marker_pipe = hv.streams.Pipe(data={"query": np.zeros((0, 2)), "hits": np.zeros((0, 2))})
        flat_opts = dict(width=600, height=300, xlim=(-180, 180), ylim=(-90, 90), tools=["tap"])
        self.flat_dmap = hv.DynamicMap(lambda data: views.rgb_element(data, views.FLAT_BOUNDS, x="lon", y="lat"),
                                       streams=[self.flat_pipe]).opts(title="Embedding (click to query)", **flat_opts)
        self.flat_tap = hv.streams.Tap(source=self.flat_dmap, x=np.nan, y=np.nan)
        self.flat_tap.add_subscriber(self._on_flat_tap)
        markers = hv.DynamicMap(self._flat_markers, streams=[self.marker_pipe])
        coast = coastlines_element(line_width=0.6)
        self.globe = Globe(GridField(np.full((90, 180), 0.5)), size=globe_size, lon0=10.0, lat0=30.0)
        self.globe.on_tap(self.query)
        globe_markers = hv.DynamicMap(self._globe_markers, streams=[
            self.marker_pipe, hv.streams.Params(self.globe, ["lon0", "lat0"])])
        small = dict(width=420, height=210, xlim=(-180, 180), ylim=(-90, 90))
        clusters = hv.DynamicMap(lambda data: views.rgb_element(data, views.FLAT_BOUNDS, x="lon", y="lat"),
                                 streams=[self.cluster_pipe]).opts(title="k-means clusters (land)", **small)
        koppen = hv.DynamicMap(lambda data: views.rgb_element(data, views.FLAT_BOUNDS, x="lon", y="lat"),
                               streams=[self.koppen_pipe]).opts(title="Köppen–Geiger zones", **small)

        self.flat_pane = pn.pane.HoloViews(self.flat_dmap * coast * markers, linked_axes=False)
        self.globe_pane = pn.pane.HoloViews(self.globe.element() * globe_markers, linked_axes=False)
        self.zones_row = pn.Row(pn.pane.HoloViews(clusters * coast, linked_axes=False),
                                pn.pane.HoloViews(koppen * coast, linked_axes=False))

        self.model.param.watch(self._on_model, "value")
        self.load_button.on_click(self._on_load)
        self.colour_by.param.watch(lambda e: self._redraw(), "value")
        self.k.param.watch(self._on_k, "value")
        self.top_k.param.watch(lambda e: self.clicked and self.query(*self.clicked), "value")
        self.consent.param.watch(self._sync_download, "value")
        self.download_name.param.watch(self._sync_download, "value")
        self.download_button.on_click(self._on_download)

        controls = pn.Column(self.model, self.path, self.load_button, self.colour_by, self.k, self.top_k,
                             "#### Pretrained models", self.models_table, self.download_name,
                             self.consent, self.download_button, width=320)
        self.layout = pn.Row(controls, pn.Column(
            self.message, self.status, pn.Row(self.flat_pane, self.globe_pane), self.zones_row, self.agreement_md,
            "**Most similar locations** (cosine similarity of embeddings; Blue Marble patches)", self.results_html))

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _downloadable() -> list[str]:
        from geoviz.pretrained import is_available, list_pretrained

        return [n for n in list_pretrained("satclip") if not is_available(n)]

    @staticmethod
    def _models_markdown() -> str:
        from geoviz.pretrained import get_model_info, is_available, list_pretrained

        rows = ["| model | family | available here |", "|---|---|---|"]
        for n in list_pretrained():
            info = get_model_info(n)
            ok = is_available(n)
            where = ("✓ cached" if ok else "✗ not downloaded") if info.family == "satclip" else \
                ("✓" if ok else "✗ not installed")
            rows.append(f"| {n} | {info.family} | {where} |")
        return "\n".join(rows)

    def _refresh_models(self) -> None:
        value = self.model.value
        self.model.options = model_options()
        self.model.value = value
        self.models_table.object = self._models_markdown()
        self.download_name.options = self._downloadable()
        self._sync_download()

    def _show_error(self, text: str) -> None:
        self.error = text
        self.message.object = text
        self.message.visible = bool(text)

    def _sync_download(self, *_: Any) -> None:
        self.download_button.disabled = not (self.consent.value and self.download_name.value)

    def _on_model(self, event: Any) -> None:
        self.path.disabled = event.new != SATCLIP_FILE

    def _flat_markers(self, data: dict) -> Any:
        import holoviews as hv

        q = hv.Points(data["query"], kdims=["lon", "lat"]).opts(color="red", size=12, marker="x", line_width=3)
        h = hv.Points(data["hits"], kdims=["lon", "lat"]).opts(color="yellow", size=8, line_color="black")
        return h * q

    def _globe_markers(self, data: dict, lon0: float, lat0: float) -> Any:
        import holoviews as hv

        from geoviz.viz import orthographic_forward

        def proj(ll: np.ndarray) -> np.ndarray:
            if len(ll) == 0:
                return np.zeros((0, 2))
            xy, vis = orthographic_forward(np.asarray(ll, float), lon0, lat0)
            return xy[vis]

        q = hv.Points(proj(data["query"]), kdims=["x", "y"]).opts(color="red", size=12, marker="x", line_width=3)
        h = hv.Points(proj(data["hits"]), kdims=["x", "y"]).opts(color="yellow", size=8, line_color="black")
        return h * q

    # ------------------------------------------------------------------ loading

    def activate(self) -> None:
        """Start loading the selected model if nothing is loaded yet (called when the tab opens)."""
        if self.prepared is None and not self.loading and not self.error:
            _schedule(self.load)

    async def _on_load(self, event: Any = None) -> None:
        await self.load()

    async def load(self) -> None:
        """Load the selected model, embed the grid and draw every view (messages on failure)."""
        if self.loading:
            return
        spec, path = self.model.value, self.path.value
        self._show_error("")
        self.loading = True
        self.load_button.disabled = True
        self.status.object = f"Loading and embedding **{spec if spec != SATCLIP_FILE else path}**…"
        try:
            prep = await asyncio.to_thread(prepare_embeddings, spec, path)
            labels, agreement = await asyncio.to_thread(_clusters, prep, int(self.k.value))
        except (ValueError, FileNotFoundError) as exc:
            self._show_error(str(exc))
            self.status.object = ("No model loaded." if self.prepared is None
                                  else f"Still showing **{self.prepared.label}**.")
            return
        except Exception as exc:  # never a traceback in the page
            self._show_error(f"Loading failed: {type(exc).__name__}: {_short(exc)}")
            self.status.object = "No model loaded." if self.prepared is None else self.status.object
            return
        finally:
            self.loading = False
            self.load_button.disabled = False
        self.prepared, self.clusters, self.agreement = prep, labels, agreement
        self.clicked, self.result = None, None
        self.marker_pipe.send({"query": np.zeros((0, 2)), "hits": np.zeros((0, 2))})
        self.results_html.object = "<i>Click the map or the globe to find the most similar locations.</i>"
        from geoviz.data.zones import koppen_colors

        H, W = prep.grid.shape
        kg = np.concatenate([koppen_colors(prep.koppen), np.full((H * W, 1), 255, np.uint8)], axis=1)
        self.koppen_pipe.send(kg.reshape(H, W, 4))
        self._draw_clusters()
        self._redraw()
        g = prep.grid
        self.status.object = (f"**{prep.label}**: {g.embedding_dim}-d embeddings on a {g.spacing:g}° grid "
                              f"({W}×{H} cells{', from cache' if g.from_cache else ''}).")

    # ------------------------------------------------------------------ views

    def _image(self, mode: str) -> np.ndarray:
        prep = self.prepared
        shape = prep.grid.shape
        if mode == "Clusters" and self.clusters is not None:
            lab = self.clusters.astype(float)
            lab[lab < 0] = np.nan  # ocean: transparent
            return views.field_rgba(lab, shape, "categorical", n_classes=int(self.k.value))
        if mode == "Similarity" and self.clicked is not None:
            sim = prep.index.similarity_map(lonlat=self.clicked)
            return views.field_rgba(sim, shape, "continuous", cmap="viridis", clim=(float(sim.min()), 1.0))
        return views.field_rgba(prep.rgb, shape, "rgb")

    def _redraw(self) -> None:
        from geoviz.viz import GridField

        if self.prepared is None:
            return
        img = self._image(self.colour_by.value)
        self.flat_pipe.send(img)
        rgb = img[..., :3].astype(np.float64) / 255.0
        rgb[img[..., 3] == 0] = 0.85  # transparent (ocean in cluster view) → light grey on the globe
        self.globe.set_field(GridField(rgb, kind="rgb",
                                       interpolation="nearest" if self.colour_by.value == "Clusters" else "bilinear"))

    def _draw_clusters(self) -> None:
        if self.clusters is None or self.prepared is None:
            return
        self.cluster_pipe.send(self._image("Clusters"))
        a = self.agreement or {}
        self.agreement_md.object = (
            f"**Agreement of k = {int(self.k.value)} clusters with reference zones (land, adjusted mutual "
            f"information):** Köppen–Geiger **{a.get('koppen', float('nan')):.3f}**, MODIS IGBP land cover "
            f"{a.get('modis', float('nan')):.3f} ({a.get('n_points', 0)} cells). 1 = same partition, 0 = unrelated.")

    async def update_clusters(self) -> None:
        """Recompute k-means for the current ``k`` (worker thread) and redraw."""
        if self.prepared is None:
            return
        try:
            labels, agreement = await asyncio.to_thread(_clusters, self.prepared, int(self.k.value))
        except ValueError as exc:
            self._show_error(f"Cannot cluster with k = {self.k.value}: {_short(exc)}")
            return
        self.clusters, self.agreement = labels, agreement
        self._draw_clusters()
        if self.colour_by.value == "Clusters":
            self._redraw()

    def _on_k(self, event: Any) -> None:
        _schedule(self.update_clusters)

    # ------------------------------------------------------------------ queries

    def _on_flat_tap(self, x: float | None = None, y: float | None = None) -> None:
        if x is None or y is None or not (np.isfinite(x) and np.isfinite(y)):
            return
        if -180.0 <= x <= 180.0 and -90.0 <= y <= 90.0:
            self.query(float(x), float(y))

    def query(self, lon: float, lat: float) -> Any:
        """Mark ``(lon, lat)`` and show its top-k most similar grid locations (map, globe, table).

        Returns:
            The :class:`geoviz.analysis.QueryResult`, or None when no model is loaded.
        """
        from geoviz.data.imagery import blue_marble_patch

        if self.prepared is None:
            self._show_error("Load a model first, then click a location.")
            return None
        self.clicked = (float(lon), float(lat))
        res = self.prepared.index.query(lonlat=self.clicked, k=int(self.top_k.value))
        self.result = res
        self.marker_pipe.send({"query": np.array([self.clicked]), "hits": res.lonlat})
        try:
            thumbs = blue_marble_patch(np.vstack([[self.clicked], res.lonlat]), 4.0, _THUMB_PX)
        except (FileNotFoundError, ValueError):
            thumbs = None
        self.results_html.object = self._table_html(res, thumbs)
        if self.colour_by.value == "Similarity":
            self._redraw()
        return res

    def _table_html(self, res: Any, thumbs: np.ndarray | None) -> str:
        def img(i: int) -> str:
            if thumbs is None:
                return "–"
            return f'<img src="{views.png_data_url(thumbs[i])}" width="{_THUMB_PX}" height="{_THUMB_PX}"/>'

        lon, lat = self.clicked
        rows = [f"<tr><td>query</td><td>{lon:.2f}</td><td>{lat:.2f}</td><td>–</td><td>{img(0)}</td></tr>"]
        for r, ((lo, la), s) in enumerate(zip(res.lonlat, res.similarity), start=1):
            rows.append(f"<tr><td>{r}</td><td>{lo:.2f}</td><td>{la:.2f}</td><td>{s:.3f}</td><td>{img(r)}</td></tr>")
        return ('<table class="geoviz-results" style="border-collapse:collapse">'
                "<thead><tr><th>rank</th><th>lon</th><th>lat</th><th>similarity</th><th>Blue Marble</th></tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>")

    # ------------------------------------------------------------------ download (issue 8)

    async def _on_download(self, event: Any = None) -> None:
        await self.download()

    async def download(self) -> None:
        """Download the selected SatCLIP checkpoint (only after consent), then refresh the lists."""
        from geoviz.pretrained import get_model_info
        from geoviz.pretrained.download import ensure_checkpoint

        name = self.download_name.value
        if not self.consent.value:
            self._show_error("Tick the consent box first: the checkpoint is downloaded from the internet.")
            return
        if not name:
            self._show_error("Every SatCLIP model is already downloaded.")
            return
        info = get_model_info(name)
        size = f" (~{info.approx_size_mb:.0f} MB)" if info.approx_size_mb else ""
        self.download_button.disabled = True
        self.status.object = f"Downloading **{name}**{size} from {info.base_url}…"
        try:
            await asyncio.to_thread(ensure_checkpoint, name, download=True, progress=False)
        except Exception as exc:  # DownloadError, OSError, ValueError: all shown, never raised
            self._show_error(f"Download of {name} failed: {_short(exc)}")
            self.status.object = "Download failed."
            return
        finally:
            self.consent.value = False
            self._sync_download()
        self._show_error("")
        self._refresh_models()
        self.status.object = f"**{name}** downloaded; select it and press *Load model*."

    def close(self) -> None:
        """Drop references to the model and grids (the shared cache keeps its own)."""
        self.prepared = None
        self.clusters = None
        self.result = None
