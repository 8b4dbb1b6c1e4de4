# Set-up from nothing: a venv, then exactly the versions in requirements.lock (torch first: an open
# `torch` requirement would pull several GB of CUDA packages; the lock pins the CPU wheel on disk).
# pyproject.toml holds the compatible ranges; `make lock` refreshes the lock from them.
PYTHON ?= python3
VENV ?= .venv
LOCK := requirements.lock
TORCH_PIN ?= torch==2.13.0
BIN := $(VENV)/bin
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
PIP := pip install --quiet --disable-pip-version-check

.PHONY: demo test install install-test check-lock lock test-latest test-oldest lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml $(LOCK)
	$(BIN)/$(PIP) -c $(LOCK) pip
	$(BIN)/$(PIP) -c $(LOCK) torch
	$(BIN)/$(PIP) -c $(LOCK) -e ".[test]"
	$(BIN)/python tools/lockfile.py check $(LOCK)
	touch $@

install: $(VENV)/.installed

check-lock: install
	$(BIN)/python tools/lockfile.py check $(LOCK)

demo: install
	$(BIN)/unlearn demo --overwrite $(ARGS)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The newest releases pyproject.toml allows, in a venv of their own: run it to see the next breaking
# release before a user does (not in CI). `make lock` writes the lock from it once the suite passes.
.venv-latest/.installed: pyproject.toml
	rm -rf .venv-latest && $(PYTHON) -m venv .venv-latest
	.venv-latest/bin/$(PIP) --upgrade pip
	.venv-latest/bin/$(PIP) "$(TORCH_PIN)"
	.venv-latest/bin/$(PIP) --upgrade --upgrade-strategy eager -e ".[test]"
	touch $@

test-latest: .venv-latest/.installed
	.venv-latest/bin/python -m pytest $(PYTEST_ARGS)

lock: test-latest
	.venv-latest/bin/python tools/lockfile.py write .venv-latest/bin/python > $(LOCK)
	@echo "$(LOCK) refreshed: commit it on its own, after 'make test' passes on it"

# The lowest versions pyproject.toml allows for every direct dependency (uv's lowest-direct
# resolution; torch stays at TORCH_PIN: only that build is on this machine's disk). Not in CI.
test-oldest: pyproject.toml
	rm -rf .venv-oldest && $(PYTHON) -m venv .venv-oldest
	.venv-oldest/bin/$(PIP) "$(TORCH_PIN)" uv
	echo "$(TORCH_PIN)" > .venv-oldest/torch.txt
	.venv-oldest/bin/uv pip install --quiet --python .venv-oldest/bin/python \
		--resolution lowest-direct -c .venv-oldest/torch.txt -e ".[test]"
	.venv-oldest/bin/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .venv-latest .venv-oldest build *.egg-info src/*.egg-info .pytest_cache
