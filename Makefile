# The two set-up commands of README.md: `make run` and `make test`. Both start with `make install`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV := $(BIN)/uv

.PHONY: install run test lint typecheck pytest lock bench clean system-deps

install: $(STAMP)

# Debian packages the project needs at run time (speech synthesis for the voice robot).
system-deps:
	@if ! command -v espeak-ng >/dev/null 2>&1 || ! command -v sox >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng sox >/dev/null) \
	      || echo "warning: could not install espeak-ng/sox" >&2; \
	  else echo "warning: espeak-ng and sox are missing (apt-get install espeak-ng sox)" >&2; fi; \
	fi

$(STAMP): pyproject.toml requirements.lock | system-deps
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(BIN)/python -m pip install -q uv
	$(UV) pip sync --python $(BIN)/python requirements.lock
	$(UV) pip install --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

run: install
	$(BIN)/buyu up

lint: install
	$(BIN)/ruff check buyu strategies voicebot mobile_api tests bench

typecheck: install
	$(BIN)/mypy buyu strategies voicebot mobile_api bench

pytest: install
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

lock:
	$(UV) pip compile pyproject.toml --extra dev -o requirements.lock --python-version 3.11

bench: install
	$(BIN)/python bench/ledger.py

clean:
	rm -rf $(VENV) buyu.db .pytest_cache .mypy_cache .ruff_cache
