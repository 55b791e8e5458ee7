VENV   ?= .venv
# `make test PYTHON=/path/to/python` runs in that environment and leaves .venv alone.
ifeq ($(origin PYTHON), undefined)
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
else
STAMP  :=
endif
# One pytest-xdist worker per core, each on one thread (tests/conftest.py); idle workers take
# queued tests from busy ones, so a few long smoke trainings do not leave a core idle at the end.
PYTEST_ARGS ?= -n auto --dist worksteal

.DEFAULT_GOAL := help
.PHONY: help install test demo bench tables gpu-check fashion-data clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

install: $(VENV)/.installed  ## create .venv and install pixeldcn with its pinned torch pair (idempotent)

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --upgrade pip setuptools wheel
	$(PYTHON) -m pip install -c constraints.txt -e '.[dev,launchers]'
	touch $(VENV)/.installed

test: $(STAMP)  ## run the linter (ruff check, ruff format --check) and the test suite
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m pytest $(PYTEST_ARGS)

demo: $(STAMP)  ## train the default experiment (synthetic shapes, U-Net, PixelDCL) on the CPU
	$(PYTHON) train.py

bench: $(STAMP)  ## time every up-sampler at the paper's U-Net decoder shapes
	$(PYTHON) scripts/bench_upsamplers.py

tables: $(STAMP)  ## Table 1 / Table 2 (Markdown, LaTeX, CSV, PNG) from every finished run under outputs/
	$(PYTHON) scripts/make_tables.py outputs --out outputs/tables

gpu-check: $(STAMP)  ## on a CUDA machine: CUDA tests, bf16/fp16 resume, compile, DDP, Table 2 (GPU_CHECK_ARGS=--dry-run: CPU)
	$(PYTHON) scripts/gpu_check.py $(GPU_CHECK_ARGS)

fashion-data:  ## install Debian's Fashion-MNIST idx files under /usr/share/datasets/fashion-mnist
	apt-get update && apt-get install -y dataset-fashion-mnist

clean:  ## remove the virtual environment
	rm -rf $(VENV)
