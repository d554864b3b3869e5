# Two commands for a fresh machine (see README):
#   make run    installs everything into .venv and starts the app on its bundled model
#   make test   installs everything (with test tools) into .venv and runs the whole suite
# torch is installed first and pinned: a later unpinned request would pull a CUDA build.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0

.PHONY: run test check install install-test bench lint clean

run: install
	$(BIN)/assistant

test: install-test check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Lint, types and the layer contracts run before the tests: a broken boundary fails CI.
check: install-test
	$(BIN)/ruff check assistant tests bench
	$(BIN)/ruff format --check assistant tests bench
	$(BIN)/python -m mypy
	$(BIN)/lint-imports

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "assistant needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip wheel

$(VENV)/.installed: $(VENV)/bin/python pyproject.toml setup.py
	$(BIN)/python -m pip install $(TORCH)
	$(BIN)/python -m pip install -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/bin/python pyproject.toml setup.py
	$(BIN)/python -m pip install $(TORCH)
	$(BIN)/python -m pip install -e '.[test]'
	touch $@ $(VENV)/.installed

bench: install-test
	$(BIN)/python -m bench

lint: check

clean:
	rm -rf $(VENV) build *.egg-info
