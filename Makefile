# Two commands matter: `make lab` (set up, then JupyterLab on demo-notebooks/) and
# `make test` (set up, then every check and test). Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# JupyterLab refuses to start as root unless told.
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
PORT ?= 8888
# Every install: bytecode compiled up front (a shell or CI with PYTHONDONTWRITEBYTECODE=1 would
# otherwise recompile each process's imports, and Ray starts a dozen Python processes), and
# uv-overrides.txt (what it leaves out, and why).
UV_INSTALL := $(BIN)/uv pip install --python $(BIN)/python --compile-bytecode --overrides uv-overrides.txt

.PHONY: setup lab test lint bench demo clean browser labextension dist torch docker azurite

# The JupyterLab sidebar (TypeScript in labextension/) is built from source with node into
# aml_jupyter/labextension/, which the install below copies to .venv/share/jupyter/labextensions/.
LABEXT_SOURCES := labextension/package.json labextension/yarn.lock labextension/tsconfig.json \
	labextension/install.json $(wildcard labextension/src/*) $(wildcard labextension/style/*)

$(STAMP): pyproject.toml uv-overrides.txt $(LABEXT_SOURCES)
	$(MAKE) --no-print-directory labextension
	$(UV_INSTALL) --reinstall-package aml-jupyter -e '.[lab,dev]'
	$(BIN)/aml kernel install --sys-prefix
	touch $(STAMP)

# jlpm (JupyterLab's pinned yarn) and `jupyter labextension build` come with jupyterlab.
$(BIN)/jlpm:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet uv
	$(UV_INSTALL) 'jupyterlab>=4.6,<5'

labextension: $(BIN)/jlpm  ## build the JupyterLab sidebar from source (needs node >= 18)
	cd labextension && ../$(BIN)/jlpm install --immutable
	cd labextension && PATH="$(CURDIR)/$(BIN):$$PATH" ../$(BIN)/jlpm build:prod

setup: $(STAMP)  ## create .venv and install everything

# Both carry the built sidebar and the "Python 3 (aml)" kernel, so neither needs node to install.
dist: labextension  ## build the sdist and the wheel into dist/
	rm -rf dist
	$(BIN)/uv build --python $(BIN)/python --out-dir dist

lab: torch  ## JupyterLab on demo-notebooks/, magics preloaded (kernel "Python 3 (aml)")
	cd demo-notebooks && ../$(BIN)/jupyter lab --no-browser --port=$(PORT) $(ROOT_FLAG) \
		--MappingKernelManager.default_kernel_name=aml

lint: $(STAMP)  ## ruff (lint + format) and mypy
	$(BIN)/ruff check aml_jupyter tests benchmarks demo-notebooks/run_demos.py
	$(BIN)/ruff format --check aml_jupyter tests benchmarks demo-notebooks/run_demos.py
	$(BIN)/mypy

# The torch.distributed all-reduce tests and demo need torch; pip (not uv) takes the CPU build
# this machine keeps on disk (elsewhere pip downloads it from PyPI).
torch: $(STAMP)
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet torch==2.13.0

# The UI tests drive Debian's chromium with Playwright; as root (CI) it is installed here.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); } || \
		echo "chromium is missing: the UI tests will be skipped (sudo apt-get install chromium)"

# Docker environments (env.docker.enabled) need an engine and a base image, built here with no
# registry (scripts/build_base_image.sh: debootstrap + python3). As root (CI) this installs
# docker.io and debootstrap, starts dockerd (log: DOCKERD_LOG; overlay2, else vfs) and builds
# the image; elsewhere it says what is missing and the docker tests skip. Stop that dockerd with
# `kill $$(cat /var/run/docker.pid)`.
DOCKER_BASE_IMAGE := $(or $(AML_DOCKER_BASE_IMAGE),aml-jupyter/python:3.11)
DOCKERD_LOG ?= /var/log/aml-dockerd.log
docker:
	@if [ "$$(id -u)" != 0 ]; then \
		if ! docker info >/dev/null 2>&1; then \
			echo "no docker engine answers: the docker tests will be skipped (as root, 'make docker' installs docker.io and starts dockerd)"; \
		elif ! docker image inspect $(DOCKER_BASE_IMAGE) >/dev/null 2>&1; then \
			echo "no image $(DOCKER_BASE_IMAGE): the docker tests will be skipped (build it: sudo scripts/build_base_image.sh $(DOCKER_BASE_IMAGE))"; \
		fi; exit 0; \
	fi; \
	set -e; \
	if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null; \
	fi; \
	for flags in "" --storage-driver=vfs; do \
		docker info >/dev/null 2>&1 && break; \
		echo "starting dockerd$${flags:+ $$flags} (log: $(DOCKERD_LOG))"; \
		setsid nohup dockerd $$flags >>$(DOCKERD_LOG) 2>&1 </dev/null & \
		for i in $$(seq 60); do docker info >/dev/null 2>&1 && break; kill -0 $$! 2>/dev/null || break; sleep 0.5; done; \
	done; \
	docker info >/dev/null 2>&1 || { tail -20 $(DOCKERD_LOG); echo "dockerd did not start"; exit 1; }; \
	docker image inspect $(DOCKER_BASE_IMAGE) >/dev/null 2>&1 || scripts/build_base_image.sh $(DOCKER_BASE_IMAGE)

# Azurite, the Azure Storage emulator (npm, pinned by tools/azurite/package-lock.json), for the
# blob datastore tests (tests/storage_servers.py starts it). Without npm, or offline, those tests
# skip saying so; the S3 tests use moto_server from the dev extra.
AZURITE := tools/azurite/node_modules/.bin/azurite-blob
azurite: $(AZURITE)
$(AZURITE): tools/azurite/package.json tools/azurite/package-lock.json
	@if ! command -v npm >/dev/null; then \
		echo "npm is missing: the Azurite (blob datastore) tests will be skipped (apt-get install npm)"; \
	elif (cd tools/azurite && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error); then \
		touch $(AZURITE); \
	else echo "npm ci failed (offline?): the Azurite (blob datastore) tests will be skipped"; fi

# Two test files run at a time (pytest-xdist, a file stays on one worker: its module fixtures,
# a Ray head or a lab, are started once; one Ray cluster at a time, see tests/raycluster.py);
# most of a test's time is waiting on the processes it started, so two share two cores well.
# TEST_WORKERS=0 runs them one by one.
TEST_WORKERS ?= 2
test: lint browser torch docker azurite  ## every check, then every test (UI tests in a real browser included)
	$(BIN)/python -m compileall -q aml_jupyter
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

demo: torch  ## run every demo notebook headless; a table of the runs each made
	$(BIN)/python demo-notebooks/run_demos.py

bench: $(STAMP)  ## benchmarks next to MLflow (installs the bench extra)
	$(UV_INSTALL) -e '.[bench]'
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts dist
	rm -rf labextension/node_modules labextension/lib labextension/tsconfig.tsbuildinfo \
		aml_jupyter/labextension
