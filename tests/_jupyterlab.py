"""Drive a real JupyterLab 4 in Debian Chromium (Playwright): start ``jupyter lab`` on
127.0.0.1 with a token in a temporary copy of the notebooks, open a notebook, run all its
cells, save, and read back what the page shows.

Used by tests/test_jupyterlab.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from _browser_fixtures import ROOT, free_port, wait_until

NB_DIR = ROOT / "notebooks"


@dataclass
class Lab:
    """A running ``jupyter lab`` server."""

    port: int
    token: str
    root: Path
    proc: Any
    log_path: Path

    def url(self, path: str = "lab") -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/{path}?token={self.token}", timeout=10) as r:
            return json.loads(r.read())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def shutdown_kernels(self) -> None:
        """Shut down every running kernel through the REST API (DELETE /api/kernels/ID)."""
        for k in self.api("kernels"):
            req = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/kernels/{k['id']}?token={self.token}",
                                         method="DELETE")
            with contextlib.suppress(Exception):
                urllib.request.urlopen(req, timeout=30).read()


@contextlib.contextmanager
def jupyter_lab(tmp: Path, notebooks: list[str], env: dict[str, str] | None = None) -> Iterator[Lab]:
    """``jupyter lab`` serving a copy of ``notebooks`` (stems) in ``tmp``; stopped at exit.

    The server and its kernels see ``GEOVIZ_NOTEBOOK_SMALL=1`` and private Jupyter
    config/runtime directories (no user settings, no workspace restored); news and
    update checks are off (nothing is fetched from the internet).
    """
    root = tmp / "notebooks"
    root.mkdir(parents=True)
    for stem in notebooks:
        shutil.copy(NB_DIR / f"{stem}.ipynb", root / f"{stem}.ipynb")
        shutil.copy(NB_DIR / f"{stem}.py", root / f"{stem}.py")
    for sub in ("config", "runtime", "settings", "workspaces", "cache"):
        (tmp / sub).mkdir()
    # no "get notified about Jupyter news?" prompt over the notebook
    news = tmp / "settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    # every cell in the DOM (the default windowing leaves off-screen outputs unrendered)
    nb_settings = tmp / "settings" / "@jupyterlab" / "notebook-extension"
    nb_settings.mkdir(parents=True)
    (nb_settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port, token = free_port(), secrets.token_hex(16)
    log_path = tmp / "jupyter-lab.log"
    jupyter = Path(sys.executable).with_name("jupyter")
    cmd = [str(jupyter), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
           f"--LabApp.user_settings_dir={tmp / 'settings'}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")   # containers and CI runners often run as root
    full_env = {**os.environ, "GEOVIZ_NOTEBOOK_SMALL": "1", "JUPYTER_CONFIG_DIR": str(tmp / "config"),
                "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "GEOVIZ_CACHE_DIR": str(tmp / "cache"),
                "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
                **(env or {})}
    for k in ("MPLBACKEND", "GEOVIZ_NOTEBOOK_MODEL", "SATCLIP_CHECKPOINT", "JUPYTER_PATH"):
        full_env.pop(k, None)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=root, stdout=log, stderr=subprocess.STDOUT, env=full_env, start_new_session=True)
    lab = Lab(port=port, token=token, root=root, proc=proc, log_path=log_path)

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited ({proc.returncode}):\n{lab.log()}")
        try:
            lab.api("status")
            return True
        except Exception:
            return False

    try:
        wait_until(up, timeout=90, interval=0.3, what="jupyter lab to answer /api/status")
        yield lab
    finally:
        import signal

        with contextlib.suppress(Exception):
            lab.shutdown_kernels()

        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def open_notebook(page: Any, lab: Lab, name: str) -> None:
    """Open ``name`` in JupyterLab and wait until its kernel is idle."""
    page.goto(lab.url(f"lab/tree/{name}"), wait_until="domcontentloaded", timeout=120_000)
    page.locator(".jp-NotebookPanel").first.wait_for(timeout=120_000)
    wait_until(lambda: kernel_idle(page), timeout=120, interval=0.3, what=f"the kernel of {name} to start")


def kernel_idle(page: Any) -> bool:
    """Whether the status bar reads "Python 3 (ipykernel) | Idle" (a kernel is connected and idle)."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.jp-StatusBar-Item'))
                      .some(e => /\\(ipykernel\\) \\| Idle/.test(e.textContent))""")


def is_dirty(page: Any, name: str | None = None) -> bool:
    """Whether JupyterLab marks a document as modified (its tab's dirty dot): the tab titled
    ``name`` in the main area, or the current main-area tab."""
    return page.evaluate(
        """(name) => Array.from(document.querySelectorAll('#jp-main-dock-panel .lm-TabBar-tab'))
                      .filter(t => name ? t.textContent.trim() === name : t.classList.contains('jp-mod-current'))
                      .some(t => t.classList.contains('jp-mod-dirty'))""", name)


def dirty_tabs(page: Any) -> list[str]:
    """Titles of the main-area tabs marked as modified."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('#jp-main-dock-panel .lm-TabBar-tab.jp-mod-dirty'))
                      .map(t => t.textContent.trim())""")


def run_command(page: Any, menu: str, item: str) -> None:
    """Click ``menu`` > ``item`` in JupyterLab's main menu bar."""
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def run_all(page: Any, timeout: float = 240) -> None:
    """Run > Run All Cells, and wait until every code cell has an execution count."""
    run_command(page, "Run", "Run All Cells")

    def done() -> bool:
        prompts = page.evaluate(
            """() => Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt'))
                        .map(e => e.textContent.trim())""")
        return bool(prompts) and all(re.fullmatch(r"\[\d+\]:?", p) for p in prompts) and kernel_idle(page)

    wait_until(done, timeout=timeout, interval=0.5, what="all cells to run")


def save(page: Any) -> None:
    """File > Save Notebook, and wait until the tab is no longer marked modified."""
    run_command(page, "File", "Save Notebook")
    wait_until(lambda: not is_dirty(page), timeout=30, interval=0.2, what="the notebook to be saved")


def error_outputs(page: Any) -> list[str]:
    """Texts of error outputs (tracebacks) and widget rendering errors on the page."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll(
                    '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"] pre, .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"], .jupyter-widgets.jupyter-widgets-error-widget, .jp-RenderedText'))
                 .map(e => e.textContent).filter(t => /Traceback|Error displaying widget|model not found/.test(t))""")
