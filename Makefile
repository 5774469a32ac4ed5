# Two entry points for a newcomer: `make demo` (set up + score the bundled samples) and `make test`.
VENV ?= .venv
PYTHON ?= $(shell command -v python3.11 || command -v python3)
BIN := $(VENV)/bin
export PYTHONHASHSEED := 0

.PHONY: setup demo test lint unit repro
setup: $(VENV)/.installed

# torch first, pinned: an unpinned torch pulled in by another package is a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/triage demo

lint: setup
	$(BIN)/ruff check pipeline tests benchmarks scripts
	$(BIN)/ruff format --check pipeline tests benchmarks scripts
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -ra

# Fast loop for developers: skips tests that load real models or run whole stages.
unit: setup
	$(BIN)/python -m pytest -m 'not slow' -q

# The whole pipeline, reproducibly (offline): build-encoder → prepare → evaluate → train → score.
repro: setup
	PATH=$(abspath $(BIN)):$$PATH DVC_NO_ANALYTICS=1 $(BIN)/dvc repro
