# The book's commands. Each target creates .venv and installs the pinned
# requirements and the package on first use; nothing else needs installing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NBVAL := --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-current-env
# axe-core, the accessibility checker the browser test runs on every page (npm package,
# installed into .venv/npm); keep equal to AXE_CORE_VERSION in tests/test_browser.py.
AXE_CORE := 4.14.1
AXE := $(VENV)/npm/node_modules/axe-core/axe.min.js
# Extra arguments for JupyterLab, e.g. make lab LAB_ARGS="--no-browser --port 8890".
LAB_ARGS ?=

.PHONY: help env axe book test unit nbval unit-portable nbval-portable execute lab bench lint format clean

help:
	@echo "make book     build the HTML book into _build/html (warnings are errors)"
	@echo "make test     unit tests and nbval over every notebook, on two arithmetic paths"
	@echo "make execute  re-execute the notebooks in place, refreshing their stored outputs"
	@echo "make lab      open the notebooks in JupyterLab (extra options: LAB_ARGS=...)"
	@echo "make bench    print the performance figures (_build/bench.json) and each notebook's seconds"
	@echo "make lint     ruff check, ruff format --check and mypy (the library's types)"
	@echo "make clean    remove build output"

env: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# axe-core for the browser test; without npm the test skips its accessibility check and says so.
axe: $(AXE)

$(AXE): Makefile
	@if command -v npm >/dev/null 2>&1; then \
	  npm install --prefix $(VENV)/npm --no-save --no-audit --no-fund --loglevel=error \
	    axe-core@$(AXE_CORE) && touch $(AXE); \
	else \
	  echo "npm not found: the browser test will skip its accessibility check (axe-core)"; \
	fi

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going
	@echo "The book is in _build/html/index.html"

unit: $(STAMP) $(AXE)
	$(PY) -m pytest

nbval: $(STAMP)
	$(PY) -m pytest $(NBVAL) notebooks

# The same checks on a second arithmetic path of this machine: ATen's portable kernels
# instead of the vectorised ones its CPU selects. Float32 results differ in their last bits
# (and trained networks differ) between the two, as they do between Intel, AMD, Apple and
# GPUs, so this proves on one machine that the stored outputs and the book's claims do not
# depend on the kernels that computed them. The browser test ran once already; skip it here.
unit-portable: $(STAMP)
	ATEN_CPU_CAPABILITY=default $(PY) -m pytest -m "not browser"

nbval-portable: $(STAMP)
	ATEN_CPU_CAPABILITY=default $(PY) -m pytest $(NBVAL) notebooks

test: $(STAMP) lint unit nbval unit-portable nbval-portable

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

execute: $(STAMP)
	$(PY) tools/execute_notebooks.py notebooks/*.ipynb

# JupyterLab refuses to start as root (as in containers) unless told --allow-root.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(LAB_ARGS)

bench: $(STAMP)
	$(PY) -m nnbook
	$(PY) tools/execute_notebooks.py --no-write --json _build/notebook_seconds.json notebooks/*.ipynb

clean:
	rm -rf _build .pytest_cache .ruff_cache
