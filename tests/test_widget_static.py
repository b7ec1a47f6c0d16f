"""The widgets' static fallback (``geoviz.widgets._Displayable``): a saved notebook keeps the
last map as a plain image output, refreshed in place through its display id.

The real JupyterLab round trip (run, save, reopen without the kernel) is in
tests/test_jupyterlab.py; here the IPython display calls are recorded.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

from geoviz import widgets
from geoviz.widgets import _Displayable, png_bytes


class _Handle:
    def __init__(self, log: list) -> None:
        self.log = log

    def update(self, obj, **kw) -> None:
        self.log.append(("update", obj, kw))


@pytest.fixture
def shown(monkeypatch):
    """Pretend to be in a kernel; record display() calls and handle updates."""
    import IPython.display

    log: list = []

    def fake_display(obj, **kw):
        log.append(("display", obj, kw))
        return _Handle(log) if kw.get("display_id") else None

    monkeypatch.setattr(widgets, "in_jupyter", lambda: True)
    monkeypatch.setattr(IPython.display, "display", fake_display)
    return log


class _Snap(_Displayable):
    def __init__(self) -> None:
        self.widget = object()
        self.value = 0

    def _static_png(self) -> bytes | None:
        if self.value == 0:
            return None
        return png_bytes(np.full((4, 8, 3), self.value, dtype=np.uint8))


def _decoded(data: dict) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data["image/png"]))))


def test_show_adds_a_static_output_that_follows_the_widget(shown):
    snap = _Snap()
    snap.show()
    (k1, w, _), (k2, data, kw) = shown
    assert (k1, w) == ("display", snap.widget)
    # before a run there is nothing to show: an empty text output holds the place
    assert k2 == "display" and kw["raw"] and kw["display_id"] is True and data == {"text/plain": ""}
    snap.value = 200
    snap._refresh_static()
    kind, data, kw = shown[-1]
    assert kind == "update" and kw["raw"]
    assert (_decoded(data) == 200).all() and _decoded(data).shape == (4, 8, 3)
    assert kw["metadata"]["image/png"]["width"] == snap._static_width
    assert "last state" in data["text/plain"]
    # a second display of the same widget is refreshed too
    snap.show()
    snap.value = 17
    snap._refresh_static()
    updates = [e for e in shown if e[0] == "update"]
    assert len(updates) == 3 and all((_decoded(u[1]) == 17).all() for u in updates[1:])


def test_refresh_without_display_and_failing_snapshot(shown, monkeypatch):
    snap = _Snap()
    snap._refresh_static()          # never displayed: nothing happens
    assert shown == []

    def boom():
        raise RuntimeError("no map")

    snap.show()
    monkeypatch.setattr(snap, "_static_png", boom)
    snap._refresh_static()          # the live widget is not broken by its snapshot
    assert "RuntimeError: no map" in shown[-1][1]["text/plain"]


def test_outside_jupyter_prints_a_note(capsys):
    _Snap().show()
    assert "Jupyter widget" in capsys.readouterr().out
