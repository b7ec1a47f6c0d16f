"""Where on Earth? tab: play the pretraining game against the model (thin over :mod:`geoviz.geolocation`).

A :class:`~geoviz.geolocation.GeoGame` draws a Blue Marble patch from the cells the model never
trained on; the player clicks a guess on the map (or the globe); then the model's probability
map (:func:`geoviz.geolocation.probability_rgba`), its top places, the true place and both
great-circle errors appear, with the running score (median km, you vs the model). An uploaded
image is located too (:func:`geoviz.geolocation.geolocate`), under a plain warning about what a
4 km RGB model can know. The model's 1° gallery is embedded once per server process (a few
seconds); each answer refines the likely cells (about a second on a CPU), in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from geoviz.app.server import schedule as _schedule
from geoviz.geolocation import (WHAT_IT_CAN_KNOW, GeoGame, GeolocationResult, RoundResult, blue_marble_background,
                              geolocate, probability_rgba)

__all__ = ["GeoGameTab", "LESSON", "available_models"]

MAP_WIDTH = 720
GLOBE_SIZE = 300
PATCH_PX = 192
MODELS = ("geoviz-bluemarble-l10", "geoviz-bluemarble-l40")
COLORS = {"truth": "#1b7837", "guess": "#d01c8b", "top": "#ffffff"}
DECADES = 3.0
"""The map colours the cells within this many powers of ten of the most probable one."""
MAP_NOTE = ("Colour: the model's probability per 1° cell on a log scale, red = most probable, down to "
            f"{10 ** -DECADES:g} × the top cell; the Blue Marble shows where it is lower. White dots: the "
            "model's top places.")

LESSON = (
    "### Where on Earth is this?\n"
    "The Blue Marble models were pretrained on exactly this game: shown a patch of satellite "
    "colour and a batch of places, pick the place it comes from (contrastive location–image "
    "matching, as SatCLIP does). Here you play it against the model on patches from regions it "
    "**never trained on** (10 % of the 15° cells were held out). Press **New patch**, study its "
    "colours, then **click your guess** on the map or the globe. The model answers with a "
    "probability for every 0.25° cell (the softmax of its image–location similarity at its "
    "learned temperature, shown per 1° cell); its top places are the white dots, the truth is "
    "green, your guess magenta.")


def available_models() -> dict[str, str]:
    """Label → model reference of the shipped models that carry an image tower."""
    from geoviz.pretrained.geoviz_model import load_image_tower

    out = {}
    for m in MODELS:
        try:
            load_image_tower(m)
        except (ValueError, FileNotFoundError):
            continue
        out[m] = m
    return out


def _patch_png(patch: np.ndarray) -> bytes:
    from geoviz import render

    return render.png_bytes(render.resize_nearest(patch, PATCH_PX, PATCH_PX))


def _places_md(res: GeolocationResult) -> str:
    rows = "".join(f"| {i + 1} | {q.lon:.2f} | {q.lat:.2f} | {100 * q.probability:.1f} % |\n"
                   for i, q in enumerate(res.top))
    return (f"**The model's top places** (probability within {res.radius_km:.0f} km)\n\n"
            "| # | lon | lat | probability |\n|---|---|---|---|\n" + rows)


class GeoGameTab:
    """Widgets and state of the *Where on Earth?* tab (one per session).

    Args:
        game: a ready :class:`GeoGame` (tests, notebooks); None: a game on the first shipped
            model with an image tower (a note instead when there is none).
        seed: seed of the round stream for a game made here (default: a fresh one per session).

    Attributes:
        game: the :class:`GeoGame` (None when no model can play).
        last: the last :class:`~geoviz.geolocation.RoundResult` (or the upload's result).
        map_view: :class:`~geoviz.viz.live.ImageView` (click to guess); globe: :class:`~geoviz.viz.Globe`.
        patch: PNG pane of the patch; score, answer: Markdown panes; layout: the tab.
    """

    def __init__(self, game: GeoGame | None = None, *, seed: int | None = None) -> None:
        import panel as pn

        from geoviz.viz import Globe, GridField, coastline_paths, nan_join
        from geoviz.viz.live import ImageView

        from . import views

        views.ensure_extension()
        self.error = ""
        self.busy = False
        self.last: RoundResult | GeolocationResult | None = None
        self.background = blue_marble_background(180)
        self.models = {"(given)": None} if game is not None else available_models()
        self.model = pn.widgets.Select(label="Model", options=list(self.models), width=280,
                                       disabled=len(self.models) < 2)
        self.new_button = pn.widgets.Button(label="New patch", color="primary", width=280)
        self.upload = pn.widgets.FileInput(accept=".png,.jpg,.jpeg,.tif,.tiff", multiple=False, width=280)
        self.message = pn.pane.Alert("", alert_type="danger", visible=False)
        self.warning = pn.pane.Alert(WHAT_IT_CAN_KNOW, alert_type="warning", visible=False, width=280)
        self.status = pn.pane.Markdown("", width=280)
        self.patch = pn.pane.PNG(None, width=PATCH_PX, height=PATCH_PX)
        self.answer = pn.pane.Markdown("", width=300)
        self.places = pn.pane.Markdown("", width=300)
        self.score = pn.pane.Markdown("No rounds played yet.", width=280)
        bg = np.concatenate([self.background, np.full((180, 360, 1), 255, np.uint8)], axis=2)
        coast = nan_join(coastline_paths())
        self.map_view = ImageView(bg, views.FLAT_BOUNDS, width=MAP_WIDTH, height=MAP_WIDTH // 2 + 50,
                                  title="Click where you think the patch comes from",
                                  lines={"coastlines": coast},
                                  line_styles={"coastlines": {"line_width": 0.5, "color": "#444444"}},
                                  points=["top", "truth", "guess"], save_tool=True)
        for name, size in (("top", 7), ("truth", 12), ("guess", 11)):
            self.map_view.renderers[name].glyph.size = size
        self.map_view.figure.frame_width, self.map_view.figure.frame_height = MAP_WIDTH - 60, (MAP_WIDTH - 60) // 2
        from bokeh.events import Tap

        self.map_view.figure.on_event(Tap, lambda ev: self._on_click(ev.x, ev.y))
        self.globe = Globe(GridField(self.background, kind="rgb", interpolation="bilinear"), size=GLOBE_SIZE,
                           lon0=0.0, lat0=20.0)
        globe_fig = self.globe.figure()
        self.globe.on_tap(self._on_click)
        self.game: GeoGame | None = game
        self.new_button.on_click(lambda e: _schedule(self.new_round_async))
        self.upload.param.watch(lambda e: _schedule(self.upload_async), "value")
        self.model.param.watch(lambda e: self._set_model(e.new), "value")
        controls = pn.Column(self.model, self.new_button, pn.pane.Markdown("**The patch** (3° wide, 24 px)"),
                             self.patch, self.status, self.score, "#### Or upload an image", self.upload,
                             self.warning, width=320)
        body = pn.Column(self.message, pn.pane.Markdown(LESSON, max_width=MAP_WIDTH + 320,
                                                        styles={"font-size": "14px"}),
                         pn.pane.Bokeh(self.map_view.figure),
                         pn.pane.Markdown(MAP_NOTE, max_width=MAP_WIDTH, styles={"font-size": "12px"}),
                         pn.Row(pn.Column(pn.pane.Markdown("**On the globe** (drag to rotate, click to guess)"),
                                          pn.pane.Bokeh(globe_fig)), pn.Column(self.answer, self.places)))
        stack = getattr(views, "STACK_BELOW_CSS", "")
        self.layout = pn.FlexBox(controls, body, flex_wrap="nowrap", align_items="flex-start",
                                 stylesheets=[stack] if stack else [])
        if game is None:
            if not self.models:
                self._show_error("No shipped model with an image tower is installed yet (models written by "
                                 "`geoviz pretrain --save FILE` carry one); the game needs one.")
                self.new_button.disabled = self.upload.disabled = True
            else:
                # each session its own stream of rounds unless a seed is given
                self._seed = int(seed) if seed is not None else int(np.random.SeedSequence().entropy % 2**31)
                self.status.object = "Press **New patch** to start (the first one loads the model: a few seconds)."

    # ------------------------------------------------------------------ state

    def _show_error(self, text: str) -> None:
        self.error = text
        self.message.object = text
        self.message.visible = bool(text)

    def _set_model(self, label: str) -> None:
        ref = self.models.get(label)
        if ref is not None:
            self.game = None  # made on the next round
            self.score.object = "No rounds played yet."

    def _ensure_game(self) -> GeoGame:
        if self.game is None:
            ref = self.models[self.model.value]
            self.game = GeoGame(ref, seed=getattr(self, "_seed", 0))
        return self.game

    # ------------------------------------------------------------------ the round (synchronous: tests call these)

    def new_round(self) -> None:
        """Draw the next held-out patch and clear the map."""
        self.show_new_round(self._ensure_game().new_round())

    def show_new_round(self, rnd: Any) -> None:
        """Show a drawn round's patch on a cleared map."""
        self.last = None
        self.patch.object = _patch_png(rnd.patch)
        bg = np.concatenate([self.background, np.full((180, 360, 1), 255, np.uint8)], axis=2)
        self.map_view.update(bg)
        for name in ("top", "truth", "guess"):
            self.map_view.set_points(name, np.zeros((0, 2)), [])
        self.map_view.set_title(f"Round {rnd.index + 1}: click where you think the patch comes from")
        self.answer.object = self.places.object = ""
        self.warning.visible = False
        self.status.object = f"Round {rnd.index + 1}: where on Earth is this patch?"

    def guess(self, lon: float, lat: float) -> RoundResult | None:
        """Score the guess ``(lon, lat)`` for the current round and show the answer (None when
        no round is waiting)."""
        if self.game is None or self.game.current is None:
            return None
        res = self.game.guess(lon, lat)
        self.show_round(res)
        return res

    def show_round(self, res: RoundResult) -> None:
        """Draw a scored round: heat map, top places, truth, guess, errors and the score."""
        self.last = res
        r = res.result
        self._draw(r)
        self.map_view.set_points("truth", np.array([[res.round.lon, res.round.lat]]), [COLORS["truth"]])
        self.map_view.set_points("guess", np.array([res.guess]), [COLORS["guess"]])
        self.map_view.set_title(f"Round {res.round.index + 1}: the model's map; truth green, your guess magenta")
        who = {"you": "**You win this round.**", "model": "**The model wins this round.**", "tie": "A tie."}
        self.answer.object = (f"True place: **{res.round.lon:.2f}, {res.round.lat:.2f}** "
                              f"({'land' if res.round.land else 'ocean'}).  \n"
                              f"Your error: **{res.user_km:,.0f} km**; the model's top place: "
                              f"**{res.model_km:,.0f} km**. {who[res.winner]}")
        self.places.object = _places_md(r)
        self.score.object = self.game.score_text() if self.game is not None else ""
        self.status.object = "Press **New patch** for the next round."

    def _draw(self, r: GeolocationResult) -> None:
        rgba = probability_rgba(r, decades=DECADES, background=self.background)
        self.map_view.update(rgba)
        self.map_view.set_points("top", np.array([[q.lon, q.lat] for q in r.top]), [COLORS["top"]] * len(r.top))
        self.globe.set_field(_rgb_field(rgba))
        b = r.best
        self.globe.param.update(lon0=b.lon, lat0=float(np.clip(b.lat, -60, 60)))

    def locate_upload(self, data: bytes, filename: str = "upload.png") -> GeolocationResult:
        """Locate an uploaded image (its bytes; the suffix of ``filename`` says PNG/JPEG/GeoTIFF) and show it."""
        res = self.compute_upload(data, filename)
        self.show_upload(res, filename)
        return res

    def compute_upload(self, data: bytes, filename: str = "upload.png") -> GeolocationResult:
        """:func:`geoviz.geolocation.geolocate` of an upload's bytes (nothing drawn)."""
        game = self._ensure_game()
        suffix = Path(filename or "upload.png").suffix.lower() or ".png"
        fd, tmp = tempfile.mkstemp(suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return geolocate(tmp, game.geolocator)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def show_upload(self, res: GeolocationResult, filename: str) -> None:
        """Draw an upload's map and places, under the warning."""
        self.last = res
        self._draw(res)
        for name in ("truth", "guess"):
            self.map_view.set_points(name, np.zeros((0, 2)), [])
        self.map_view.set_title(f"{filename}: the model's map and its top places (white)")
        self.patch.object = None
        self.answer.object = ""
        self.places.object = _places_md(res)
        self.warning.visible = True
        self.status.object = f"Located **{filename}** (not scored: its true place is unknown)."

    # ------------------------------------------------------------------ server callbacks (work in a thread)

    def _on_click(self, lon: float, lat: float) -> None:
        if not (np.isfinite(lon) and np.isfinite(lat)) or not (-180 <= lon <= 180 and -90 <= lat <= 90):
            return
        async def go() -> None:
            await self.guess_async(float(lon), float(lat))

        _schedule(go)

    async def _run(self, fn: Any, *args: Any) -> Any:
        if self.busy:
            return None
        self.busy = True
        self.new_button.disabled = True
        try:
            self._show_error("")
            return await asyncio.to_thread(fn, *args)
        except (ValueError, FileNotFoundError, TypeError) as exc:
            self._show_error(str(exc))
        except Exception as exc:  # never a traceback in the page
            self._show_error(f"{type(exc).__name__}: {exc}")
        finally:
            self.busy = False
            self.new_button.disabled = self.game is None and not self.models
        return None

    # the library call runs in a worker thread; the views are updated back on the event loop

    async def new_round_async(self) -> None:
        self.status.object = "Drawing a patch…"
        rnd = await self._run(lambda: self._ensure_game().new_round())
        if rnd is not None:
            self.show_new_round(rnd)

    async def guess_async(self, lon: float, lat: float) -> None:
        game = self.game
        if game is None or game.current is None:
            return
        self.status.object = f"You guessed {lon:.1f}, {lat:.1f}; the model is thinking…"
        res = await self._run(game.guess, lon, lat)
        if res is not None:
            self.show_round(res)

    async def upload_async(self) -> None:
        data = self.upload.value
        if not data:
            return
        name = self.upload.filename or "upload.png"
        self.status.object = "Locating the upload…"
        res = await self._run(self.compute_upload, data, name)
        if res is not None:
            self.show_upload(res, name)

    def close(self) -> None:
        """Drop the session's game (the model's gallery stays cached for other sessions)."""
        self.game = None


def _rgb_field(rgba: np.ndarray) -> Any:
    from geoviz.viz import GridField

    return GridField(rgba[..., :3], kind="rgb", interpolation="bilinear")

