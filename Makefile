# The two commands: `make run` and `make test`. Everything else is a helper.
# `make run` installs what running needs (the [all] extra); `make test` also the dev tools
# ([dev]) and the system packages the tests use (tools/system-deps: on Debian/Ubuntu as root
# it apt-get installs the missing ones, elsewhere it stops and names them).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run

.PHONY: run test test-fast system-deps lint typecheck bench clean dist

$(BIN)/python:
	@PYTHON=$(PYTHON) tools/system-deps run
	$(PYTHON) -m venv $(VENV)

# Running needs [all] only; a venv that already has [all,dev] (an up-to-date $(STAMP)) has it.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	@if [ -f $(STAMP) ] && [ $(STAMP) -nt pyproject.toml ]; then :; else \
	  $(BIN)/python -m pip install -q --upgrade pip && \
	  $(BIN)/python -m pip install -q -e '.[all]'; fi
	@touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[all,dev]'
	@touch $@

run: $(RUN_STAMP)
	$(BIN)/logmarketd $(ARGS)

system-deps:
	@PYTHON=$(PYTHON) tools/system-deps test

# The wheel to install elsewhere (no package index has logmarket): dist/logmarket-*.whl, the
# client and the daemon in one; `pip install 'dist/logmarket-<version>-py3-none-any.whl[all]'`.
DIST ?= dist
dist: | $(BIN)/python
	$(BIN)/python -m pip wheel -q --no-deps --wheel-dir $(DIST) .
	@ls $(DIST)/logmarket-*.whl

lint: $(STAMP)
	$(BIN)/ruff check src daemon tests
	$(BIN)/ruff format --check src daemon tests

typecheck: $(STAMP)
	$(BIN)/mypy

test: system-deps $(STAMP) lint typecheck
	$(BIN)/python -m pytest --durations=25 $(PYTEST_ARGS)

# The quick loop while editing: the tests not marked slow (everything under tests/integration/
# and the few long unit tests are), without lint, types or the system packages.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m tests.bench.handler
	$(BIN)/python -m tests.bench.ingest
	$(BIN)/python -m tests.bench.loghub
	$(BIN)/python -m tests.bench.miner_stream
	$(BIN)/python -m tests.bench.redact
	$(BIN)/python -m tests.bench.agents
	$(BIN)/python -m tests.bench.corpus_score
	$(BIN)/python -m tests.bench.tail
	$(BIN)/python -m tests.bench.marketplace
	$(BIN)/python -m tests.bench.adversary

clean:
	rm -rf $(VENV) .logmarket .pytest_cache .mypy_cache .ruff_cache
