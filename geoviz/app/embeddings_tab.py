"""Embeddings tab: pretrained location embeddings as PCA colours, clusters and click-to-query.

A model (geoviz's embedded default, a named pretrained model, or a SatCLIP checkpoint the
user points to) is embedded once on a 0.5° global grid (:func:`geoviz.embed.embed_grid`:
SH models go through the separable first layer; disk cache). The prepared views (PCA
colours, Köppen and MODIS classes, the similarity index, k-means per k and the coloured
images) are kept in a small per-process cache shared by sessions; ``panel serve --warm``
prepares the default model at start-up (:func:`warm_up`), so a first visit only draws.
Everything slow (loading, embedding, PCA, k-means, zone look-ups) runs in a worker thread
behind a spinner; sliders act on release (``value_throttled``); bad input (missing or
unloadable checkpoint, impossible settings, unreadable typed coordinates) becomes a
message in the page.

A query (click on the map or the globe, or typed lon/lat) finds the ``top-k`` most similar
grid cells at least ``min distance`` km away from the query and from each other
(:meth:`geoviz.analysis.SimilarityIndex.query` with ``min_distance_km`` and
``min_separation_km``; default 1,000 km: far-away look-alikes, not neighbours), marks them
with their rank on every map, lists them with their great-circle distance, and draws the
cosine-similarity heat map with a colour bar. Hits lie beyond the limit plus a margin
(``margin_km="auto"``: max(10 % of the limit, 2 grid cells), 1,111 km at the default) unless
too few do, and on land only for models learnt from images (a check box, on by default for
them: :func:`geoviz.pretrained.is_image_derived`); a note says what the model can and cannot
tell apart (:func:`geoviz.pretrained.lookalike_note`). The PCA map carries an explanation of
its colours and the cluster map a legend (colour → cluster → its most common Köppen class,
:func:`geoviz.analysis.koppen_cluster_labels`).
"""

from __future__ import annotations

import asyncio
import html
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .server import schedule as _schedule
from . import views

__all__ = ["EmbeddingsTab", "Prepared", "prepare_embeddings", "model_options", "warm_up", "koppen_legend_html",
           "cluster_legend_html", "DEFAULT_MODEL", "SATCLIP_FILE", "GRID_SPACING", "DEFAULT_MIN_DISTANCE_KM"]

DEFAULT_MODEL = "geoviz-bluemarble-l10"
SATCLIP_FILE = "satclip-file"
"""Model-selector value meaning "a SatCLIP checkpoint at the path typed by the user"."""
GRID_SPACING = 0.5
"""Grid spacing (degrees) of the Embeddings maps: 720 × 360 cells."""
DEFAULT_MIN_DISTANCE_KM = 1000
"""Default minimum distance (km) of the hits from the query and from each other."""
DEFAULT_K = 8
SIM_CMAP = "viridis"

_PREPARED: "OrderedDict[tuple, Prepared]" = OrderedDict()
_PREPARED_MAX = 2  # a 0.5° model with its views and index holds ~0.3 GB (256-d float32, one copy)
_PREPARED_LOCK = threading.Lock()
_KEY_LOCKS: dict[tuple, threading.Lock] = {}
_THUMB_PX = 48
_NICE = 10  # niceness of the child that computes a model's views: pages win over it
_PCA_FIT_ROWS = 50_000
_KMEANS_FIT_ROWS = 10_000
_FRAME = dict(frame_width=520, frame_height=260, toolbar="above")  # plot area exactly 2:1 (equirectangular)
_SMALL_FRAME = dict(frame_width=360, frame_height=180, toolbar=None, default_tools=[])


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
        modis: ``(H*W,)`` MODIS IGBP classes (for the cluster agreement).
        images: ``{"pca", "koppen"}`` → ``(H, W, 4)`` uint8 RGBA images, made once.
        clusters: ``{k: (labels, agreement, rgba)}``, k-means results made so far (shared).
        cluster_zones: ``{k: [label per cluster]}``, each cluster's most common Köppen class
            and its share (:func:`geoviz.analysis.koppen_cluster_labels`).
        image_derived: the model was learnt from images (:func:`geoviz.pretrained.is_image_derived`):
            look-alikes default to land only.
        note: what the model can and cannot tell apart (:func:`geoviz.pretrained.lookalike_note`).
    """

    label: str
    model: Any
    grid: Any
    rgb: np.ndarray
    koppen: np.ndarray
    land: np.ndarray
    index: Any
    modis: np.ndarray | None = None
    images: dict[str, np.ndarray] = field(default_factory=dict)
    clusters: dict[int, tuple[np.ndarray, dict[str, float], np.ndarray]] = field(default_factory=dict)
    cluster_zones: dict[int, list[str]] = field(default_factory=dict)
    image_derived: bool = False
    note: str = ""
    lock: Any = field(default_factory=threading.Lock, repr=False, compare=False)


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
    """First line of an exception message, at most ``limit`` characters, cut at a word
    boundary (for in-page messages)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut) + " …"


