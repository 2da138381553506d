# unisst: two commands on a fresh clone.
#   make demo   create .venv, install, build the embedded default and run every notebook on it
#   make test   create/update .venv, run ruff and the whole test suite
#   make bench  the accuracy benchmark, the recipe's tuning on validation and every number
#               quoted from them (about two hours on 2 cores; not part of CI)
#   make notebooks  run all notebooks (default parameters) into notebooks/_executed/ (papermill)
#   make sweep  training + maps notebooks at each LWP threshold (sweep.yaml) into runs/sweep/
#   make lab    JupyterLab on the kit's kernel, on this machine only (127.0.0.1);
#               more options with LAB_ARGS="--port=8890 --no-browser"
# demo and test are idempotent: the venv is rebuilt only when pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU PyTorch by default (a wheel on this machine's disk). To use a GPU, install a
# CUDA build into .venv first (see README): an existing torch is kept.
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= test,notebooks
STAMP := $(VENV)/.installed-$(EXTRAS)
LAB_ARGS ?=

.PHONY: demo test bench lint format install clean-venv data-tiny notebooks sweep lab kernel

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
	$(BIN)/python benchmarks/tuning.py
	$(BIN)/python benchmarks/uncertainty.py --reuse
	$(BIN)/python benchmarks/quote.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

data-tiny: $(STAMP)
	$(BIN)/unisst data make --size tiny

notebooks: $(STAMP)
	$(BIN)/unisst notebooks --out notebooks/_executed

sweep: $(STAMP)
	$(BIN)/unisst sweep --config sweep.yaml

kernel: $(STAMP)
	$(BIN)/unisst kernel

lab: kernel
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=. \
		--MappingKernelManager.default_kernel_name=unisst \
		--LabApp.default_url=/lab/tree/notebooks \
		--LabApp.news_url=None \
		--KernelSpecManager.allowed_kernelspecs=unisst \
		--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate \
		$(LAB_ARGS)

clean-venv:
	rm -rf $(VENV)
