# unisst: two commands on a fresh clone.
#   make demo   create .venv, install, run the main job on the embedded default
#   make test   create/update .venv, run ruff and the whole test suite
#   make bench  the accuracy benchmark (about an hour on 2 cores; not part of CI)
# Both are idempotent: the venv is rebuilt only when pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU PyTorch by default (a wheel on this machine's disk). To use a GPU, install a
# CUDA build into .venv first (see README): an existing torch is kept.
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= test
STAMP := $(VENV)/.installed-$(EXTRAS)

.PHONY: demo test bench lint format install clean-venv data-tiny

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	@touch $@

demo: $(STAMP)
	$(BIN)/unisst demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/accuracy.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

data-tiny: $(STAMP)
	$(BIN)/unisst data make --size tiny

clean-venv:
	rm -rf $(VENV)
