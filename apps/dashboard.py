"""geoviz dashboard: ``panel serve apps/dashboard.py`` (``make serve``).

Live training, smoothness vs L and pretrained embeddings; see docs/dashboard.md. The page
is built per browser session by :func:`geoviz.app.create_app`; all assets are served
locally (no CDN). ``make serve`` adds ``--warm`` (one page is built before the server
accepts connections, so the first visitor's page is as light on the server as later ones)
and ``--liveness`` (``/liveness`` for health checks).
"""

from geoviz.app import create_app
from geoviz.app.dashboard import freeze_gc_once
from geoviz.app.server import configure_server

# a thread pool for callbacks and page-load work, a short GIL switch interval, and Panel's
# busy-event bookkeeping made thread-safe (geoviz.app.server)
configure_server()
# once the first session's page is built, full GC passes skip every long-lived object
create_app(defer=True, on_built=freeze_gc_once).servable(title="geoviz")
