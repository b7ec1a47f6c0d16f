# geoviz developer commands. `make test` and `make serve` set everything up from scratch.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
# torch==2.13.0 is the CPU build available locally on the project machines; a bare
# `torch` requirement would pull multi-GB CUDA wheels, so we install it first, pinned.
TORCH_SPEC ?= torch==2.13.0

.PHONY: env test serve bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

APP_STAMP := $(VENV)/.installed-app

$(STAMP): $(PY) pyproject.toml
	$(PIP) install --upgrade pip >/dev/null
	$(PIP) install "$(TORCH_SPEC)"
	$(PIP) install -e ".[test,bench,data]"
	touch $(STAMP)

$(APP_STAMP): $(STAMP)
	$(PIP) install -e ".[app]"
	touch $(APP_STAMP)

env: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

serve: $(APP_STAMP)
	$(VENV)/bin/panel serve apps/dashboard.py --address 127.0.0.1 --port 5006 --allow-websocket-origin=127.0.0.1:5006 --allow-websocket-origin=localhost:5006

bench: $(STAMP)
	$(PY) benchmarks/bench_sh.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
