"""The geoviz dashboard: one :class:`DashboardApp` per browser session.

``apps/dashboard.py`` (served with ``panel serve apps/dashboard.py``) only calls
``create_app().servable()``; everything here is importable and testable without a
server. Tabs whose library modules are missing show a "not available" note instead of
failing.
"""

from __future__ import annotations

import concurrent.futures

import gc
import threading
import traceback
import weakref
from typing import Any, Callable

from .views import configure_session, ensure_extension

__all__ = ["DashboardApp", "create_app", "freeze_gc_once", "LIVE_APPS", "unavailable"]

_STEP_PAUSE_MS = 60
LIVE_APPS: "weakref.WeakSet[DashboardApp]" = weakref.WeakSet()
"""Every :class:`DashboardApp` not yet garbage-collected (used by the load test)."""

def unavailable(title: str, reason: str) -> Any:
    """A tab body that explains why a feature is not available (no traceback)."""
    import panel as pn

    return pn.Column(pn.pane.Alert(f"**{title} is not available:** {reason}", alert_type="warning"))


def _build_tab(title: str, factory: Callable[[], Any]) -> tuple[Any, Any]:
    """Build a tab object; on failure return ``(None, unavailable message)``."""
    try:
        obj = factory()
        return obj, obj.layout
    except ImportError as exc:
        return None, unavailable(title, f"a library module is missing ({exc}).")
    except Exception as exc:  # the page must never show a traceback
        traceback.print_exc()
        return None, unavailable(title, f"{type(exc).__name__}: {exc}")


def _served(doc: Any) -> bool:
    """True when ``doc`` belongs to a session of a running server (a browser is connected or
    connecting); False for no document, a notebook, or the session ``panel serve --warm``
    makes at start-up (it has no server context and no event loop runs its callbacks)."""
    ctx = None if doc is None else doc.session_context
    return ctx is not None and getattr(ctx, "server_context", None) is not None