def _load_model(spec: str, path: str) -> tuple[Any, str]:
    """Worker: load a model. Raises ValueError with a user-facing message on any failure."""
    from geoviz.pretrained import NotACheckpointError, get_model_info, load_encoder, load_pretrained

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
            return load_encoder(f)[0], f.name
        except NotACheckpointError as exc:  # one clean line: "<path>: not a PyTorch checkpoint, or corrupted"
            raise ValueError(str(exc)) from None
        except (ValueError, TypeError, KeyError, RuntimeError, OSError, EOFError) as exc:
            raise ValueError(f"{f.name} could not be loaded as a model file or a SatCLIP checkpoint: "
                             f"{_short(exc)}") from exc
    info = get_model_info(spec)
    try:
        return load_pretrained(spec, download=False), spec
    except FileNotFoundError as exc:
        if info.family == "satclip":
            raise ValueError(f"{spec} is not downloaded yet: tick the consent box and press Download "
                             f"(or run `geoviz download {spec}`).") from exc
        raise ValueError(f"{spec} is not available here: {_short(exc)}") from exc
    except NotACheckpointError as exc:
        raise ValueError(str(exc)) from None
    except (ValueError, TypeError, RuntimeError, OSError) as exc:
        raise ValueError(f"{spec} could not be loaded: {_short(exc)}") from exc


def _spacing_for(model: Any) -> float:
    """Grid spacing of the maps: :data:`GRID_SPACING` (0.5°)."""
    return GRID_SPACING


def _cache_key(spec: str, path: str) -> tuple:
    key_path = ""
    if spec == SATCLIP_FILE:
        f = Path((path or "").strip()).expanduser()
        key_path = f"{f.resolve()}:{f.stat().st_mtime_ns}" if f.is_file() else str(f)
    return (spec, key_path)


def prepare_embeddings(spec: str = DEFAULT_MODEL, path: str = "") -> Prepared:
    """Load ``spec`` (or the SatCLIP file ``path``), embed a global grid and derive PCA colours,
    zones and their images.

    Runs in a worker thread (torch limited to one thread there); results are cached per
    process, and a second caller for the same model waits for the first instead of
    repeating the work.

    Raises:
        ValueError: a user-facing message (missing/unloadable checkpoint, model not installed).
    """
    from geoviz.analysis import SimilarityIndex, grid_views
    from geoviz.data.zones import KOPPEN_OCEAN, koppen_colors
    from geoviz.embed import embed_grid
    from geoviz.pretrained import is_image_derived, lookalike_note
    from geoviz.training.process import submit_in_child

    key = _cache_key(spec, path)
    with _PREPARED_LOCK:
        if key in _PREPARED:
            _PREPARED.move_to_end(key)
            return _PREPARED[key]
        key_lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    with key_lock:
        with _PREPARED_LOCK:
            if key in _PREPARED:
                return _PREPARED[key]
        model, label = _load_model(spec, path)
        spacing = _spacing_for(model)
        # the forward pass, PCA and k-means run in a child: they leave ~0.5 GB behind in the
        # process that runs them (scikit-learn's import, allocator high-water marks)
        gv = submit_in_child(grid_views, model, spacing, k=DEFAULT_K, pca_fit_rows=_PCA_FIT_ROWS,
                             kmeans_fit_rows=_KMEANS_FIT_ROWS, nice=_NICE).result()
        eg = embed_grid(model, spacing, cache=gv.cached)  # a disk-cache hit (computed here only without a cache)
        kg = gv.koppen
        H, W = eg.shape
        prep = Prepared(label, model, eg, gv.rgb, kg, kg != KOPPEN_OCEAN, SimilarityIndex(eg, model=model),
                        modis=gv.modis, image_derived=is_image_derived(model), note=lookalike_note(model))
        for k, (labels, agreement, zones) in gv.clusters.items():
            _store_clusters(prep, k, labels, agreement, zones)
        _ = prep.index.land  # the land mask of land-only queries, once (not in the first query)
        prep.images["pca"] = views.field_rgba(gv.rgb, eg.shape, "rgb")
        prep.images["koppen"] = np.concatenate([koppen_colors(kg), np.full((H * W, 1), 255, np.uint8)],
                                               axis=1).reshape(H, W, 4)
        with _PREPARED_LOCK:
            _PREPARED[key] = prep
            while len(_PREPARED) > _PREPARED_MAX:
                _PREPARED.popitem(last=False)
            _KEY_LOCKS.pop(key, None)
    return prep


def _store_clusters(prep: Prepared, k: int, labels: np.ndarray, agreement: dict[str, float],
                    zones: list[str]) -> tuple[np.ndarray, dict[str, float], np.ndarray]:
    lab = labels.astype(float)
    lab[lab < 0] = np.nan  # ocean: transparent
    out = (labels, agreement, views.field_rgba(lab, prep.grid.shape, "categorical", n_classes=k))
    with prep.lock:
        prep.clusters[k] = out
        prep.cluster_zones[k] = zones
        while len(prep.clusters) > 12:
            prep.clusters.pop(next(iter(prep.clusters)))
    return out


