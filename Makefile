# Tollgate — every command installs what it needs first.
PYTHON ?= python3
VENV   := .venv
UV     := .tools/bin/uv
UV_VERSION := 0.13.9
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install browser run lint test bench proto clean catalog-import

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --python $(PYTHON)
	touch $@

## the Node SDK test's package (tests/node/), when npm exists; without npm that test is skipped and says why
tests/node/node_modules/.installed: tests/node/package.json tests/node/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/node --no-audit --no-fund && touch $@; \
	else echo "no npm: the Node SDK test (tests/e2e/test_node_clients.py) will be skipped"; fi

install: $(VENV)/.installed tests/node/node_modules/.installed

## run: start NATS, accounts, router, metering, edge and the simulator (Ctrl-C stops all)
run: install
	$(VENV)/bin/python -m tools.stack

## catalog-import: models and prices from the genai-prices data into the catalog (TOLLGATE_CATALOG, else
## config/catalog.toml) for the vendors of its channels, or VENDORS=openai,anthropic; CHANNEL=sim-primary also routes
## every imported model to that channel (the demo's simulator); MARGIN=1.2, FORCE=1, DRY_RUN=1
catalog-import: install
	$(VENV)/bin/tollgate catalog import $(if $(VENDORS),--vendor $(VENDORS)) $(if $(CHANNEL),--channel $(CHANNEL)) \
	  $(if $(MARGIN),--margin $(MARGIN)) $(if $(FORCE),--force) $(if $(DRY_RUN),--dry-run)

## browser: Debian's chromium and chromedriver for the dashboard test, installed only when
## missing and apt-get can run as root; otherwise that test is skipped and says why
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing chromium and chromium-driver (apt-get) for the dashboard test"; \
	    ( apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	        chromium chromium-driver fonts-liberation ) >/dev/null 2>&1 \
	      || echo "could not install chromium: the dashboard test will be skipped"; \
	  else \
	    echo "no /usr/bin/chromium and no root apt-get to install it: the dashboard test will be skipped"; \
	  fi; \
	fi

## lint: ruff (lint rules and the formatter, as a check) and mypy (tollgate/ and services/; strict on the core);
## `ruff check --fix . && ruff format .` fixes most of what it finds
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

## test: lint, then the whole suite (real nats-server, gRPC services and chDB on free ports)
test: install browser lint
	$(VENV)/bin/python -m pytest

## bench: p50/p99 latency, direct to the simulator vs. through the edge; metering ingestion events/s and
## analytics query p50/p95 over 10M synthetic events (cached in .bench/)
bench: install
	$(VENV)/bin/python -m tools.bench

## proto: regenerate tollgate/rpc from proto/ (commit the result)
proto: install
	$(VENV)/bin/python -m tollgate.rpc.codegen

clean:
	rm -rf $(VENV) .tools .data .pytest_cache tests/node/node_modules
