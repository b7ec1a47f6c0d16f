"""geoviz dashboard: ``panel serve apps/dashboard.py`` (``make serve``).

Live training, smoothness vs L and pretrained embeddings; see docs/dashboard.md. The page
is built per browser session by :func:`geoviz.app.create_app`; all assets are served
locally (no CDN). Add ``--liveness`` to expose ``/liveness`` for health checks.
"""

import sys

import panel as pn

from geoviz.app import create_app
from geoviz.app.dashboard import freeze_gc_once

if pn.config.nthreads is None:
    pn.config.nthreads = 2  # callbacks and page-load work run in threads, not on the event loop
if sys.getswitchinterval() > 0.001:
    sys.setswitchinterval(0.001)  # the event loop gets the GIL back sooner from callback threads
create_app(defer=True).servable(title="geoviz")
freeze_gc_once()  # first session only: full GC passes then skip the long-lived objects
