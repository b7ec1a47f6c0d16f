"""The teaching notebooks run top to bottom, render offline and match their paired scripts.

The notebooks are the source; each ``notebooks/NN_name.ipynb`` is paired with a jupytext
percent script ``notebooks/NN_name.py`` (same cells, plain Python, easy to diff and edit).

Each notebook in ``notebooks/`` is executed with nbclient in a fresh kernel started with
this interpreter (``sys.executable``, through a throw-away kernelspec found first on
``JUPYTER_PATH``, so a user-level ``python3`` kernelspec cannot hijack the run) with
``GEOVIZ_NOTEBOOK_SMALL=1``, which every notebook reads to shrink epochs, grids and
samples. Executed copies go to a pytest temporary directory (the path is printed when a
notebook fails).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Callable

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
KERNEL_NAME = "geoviz-notebook-test"

STEMS = sorted(p.stem for p in NB_DIR.glob("[0-9][0-9]_*.ipynb"))

# The metadata JupyterLab 4 writes when it opens a notebook with the venv's python3 kernel:
# anything less (e.g. language_info with only a name) makes it mark the notebook modified.
LANGUAGE_INFO_KEYS = {"codemirror_mode", "file_extension", "mimetype", "name", "nbconvert_exporter",
                      "pygments_lexer", "version"}

# What a rendered output would *load* from the network instead of carrying inline: the
# loader's script lists, Bokeh stylesheet models, HTML resource tags and CSS imports.
# (Inline JS bundles mention URLs in code paths we never trigger, e.g. MathJax; plain
# <a href> links are navigation, not loads. Neither is flagged.)
_REMOTE = re.compile(
    r"""(?:js_urls|css_urls|js_modules)\s*=\s*\[\s*\\*["']https?://"""
    r"""|\\*"url\\*"\s*:\s*\\*"https?://"""
    r"""|<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)\s*=\s*\\*["']https?://"""
    r"""|@import\s+url\(\s*\\*["']?https?://""",
    re.IGNORECASE,
)


# Facts each notebook's printed output must show in small mode, checked against independent
# references: orthonormality of the SH basis (Gram matrix ~ I by quadrature), the addition
# theorem (SH and unit-vector feature distances depend only on the angle: ratio exactly 1),
# and that the short trainings really learn (far above the majority-class rate).
EXPECTED: dict[str, list[tuple[str, Callable[[re.Match], bool]]]] = {
    "01_land_ocean_implicit_representation": [
        (r"validation accuracy (0\.\d+)", lambda m: float(m.group(1)) > 0.85),   # ocean-only: 0.714
    ],
    "02_spherical_harmonics_and_L": [
        (r"max \|Gram - I\| = ([0-9.e+-]+)", lambda m: float(m.group(1)) < 5e-3),
    ],
    "03_positional_encodings_compared": [
        (r"cartesian3d\s+3\s+1\.00\s+1\.00", lambda m: True),
        (r"SH\s+100\s+1\.00\s+1\.00", lambda m: True),
        (r"direct\s+2\s+359\.00\s+180\.00", lambda m: True),   # |(-179.5)-(179.5)| / 1 and 180 / 1
    ],
    "04_checkerboard_and_longitude": [
        (r"SH \(L=15\)\s+test accuracy (0\.\d+)", lambda m: float(m.group(1)) > 0.5),   # chance: 1/16
    ],
}


def _printed_text(nb) -> str:
    """Streams and plain-text results of all code cells (what a reader sees as text)."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif "data" in out and "text/plain" in out.data:
                parts.append(out.data["text/plain"])
    return "\n".join(parts)


def _output_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(json.dumps(out))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    """Environment the kernels inherit: small size, a private cache, one thread per library.

    One intra-op thread keeps the kernels from oversubscribing a shared 2-core machine;
    ``GEOVIZ_CACHE_DIR`` keeps embedding caches out of the user's home.
    """
    spec_root = tmp_path_factory.mktemp("jupyter")
    spec_dir = spec_root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "geoviz test kernel", "language": "python",
    }))
    env = {
        "JUPYTER_PATH": os.pathsep.join([str(spec_root), os.environ.get("JUPYTER_PATH", "")]).rstrip(os.pathsep),
        "GEOVIZ_NOTEBOOK_SMALL": "1",
        "GEOVIZ_CACHE_DIR": str(tmp_path_factory.mktemp("geoviz_cache")),
        "OMP_NUM_THREADS": "1",
        "NUMBA_NUM_THREADS": "1",
    }
    out_dir = tmp_path_factory.mktemp("executed_notebooks")
    saved = {k: os.environ.get(k) for k in [*env, "MPLBACKEND", "GEOVIZ_NOTEBOOK_MODEL", "SATCLIP_CHECKPOINT"]}
    os.environ.update(env)
    for k in ("MPLBACKEND", "GEOVIZ_NOTEBOOK_MODEL", "SATCLIP_CHECKPOINT"):
        os.environ.pop(k, None)  # the inline backend; the default model; no SatCLIP
    yield out_dir
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _cells(nb) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", []))) for c in nb.cells]


def test_notebooks_are_clean_and_paired_with_their_scripts():
    """Committed notebooks: cleared outputs, full python3 metadata, a SMALL switch, exercises
    with objectives and solutions, and the same cells as their jupytext percent script."""
    jupytext = pytest.importorskip("jupytext")
    assert len(STEMS) == 9, STEMS
    for i, stem in enumerate(STEMS, start=1):
        assert stem.startswith(f"{i:02d}_"), stem
        path = NB_DIR / f"{stem}.ipynb"
        script = NB_DIR / f"{stem}.py"
        assert script.exists(), f"{script.name} missing: jupytext --sync {path.name}"
        nb = nbformat.read(path, as_version=4)
        paired = jupytext.read(script)
        assert _cells(nb) == _cells(paired), (
            f"{path.name} and {script.name} differ: run `jupytext --sync notebooks/{path.name}` "
            "(or open it in JupyterLab with jupytext installed)")
        assert nb.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent", path.name
        nbformat.validate(nb)
        assert nb.metadata.kernelspec.name == "python3"
        assert set(nb.metadata.get("language_info", {})) >= LANGUAGE_INFO_KEYS, (
            f"{path.name}: incomplete language_info (store the metadata JupyterLab writes: copy it from 01)")
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.outputs == [] and c.execution_count is None for c in code), f"{path.name} has outputs"
        assert "GEOVIZ_NOTEBOOK_SMALL" in code[0].source and "parameters" in code[0].metadata.get("tags", [])
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        for needle in ("Learning objectives", "Prerequisites", "Exercise", "<details>", "Solution"):
            assert needle in text, f"{path.name}: no {needle!r}"
        n_exercises = len(re.findall(r"^\d+\. \*\*", text.split("## Exercises", 1)[-1], flags=re.M))
        n_solutions = text.count("<summary>Solution")
        assert n_exercises >= 2 and n_solutions == n_exercises, f"{path.name}: {n_exercises} exercises, {n_solutions} solutions"
    readme = (NB_DIR / "README.md").read_text()
    for stem in STEMS:
        assert stem in readme, f"notebooks/README.md does not mention {stem}"
    assert not (ROOT / "scripts" / "make_notebooks.py").exists(), "the notebooks are the source now"


def test_remote_pattern_catches_cdn_links():
    """The offline check itself, on snippets of real (json-escaped) notebook outputs."""
    flagged = [
        r'const js_urls = [\"https://cdn.bokeh.org/bokeh/release/bokeh-3.9.2.min.js\", \"x\"];',
        r'{\"type\":\"object\",\"name\":\"ImportedStyleSheet\",\"attributes\":{\"url\":\"https://cdn.holoviz.org/panel/1.9.4/dist/css/loading.css\"}}',
        '<script type="text/javascript" src="https://unpkg.com/jupyter-leaflet@0.20/dist/index.js"></script>',
        '<link rel="stylesheet" href="https://cdnjs.cloudflare.com/font-awesome.css">',
        "@import url('https://fonts.googleapis.com/css?family=Roboto');",
    ]
    passed = [
        "const js_urls = [];",
        r'<a href=\"https://bokeh.org\" target=\"_blank\" title=\"Bokeh 3.9.2\">',
        't.src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-svg.js",t.onload=()=>{}',
        "see https://github.com/microsoft/satclip for the checkpoints",
    ]
    for text in flagged:
        assert _REMOTE.search(text), text
    for text in passed:
        assert not _REMOTE.search(text), text


@pytest.mark.timeout(240)
@pytest.mark.parametrize("stem", STEMS)
def test_notebook_executes_offline(stem, kernel_env):
    """Runs top to bottom in small mode; no error output; no output links to a CDN."""
    nb = nbformat.read(NB_DIR / f"{stem}.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        timeout=180,
        resources={"metadata": {"path": str(NB_DIR)}},
    )
    executed = kernel_env / f"{stem}.ipynb"
    try:
        client.execute()
    finally:
        nbformat.write(nb, executed)
        print(f"executed notebook: {executed}")
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.output_type != "error", f"{stem}: {out.get('ename')}: {out.get('evalue')}"
    text = _output_text(nb)
    hit = _REMOTE.search(text)
    assert hit is None, f"{stem}: output references the network: ...{text[max(0, hit.start() - 80):hit.end() + 80]}..."
    printed = _printed_text(nb)
    for pattern, ok in EXPECTED.get(stem, []):
        m = re.search(pattern, printed)
        assert m is not None and ok(m), f"{stem}: expected output {pattern!r}, got {m.group(0) if m else 'nothing'}"
    # every code cell ran (nbclient stops at the first error, so this is the 'top to bottom' check)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
