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

.PHONY: install system-deps lint format test test-fast demo clean \
        container-host container-base container-image test-container container-clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# Debian's chromium for the browser tests (Playwright drives the system browser; it cannot
# download its own here) and Debian's postgresql for the tests marked postgres (they start their
# own server from /usr/lib/postgresql/*/bin, see tests/pg.py). Skipped quietly where apt-get is
# unavailable: those tests then skip, with the reason.
system-deps:
	@missing=""; \
	  command -v chromium >/dev/null 2>&1 || missing="chromium"; \
	  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	  if [ -n "$$missing" ]; then \
	    { command -v apt-get >/dev/null 2>&1 && \
	      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null); } \
	    || echo "not installed:$$missing; the browser / postgres tests will be skipped"; \
	  fi

lint: install
	$(BIN)/ruff check shared apps tests benchmarks data

format: install
	$(BIN)/ruff format shared apps tests benchmarks data

test: lint system-deps
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

demo: install
	$(BIN)/python apps/launch_demo.py

# The container image (Dockerfile; podman or docker). container-base builds a Python 3.11 base
# from Debian packages where no image can be pulled (scripts/container-base.sh; root, debootstrap);
# container-host installs podman (apt-get), builds that base and makes rootful podman run
# containers on our Debian VMs (scripts/container-host.sh);
# container-image builds the image with the CPU torch wheel found here (scripts/container-image.sh);
# test-container builds it and smoke-tests it with a tiny model (tests/core/test_container.py,
# marked container): ~7-12 min the first time on 2 cores, ~1 min once the layers are cached.
CONTAINER_BASE  ?= localhost/domaintune-base
CONTAINER_IMAGE ?= localhost/domaintune:latest

container-base:
	scripts/container-base.sh $(CONTAINER_BASE)

container-host:
	scripts/container-host.sh $(CONTAINER_BASE)

container-image:
	PIP="$(PYTHON) -m pip" scripts/container-image.sh $(CONTAINER_IMAGE)

test-container: install
	-@if [ "$$(id -u)" = 0 ] && ! docker info >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory container-host; fi
	DOMAINTUNE_CONTAINER_TESTS=1 DOMAINTUNE_CONTAINER_IMAGE=$(CONTAINER_IMAGE) \
	  $(BIN)/python -m pytest tests/core/test_container.py -m container -v

container-clean:
	-for image in $(CONTAINER_IMAGE) $(CONTAINER_BASE); do \
	  (podman rmi -f $$image || docker rmi -f $$image) 2>/dev/null; done
	-podman image prune -f 2>/dev/null || docker image prune -f 2>/dev/null
	rm -rf container/wheels

clean:
	rm -rf $(VENV) models .pytest_cache .ruff_cache