def _clusters(prep: Prepared, k: int) -> tuple[np.ndarray, dict[str, float], np.ndarray]:
    """Worker: k-means on land cells (in a child process, :func:`geoviz.analysis.grid_clusters`),
    its agreement with Köppen zones / MODIS classes, and its image; cached per model and ``k``
    (shared by sessions)."""
    from geoviz.analysis import cluster_views, grid_clusters
    from geoviz.training.process import submit_in_child

    k = int(k)
    with prep.lock:
        if k in prep.clusters:
            return prep.clusters[k]
    if prep.grid.from_cache or _grid_cached(prep.grid):
        labels, agreement, zones = submit_in_child(grid_clusters, prep.model, prep.grid.spacing, k,
                                                   max_fit_rows=_KMEANS_FIT_ROWS, nice=_NICE).result()
    else:  # no disk cache to read them from in a child
        labels, agreement, zones = cluster_views(prep.grid.embeddings, prep.koppen, prep.modis, k,
                                                 max_fit_rows=_KMEANS_FIT_ROWS)
    return _store_clusters(prep, k, labels, agreement, zones)


def _grid_cached(grid: Any) -> bool:
    from geoviz.embed import default_cache_dir

    return (Path(default_cache_dir()) / f"{grid.key}.npz").is_file()


def warm_up(spec: str = DEFAULT_MODEL, k: int = DEFAULT_K) -> threading.Thread:
    """Prepare ``spec`` (grid embeddings, PCA, zones, k-means for ``k``) in a background thread.

    ``panel serve --warm`` calls this at start-up (:mod:`geoviz.app.dashboard`), so the first
    visit to the Embeddings tab finds everything in the per-process cache. Failures are
    ignored here (the tab reports them when opened).

    Returns:
        The started daemon thread.
    """
    def run() -> None:
        try:
            _clusters(prepare_embeddings(spec), k)
            from geoviz.data.imagery import blue_marble_patch

            blue_marble_patch(np.array([[0.0, 0.0]]), 4.0, _THUMB_PX)  # loads the Blue Marble raster once
        except Exception:  # noqa: BLE001 - reported when the tab is opened
            pass

    t = threading.Thread(target=run, name="geoviz-embeddings-warm-up", daemon=True)
    t.start()
    return t


_KOPPEN_GROUPS = {"A": "tropical", "B": "arid", "C": "temperate", "D": "continental", "E": "polar"}


def koppen_legend_html(codes: Any = None) -> str:
    """An HTML legend of Köppen–Geiger classes: a colour swatch and the code for each class
    present in ``codes`` (default all), grouped by main climate, with the letters explained."""
    from geoviz.data.zones import KOPPEN_CODES, KOPPEN_OCEAN, koppen_colors

    present = sorted(set(int(c) for c in np.unique(codes)) if codes is not None else KOPPEN_CODES)
    present = [c for c in present if c in KOPPEN_CODES and c != KOPPEN_OCEAN]
    cols = koppen_colors(np.array(present, dtype=np.int64)) if present else np.zeros((0, 3), np.uint8)
    rows = []
    for g, gname in _KOPPEN_GROUPS.items():
        items = [(KOPPEN_CODES[c], cols[i]) for i, c in enumerate(present) if KOPPEN_CODES[c].startswith(g)]
        if not items:
            continue
        cells = "".join(
            f'<span style="display:inline-block;margin:1px 6px 1px 0;white-space:nowrap">'
            f'<span style="display:inline-block;width:11px;height:11px;border:1px solid #555;vertical-align:middle;'
            f'background:rgb({r},{gg},{b})"></span> {html.escape(name)}</span>'
            for name, (r, gg, b) in items)
        rows.append(f'<div style="margin:2px 0"><b>{g}</b> {gname}: {cells}</div>')
    return ('<div class="geoviz-koppen-legend" style="font-size:11px;line-height:1.35;max-width:230px">'
            '<div style="font-weight:bold;margin-bottom:2px">Köppen–Geiger classes</div>' + "".join(rows) +
            '<div style="color:#555;margin-top:3px">2nd letter: f no dry season, s dry summer, w dry winter, '
            'm monsoon; W desert, S steppe; T tundra, F ice cap. 3rd: h hot, k cold; a hot, b warm, c cold '
            'summer, d very cold winter.</div></div>')


def cluster_legend_html(k: int, zones: Any = None) -> str:
    """An HTML legend of the cluster map: for each cluster ``0..k-1`` its colour swatch (the
    map's palette, :func:`geoviz.viz.colors.categorical_palette`) and, when given, its label
    (e.g. its most common Köppen class and that class's share)."""
    from geoviz.viz.colors import categorical_palette

    k = int(k)
    pal = categorical_palette(k)
    names = list(zones) if zones is not None else []
    cells = "".join(
        f'<div style="white-space:nowrap;margin:1px 0"><span style="display:inline-block;width:11px;height:11px;'
        f'border:1px solid #555;vertical-align:middle;background:rgb({r},{g},{b})"></span> '
        f'<b>{i}</b>{(" " + html.escape(str(names[i]))) if i < len(names) else ""}</div>'
        for i, (r, g, b, _a) in enumerate(pal[:k]))
    return ('<div class="geoviz-cluster-legend" style="font-size:11px;line-height:1.35;max-width:170px">'
            f'<div style="font-weight:bold;margin-bottom:2px">Clusters (k = {k})</div>'
            '<div style="color:#555;margin-bottom:2px">cluster: most common Köppen class, share of its cells'
            '</div>' + cells + '<div style="color:#555;margin-top:3px">Numbers only name the groups; the '
            'colours carry no meaning. Ocean cells are not clustered.</div></div>')


