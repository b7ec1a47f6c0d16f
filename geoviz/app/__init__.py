"""Panel dashboard of geoviz (live training, smoothness vs L, embeddings).

Serve it with ``panel serve apps/dashboard.py``; build it in Python with
:func:`create_app` (one :class:`DashboardApp` per browser session).
"""

from .dashboard import LIVE_APPS, DashboardApp, create_app

__all__ = ["DashboardApp", "create_app", "LIVE_APPS"]
