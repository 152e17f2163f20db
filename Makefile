# Two commands on a fresh machine: `make demo` and `make test` (each installs what it needs).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch is installed first and pinned: on our machines pip takes the CPU build lying on disk;
# an open requirement would pull a multi-GB CUDA build. Override for CUDA, e.g.
#   make install TORCH_SPEC="torch==2.13.0" TORCH_PIP_ARGS="--index-url <your CUDA wheel index>"
TORCH_SPEC     ?= torch==2.13.0
TORCH_PIP_ARGS ?=

.PHONY: install lint format test test-fast demo clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check shared apps tests benchmarks data

format: install
	$(BIN)/ruff format shared apps tests benchmarks data

test: lint
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

demo: install
	$(BIN)/python apps/launch_demo.py

clean:
	rm -rf $(VENV) models .pytest_cache .ruff_cache