_MAP_NOTES = {
    "Clusters": "Colours: k-means clusters of the embeddings on land (see the legend beside the cluster map); "
                "the colours only tell the groups apart.",
    "Similarity": "Colours: cosine similarity of every cell's embedding to the query's (colour bar on the "
                  "heat map below); yellow = most similar.",
}



def _blank_similarity(shape: tuple[int, int]) -> np.ndarray:
    """The heat map before a query: no data (grey), except one corner cell at the south pole
    (an all-NaN image makes HoloViews warn when it computes the colour range)."""
    a = np.full(shape, np.nan, np.float32)
    a[-1, 0] = 0.0
    return a


def _release(widget: Any, value: Any) -> None:
    """Set a slider as the browser does on release: ``value`` then ``value_throttled`` (tests, scripts)."""
    import param

    widget.value = value
    with param.edit_constant(widget):
        widget.value_throttled = value


class EmbeddingsTab:
    """Widgets and state of the *Embeddings* tab (one per session).

    Attributes:
        prepared: the loaded :class:`Prepared` model views, or None.
        clusters: ``(H*W,)`` k-means labels (-1 on ocean) or None; ``agreement`` their AMI scores.
        clicked: last queried ``(lon, lat)`` or None; ``result`` the last
            :class:`geoviz.analysis.QueryResult`; ``similarity`` its ``(H*W,)`` similarity map.
        error: the message shown for bad input, or ``""``.
        layout: the Panel object of the tab.

    Sliders (k, top-k, minimum distance) act on release (``value_throttled``); use
    :func:`_release` to drive them from Python as the browser does.
    """

    def __init__(self, *, globe_size: int = 300) -> None:
        import holoviews as hv
        import panel as pn

        from geoviz.analysis import PCA_RGB_EXPLANATION
        from geoviz.viz import Globe, GridField, coastlines_element

        from .views import ensure_extension

        ensure_extension()
        self.prepared: Prepared | None = None
        self.clusters: np.ndarray | None = None
        self.agreement: dict[str, float] | None = None
        self.clicked: tuple[float, float] | None = None
        self.result: Any = None
        self.similarity: np.ndarray | None = None
        self.error = ""
        self.loading = False
        self._plots_shown = False

        self.model = pn.widgets.Select(label="Model", options=model_options(), value=DEFAULT_MODEL)
        self.path = pn.widgets.TextInput(label="SatCLIP checkpoint path (.ckpt)", placeholder="/path/to/satclip.ckpt",
                                         disabled=True)
        self.load_button = pn.widgets.Button(label="Load model", color="primary")
        self.colour_by = pn.widgets.RadioButtonGroup(label="Colour by", options=["PCA-RGB", "Clusters", "Similarity"],
                                                     value="PCA-RGB")
        self.k = pn.widgets.IntSlider(label="k (clusters)", start=2, end=30, value=DEFAULT_K)
        self.top_k = pn.widgets.IntSlider(label="Top-k similar locations", start=1, end=20, value=8)
        self.min_km = pn.widgets.IntSlider(label="Far-away look-alikes: at least … km apart", start=0, end=5000,
                                           step=250, value=DEFAULT_MIN_DISTANCE_KM, format="0,0")
        self.land_only = pn.widgets.Checkbox(label="Land only (on by default for models learnt from images)",
                                             value=True)
        self.note_md = pn.pane.Markdown("", styles={"font-size": "12px"}, margin=(0, 10))
        self.lon_in = pn.widgets.TextInput(label="lon (°E)", placeholder="-180…180", width=82)
        self.lat_in = pn.widgets.TextInput(label="lat (°N)", placeholder="-90…90", width=82)
        self.find_button = pn.widgets.Button(label="Find similar", width=105, align="end")
        self.consent = pn.widgets.Checkbox(label="I agree to download this checkpoint from its public source",
                                           value=False)
        self.download_name = pn.widgets.Select(label="Download a SatCLIP model", options=self._downloadable())
        self.download_button = pn.widgets.Button(label="Download", disabled=True)
        self.message = pn.pane.Alert("", alert_type="danger", visible=False)
        self.spinner = pn.indicators.LoadingSpinner(value=True, size=22, visible=True, align="center")
        self.status = pn.pane.Markdown("Loading the embedded default model…", margin=(0, 8))
        self.models_table = pn.pane.Markdown(self._models_markdown())
        self.agreement_md = pn.pane.Markdown("")
        self.results_html = pn.pane.HTML("<i>Click the map or the globe, or type a lon/lat, to find the most "
                                         "similar locations.</i>", width=440)
        self.koppen_legend = pn.pane.HTML(koppen_legend_html(), width=240)
        self.cluster_legend = pn.pane.HTML(cluster_legend_html(DEFAULT_K), width=180)
        self.map_note = pn.pane.Markdown(PCA_RGB_EXPLANATION, styles={"font-size": "12px"}, margin=(0, 10),
                                         sizing_mode="stretch_width")

        blank = np.full((90, 180, 4), 220, np.uint8)
        self.flat_pipe = hv.streams.Pipe(data=blank)
        self.cluster_pipe = hv.streams.Pipe(data=blank)
        self.koppen_pipe = hv.streams.Pipe(data=blank)
        self.sim_pipe = hv.streams.Pipe(data=(_blank_similarity((90, 180)), (0.0, 1.0)))
        self.marker_pipe = hv.streams.Pipe(data={"query": np.zeros((0, 2)), "hits": np.zeros((0, 2))})
        flat_opts = dict(xlim=(-180, 180), ylim=(-90, 90), tools=["tap"], **_FRAME)
        self.flat_dmap = hv.DynamicMap(lambda data: views.rgb_element(data, views.FLAT_BOUNDS, x="lon", y="lat"),
                                       streams=[self.flat_pipe]).opts(title="Embedding: PCA → RGB (click to query)", **flat_opts)
        self.flat_tap = hv.streams.Tap(source=self.flat_dmap, x=np.nan, y=np.nan)
        self.flat_tap.add_subscriber(self._on_flat_tap)
        coast = coastlines_element(line_width=0.6)
        self.sim_dmap = hv.DynamicMap(self._sim_element, streams=[self.sim_pipe]).opts(
            title="Cosine similarity to the query", colorbar=True, cmap=SIM_CMAP, framewise=True,
            colorbar_opts={"title": "cosine similarity"}, xlim=(-180, 180), ylim=(-90, 90), tools=["tap"],
            clipping_colors={"NaN": "#dddddd"}, **_FRAME)
        self.sim_tap = hv.streams.Tap(source=self.sim_dmap, x=np.nan, y=np.nan)
        self.sim_tap.add_subscriber(self._on_flat_tap)
        self.globe = Globe(GridField(np.full((90, 180), 0.5)), size=globe_size, lon0=10.0, lat0=30.0)
        self.globe.on_tap(self.query)
        globe_markers = hv.DynamicMap(self._globe_markers, streams=[
            self.marker_pipe, hv.streams.Params(self.globe, ["lon0", "lat0"])])
        small = dict(xlim=(-180, 180), ylim=(-90, 90), **_SMALL_FRAME)
        clusters = hv.DynamicMap(lambda data: views.rgb_element(data, views.FLAT_BOUNDS, x="lon", y="lat"),
                                 streams=[self.cluster_pipe]).opts(title="k-means clusters (land)", **small)
        koppen = hv.DynamicMap(lambda data: views.rgb_element(data, views.FLAT_BOUNDS, x="lon", y="lat"),
                               streams=[self.koppen_pipe]).opts(title="Köppen–Geiger zones", **small)

        def markers() -> Any:
            return hv.DynamicMap(self._flat_markers, streams=[self.marker_pipe])

        # the plots enter the page once the data is ready (the first visit shows the spinner at once)
        self.flat_pane = pn.pane.HoloViews(self.flat_dmap * coast * markers(), linked_axes=False)
        self.sim_pane = pn.pane.HoloViews(self.sim_dmap * coastlines_element(line_width=0.6, color="white")
                                          * markers(), linked_axes=False)
        self.globe_pane = pn.pane.HoloViews(self.globe.element() * globe_markers, linked_axes=False)
        self.clusters_pane = pn.pane.HoloViews(clusters * coast, linked_axes=False)
        self.zones_row = pn.Row(self.clusters_pane, self.cluster_legend,
                                pn.pane.HoloViews(koppen * coast, linked_axes=False), self.koppen_legend)
        self.plots = pn.Column(sizing_mode="stretch_width")

        self.model.param.watch(self._on_model, "value")
        self.load_button.on_click(self._on_load)
        self.colour_by.param.watch(lambda e: self._redraw(), "value")
        self.land_only.param.watch(self._requery, "value")
        self.k.param.watch(self._on_k, "value_throttled")
        self.top_k.param.watch(self._requery, "value_throttled")
        self.min_km.param.watch(self._requery, "value_throttled")
        self.find_button.on_click(self._on_find)
        self.consent.param.watch(self._sync_download, "value")
        self.download_name.param.watch(self._sync_download, "value")
        self.download_button.on_click(self._on_download)

        controls = pn.Column(self.model, self.path, self.load_button, "Colour the map by", self.colour_by, self.k,
                             "#### Most similar locations", self.top_k, self.min_km,
                             pn.pane.Markdown("0 km finds the nearest look-alikes (mostly neighbours); hits also "
                                              "keep this far from each other, and lie beyond the limit plus a "
                                              "margin (max(10 %, 2 grid cells)) unless too few do. Embeddings "
                                              "change smoothly, so the first hits beyond the limit often "
                                              "continue the query's own region.",
                                              styles={"font-size": "12px"}, margin=(0, 10)),
                             self.land_only, self.note_md,
                             pn.Row(self.lon_in, self.lat_in, self.find_button),
                             "#### Pretrained models", self.models_table, self.download_name,
                             self.consent, self.download_button, width=320)
        controls.styles = {"flex": "0 0 320px"}
        # controls beside the maps on wide screens, above them below 1,200 px (as the training tab)
        self.layout = pn.FlexBox(controls, pn.Column(self.message, pn.Row(self.spinner, self.status), self.plots,
                                                     sizing_mode="stretch_width",
                                                     styles={"flex": "1 1 600px", "min-width": "0"}),
                                 flex_wrap="nowrap", sizing_mode="stretch_width",
                                 stylesheets=[views.STACK_BELOW_CSS], css_classes=["geoviz-embeddings"])

    def _show_plots(self) -> None:
        """Put the maps into the page (once, when the first model's views are ready)."""
        import panel as pn

        if self._plots_shown:
            return
        self._plots_shown = True
        def wrap(*objs: Any) -> Any:
            return pn.FlexBox(*objs, flex_wrap="wrap", sizing_mode="stretch_width")

        # the similarity heat map joins its row with the first query (one plot less to build on
        # the first visit)
        self.sim_row = wrap(self.sim_pane, self.results_html) if self.clicked is not None else wrap(self.results_html)
        self.plots.objects = [
            wrap(self.flat_pane, self.globe_pane),
            self.map_note,
            self.sim_row,
            self.agreement_md,
            wrap(*self.zones_row.objects),
        ]

    def _busy(self, on: bool, text: str | None = None) -> None:
        self.spinner.visible = on
        self.spinner.value = on
        if text is not None:
            self.status.object = text

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

    @staticmethod
    def _numbered(ll: np.ndarray, kdims: list[str], size: int = 15) -> Any:
        import holoviews as hv

        ll = np.asarray(ll, dtype=float).reshape(-1, 2)
        ranks = [str(i) for i in range(1, len(ll) + 1)]
        pts = hv.Points(ll, kdims=kdims).opts(color="#ffd400", size=size, line_color="black", line_width=1)
        labels = hv.Labels((ll[:, 0], ll[:, 1], ranks), kdims=kdims, vdims=["rank"]).opts(
            text_font_size="8pt", text_color="black", text_font_style="bold")
        return pts * labels

    def _flat_markers(self, data: dict) -> Any:
        import holoviews as hv

        q = hv.Points(data["query"], kdims=["lon", "lat"]).opts(color="red", size=14, marker="x", line_width=3)
        return self._numbered(data["hits"], ["lon", "lat"]) * q

    def _globe_markers(self, data: dict, lon0: float, lat0: float) -> Any:
        import holoviews as hv

        from geoviz.viz import orthographic_forward

        def proj(ll: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            ll = np.asarray(ll, float).reshape(-1, 2)
            if len(ll) == 0:
                return np.zeros((0, 2)), np.zeros(0, dtype=bool)
            xy, vis = orthographic_forward(ll, lon0, lat0)
            return xy, np.asarray(vis, dtype=bool)

        qxy, qvis = proj(data["query"])
        hxy, hvis = proj(data["hits"])
        q = hv.Points(qxy[qvis], kdims=["x", "y"]).opts(color="red", size=14, marker="x", line_width=3)
        ranks = [str(i) for i in range(1, len(hxy) + 1)]
        shown = [r for r, v in zip(ranks, hvis) if v]
        pts = hv.Points(hxy[hvis], kdims=["x", "y"]).opts(color="#ffd400", size=15, line_color="black", line_width=1)
        labels = hv.Labels((hxy[hvis, 0], hxy[hvis, 1], shown), kdims=["x", "y"], vdims=["rank"]).opts(
            text_font_size="8pt", text_color="black", text_font_style="bold")
        return pts * labels * q

    def _sim_element(self, data: Any) -> Any:
        import holoviews as hv

        img, clim = data
        return hv.Image(np.asarray(img, dtype=np.float32), bounds=views.FLAT_BOUNDS, kdims=["lon", "lat"],
                        vdims=["similarity"]).opts(clim=tuple(float(c) for c in clim))

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
        self._busy(True, f"Loading and embedding **{spec if spec != SATCLIP_FILE else path}** on a "
                         f"{GRID_SPACING:g}° grid… (once per server; later visits are instant)")
        try:
            prep = await asyncio.to_thread(prepare_embeddings, spec, path)
            labels, agreement, rgba = await asyncio.to_thread(_clusters, prep, int(self.k.value))
        except (ValueError, FileNotFoundError) as exc:
            self._show_error(str(exc))
            self._busy(False, "No model loaded." if self.prepared is None
                       else f"Still showing **{self.prepared.label}**.")
            return
        except Exception as exc:  # never a traceback in the page
            self._show_error(f"Loading failed: {type(exc).__name__}: {_short(exc)}")
            self._busy(False, "No model loaded." if self.prepared is None else None)
            return
        finally:
            self.loading = False
            self.load_button.disabled = False
        self.prepared, self.clusters, self.agreement = prep, labels, agreement
        self.clicked, self.result, self.similarity = None, None, None
        with views.batched_updates():
            self.marker_pipe.send({"query": np.zeros((0, 2)), "hits": np.zeros((0, 2))})
            self.sim_pipe.send((_blank_similarity(prep.grid.shape), (0.0, 1.0)))
            self.results_html.object = ("<i>Click the map or the globe, or type a lon/lat, to find the most "
                                        "similar locations.</i>")
            self.koppen_pipe.send(prep.images["koppen"])
            self.koppen_legend.object = koppen_legend_html(prep.koppen)
            self.land_only.value = bool(prep.image_derived)  # no query yet: nothing re-runs
            self.note_md.object = html.escape(prep.note)
            self._draw_clusters(rgba)
            self._redraw()
            g = prep.grid
            H, W = g.shape
            self._busy(False, f"**{prep.label}**: {g.embedding_dim}-d embeddings on a {g.spacing:g}° grid "
                              f"({W}×{H} cells{', from cache' if g.from_cache else ''}).")
            self._show_plots()

    # ------------------------------------------------------------------ views

    def _image(self, mode: str) -> np.ndarray:
        prep = self.prepared
        shape = prep.grid.shape
        if mode == "Clusters" and self.clusters is not None:
            cached = prep.clusters.get(int(self.k.value))
            if cached is not None and cached[0] is self.clusters:
                return cached[2]
            lab = self.clusters.astype(float)
            lab[lab < 0] = np.nan  # ocean: transparent
            return views.field_rgba(lab, shape, "categorical", n_classes=int(self.k.value))
        if mode == "Similarity" and self.similarity is not None:
            lo, hi = self._sim_clim(self.similarity)
            return views.field_rgba(self.similarity, shape, "continuous", cmap=SIM_CMAP, clim=(lo, hi))
        return prep.images.get("pca") if "pca" in prep.images else views.field_rgba(prep.rgb, shape, "rgb")

    @staticmethod
    def _sim_clim(sim: np.ndarray) -> tuple[float, float]:
        """Colour range of a similarity map: its 1st percentile to its maximum."""
        lo = float(np.percentile(sim, 1.0))
        hi = float(sim.max())
        return (lo, hi if hi > lo else lo + 1e-6)

    def _redraw(self) -> None:
        from geoviz.analysis import PCA_RGB_EXPLANATION
        from geoviz.viz import GridField

        if self.prepared is None:
            return
        img = self._image(self.colour_by.value)
        self.map_note.object = _MAP_NOTES.get(self.colour_by.value, PCA_RGB_EXPLANATION)
        self.flat_pipe.send(img)
        rgb = img[..., :3].astype(np.float64) / 255.0
        rgb[img[..., 3] == 0] = 0.85  # transparent (ocean in cluster view) → light grey on the globe
        self.globe.set_field(GridField(rgb, kind="rgb",
                                       interpolation="nearest" if self.colour_by.value == "Clusters" else "bilinear"))

    def _draw_clusters(self, rgba: np.ndarray | None = None) -> None:
        if self.clusters is None or self.prepared is None:
            return
        self.cluster_pipe.send(rgba if rgba is not None else self._image("Clusters"))
        k = int(self.k.value)
        self.cluster_legend.object = cluster_legend_html(k, self.prepared.cluster_zones.get(k))
        a = self.agreement or {}
        self.agreement_md.object = (
            f"**Agreement of k = {int(self.k.value)} clusters with reference zones (land, adjusted mutual "
            f"information):** Köppen–Geiger **{a.get('koppen', float('nan')):.3f}**, MODIS IGBP land cover "
            f"{a.get('modis', float('nan')):.3f} ({a.get('n_points', 0):,} cells). 1 = same partition, 0 = unrelated.")

    async def update_clusters(self) -> None:
        """Recompute k-means for the current ``k`` (worker thread, spinner on the map) and redraw."""
        if self.prepared is None:
            return
        k = int(self.k.value)
        self.clusters_pane.loading = True
        try:
            labels, agreement, rgba = await asyncio.to_thread(_clusters, self.prepared, k)
        except ValueError as exc:
            self._show_error(f"Cannot cluster with k = {k}: {_short(exc)}")
            return
        finally:
            self.clusters_pane.loading = False
        if k != int(self.k.value):
            return  # a newer k was chosen meanwhile; its own update follows
        self.clusters, self.agreement = labels, agreement
        with views.batched_updates():
            self._draw_clusters(rgba)
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

    def _requery(self, *_: Any) -> None:
        if self.clicked is not None:
            self.query(*self.clicked)

    def _on_find(self, event: Any = None) -> Any:
        """Query the typed lon/lat (validated; a message for unreadable or out-of-range input)."""
        # value_input follows every keystroke; value only changes on blur/Enter, which a fast
        # click on the button can overtake
        lon_s = (self.lon_in.value_input or self.lon_in.value or "").strip()
        lat_s = (self.lat_in.value_input or self.lat_in.value or "").strip()
        try:
            lon, lat = float(lon_s), float(lat_s)
        except ValueError:
            self._show_error(f"Type a longitude and a latitude in degrees (numbers), got "
                             f"{lon_s!r} and {lat_s!r}.")
            return None
        if not (np.isfinite(lon) and -180.0 <= lon <= 180.0):
            self._show_error(f"Longitude must be between -180 and 180 degrees, got {lon:g}.")
            return None
        if not (np.isfinite(lat) and -90.0 <= lat <= 90.0):
            self._show_error(f"Latitude must be between -90 and 90 degrees, got {lat:g}.")
            return None
        return self.query(lon, lat)

    def query(self, lon: float, lat: float) -> Any:
        """Mark ``(lon, lat)`` and show its top-k most similar grid locations at least
        ``min_km`` km away from it and from each other (maps, globe, heat map, table).

        Returns:
            The :class:`geoviz.analysis.QueryResult`, or None when no model is loaded.
        """
        from geoviz.data.imagery import blue_marble_patch

        if self.prepared is None:
            self._show_error("Load a model first, then click a location.")
            return None
        if self.error.startswith(("Type a", "Longitude", "Latitude", "Load a model")):
            self._show_error("")
        self.clicked = (float(lon), float(lat))
        km = float(self.min_km.value)
        idx = self.prepared.index
        res = idx.query(lonlat=self.clicked, k=int(self.top_k.value), min_distance_km=km, min_separation_km=km,
                        land_only=bool(self.land_only.value))
        self.result = res
        self.similarity = idx.similarity_map(lonlat=self.clicked)
        try:
            thumbs = blue_marble_patch(np.vstack([[self.clicked], res.lonlat]), 4.0, _THUMB_PX)
        except (FileNotFoundError, ValueError):
            thumbs = None
        H, W = self.prepared.grid.shape
        with views.batched_updates():
            self.marker_pipe.send({"query": np.array([self.clicked]), "hits": res.lonlat})
            self.sim_pipe.send((self.similarity.reshape(H, W), self._sim_clim(self.similarity)))
            self.results_html.object = self._table_html(res, thumbs)
            if self.colour_by.value == "Similarity":
                self._redraw()
            sim_row = getattr(self, "sim_row", None)
            if sim_row is not None and self.sim_pane not in sim_row.objects:
                sim_row.objects = [self.sim_pane, self.results_html]
        return res

    def _table_html(self, res: Any, thumbs: np.ndarray | None) -> str:
        def img(i: int) -> str:
            if thumbs is None:
                return "–"
            return f'<img src="{views.png_data_url(thumbs[i])}" width="{_THUMB_PX}" height="{_THUMB_PX}"/>'

        td = '<td style="padding:2px 8px;text-align:right">'
        lon, lat = self.clicked
        rows = [f"<tr>{td}query</td>{td}{lon:.2f}</td>{td}{lat:.2f}</td>{td}–</td>{td}–</td>{td}{img(0)}</td></tr>"]
        in_margin = res.in_margin if res.in_margin is not None else np.zeros(len(res.index), dtype=bool)
        for r, ((lo, la), d, s, band) in enumerate(zip(res.lonlat, res.distance_km, res.similarity, in_margin),
                                                   start=1):
            mark = ' <span title="within the margin: too few locations lie beyond it">*</span>' if band else ""
            rows.append(f"<tr>{td}{r}{mark}</td>{td}{lo:.2f}</td>{td}{la:.2f}</td>{td}{d:,.0f}</td>{td}{s:.3f}</td>"
                        f"{td}{img(r)}</td></tr>")
        km = int(self.min_km.value)
        margin = float(res.margin_km)
        if km:
            note = (f"at least {km + margin:,.0f} km from the query (the {km:,} km limit plus a {margin:,.0f} km "
                    f"margin) and {km:,} km from each other")
        else:
            note = "nearest in embedding space, any distance (the query's own cell left out)"
        if self.land_only.value:
            note += ", on land only"
        head = "".join(f'<th style="padding:2px 8px">{h}</th>' for h in
                       ("rank", "lon", "lat", "distance (km)", "similarity", "Blue Marble"))
        if len(res.index) < int(self.top_k.value):
            note += f"; only {len(res.index)} such locations exist"
        foot = ""
        if in_margin.any():
            foot = (f'<div style="font-size:11px;color:#555">* between {km:,} and {km + margin:,.0f} km: fewer than '
                    f'{int(self.top_k.value)} locations qualify beyond the margin, so the best ones inside it '
                    'fill the list.</div>')
        return (f'<div style="font-size:12px"><b>Most similar locations</b> ({note}; cosine similarity of '
                f'embeddings; great-circle distance)</div>'
                '<table class="geoviz-results" style="border-collapse:collapse">'
                f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{foot}")

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
        self.similarity = None
