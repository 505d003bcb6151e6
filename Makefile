# Tollgate — every command installs what it needs first.
PYTHON ?= python3
VENV   := .venv
UV     := .tools/bin/uv
UV_VERSION := 0.13.9
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install run test bench proto clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --python $(PYTHON)
	touch $@

install: $(VENV)/.installed

## run: start NATS, accounts, router, metering, edge and the simulator (Ctrl-C stops all)
run: install
	$(VENV)/bin/python -m tools.stack

## test: the whole suite (real nats-server, gRPC services and chDB on free ports)
test: install
	$(VENV)/bin/python -m pytest

## bench: p50/p99 latency, direct to the simulator vs. through the edge
bench: install
	$(VENV)/bin/python -m tools.bench

## proto: regenerate tollgate/rpc from proto/ (commit the result)
proto: install
	$(VENV)/bin/python -m tollgate.rpc.codegen

clean:
	rm -rf $(VENV) .tools .data .pytest_cache