class DashboardApp:
    """All widgets and state of one dashboard session.

    Args:
        device: training device, ``"auto"`` (GPU when present, else CPU), ``"cpu"``, ``"cuda"``.
        min_frame_interval: seconds between map frames while training.
        defer: start with a light page (a spinner) and build the training tab on page load,
            step by step (:meth:`show_deferred`); ``panel serve`` uses this.
        on_built: called once, with no arguments, when the page is fully built.

    Attributes:
        training: :class:`geoviz.app.training_tab.TrainingTab` (always present).
        smoothness: the smoothness tab object, or None when unavailable.
        embeddings: the embeddings tab object, or None when unavailable.
        tabs: the ``pn.Tabs``; ``layout`` the whole page.
    """

    def __init__(self, *, device: str = "auto", min_frame_interval: float = 0.5, defer: bool = False,
                 on_built: Callable[[], None] | None = None) -> None:
        ensure_extension()
        configure_session()  # light theme only (no broken ?theme=dark), table padding
        import panel as pn

        from geoviz.training.process import warm_up

        from .training_tab import device_label

        warm_up()  # the training processes' fork server starts in the background

        def _train() -> Any:
            from .training_tab import TrainingTab

            return TrainingTab(device=device, min_frame_interval=min_frame_interval, defer_plots=defer)

        def _smooth() -> Any:
            from .smoothness_tab import SmoothnessTab

            return SmoothnessTab(device=device)

        def _embed() -> Any:
            from .embeddings_tab import EmbeddingsTab

            return EmbeddingsTab()

        def _species() -> Any:
            from .species_tab import SpeciesTab

            return SpeciesTab()

        def _compare() -> Any:
            from .compare_tab import CompareTab

            return CompareTab()

        def _geogame() -> Any:
            from .geogame_tab import GeoGameTab

            return GeoGameTab()

        # every tab is built on first use: the training tab when the page has loaded (or at
        # once without defer), the others when first opened (or first accessed from Python)
        self._factories: dict[int, tuple[str, Callable[[], Any]]] = {
            0: ("Live training", _train), 1: ("Smoothness", _smooth), 2: ("Embeddings", _embed),
            3: ("Species ranges", _species), 4: ("Compare encoders", _compare), 5: ("Where on Earth?", _geogame)}
        self._tab_objects: dict[int, Any] = {}
        self._lock = threading.RLock()
        self._deferred = bool(defer)
        self._on_built = on_built
        # each tab's content goes into a holder Column: filling a Column later is a small
        # document patch, replacing a Tabs child re-renders the Tabs model (~0.5 s of loop time)
        spinner = pn.indicators.LoadingSpinner(value=True, size=40, label="Loading the training view…")
        self._holders = [pn.Column(spinner, sizing_mode="stretch_width") if defer
                         else pn.Column(sizing_mode="stretch_width"), *(pn.Column() for _ in range(len(self._factories) - 1))]
        self.tabs = pn.Tabs(*((self._factories[i][0], self._holders[i]) for i in range(len(self._factories))), dynamic=True,
                            sizing_mode="stretch_width")
        self.tabs.param.watch(self._on_tab, "active")
        header = pn.pane.Markdown(
            "## geoviz — implicit neural geo-representations\n"
            f"Spherical-harmonic location encoders, trained live and explored as embeddings. "
            f"Compute: **{device_label(device)}**. Everything is served locally (no external requests).")
        self.layout = pn.Column(header, self.tabs, sizing_mode="stretch_width")
        if not defer:
            self._tab(0)
        LIVE_APPS.add(self)

    def _tab(self, index: int, prepare: Callable[[Any], None] | None = None) -> Any:
        """The object of tab ``index`` (0 training, 1 smoothness, 2 embeddings), built on first
        use; None if unavailable. ``prepare(obj)`` runs after a new object is built and
        before its layout enters the page."""
        with self._lock:
            if index not in self._tab_objects:
                title, factory = self._factories[index]
                obj, layout = _build_tab(title, factory)
                if obj is not None and prepare is not None:
                    prepare(obj)
                self._tab_objects[index] = obj
                self._holders[index].objects = [layout]
            return self._tab_objects[index]

    @property
    def training(self) -> Any:
        """The :class:`~geoviz.app.training_tab.TrainingTab`."""
        return self._tab(0)

    @property
    def smoothness(self) -> Any:
        """The :class:`~geoviz.app.smoothness_tab.SmoothnessTab` (None when unavailable)."""
        return self._tab(1)

    @property
    def embeddings(self) -> Any:
        """The :class:`~geoviz.app.embeddings_tab.EmbeddingsTab` (None when unavailable)."""
        return self._tab(2)

    def _on_tab(self, event: Any) -> None:
        if event.new in self._factories:
            obj = self._tab(event.new)
            if event.new == 2 and obj is not None:
                obj.activate()

    def close(self) -> None:
        """Stop background work and drop heavy state (called when the session ends)."""
        for tab in list(self._tab_objects.values()):
            if tab is not None and hasattr(tab, "close"):
                tab.close()
        from .server import release_memory_soon

        release_memory_soon()  # once for all sessions that end together (no stall per session)

    def register_cleanup(self) -> bool:
        """Call :meth:`close` when the current Bokeh session ends; False outside a server session."""
        import panel as pn

        ref = weakref.ref(self)

        def _cleanup(session_context: Any) -> None:
            app = ref()
            if app is not None:
                app.close()

        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            self.show_deferred()
            return False
        pn.state.on_session_destroyed(_cleanup)
        if self._deferred:
            if _served(doc):
                pn.state.onload(self.show_deferred)
            else:  # ``panel serve --warm``: the start-up session, built before the server serves
                from geoviz.training.process import warm_up

                self.show_deferred()
                from .embeddings_tab import warm_up as warm_up_embeddings

                emb = warm_up_embeddings()  # the default model's Embeddings views, prepared meanwhile
                warm_up(wait=True)  # the fork server's imports are done before the first visitor
                # finished before the server serves: computed while pages open, the grid
                # embeddings, PCA and k-means held the GIL and both cores (0.3-0.5 s loop stalls)
                emb.join(timeout=300)
                from .smoothness_tab import prefit_default

                # the Smoothness tab's default sweep (14 small fits in niced children, ~12 s on
                # two idle cores), finished before the server serves: running while the first
                # pages opened it stalled the event loop by 0.3-0.5 s (tests/test_load.py)
                concurrent.futures.wait(prefit_default(), timeout=300)
        return True

    def show_deferred(self) -> None:
        """Build the training tab held back by ``defer=True`` (runs on page load).

        In a server session the tab's widgets and figures are made here (Panel runs
        page-load callbacks in its thread pool), then the control groups and each figure
        enter the page in their own event-loop callbacks, ``_STEP_PAUSE_MS`` apart
        (:meth:`TrainingTab.build_steps`), so building one session's page never holds the loop
        for long: other sessions and ``/liveness`` are served in between (an HTTP request
        needs several loop iterations, so back-to-back steps would still starve it).
        ``on_built`` is called after the last step.

        Outside a served session (Python, a notebook, the start-up session of
        ``panel serve --warm``) the whole tab is built at once and ``on_built`` called.
        """
        import panel as pn

        self._deferred = False
        doc = pn.state.curdoc
        if not _served(doc):
            tab = self._tab(0)
            if tab is not None:
                tab.build_plots()
            self._built()
            return
        tab = self._tab(0, prepare=lambda obj: obj.make_figures())
        steps = list(tab.build_steps()) if tab is not None else []

        def run_next() -> None:
            if steps:
                steps.pop(0)()
            if steps:  # a pause between steps lets the loop serve several requests in between
                doc.add_timeout_callback(run_next, _STEP_PAUSE_MS)
            else:
                self._built()

        # this may run in Panel's thread pool: only add_next_tick_callback is thread-safe
        doc.add_next_tick_callback(lambda: doc.add_timeout_callback(run_next, _STEP_PAUSE_MS))

    def _built(self) -> None:
        if self._on_built is not None:
            callback, self._on_built = self._on_built, None
            callback()

    def servable(self, title: str = "geoviz") -> Any:
        """Mark the page servable (``panel serve``) and register the session clean-up."""
        self.register_cleanup()
        return self.layout.servable(title=title)


_GC_FROZEN = False


def freeze_gc_once() -> None:
    """Collect once, then move every object alive now out of the garbage collector's view.

    A server process holds millions of long-lived objects (torch, Bokeh, Panel, HoloViews,
    the first session). CPython's full (generation-2) collections walk them all and took
    about 0.35 s of the event loop here, at random moments; after ``gc.freeze()`` they only
    walk objects created later (sessions come and go). ``apps/dashboard.py`` calls it when
    the first session's page is fully built; later calls do nothing. The cost: reference
    cycles among the objects frozen then are never collected (one session's worth).
    """
    global _GC_FROZEN
    if not _GC_FROZEN:
        _GC_FROZEN = True
        gc.collect()
        gc.freeze()


def create_app(**kwargs: Any) -> DashboardApp:
    """A new :class:`DashboardApp` (call once per session); keyword arguments as the class."""
    return DashboardApp(**kwargs)
