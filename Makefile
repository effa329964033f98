# HolySheep Edge Router. `make serve` and `make test` bootstrap .venv on a fresh clone.
# Every dependency is pinned in uv.lock; .venv is installed from it by uv (PyPI's `uv`, pinned
# here, bootstrapped into .venv-uv with the python3 you have), so a fresh clone needs only python3
# and make. To add a dependency: edit pyproject.toml, then `make lock` (README: Dependencies).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.9
UV_VENV := .venv-uv
UV := $(UV_VENV)/bin/uv
UV_STAMP := $(UV_VENV)/.uv-$(UV_VERSION)
# uv never downloads an interpreter: .venv uses $(PYTHON), as before.
UV_ENV := UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON=$(PYTHON) UV_PYTHON_DOWNLOADS=never

.PHONY: serve test unit bench chaos soak demo lint typecheck build clean lock upgrade

$(UV_STAMP):
	@test -x $(UV_VENV)/bin/python || $(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install --quiet 'uv==$(UV_VERSION)'
	@touch $(UV_STAMP)

# --locked: a pyproject.toml edited without `make lock` stops here instead of installing stale pins.
$(STAMP): pyproject.toml uv.lock $(UV_STAMP)
	$(UV_ENV) $(UV) sync --locked --extra dev --quiet
	@touch $(STAMP)

# Re-resolve after editing pyproject.toml (keeps every other pin), then re-derive the layer's
# requirements from the new lock. `make upgrade` moves every pin to the newest allowed version.
lock: $(UV_STAMP)
	$(UV_ENV) $(UV) lock
	$(MAKE) requirements

upgrade: $(UV_STAMP)
	$(UV_ENV) $(UV) lock --upgrade
	$(MAKE) requirements

serve: $(STAMP)
	$(BIN)/edge-router serve --host 127.0.0.1 --port 8080

test: $(STAMP)
	$(BIN)/python -m pytest -q

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

bench: $(STAMP)
	@command -v wrk >/dev/null || (apt-get install -y -qq wrk >/dev/null 2>&1 || echo "wrk not installed: using the aiohttp load generator")
	$(BIN)/python -m bench.run

# Failure drills under open-loop load (bench/chaos.py), each with figures and PASS/FAIL; < 6 min.
chaos: $(STAMP)
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)

# ~10 minutes of steady load watching the router's RSS and fds (SOAK_ARGS="--minutes 2" to shorten).
soak: $(STAMP)
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

demo: $(STAMP)
	$(BIN)/python -m bench.demo

lint: $(STAMP)
	$(BIN)/ruff check shared functions tests bench
	$(BIN)/mypy shared/edge_router functions

clean:
	rm -rf $(VENV) $(UV_VENV) $(TOOLS) .build .aws-sam .pytest_cache .mypy_cache .ruff_cache

# --- AWS packaging: SAM CLI lives in its own venv (.venv-tools), apart from the project's .venv.
TOOLS := .venv-tools
SAM := $(TOOLS)/bin/sam
TOOLS_STAMP := $(TOOLS)/.installed
# The python3.12 layer build needs a python3.12 on PATH; with pyenv, expose it next to 3.11.
SAM_PYENV ?= 3.12.1:3.11.7
SAM_ENV := SAM_CLI_TELEMETRY=0 PYENV_VERSION=$(SAM_PYENV)
# sam local start-api: host.docker.internal reaches `edge-router simulate` on this machine.
SAM_LOCAL_FLAGS ?= --port 3000 --add-host host.docker.internal:host-gateway

.PHONY: build sam-local requirements layer

$(TOOLS_STAMP):
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet aws-sam-cli
	@touch $(TOOLS_STAMP)

requirements: $(UV_STAMP)
	UV=$(UV) $(PYTHON) infra/gen_requirements.py

# Both shared layers (SPEC §14) into .build/layer/<mode>, as `sam build` builds them (shared/Makefile:
# locked wheels for arm64, python3.12 bytecode, botocore data cut), then inspected.
LAYER_MODES := buffered stream
layer: requirements
	@for mode in $(LAYER_MODES); do \
	  PYENV_VERSION=$(SAM_PYENV) $(MAKE) -s -C shared layer MODE=$$mode \
	    ARTIFACTS_DIR=$(CURDIR)/.build/layer/$$mode || exit 1; \
	  $(PYTHON) infra/check_layer.py .build/layer/$$mode $$mode || exit 1; done

# The SAM CLI of .venv-tools is installed on demand; another (`make build SAM=sam`, as
# infra/deploy-all.sh passes its SAM_CLI) is used as it is.
SAM_DEP = $(if $(filter $(TOOLS)/bin/sam,$(SAM)),$(TOOLS_STAMP))

# Validates, builds both functions and both shared layers (whatever ResponseMode is deployed;
# shared/Makefile builds the layers), then inspects the built layers as `make layer` does.
build: requirements $(SAM_DEP)
	$(SAM_ENV) $(SAM) validate --lint --region us-east-1
	$(SAM_ENV) $(SAM) build
	@for pair in buffered:Buffered stream:Stream; do \
	  $(PYTHON) infra/check_layer.py .aws-sam/build/SharedLayer$${pair#*:} $${pair%%:*} \
	    || exit 1; done

sam-local: build
	$(SAM_ENV) $(SAM) local start-api --env-vars env.json $(SAM_LOCAL_FLAGS)
